"""Reconstruct and pose: the decoder redraws the input from one capsule, which sixteen sliders
bend (the paper's Figure 4, live), each named by what it measurably does for the class shown
(`capsnet/dimensions.py`, from `capsnet/assets/dimensions.json`)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from capsnet import dimensions
from capsnet.config import NUM_CLASSES
from capsnet.inference import POSE_RANGE, POSE_STEPS, Analysis
from capsnet.page import charts, live_pose
from capsnet.page.display import PLOT_CONFIG, captioned_image
from capsnet.page.resources import ANALYSIS_CACHE, decoder_payload, load_lab, weights_sha256

POSE_SLIDER_STEP = 0.01  # finer than Figure 4's 0.05 columns, to follow a change smoothly
POSE_COLUMNS = 4  # sixteen sliders in four rows of four
POSE_IMAGE_HEIGHT = 200  # pixels: as the live reconstruction's canvas in live_pose.css
SERVER_SLIDERS = ("These sliders redraw the reconstruction on the server, when one is "
                  "released: the decoder that redraws it in your browser as you drag has not "
                  "started (it needs JavaScript).")
DIMENSIONS_COMMAND = "`python scripts/dimensions_report.py --data path/to/mnist.npz`"


@st.cache_data(max_entries=ANALYSIS_CACHE, show_spinner=False)
def pose_grid_figure(folder: str, capsules: np.ndarray, digit: int,
                     names: tuple[str, ...] | None = None) -> go.Figure:
    """Figure 4 for one capsule: sixteen dimensions swept in one decoder batch."""
    return charts.pose_grid_figure(load_lab(folder).pose_grid(capsules, digit), POSE_STEPS,
                                   list(names) if names else None)


def measured_dimensions(folder: str) -> tuple[dict | None, Callable, str | None]:
    """The report of what each dimension does, for the page's CapsNet; or None, and how and
    what to say about it (`st.info` where it is missing, `st.warning` where it is unreadable
    or made for other weights)."""
    try:
        report = dimensions.load_report()
    except dimensions.ReportError as problem:
        return None, st.warning, f"{problem} Measure it again with {DIMENSIONS_COMMAND}."
    if report is None:
        return None, st.info, ("What each dimension does has not been measured yet, so the "
                               f"sliders go unnamed. Measure it with {DIMENSIONS_COMMAND}.")
    if report.get("weights_sha256") != weights_sha256(folder, "capsnet"):
        return None, st.warning, (
            "What each dimension does was measured with other CapsNet weights than the "
            f"page's, so the sliders go unnamed; measure it again with {DIMENSIONS_COMMAND}.")
    return report, st.info, None


def class_entries(report: dict | None, digit: int, count: int) -> list[dict] | None:
    """The report's entries for the dimensions of one class, or None where it has none."""
    entries = ((report or {}).get("classes", {}).get(str(digit)) or {}).get("dimensions")
    return entries if entries and len(entries) == count else None


def reset_pose(dimensions: int) -> None:
    st.session_state[live_pose.POSE] = [0.0] * dimensions


def _slider_moved(dimension: int) -> None:
    st.session_state[live_pose.POSE][dimension] = st.session_state[f"pose_{dimension}"]


def reconstruction_class_control(analysis: Analysis) -> int:
    """Which capsule to decode; it follows the CapsNet's answer each time the input changes."""
    signature = hashlib.sha1(analysis.image.tobytes()).hexdigest()
    if st.session_state["recon_for"] != signature or "recon_digit" not in st.session_state:
        st.session_state["recon_for"] = signature
        st.session_state["recon_digit"] = analysis.capsnet_label
    return st.selectbox(
        "Reconstruct from the capsule of digit", range(NUM_CLASSES), key="recon_digit",
        format_func=lambda digit: (f"{digit} (the CapsNet's answer)"
                                   if digit == analysis.capsnet_label else str(digit)),
        help="The decoder sees only this capsule's 16 numbers; the other nine are masked to "
             "zero. Pick another digit to see your drawing as that digit.",
    )


def slider_labels(entries: list[dict] | None, count: int) -> tuple[list[str], list[str]]:
    """Each pose slider's label ("Dimension 6: stroke thickness") and hover text (the
    measured changes); plain "Dimension 6" and no hover text without a report."""
    if entries is None:
        return [f"Dimension {d + 1}" for d in range(count)], [""] * count
    return ([f"Dimension {d + 1}: {entry['name']}" for d, entry in enumerate(entries)],
            [dimensions.describe(entry) for entry in entries])


def pose_sliders(pose: list[float], labels: list[str], details: list[str]) -> None:
    """The server-side sliders, one per capsule dimension; they set the page's `pose`."""
    columns = st.columns(POSE_COLUMNS)
    for dimension, value in enumerate(pose):
        key = f"pose_{dimension}"
        st.session_state[key] = value  # the page's pose, whichever sliders moved it last
        with columns[dimension % POSE_COLUMNS]:
            st.slider(labels[dimension], -POSE_RANGE, POSE_RANGE,
                      step=POSE_SLIDER_STEP, format="%+.2f", key=key,
                      help=details[dimension] or None,
                      on_change=_slider_moved, args=(dimension,))


@st.fragment
def pose_panel(folder: str, image: np.ndarray, capsules: np.ndarray, digit: int,
               labels: list[str], details: list[str]) -> None:
    """Input, reconstruction and the sixteen pose sliders, labelled `labels` with hover text
    `details`; a slider reruns this panel only.

    The sliders and the reconstruction live in the browser (`live_pose`), which redraws as
    a slider moves; until the browser says it has the decoder, sliders on the server do.
    """
    count = capsules.shape[-1]
    pose = np.asarray(live_pose.current_pose(count), dtype="float32")
    lab = load_lab(folder)
    reconstruction = lab.reconstruct(capsules, digit, pose)
    caption = f"Decoded from the {digit} capsule"
    shown, rebuilt = st.columns([1, 4])
    with shown:
        captioned_image("Input", image, "reconstruct_input", POSE_IMAGE_HEIGHT)
    with rebuilt:
        in_browser = live_pose.render(decoder_payload(folder), capsules[digit], digit, caption,
                                      POSE_RANGE, POSE_SLIDER_STEP, labels, details)
        if not in_browser:
            server, _ = st.columns([1, 3])
            with server:
                captioned_image(caption, reconstruction, "reconstruction", POSE_IMAGE_HEIGHT)
    if not in_browser:
        st.caption(SERVER_SLIDERS)
        pose_sliders(live_pose.current_pose(count), labels, details)
    error = float(np.mean(np.square(image - reconstruction)))
    st.markdown(
        f"The decoder redraws the digit from the {count} numbers of the {digit} "
        f"capsule (length {np.linalg.norm(capsules[digit]):.2f}). Move a slider to add to "
        "one of them. Sabour et al. found dimensions that control stroke thickness, "
        "width, skew and local parts of a digit. A CNN has nothing like this to move: "
        "its answer is one number per class."
    )
    st.caption(f"Mean squared difference from the input: {error:.4f}")
    st.button("Reset pose", on_click=reset_pose, args=(count,),
              icon=":material/restart_alt:")


def render(folder: str, analysis: Analysis) -> None:
    digit = reconstruction_class_control(analysis)
    count = analysis.capsules.shape[-1]
    report, say, note = measured_dimensions(folder)
    entries = class_entries(report, digit, count)
    labels, details = slider_labels(entries, count)
    pose_panel(folder, analysis.image, analysis.capsules, digit, labels, details)
    if entries is not None:
        st.caption(f"Each slider is named by what it does to the reconstruction of a {digit}, "
                   f"measured on {report['classes'][str(digit)]['images']} test {digit}s; "
                   "hover over a name for the numbers, and see What each dimension does below.")
    with st.expander("All sixteen dimensions at once (the paper's Figure 4)"):
        st.caption(
            f"Row d adds {POSE_STEPS[0]:+.2f} to {POSE_STEPS[-1]:+.2f}, in steps of "
            f"{POSE_STEPS[1] - POSE_STEPS[0]:.2f}, to dimension d of the {digit} capsule "
            "alone; the middle column is the unchanged capsule."
        )
        names = tuple(entry["name"] for entry in entries) if entries else None
        st.plotly_chart(pose_grid_figure(folder, analysis.capsules, digit, names),
                        key="pose_grid", config=PLOT_CONFIG)
    st.markdown(f"#### What each dimension does, for a {digit}")
    if note is not None:
        say(note, icon=":material/info:")
    else:
        dimensions_view(report, digit, entries)


def dimensions_view(report: dict, digit: int, entries: list[dict] | None) -> None:
    """What each dimension does for one class, measured: which are clean and which mixed."""
    if entries is None:
        st.info(f"The report of what each dimension does has no entry for the digit {digit}. "
                f"Measure it again with {DIMENSIONS_COMMAND}.", icon=":material/info:")
        return
    properties = report["properties"]
    columns = [properties[key]["name"] for key in dimensions.NAMING]
    moved = np.array([[entry["scaled"][key] for key in dimensions.NAMING] for entry in entries])
    hover = [[f"{properties[key]['name']}: {entry['changes'][key]:+.2f} "
              f"{properties[key]['unit']}, moving the ink {entry['scaled'][key]:+.2f} px"
              f" ({100 * entry['shares'][key]:.0f}% of the change)"
              for key in dimensions.NAMING] for entry in entries]
    st.plotly_chart(charts.dimensions_figure(moved, [entry["name"] for entry in entries],
                                             columns, hover),
                    key="pose_dimensions", config=PLOT_CONFIG)
    st.markdown(claim_sentences(report, digit))
    st.caption(
        f"Each dimension of the {digit} capsule moved from {-POSE_RANGE:+.2f} to "
        f"{POSE_RANGE:+.2f} for {report['classes'][str(digit)]['images']} test {digit}s that "
        "the CapsNet reads correctly; each cell is how far the change of that property moves "
        "the digit's ink on average, in pixels (a shift by its own size, a stroke by half its "
        "widening, a height, width or slant by how far it stretches or leans the ink). A "
        f"dimension is named by a property that makes {100 * dimensions.DOMINANT:.0f}% or more "
        "of the squared movement, as a local part where "
        f"{dimensions.LOCAL:.2f} or more of its change falls in one "
        f"{dimensions.LOCAL_WINDOW}×{dimensions.LOCAL_WINDOW} window beyond that window's share "
        "of the ink, and as mixed otherwise.")


def _kinds(entries: list[dict]) -> tuple[int, int, int]:
    """How many dimensions do one thing, change a local part, or are mixed."""
    kinds = [entry["kind"] for entry in entries]
    local, mixed = kinds.count("local"), kinds.count("mixed")
    return len(kinds) - local - mixed - kinds.count("faint"), local, mixed


def claim_sentences(report: dict, digit: int) -> str:
    """The chosen class's dimensions, and all classes', set beside the paper's claim."""
    entries = report["classes"][str(digit)]["dimensions"]
    clean, local, mixed = _kinds(entries)
    everything = [entry for measured in report["classes"].values()
                  for entry in measured["dimensions"]]
    all_clean, all_local, all_mixed = _kinds(everything)
    moving = sum(entry["kind"] in ("across", "down") for entry in everything)
    thickness = sum(entry["kind"] == "stroke" for entry in everything)
    return (
        f"For the {digit}: {clean} of the {len(entries)} dimensions do mostly one thing, "
        f"{local} change a local part and {mixed} are mixed. Sabour et al. (2017, Figure 4) "
        "name dimensions by eye as if each did one thing (scale and thickness, a localized "
        "part, stroke thickness, localized skew, width and translation). Measured over all "
        f"ten classes, {all_mixed} of {len(everything)} are mixed, {all_local} change a local "
        f"part and {all_clean} do one thing, {moving} of those moving the whole digit across "
        f"or up and down; stroke thickness dominates {thickness} of them.")
