"""Awkward drawings: each ends in an answer or a clear message, through `preprocess` and the page.

The drawings are made as the page's canvas hands them over: a 280x280 RGBA image of white
ink on the canvas's black sheet (opaque) or on a clear sheet, drawn with the pen widths the
page's stroke control allows. Where a drawing is read, the test checks the model input
against an independent reference (the same digit drawn plainly, or MNIST's own digits) and,
on the page, that the page shows the Lab's answers for it; the labels themselves are checked
only with trained weights.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from page_driver import page_constant
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest
from test_app import APP, TIMEOUT, chart_keys, heatmap, inject
from test_preprocess import aligned_correlation

from capsnet import nondigits, novelty
from capsnet.preprocess import BOX, NotADigit, preprocess, stroke_width
from capsnet.samples import load_sample

PAGE = {name: page_constant(name) for name in ("CANVAS_SIZE", "STROKE_LIMITS", "STROKE_DEFAULT")}
SIDE = PAGE["CANVAS_SIZE"]
THIN, WIDE = PAGE["STROKE_LIMITS"]  # the pen widths the page's stroke control allows
PEN = PAGE["STROKE_DEFAULT"]
NOVELTY_WARNING = "does not look like a digit to the CapsNet"
TRAINED_ACCURACY = 0.95  # below this on the sample, the weights are not trained: labels vary

Draw = Callable[[ImageDraw.ImageDraw], None]


def canvas(draw: Draw, sheet: str = "black") -> np.ndarray:
    """A drawing as the page's canvas gives it: white ink on its black or on a clear sheet."""
    ink = Image.new("L", (SIDE, SIDE), 0)
    draw(ImageDraw.Draw(ink))
    level = np.asarray(ink)
    image = np.empty((SIDE, SIDE, 4), "uint8")
    if sheet == "black":
        image[..., :3], image[..., 3] = level[..., None], 255
    else:
        image[..., :3], image[..., 3] = 255, level
    return image


def seven(width: int, box: tuple[int, int, int, int] = (50, 30, 230, 250)) -> Draw:
    left, top, right, bottom = box
    points = [(left, top), (right, top), (left + (right - left) // 3, bottom)]
    return lambda draw: draw.line(points, fill=255, width=width, joint="curve")


def zero(width: int, box: tuple[int, int, int, int] = (70, 30, 210, 250)) -> Draw:
    return lambda draw: draw.ellipse(box, outline=255, width=width)


def dot(width: int) -> Draw:
    centre = SIDE // 2
    box = (centre - width // 2, centre - width // 2, centre + width // 2, centre + width // 2)
    return lambda draw: draw.ellipse(box, fill=255)


def line(start: tuple[int, int], end: tuple[int, int], width: int = PEN) -> Draw:
    return lambda draw: draw.line([start, end], fill=255, width=width)


def frame(width: int = PEN) -> Draw:
    return lambda draw: draw.rectangle((0, 0, SIDE - 1, SIDE - 1), outline=255, width=width)


def paint_all(draw: ImageDraw.ImageDraw) -> None:
    draw.rectangle((0, 0, SIDE - 1, SIDE - 1), fill=255)


def paint_most(draw: ImageDraw.ImageDraw) -> None:
    for y in range(0, SIDE, 36):  # wide pen strokes side by side, a little black between
        draw.line([(0, y), (SIDE - 1, y)], fill=255, width=WIDE - 10)


def mnist_digit_in_corner(digit: np.ndarray, side: int, corner: str) -> Draw:
    """An MNIST digit shrunk to `side` pixels in a corner of the canvas."""
    small = Image.fromarray(digit).resize((side, side), Image.Resampling.BILINEAR)
    position = (0, 0) if corner == "top left" else (SIDE - side, SIDE - side)
    return lambda draw: draw.bitmap(position, small.point(lambda v: 255 if v > 100 else 0),
                                    fill=255)


def scribble(seed: int = 0) -> np.ndarray:
    return nondigits.drawing("scribble", np.random.default_rng(seed))


def model_input(image: np.ndarray) -> np.ndarray:
    return preprocess(image, ink="light").image


@pytest.fixture(scope="module")
def sample():
    return load_sample().select("random")


@pytest.fixture(scope="module")
def trained(lab, sample):
    """Skips a test of labels unless the weights in use read MNIST's test digits well."""
    analyses = lab.analyze_batch(sample.images[:100].astype("float32") / 255.0)
    accuracy = np.mean([a.capsnet_label == y for a, y in
                        zip(analyses, sample.labels[:100], strict=True)])
    if accuracy < TRAINED_ACCURACY:
        pytest.skip(f"the weights in use read {accuracy:.0%} of the sample right: untrained")
    return lab


# --- Through preprocess ------------------------------------------------------------------


@pytest.mark.parametrize("sheet", ["black", "clear"])
def test_blank_canvas_asks_for_a_digit(sheet):
    with pytest.raises(NotADigit, match="Nothing is drawn yet"):
        preprocess(canvas(lambda draw: None, sheet), ink="light")


@pytest.mark.parametrize("width", [THIN, PEN, WIDE])
def test_single_dot_is_not_a_digit(width):
    with pytest.raises(NotADigit, match="dot"):
        preprocess(canvas(dot(width)), ink="light")


@pytest.mark.parametrize("width", [THIN, PEN, WIDE])
def test_horizontal_line_across_the_canvas_is_not_a_digit(width):
    with pytest.raises(NotADigit, match="horizontal line"):
        preprocess(canvas(line((0, SIDE // 2), (SIDE - 1, SIDE // 2 + 10), width)), ink="light")


def test_vertical_line_across_the_canvas_is_read_as_mnist_writes_a_one(sample):
    image = model_input(canvas(line((SIDE // 2, 0), (SIDE // 2, SIDE - 1))))
    rows, cols = np.flatnonzero(image.max(1) > 0.2), np.flatnonzero(image.max(0) > 0.2)
    assert rows[-1] - rows[0] + 1 == BOX and cols[-1] - cols[0] + 1 <= 5
    ones = sample.images[sample.labels == 1].astype("float32") / 255.0
    assert max(aligned_correlation(one, image) for one in ones) > 0.9


def test_diagonal_line_across_the_canvas_is_left_to_the_models():
    image = model_input(canvas(line((0, 0), (SIDE - 1, SIDE - 1))))
    assert 1.8 <= stroke_width(image > 0.5) <= 6.0
    assert image[4:24, 4:24].diagonal().min() > 0.5  # a stroke from corner to corner of the box


@pytest.mark.parametrize("sheet", ["black", "clear"])
def test_frame_touching_every_edge_is_read_as_ink_not_as_paper(sheet):
    image = model_input(canvas(frame(), sheet))
    rows, cols = np.flatnonzero(image.max(1) > 0.2), np.flatnonzero(image.max(0) > 0.2)
    assert rows[-1] - rows[0] + 1 == BOX and cols[-1] - cols[0] + 1 == BOX
    assert image[rows[0], cols[0]:cols[-1]].min() > 0.5  # the top edge is ink...
    assert image[10:18, 10:18].max() < 0.05  # ...and the middle is paper


@pytest.mark.parametrize("sheet", ["black", "clear"])
def test_digit_drawn_to_every_edge_reads_like_the_same_digit_drawn_small(sheet):
    to_the_edges = model_input(canvas(zero(2 * PEN, (0, 0, SIDE - 1, SIDE - 1)), sheet))
    # a pen as wide for its size as the large one, so that only the size differs
    small = model_input(canvas(zero(round(2 * PEN * 100 / SIDE), (90, 90, 190, 190)), sheet))
    assert aligned_correlation(small, to_the_edges) > 0.9


@pytest.mark.parametrize("sheet", ["black", "clear"])
def test_whole_canvas_painted_says_so(sheet):
    with pytest.raises(NotADigit, match="The whole image is ink"):
        preprocess(canvas(paint_all, sheet), ink="light")
    with pytest.raises(NotADigit, match=r"Ink covers 8\d% of the image"):
        preprocess(canvas(paint_most, sheet), ink="light")


@pytest.mark.parametrize("corner", ["top left", "bottom right"])
def test_tiny_digit_in_a_corner_comes_back_as_mnist_drew_it(sample, corner):
    scores = [aligned_correlation(digit / 255.0,
                                  model_input(canvas(mnist_digit_in_corner(digit, 40, corner))))
              for digit in sample.images[:20]]
    assert np.median(scores) > 0.85


def test_tiny_seven_in_a_corner_matches_a_large_one():
    tiny = model_input(canvas(seven(THIN, (4, 4, 40, 48))))
    large = model_input(canvas(seven(PEN)))
    assert aligned_correlation(large, tiny) > 0.85


@pytest.mark.parametrize("width", [THIN, WIDE])
def test_thinnest_and_widest_pens_give_mnist_strokes(width):
    for draw, plain in ((seven(width), seven(PEN)), (zero(width), zero(PEN))):
        image = model_input(canvas(draw))
        assert 1.8 <= stroke_width(image > 0.5) <= 6.0  # MNIST's range of stroke widths
        assert aligned_correlation(model_input(canvas(plain)), image) > 0.8


@pytest.mark.parametrize("sheet", ["black", "clear"])
def test_known_ink_colour_agrees_with_auto_where_the_border_is_paper(sample, sheet):
    for image in (canvas(seven(PEN), sheet), canvas(zero(THIN), sheet), sample.images[0]):
        np.testing.assert_allclose(model_input(image), preprocess(image).image, atol=1e-6)
    np.testing.assert_allclose(preprocess(255 - sample.images[0], ink="dark").image,
                               model_input(sample.images[0]), atol=1e-6)


def test_unknown_ink_colour_is_refused():
    with pytest.raises(ValueError, match="ink must be one of"):
        preprocess(canvas(seven(PEN)), ink="white")


def test_scribble_is_read_and_left_to_the_capsnet_to_judge():
    image = model_input(scribble())
    assert image.shape == (28, 28) and image.max() == pytest.approx(1.0)


def test_canvas_pen_range_is_the_one_the_non_digits_use():
    assert nondigits.PEN_WIDTHS == (THIN, WIDE)


def test_trained_models_read_the_awkward_drawings_right(trained, sample):
    cases = {
        7: [seven(THIN), seven(WIDE), seven(THIN, (4, 4, 40, 48))],
        0: [zero(THIN), zero(WIDE), zero(PEN * 2, (0, 0, SIDE - 1, SIDE - 1))],
        1: [line((SIDE // 2, 0), (SIDE // 2, SIDE - 1))],
    }
    for label, draws in cases.items():
        for draw in draws:
            assert trained.analyze(model_input(canvas(draw))).capsnet_label == label
    corner = [trained.analyze(model_input(canvas(mnist_digit_in_corner(d, 40, "top left"))))
              for d in sample.images[:20]]
    assert np.mean([a.capsnet_label == y for a, y in zip(corner, sample.labels[:20],
                                                         strict=True)]) >= 0.9


# --- Through the page ----------------------------------------------------------------------


@pytest.fixture
def app(weights_folder, monkeypatch):
    monkeypatch.setenv("CAPSNET_WEIGHTS", str(weights_folder))
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


REFUSED = {
    "blank canvas": (lambda draw: None, "Nothing is drawn yet"),
    "single dot": (dot(THIN), "dot"),
    "fat dot": (dot(WIDE), "dot"),
    "horizontal line across": (line((0, SIDE // 2), (SIDE - 1, SIDE // 2)), "horizontal line"),
    "whole canvas painted": (paint_all, "The whole image is ink"),
    "canvas mostly painted": (paint_most, "Ink covers"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_page_explains_a_drawing_it_cannot_read(app, case):
    draw, message = REFUSED[case]
    inject(app, canvas(draw))
    assert [info.value for info in app.info if message in info.value]
    assert len(app.metric) == 0 and chart_keys(app) == []
    assert not app.error


READ = {
    "vertical line across": lambda: canvas(line((SIDE // 2, 0), (SIDE // 2, SIDE - 1))),
    "diagonal line across": lambda: canvas(line((0, 0), (SIDE - 1, SIDE - 1))),
    "frame on every edge": lambda: canvas(frame()),
    "zero drawn to every edge": lambda: canvas(zero(PEN, (0, 0, SIDE - 1, SIDE - 1))),
    "tiny seven in a corner": lambda: canvas(seven(THIN, (4, 4, 40, 48))),
    "thinnest pen": lambda: canvas(seven(THIN)),
    "widest pen": lambda: canvas(seven(WIDE)),
    "scribble": scribble,
}


@pytest.mark.parametrize("case", list(READ))
def test_page_reads_an_awkward_drawing_as_the_lab_does(app, lab, weights_folder, case):
    image = READ[case]()
    expected = lab.analyze(model_input(image))
    inject(app, image)
    answers = {metric.label: metric.value for metric in app.metric}
    assert answers == {"CNN": str(expected.cnn_label), "CapsNet": str(expected.capsnet_label)}
    np.testing.assert_allclose(heatmap(app, "model_input"), model_input(image), atol=1e-6)
    thresholds = novelty.load_thresholds(weights_folder)
    should_warn = thresholds is not None and novelty.assess(expected, thresholds).fires
    assert any(NOVELTY_WARNING in w.value for w in app.warning) == should_warn
    assert not app.error
