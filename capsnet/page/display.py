"""How the page shows its figures: one plotly configuration, enlarged images, and the
two-digit mode's reconstructions in two colours."""

from __future__ import annotations

import io

import numpy as np
import streamlit as st
from PIL import Image

from capsnet.page import charts

PLOT_CONFIG = {"displayModeBar": False}  # the charts need no zoom or export buttons
COLOURS = np.array([[1.0, 0.25, 0.25], [0.2, 0.85, 0.35]])  # Figure 5's red and green
BACKDROP = 0.35  # the input's grey level under reconstructions drawn over it


def captioned_image(caption: str, image: np.ndarray, key: str, height: int) -> None:
    """A 28x28 image enlarged as a heatmap, under a caption."""
    st.caption(caption)
    st.plotly_chart(charts.image_figure(image, height), key=key, config=PLOT_CONFIG)


def enlarged(image: np.ndarray, scale: int) -> bytes:
    """A grey `(H, W)` or colour `(H, W, 3)` image in [0, 1], `scale` times larger without
    blurring, as PNG."""
    pixels = np.round(np.clip(image, 0.0, 1.0) * 255).astype("uint8")
    buffer = io.BytesIO()
    Image.fromarray(pixels.repeat(scale, axis=0).repeat(scale, axis=1)).save(buffer,
                                                                             format="PNG")
    return buffer.getvalue()


def overlay(image: np.ndarray, reconstructions: np.ndarray) -> np.ndarray:
    """The input in grey with each of two reconstructions over it in its own colour
    (`COLOURS`), `(H, W, 3)` in [0, 1]."""
    colour = np.einsum("khw,kc->hwc", np.clip(reconstructions, 0.0, 1.0), COLOURS)
    return np.clip(BACKDROP * image[..., None] + colour, 0.0, 1.0)


def under(value: float, limit: float, decimals: int, percent: bool = False) -> str:
    """`value`, known to be under `limit`, with the fewest decimals from `decimals` up that
    still show it under: 0.296 is "0.296", not "0.30", beside "under 0.3"."""
    scale = 100 if percent else 1
    shown_limit = round(limit * scale, 9)  # 0.14 * 100 is 14.000000000000002
    while decimals < 6 and round(value * scale, decimals) >= shown_limit:
        decimals += 1
    return f"{value * scale:.{decimals}f}" + ("%" if percent else "")
