"""Figure builders against plain references: a loop for tiling, PIL for the PNG."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from capsnet.inference import POSE_STEPS
from capsnet.page import charts


def loop_stitch(grid, gap, level):
    rows, columns, height, width = grid.shape
    out = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap), level)
    for r in range(rows):
        for c in range(columns):
            top, left = r * (height + gap), c * (width + gap)
            out[top:top + height, left:left + width] = grid[r, c]
    return out


def test_stitch_matches_a_loop():
    grid = np.random.default_rng(0).random((3, 4, 5, 6)).astype("float32")
    np.testing.assert_array_equal(charts.stitch(grid, gap=2, gap_level=0.5),
                                  loop_stitch(grid, 2, 0.5))


def test_class_bars_highlight_the_answer_on_a_fixed_axis():
    values = np.linspace(0.0, 0.9, 10)
    figure = charts.class_bars(values, 4, "title", "probability")
    bar = figure.data[0]
    assert [i for i, c in enumerate(bar.marker.color) if c == charts.HIGHLIGHT] == [4]
    np.testing.assert_allclose(bar.y, values)
    assert tuple(figure.layout.yaxis.range) == (0.0, 1.0)
    assert list(figure.layout.xaxis.tickvals) == list(range(10))


def test_image_figure_puts_row_zero_on_top_with_square_pixels():
    image = np.zeros((28, 28), "float32")
    image[0] = 1.0
    figure = charts.image_figure(image)
    np.testing.assert_array_equal(figure.data[0].z, image)
    assert figure.layout.yaxis.autorange == "reversed"
    assert figure.layout.yaxis.scaleanchor == "x"


def test_png_data_uri_round_trips_to_eight_bits():
    image = np.random.default_rng(1).random((7, 9)).astype("float32")
    uri = charts.png_data_uri(image)
    assert uri.startswith("data:image/png;base64,")
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    np.testing.assert_array_equal(decoded, np.round(image * 255).astype("uint8"))


def test_pose_grid_figure_labels_every_row_and_column():
    grid = np.zeros((16, len(POSE_STEPS), 28, 28), "float32")
    figure = charts.pose_grid_figure(grid, POSE_STEPS)
    assert list(figure.layout.yaxis.ticktext) == [str(d) for d in range(1, 17)]
    assert figure.layout.xaxis.ticktext[0] == "-0.25"
    assert figure.layout.xaxis.ticktext[-1] == "+0.25"
    with pytest.raises(ValueError, match="one value per grid column"):
        charts.pose_grid_figure(grid, POSE_STEPS[:-1])


def test_pose_grid_figure_names_its_rows_when_told():
    grid = np.zeros((16, len(POSE_STEPS), 28, 28), "float32")
    names = [f"name {d}" for d in range(16)]
    figure = charts.pose_grid_figure(grid, POSE_STEPS, names)
    assert list(figure.layout.yaxis.ticktext) == [f"{d + 1}: name {d}" for d in range(16)]


def test_dimensions_figure_shows_each_cell_with_zero_in_the_middle():
    moved = np.arange(-6.0, 6.0).reshape(2, 6)
    figure = charts.dimensions_figure(moved, ["a", "b"], list("uvwxyz"),
                                      [list("123456"), list("789012")])
    np.testing.assert_array_equal(figure.data[0].z, moved)
    assert figure.data[0].zmin == -6 and figure.data[0].zmax == 6  # no change sits in the middle
    assert list(figure.data[0].y) == ["1: a", "2: b"]
    with pytest.raises(ValueError, match="moved must be"):
        charts.dimensions_figure(moved, ["a"], list("uvwxyz"), [])
