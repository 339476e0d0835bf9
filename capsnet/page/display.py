"""How the page shows its figures: one plotly configuration, and enlarged 28x28 images."""

from __future__ import annotations

import numpy as np
import streamlit as st

from capsnet.page import charts

PLOT_CONFIG = {"displayModeBar": False}  # the charts need no zoom or export buttons


def captioned_image(caption: str, image: np.ndarray, key: str, height: int) -> None:
    """A 28x28 image enlarged as a heatmap, under a caption."""
    st.caption(caption)
    st.plotly_chart(charts.image_figure(image, height), key=key, config=PLOT_CONFIG)
