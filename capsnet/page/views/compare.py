"""Compare the models: the CNN's probabilities beside the CapsNet's capsule lengths."""

from __future__ import annotations

import streamlit as st

from capsnet.inference import Analysis
from capsnet.page import charts
from capsnet.page.display import PLOT_CONFIG


def render(folder: str, analysis: Analysis) -> None:
    cnn, capsnet = st.columns(2)
    cnn.plotly_chart(
        charts.class_bars(analysis.cnn_probabilities, analysis.cnn_label,
                          "CNN: softmax probability per class", "probability"),
        key="cnn_bars", config=PLOT_CONFIG)
    capsnet.plotly_chart(
        charts.class_bars(analysis.capsnet_lengths, analysis.capsnet_label,
                          "CapsNet: length of each digit capsule", "capsule length"),
        key="capsnet_bars", config=PLOT_CONFIG)
    st.caption(
        "The CNN's softmax makes the classes compete for one unit of probability. Each "
        "capsule's length is its own estimate that its digit is present, so the lengths need "
        "not add up to one: two overlapping digits can both be long, and a scribble can leave "
        "every capsule short."
    )
