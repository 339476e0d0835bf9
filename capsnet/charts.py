"""Plotly figures for the page: per-class bars, grey-level images and the Figure 4 pose grid.

Each builder is a pure function of numpy arrays that returns a `plotly.graph_objects.Figure`;
the page decides where it goes. The two models' bar charts share every layout setting, so
a CNN probability and a capsule length of the same size look the same size. Each figure is
built from one dictionary: plotly validates that in a millisecond or two, where adding the
layout afterwards (`update_layout`) takes several, and the page rebuilds figures as you draw.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
from PIL import Image

HIGHLIGHT = "#f5a623"  # the theme's primaryColor (.streamlit/config.toml): the predicted class
MUTED = "#5b6472"  # the other classes, quiet on the dark theme
BAR_HEIGHT = 300  # pixels; both models' bar charts share it
IMAGE_HEIGHT = 280  # pixels; the canvas's height, so the model input sits level with it
GRID_CELL = 36  # display pixels per 28x28 cell of the pose grid: 16 rows fit one screen
GRID_GAP = 2  # image pixels between cells of the pose grid, so neighbouring digits stay apart
GRID_GAP_LEVEL = 0.35  # grey level of those gaps: distinct from the black background


def class_bars(values: np.ndarray, highlight: int, title: str, value_name: str) -> go.Figure:
    """One bar per digit 0-9 on a fixed 0-1 axis, with the `highlight` class coloured.

    Args:
        values: `(10,)` scores in [0, 1]: softmax probabilities or capsule lengths.
        highlight: the class to colour (the model's answer).
        title: the chart's title.
        value_name: what a bar measures, for the hover text and the y-axis.
    """
    values = np.asarray(values, dtype="float64").reshape(-1)
    digits = np.arange(len(values))
    bar = {
        "type": "bar",
        "x": digits,
        "y": values,
        "marker": {"color": [HIGHLIGHT if digit == highlight else MUTED for digit in digits]},
        "text": [f"{value:.2f}" for value in values],
        "textposition": "outside",
        "cliponaxis": False,  # a label above a bar of 0.99 may stand above the axis's top
        "hovertemplate": f"digit %{{x}}<br>{value_name} %{{y:.3f}}<extra></extra>",
    }
    layout = {
        "title": {"text": title, "x": 0.0, "xanchor": "left"},
        "height": BAR_HEIGHT,
        "margin": {"l": 10, "r": 10, "t": 60, "b": 10},
        "showlegend": False,
        "xaxis": {"tickmode": "array", "tickvals": digits, "title": {"text": "digit"},
                  "fixedrange": True},
        "yaxis": {"range": [0.0, 1.0], "title": {"text": value_name}, "fixedrange": True},
    }
    return go.Figure({"data": [bar], "layout": layout})


def image_figure(image: np.ndarray, height: int = IMAGE_HEIGHT) -> go.Figure:
    """A grey-level image in [0, 1] (white ink on black) as a heatmap with square pixels.

    Args:
        image: `(H, W)` grey levels; values outside [0, 1] are shown clipped.
        height: the figure's height in pixels.
    """
    heatmap = {
        "type": "heatmap",
        "z": np.asarray(image, dtype="float32"),
        "zmin": 0.0,
        "zmax": 1.0,
        "colorscale": [[0.0, "black"], [1.0, "white"]],
        "showscale": False,
        "hovertemplate": "row %{y}, column %{x}<br>ink %{z:.2f}<extra></extra>",
    }
    layout = {
        "height": height,
        "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
        "xaxis": {"visible": False, "constrain": "domain", "fixedrange": True},
        # row 0 is the top of an image; scaleanchor keeps the pixels square
        "yaxis": {"visible": False, "autorange": "reversed", "scaleanchor": "x",
                  "constrain": "domain", "fixedrange": True},
    }
    return go.Figure({"data": [heatmap], "layout": layout})


def stitch(grid: np.ndarray, gap: int = GRID_GAP, gap_level: float = GRID_GAP_LEVEL) -> np.ndarray:
    """Tiles a grid of images into one image, with `gap` pixels of `gap_level` between them.

    Args:
        grid: `(rows, columns, H, W)` grey levels.

    Returns:
        `(rows * (H + gap) - gap, columns * (W + gap) - gap)` float32.
    """
    grid = np.asarray(grid, dtype="float32")
    rows, columns, height, width = grid.shape
    padded = np.pad(grid, ((0, 0), (0, 0), (0, gap), (0, gap)), constant_values=gap_level)
    # padded: (rows, columns, H + gap, W + gap) -> (rows, H + gap, columns, W + gap)
    tiled = padded.transpose(0, 2, 1, 3).reshape(rows * (height + gap), columns * (width + gap))
    return tiled[: tiled.shape[0] - gap, : tiled.shape[1] - gap]


def png_data_uri(image: np.ndarray) -> str:
    """A grey-level image in [0, 1] as a PNG `data:` URI (8 bits per pixel)."""
    levels = np.round(np.clip(np.asarray(image, dtype="float32"), 0.0, 1.0) * 255)
    buffer = io.BytesIO()
    Image.fromarray(levels.astype("uint8")).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def pose_grid_figure(grid: np.ndarray, steps: np.ndarray) -> go.Figure:
    """The paper's Figure 4: row d shows the reconstruction as dimension d moves over `steps`.

    The grid is sent as one PNG rather than as heatmap numbers: 16 x 11 images of 28x28
    would be some 140,000 values for the browser to parse on every view.

    Args:
        grid: `(dimensions, len(steps), 28, 28)` reconstructions (`Lab.pose_grid`).
        steps: the change added to the dimension in each column.
    """
    grid = np.asarray(grid, dtype="float32")
    rows, columns, height, width = grid.shape
    steps = np.asarray(steps, dtype="float64").reshape(-1)
    if len(steps) != columns:
        raise ValueError(
            f"steps must give one value per grid column. Received: len(steps)={len(steps)} "
            f"for {columns} columns"
        )
    image = stitch(grid)
    x_centres = np.arange(columns) * (width + GRID_GAP) + (width - 1) / 2
    y_centres = np.arange(rows) * (height + GRID_GAP) + (height - 1) / 2
    layout = {
        "height": rows * GRID_CELL + 80,
        "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
        "xaxis": {"tickmode": "array", "tickvals": x_centres,
                  "ticktext": [f"{step:+.2f}" if round(step, 2) else "0" for step in steps],
                  "title": {"text": "change added to the dimension"}, "side": "top",
                  "showgrid": False, "zeroline": False, "fixedrange": True},
        "yaxis": {"tickmode": "array", "tickvals": y_centres,
                  "ticktext": [str(row + 1) for row in range(rows)],
                  "title": {"text": "capsule dimension"}, "showgrid": False,
                  "zeroline": False, "fixedrange": True},
    }
    picture = {"type": "image", "source": png_data_uri(image), "hoverinfo": "skip"}
    return go.Figure({"data": [picture], "layout": layout})
