"""Routing by agreement: the coupling coefficients of every routing iteration for the winning
digit capsule (summaries in `capsnet.routing`), and the same weights read with 1 to 5 routing
iterations beside the trained count, with the measured table of what routing changes."""

from __future__ import annotations

import numpy as np
import streamlit as st

from capsnet import routing
from capsnet.config import NUM_CLASSES
from capsnet.inference import Analysis
from capsnet.page import charts, resources
from capsnet.page.display import PLOT_CONFIG, captioned_image

ROUTING_REDUCTIONS = {"mean": "the mean of its 32 types", "max": "the largest of its 32 types"}
RECEPTIVE_FIELD = 17  # input pixels a grid position sees: Conv1 9x9, then PrimaryCaps 9x9 /2
IMAGE_HEIGHT = 180  # pixels: the two reconstructions side by side
PAPERS = (
    "Zhao et al. (2019), *Capsule Networks with Max-Min Normalization*: the softmax keeps "
    "the couplings mostly uniform after several iterations.",
    "Paik et al. (2019), *Capsule Networks Need an Improved Routing Algorithm*: routing is "
    "often no better than uniform or random couplings.",
    "Gu and Tresp (2020), *Improving the Robustness of Capsule Networks to Image Affine "
    "Transformations*: routing adds neither generalisation nor affine robustness.",
)
TABLE_COMMAND = "`python scripts/routing_report.py --data path/to/mnist.npz`"


def render(folder: str, analysis: Analysis) -> None:
    trained = resources.load_lab(folder).capsnet.config.routings
    chosen = st.segmented_control(
        "Routing iterations", routing.ITERATIONS, default=trained, key="routing_iterations",
        format_func=lambda count: f"{count} (trained)" if count == trained else
        ("1 (no routing)" if count == 1 else str(count)),
        help="Read your digit again with the same weights and another number of routing "
             "iterations. One iteration is no routing at all: every primary capsule splits "
             "its vote evenly.") or trained
    if chosen != trained:
        routed = resources.analyse(folder, analysis.image, chosen)
        side_by_side(analysis, routed, trained, chosen)
        analysis = routed
    couplings_view(analysis)
    iterations_table(folder, trained)


def side_by_side(trained_reading: Analysis, routed: Analysis, trained: int, chosen: int) -> None:
    """Both readings of the CapsNet, and the CNN's, which routing does not touch."""
    st.markdown(f"**The CapsNet with {trained} iterations (as trained) and with {chosen}**. "
                f"The CNN reads it as **{trained_reading.cnn_label}** either way.")
    for column, reading, count in zip(st.columns(2), (trained_reading, routed),
                                      (trained, chosen), strict=True):
        with column:
            label = reading.capsnet_label
            st.metric(f"CapsNet, {count} iteration{'s' * (count > 1)}", str(label),
                      f"capsule length {reading.capsnet_lengths[label]:.2f}", delta_color="off")
            st.plotly_chart(
                charts.class_bars(reading.capsnet_lengths, label,
                                  f"Capsule lengths, {count} iteration{'s' * (count > 1)}",
                                  "capsule length"),
                key=f"routing_bars_{count}", config=PLOT_CONFIG)
            captioned_image(
                f"Reconstruction from the {label} capsule (error "
                f"{reading.reconstruction_error:.4f})", reading.reconstruction,
                f"routing_reconstruction_{count}", IMAGE_HEIGHT)
    changed = [what for what, differs in (
        ("the answer", routed.capsnet_label != trained_reading.capsnet_label),
        ("the confidence", abs(routed.capsnet_lengths.max()
                               - trained_reading.capsnet_lengths.max()) >= 0.05),
        ("the reconstruction", np.abs(routed.reconstruction
                                      - trained_reading.reconstruction).max() >= 0.1),
    ) if differs]
    st.caption("What changed: " + (", ".join(changed) if changed else "nothing visible")
               + ". The maps below show the couplings of the chosen count.")


def iterations_table(folder: str, trained: int) -> None:
    """The measured table: does routing matter, over the whole test set and the drawings?"""
    st.markdown("#### Does routing matter?")
    report = resources.report_or_note(routing.load_report, routing.ReportError,
                                      "routing table", TABLE_COMMAND)
    if report is None:
        return
    if report.get("weights_sha256") != resources.weights_sha256(folder, "capsnet"):
        st.warning("This table was measured with other CapsNet weights than the page's; "
                   f"measure it again with {TABLE_COMMAND}.", icon=":material/warning:")
    sets = report["sets"]
    mnist, drawn = sets["mnist_test"], sets.get("drawn", {"rows": [], "images": 0})
    drawn_rows = {row["routings"]: row for row in drawn["rows"]}
    lines = ["| Iterations | MNIST test accuracy | winning length | last entropy (bits) "
             "| reconstruction error | drawn digits |", "|---:|---:|---:|---:|---:|---:|"]
    for row in mnist["rows"]:
        count = row["routings"]
        name = f"{count} (trained)" if count == trained else (
            "1 (no routing)" if count == 1 else str(count))
        on_drawings = drawn_rows.get(count)
        lines.append(
            f"| {name} | {100 * row['accuracy']:.2f}% | {row['winning_length']:.3f} "
            f"| {row['last_entropy']:.3f} | {row['reconstruction_error']:.4f} | "
            + (f"{100 * on_drawings['accuracy']:.2f}% |" if on_drawings else "— |"))
    st.markdown("\n".join(lines))
    rows = {row["routings"]: row for row in mnist["rows"]}
    if 1 in rows and trained in rows:
        off, on = rows[1], rows[trained]
        entropy_range = max(abs(np.log2(NUM_CLASSES) - row["last_entropy"])
                            for row in mnist["rows"])
        st.markdown(
            f"**What the paper claims**: routing by agreement sends each primary capsule's vote "
            "to the digit capsule whose output agrees with it, and three iterations read best "
            "(Sabour et al. 2017, Section 2 and Table 1). **What the table shows for these "
            f"weights**: without routing the CapsNet reads {100 * off['accuracy']:.2f}% of the "
            f"{mnist['images']:,} test digits, against {100 * on['accuracy']:.2f}% with "
            f"{trained} iterations; at every count the couplings stay within "
            f"{entropy_range:.2f} bits of an even split. What the iterations change is the "
            f"capsules' lengths ({off['winning_length']:.2f} for the winner without routing, "
            f"{on['winning_length']:.2f} with it) and the reconstruction, best at the count the "
            "decoder was trained with. **What later papers found**:")
        st.markdown("\n".join(f"- {paper}" for paper in PAPERS))
    st.caption(f"{mnist['images']:,} MNIST test digits and {drawn['images']:,} drawn digits "
               "(the drawn-digit yardstick), each read with the shipped weights and 1 to 5 "
               "iterations. Entropy: of each primary capsule's ten couplings at the last "
               "iteration, 3.32 bits being an even split. Reconstruction error: mean squared, "
               "from the winning capsule.")


def couplings_view(analysis: Analysis) -> None:
    """The couplings of every iteration of one reading, for its winning capsule."""
    digit, couplings = analysis.capsnet_label, analysis.couplings
    routings, primaries = couplings.shape[0], couplings.shape[1]
    st.markdown(
        f"Each of the {primaries:,} primary capsules ({routing.TYPES} types at each place "
        f"of a {routing.GRID}×{routing.GRID} grid) splits its vote among the ten digit "
        "capsules by its coupling coefficients. The paper claims that routing by agreement "
        "sends each vote to the digit capsule whose output agrees with it, so the couplings "
        "sharpen from one iteration to the next. Shown: the coupling to the winning "
        f"**{digit}** capsule. Iteration 1 is 0.1 everywhere by construction: the routing "
        "logits start at zero, and a softmax of zeros splits evenly."
    )
    entropy = routing.mean_entropy(couplings)
    share = routing.mean_coupling(couplings, digit)
    for t, column in enumerate(st.columns(routings)):
        column.metric(f"Iteration {t + 1}: coupling entropy", f"{entropy[t]:.2f} bits",
                      help="The entropy of each primary capsule's ten couplings, averaged "
                           "over all of them.")
        column.caption(f"Mean coupling to the {digit} capsule: {share[t]:.3f}")
    st.caption(f"An even split is log2(10) = {np.log2(NUM_CLASSES):.2f} bits; 0 bits would "
               "mean every capsule sends its whole vote to one digit.")
    reduce = st.radio("At each grid place, show", list(ROUTING_REDUCTIONS), key="routing_reduce",
                      format_func=ROUTING_REDUCTIONS.get, horizontal=True)
    st.plotly_chart(
        charts.routing_maps_figure(routing.position_maps(couplings, digit, reduce), digit,
                                   f"{reduce} coupling"),
        key="routing_maps", config=PLOT_CONFIG)
    st.caption(f"Grid place (row r, column c) sees the {RECEPTIVE_FIELD}×{RECEPTIVE_FIELD} "
               "input pixels whose top left corner is at (2r, 2c).")
    st.plotly_chart(charts.routing_types_figure(routing.type_profile(couplings, digit), digit),
                    key="routing_types", config=PLOT_CONFIG)
    st.plotly_chart(charts.type_maps_figure(routing.on_grid(couplings, digit)[-1], digit,
                                            routings),
                    key="routing_type_maps", config=PLOT_CONFIG)
    st.caption("Each small map is one capsule type over the grid, at the last iteration: the "
               "types that detect parts of this digit vote for it where those parts are.")
