"""Routing by agreement: the coupling coefficients of every routing iteration for the winning
digit capsule (summaries in `capsnet.routing`)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from capsnet import routing
from capsnet.config import NUM_CLASSES
from capsnet.inference import Analysis
from capsnet.page import charts
from capsnet.page.display import PLOT_CONFIG

ROUTING_REDUCTIONS = {"mean": "the mean of its 32 types", "max": "the largest of its 32 types"}
RECEPTIVE_FIELD = 17  # input pixels a grid position sees: Conv1 9x9, then PrimaryCaps 9x9 /2


def render(folder: str, analysis: Analysis) -> None:
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
