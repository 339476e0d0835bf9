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


def class_bars(values: np.ndarray, highlight: int | np.ndarray, title: str,
               value_name: str) -> go.Figure:
    """One bar per digit 0-9 on a fixed 0-1 axis, with the `highlight` classes coloured.

    Args:
        values: `(10,)` scores in [0, 1]: softmax probabilities or capsule lengths.
        highlight: the class or classes to colour (the model's answer or answers).
        title: the chart's title.
        value_name: what a bar measures, for the hover text and the y-axis.
    """
    values = np.asarray(values, dtype="float64").reshape(-1)
    digits = np.arange(len(values))
    bar = {
        "type": "bar",
        "x": digits,
        "y": values,
        "marker": {"color": np.where(np.isin(digits, highlight), HIGHLIGHT, MUTED).tolist()},
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


def pose_grid_figure(grid: np.ndarray, steps: np.ndarray,
                     row_names: list[str] | None = None) -> go.Figure:
    """The paper's Figure 4: row d shows the reconstruction as dimension d moves over `steps`.

    The grid is sent as one PNG rather than as heatmap numbers: 16 x 11 images of 28x28
    would be some 140,000 values for the browser to parse on every view.

    Args:
        grid: `(dimensions, len(steps), 28, 28)` reconstructions (`Lab.pose_grid`).
        steps: the change added to the dimension in each column.
        row_names: what each dimension does (`capsnet.dimensions`), beside its number.
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
                  "ticktext": [f"{row + 1}: {row_names[row]}" if row_names else str(row + 1)
                               for row in range(rows)], "automargin": True,
                  "title": {"text": "capsule dimension"}, "showgrid": False,
                  "zeroline": False, "fixedrange": True},
    }
    picture = {"type": "image", "source": png_data_uri(image), "hoverinfo": "skip"}
    return go.Figure({"data": [picture], "layout": layout})


# --- Routing, sweeps, reports ----------------------------------------------------------------

MODEL_COLOURS = {"cnn": "#5fa8e8", "capsnet": HIGHLIGHT}  # one colour per model on every line
MODEL_TITLES = {"cnn": "CNN", "capsnet": "CapsNet"}
COUPLING_SCALE = [  # plotly's Inferno, dark for nothing and bright for the most; its first
    # colour, #000004, is one of the placeholders Streamlit's chart theme swaps for its own
    # colours (a red), so black stands in for it
    [i / 9, colour] for i, colour in enumerate((
        "#000000", "#1b0c41", "#4a0c6b", "#781c6d", "#a52c60", "#cf4446", "#ed6925",
        "#fb9b06", "#f7d13d", "#fcffa4"))
]
ROUTING_HEIGHT = 300  # pixels: one row of 6x6 maps, one per routing iteration
MAP_GAP = 0.06  # share of the figure's width between neighbouring maps
TYPE_COLUMNS = 8  # the 32 capsule types' maps in 4 rows of 8
TYPE_CELL = 16  # display pixels per grid position in the types' maps
LINE_HEIGHT = 340  # pixels: sweeps, robustness and training curves
CONFUSION_HEIGHT = 420  # pixels: ten rows of counts stay legible


def routing_maps_figure(maps: np.ndarray, digit: int, value_name: str) -> go.Figure:
    """One 6x6 heatmap per routing iteration, side by side on one colour scale.

    Args:
        maps: `(routings, 6, 6)` couplings to one digit capsule per grid position
            (`capsnet.routing.position_maps`).
        digit: the digit capsule they are couplings to, for the titles.
        value_name: what a cell shows, for the hover text and the colour bar.
    """
    maps = np.asarray(maps, dtype="float32")
    routings = len(maps)
    width = (1.0 - MAP_GAP * (routings - 1)) / routings
    top = float(maps.max()) if maps.size else 1.0
    data, layout = [], {
        "height": ROUTING_HEIGHT,
        "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
        "annotations": [],
    }
    for t in range(routings):
        suffix = "" if t == 0 else str(t + 1)
        data.append({
            "type": "heatmap", "z": maps[t], "zmin": 0.0, "zmax": top,
            "colorscale": COUPLING_SCALE, "showscale": t == routings - 1,
            "colorbar": {"title": {"text": value_name, "side": "right"}},
            "xaxis": f"x{suffix}", "yaxis": f"y{suffix}",
            "hovertemplate": f"iteration {t + 1}<br>row %{{y}}, column %{{x}}<br>"
                             f"{value_name} %{{z:.3f}}<extra></extra>",
        })
        left = t * (width + MAP_GAP)
        layout[f"xaxis{suffix}"] = {"domain": [left, left + width], "anchor": f"y{suffix}",
                                    "visible": False, "constrain": "domain",
                                    "fixedrange": True}
        layout[f"yaxis{suffix}"] = {"anchor": f"x{suffix}", "autorange": "reversed",
                                    "scaleanchor": f"x{suffix}", "visible": False,
                                    "constrain": "domain", "fixedrange": True}
        layout["annotations"].append({
            "text": f"iteration {t + 1}", "x": left + width / 2, "y": 1.0, "xref": "paper",
            "yref": "paper", "xanchor": "center", "yanchor": "bottom", "showarrow": False,
        })
    layout["title"] = {"text": f"Coupling to the {digit} capsule across the 6×6 grid",
                       "x": 0.0, "xanchor": "left", "y": 0.98}
    layout["margin"]["t"] = 60
    return go.Figure({"data": data, "layout": layout})


def routing_types_figure(profile: np.ndarray, digit: int) -> go.Figure:
    """Iterations by capsule types: each type's mean coupling to one digit capsule.

    Args:
        profile: `(routings, 32)` (`capsnet.routing.type_profile`).
        digit: the digit capsule, for the title.
    """
    profile = np.asarray(profile, dtype="float32")
    routings, types = profile.shape
    heatmap = {
        "type": "heatmap", "z": profile, "x": np.arange(types), "y": np.arange(1, routings + 1),
        "zmin": 0.0, "zmax": float(profile.max()), "colorscale": COUPLING_SCALE,
        "colorbar": {"title": {"text": "mean coupling", "side": "right"}},
        "hovertemplate": "iteration %{y}, type %{x}<br>mean coupling %{z:.3f}<extra></extra>",
    }
    layout = {
        "title": {"text": f"Coupling to the {digit} capsule by capsule type (mean of 36 "
                          "positions)", "x": 0.0, "xanchor": "left"},
        "height": 110 + 45 * routings,
        "margin": {"l": 10, "r": 10, "t": 50, "b": 10},
        "xaxis": {"title": {"text": "primary capsule type"}, "dtick": 1, "fixedrange": True},
        "yaxis": {"title": {"text": "iteration"}, "autorange": "reversed", "dtick": 1,
                  "fixedrange": True},
    }
    return go.Figure({"data": [heatmap], "layout": layout})


def type_maps_figure(grid: np.ndarray, digit: int, iteration: int) -> go.Figure:
    """The 32 capsule types' 6x6 maps of coupling to one digit capsule, in rows of eight.

    Args:
        grid: `(6, 6, 32)` couplings at one iteration (`capsnet.routing.on_grid(...)[t]`).
        digit: the digit capsule, for the title.
        iteration: the iteration shown, counted from 1, for the title.
    """
    grid = np.asarray(grid, dtype="float32")
    side, _, types = grid.shape
    rows = int(np.ceil(types / TYPE_COLUMNS))
    maps = np.full((rows * TYPE_COLUMNS, side, side), np.nan, dtype="float32")
    maps[:types] = grid.transpose(2, 0, 1)  # (types, 6, 6)
    # gaps of NaN, which plotly leaves empty, keep neighbouring types apart
    tiled = stitch(maps.reshape(rows, TYPE_COLUMNS, side, side), gap=1, gap_level=np.nan)
    names = np.full(tiled.shape, "", dtype=object)
    for kind in range(types):
        top, left = (kind // TYPE_COLUMNS) * (side + 1), (kind % TYPE_COLUMNS) * (side + 1)
        for r in range(side):
            for c in range(side):
                names[top + r, left + c] = f"type {kind}, row {r}, column {c}"
    heatmap = {
        "type": "heatmap", "z": tiled, "customdata": names, "zmin": 0.0,
        "zmax": float(np.nanmax(grid)) if grid.size else 1.0, "colorscale": COUPLING_SCALE,
        "colorbar": {"title": {"text": "coupling", "side": "right"}},
        "hovertemplate": "%{customdata}<br>coupling %{z:.3f}<extra></extra>",
        "hoverongaps": False,
    }
    layout = {
        "title": {"text": f"Each capsule type's coupling to the {digit} capsule, iteration "
                          f"{iteration}", "x": 0.0, "xanchor": "left"},
        "height": rows * (side + 1) * TYPE_CELL + 60,
        "margin": {"l": 10, "r": 10, "t": 50, "b": 10},
        "xaxis": {"visible": False, "constrain": "domain", "fixedrange": True},
        "yaxis": {"visible": False, "autorange": "reversed", "scaleanchor": "x",
                  "constrain": "domain", "fixedrange": True},
    }
    return go.Figure({"data": [heatmap], "layout": layout})


def lines_figure(x, lines: list[dict], title: str, x_title: str, y_title: str,
                 y_range: tuple[float, float] | None = (0.0, 1.0)) -> go.Figure:
    """Lines over an x axis, one per entry of `lines`.

    Args:
        x: the x values of every line that gives none of its own.
        lines: dictionaries with `name`, `y` and optionally `x` (its own x values),
            `model` (a key of `MODEL_COLOURS`, for the colour) and `dash` (a plotly dash
            style).
        title, x_title, y_title: the texts.
        y_range: the fixed y range, or None to fit the data.
    """
    data = []
    for line in lines:
        xs = np.asarray(line.get("x", x)).reshape(-1)
        values = np.asarray(line["y"], dtype="float64").reshape(-1)
        if len(values) != len(xs):
            raise ValueError(f"each line needs one value per x. Received: {len(values)} "
                             f"values for {len(xs)} x values in line {line['name']!r}")
        data.append({
            "type": "scatter", "mode": "lines+markers", "name": line["name"], "x": xs,
            "y": values, "line": {"color": MODEL_COLOURS.get(line.get("model"), MUTED),
                                  "dash": line.get("dash", "solid")},
            "hovertemplate": f"{line['name']}<br>{x_title} %{{x}}<br>{y_title} "
                             "%{y:.3f}<extra></extra>",
        })
    layout = {
        "title": {"text": title, "x": 0.0, "xanchor": "left"},
        "height": LINE_HEIGHT,
        "margin": {"l": 10, "r": 10, "t": 50, "b": 10},
        "showlegend": True,  # even for one line: its name says what it measures
        "legend": {"orientation": "h", "y": -0.25},
        "xaxis": {"title": {"text": x_title}, "fixedrange": True},
        "yaxis": {"title": {"text": y_title}, "fixedrange": True},
    }
    if y_range is not None:
        layout["yaxis"]["range"] = list(y_range)
    return go.Figure({"data": data, "layout": layout})


def confusion_figure(matrix: np.ndarray, title: str) -> go.Figure:
    """A confusion matrix (rows: true digit, columns: answer) whose colours show the errors.

    The diagonal, some thousand right answers per digit, would outshine the handful of
    errors, so it is coloured as zero; every cell carries its count as text.
    """
    matrix = np.asarray(matrix, dtype="int64")
    digits = np.arange(len(matrix))
    errors = matrix.astype("float32")
    np.fill_diagonal(errors, 0.0)
    heatmap = {
        "type": "heatmap", "z": errors, "x": digits, "y": digits, "text": matrix,
        "texttemplate": "%{text}", "zmin": 0.0, "zmax": max(1.0, float(errors.max())),
        "colorscale": COUPLING_SCALE, "showscale": False,
        "hovertemplate": "true %{y}, answered %{x}<br>%{text} test digits<extra></extra>",
    }
    layout = {
        "title": {"text": title, "x": 0.0, "xanchor": "left"},
        "height": CONFUSION_HEIGHT,
        "margin": {"l": 10, "r": 10, "t": 50, "b": 10},
        "xaxis": {"title": {"text": "answer"}, "dtick": 1, "constrain": "domain",
                  "fixedrange": True},
        "yaxis": {"title": {"text": "true digit"}, "dtick": 1, "autorange": "reversed",
                  "scaleanchor": "x", "constrain": "domain", "fixedrange": True},
    }
    return go.Figure({"data": [heatmap], "layout": layout})


DIMENSION_SCALE = [[0.0, "#5fa8e8"], [0.5, "#101418"], [1.0, HIGHLIGHT]]  # less, none, more
DIMENSION_ROW = 26  # pixels per dimension of the dimensions' heatmap


def dimensions_figure(moved: np.ndarray, row_names: list[str], columns: list[str],
                      hover: list[list[str]]) -> go.Figure:
    """What each pose dimension does: dimensions down, image properties across, coloured by
    how far the change of that property over the sliders' range moves the digit's ink.

    Args:
        moved: `(dimensions, properties)` pixels of ink moved, signed (more, less).
        row_names: each dimension's name; columns: each property's name.
        hover: `(dimensions, properties)` text for each cell.
    """
    moved = np.asarray(moved, dtype="float64")
    if moved.shape != (len(row_names), len(columns)):
        raise ValueError(f"moved must be (len(row_names), len(columns)). Received: "
                         f"moved.shape={moved.shape} for {len(row_names)} x {len(columns)}")
    limit = max(1e-6, float(np.abs(moved).max()))
    labels = [f"{row + 1}: {name}" for row, name in enumerate(row_names)]
    heatmap = {
        "type": "heatmap", "z": moved, "x": columns, "y": labels, "customdata": hover,
        "text": np.round(moved, 1), "texttemplate": "%{text}", "zmin": -limit, "zmax": limit,
        "colorscale": DIMENSION_SCALE, "colorbar": {"title": {"text": "px of ink"}},
        "hovertemplate": "%{y}<br>%{customdata}<extra></extra>",
    }
    layout = {
        "height": len(row_names) * DIMENSION_ROW + 90,
        "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
        "xaxis": {"side": "top", "fixedrange": True},
        "yaxis": {"autorange": "reversed", "fixedrange": True, "automargin": True},
    }
    return go.Figure({"data": [heatmap], "layout": layout})
