"""The page's Undo, Redo and Clear, and the drawing it keeps, driven through AppTest.

AppTest cannot draw on the canvas (a Components v2 component), so these tests stand a fake
in for `st_canvas` that does what the component does: it reports the drawing it holds (one
object per stroke, and its PNG) and, when the page hands it a changed `initial_drawing`,
redraws itself from it only after that run, as the browser would. The answers shown are
checked against the `Lab` on the same image, so they hold for any weights.
"""

import base64
import copy
import io
import sys

import numpy as np
import pytest
from conftest import ROOT
from page_reading import metrics, run
from PIL import Image
from streamlit.testing.v1 import AppTest

from capsnet.preprocess import preprocess
from capsnet.samples import load_sample

APP = str(ROOT / "app.py")
TIMEOUT = 90  # seconds: the first run imports TensorFlow and loads both models
SCALE = 10  # the canvas's 280 pixels over MNIST's 28
GUIDANCE = "Draw a digit from 0 to 9"


def canvas_png(digit: np.ndarray) -> bytes:
    """A 28x28 digit as the canvas's PNG would show it: 280x280 RGBA, white ink on black."""
    grey = digit.repeat(SCALE, 0).repeat(SCALE, 1)
    rgba = np.dstack([grey, grey, grey, np.full_like(grey, 255)])
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="PNG")
    return buffer.getvalue()


def stroke(x: float) -> dict:
    return {"type": "path", "left": x, "top": 20.0, "strokeWidth": 18,
            "path": [["M", x, 20.0], ["L", x, 200.0]]}


class FakeCanvas:
    """Stands in for `st_canvas`: reports what it holds; redraws on a changed value."""

    def __init__(self, result_type):
        self.result_type = result_type  # the component's CanvasResult
        self.objects, self.png, self.loaded, self.redraw = [], None, None, None
        self.reports = None  # a report to send as it is, damaged or not (json_data, png)
        self.png_of = {}  # the PNG of a redrawn drawing, by its count of strokes

    def draw(self, x: float, digit: np.ndarray) -> None:
        self.objects = [*self.objects, stroke(x)]
        self.png = canvas_png(digit)

    def __call__(self, *, initial_drawing, **options):
        if self.redraw is not None:  # what the browser did after the last run
            self.objects, self.png = self.redraw
            self.redraw = None
        if initial_drawing != self.loaded:
            if self.loaded is not None:
                objects = copy.deepcopy(initial_drawing["objects"])
                self.redraw = (objects, self.png_of.get(len(objects)))
            self.loaded = copy.deepcopy(initial_drawing)
        if self.reports is not None:
            json_data, png = self.reports
        else:
            json_data, png = {"objects": copy.deepcopy(self.objects)}, self.png
        url = None if png is None else "data:image/png;base64," + base64.b64encode(png).decode()
        return self.result_type(json_data, url, True)


@pytest.fixture(scope="module")
def sample():
    return load_sample()


@pytest.fixture
def page(weights_folder, monkeypatch):
    """The page with the fake canvas in place of the component."""
    monkeypatch.setenv("CAPSNET_WEIGHTS", str(weights_folder))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    run(at)  # imports the page's modules (the component registers itself in a page's run)
    canvas = FakeCanvas(sys.modules["streamlit_drawable_canvas"].CanvasResult)
    monkeypatch.setattr(sys.modules["capsnet.page.inputs"], "st_canvas", canvas)
    run(at)
    return at, canvas


def expected(lab, digit: np.ndarray) -> dict[str, str]:
    analysis = lab.analyze(preprocess(canvas_png_pixels(digit), ink="light").image)
    return {"CNN": str(analysis.cnn_label), "CapsNet": str(analysis.capsnet_label)}


def canvas_png_pixels(digit: np.ndarray) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(canvas_png(digit))))


def press(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click()
    run(at)
    return run(at)  # the component's report of its redraw starts a run of its own


def shows_guidance(at: AppTest) -> bool:
    return any(GUIDANCE in info.value for info in at.info) and not at.metric


def two_strokes(page, sample):
    """A first stroke that reads as one digit, then a second that reads as another."""
    at, canvas = page
    first, second = sample.images[0], sample.images[1]
    canvas.png_of = {0: None, 1: canvas_png(first), 2: canvas_png(second)}
    canvas.draw(50.0, first)
    run(at)
    canvas.draw(150.0, second)
    run(at)
    return first, second


def test_each_stroke_is_read_as_it_is_drawn(page, sample, lab):
    at, _ = page
    assert shows_guidance(at)
    _, second = two_strokes(page, sample)
    assert metrics(at) == expected(lab, second)
    history = at.session_state["strokes"]
    assert history.position == 2 and len(history.current.strokes) == 2


def test_undo_leaves_the_first_stroke_and_the_models_answer_for_it(page, sample, lab):
    at, _ = page
    first, second = two_strokes(page, sample)
    press(at, "canvas_undo")
    assert metrics(at) == expected(lab, first)
    history = at.session_state["strokes"]
    assert history.position == 1 and len(history.steps) == 3  # the echo is no new stroke
    assert not at.button(key="canvas_redo").disabled
    press(at, "canvas_redo")
    assert metrics(at) == expected(lab, second)
    assert at.button(key="canvas_redo").disabled


def test_clear_shows_the_guidance_and_undo_brings_the_drawing_back(page, sample, lab):
    at, _ = page
    _, second = two_strokes(page, sample)
    press(at, "canvas_clear")
    assert shows_guidance(at)
    assert at.button(key="canvas_clear").disabled and not at.error
    press(at, "canvas_undo")
    assert metrics(at) == expected(lab, second)


def test_the_buttons_are_off_while_there_is_nothing_to_do(page):
    at, _ = page
    assert [at.button(key=key).disabled for key in ("canvas_undo", "canvas_redo",
                                                     "canvas_clear")] == [True, True, True]


def test_undo_after_a_test_digit_goes_back_to_the_drawing_not_past_it(page, sample, lab):
    at, _ = page
    _, second = two_strokes(page, sample)
    test_digit = next(button for button in at.button if button.key.startswith("gallery_"))
    test_digit.click()
    run(at)
    assert at.session_state["source"] == "gallery"
    press(at, "canvas_undo")
    assert at.session_state["source"] == "drawing"
    assert metrics(at) == expected(lab, second)
    assert at.session_state["strokes"].position == 2


def test_the_two_digit_mode_and_back_keeps_the_drawing_and_its_history(page, sample, lab):
    at, _ = page
    first, _ = two_strokes(page, sample)
    press(at, "canvas_undo")
    at.session_state["mode"] = "Two digits"
    run(at)
    at.session_state["mode"] = "One digit"
    run(at)
    assert metrics(at) == expected(lab, first)
    history = at.session_state["strokes"]
    assert history.position == 1 and history.can_redo


@pytest.mark.parametrize(
    "json_data",
    [None, {"objects": []}, {"objects": [{"type": "path", "path": []}]}, {"objects": "x"}],
    ids=["no drawing", "no objects", "a stroke of no points", "objects not a list"],
)
def test_a_report_that_draws_nothing_leaves_the_guidance(page, sample, json_data):
    at, canvas = page
    canvas.reports = (json_data, canvas_png(np.zeros((28, 28), "uint8")))
    run(at)
    assert shows_guidance(at) and not at.error
    assert at.session_state["strokes"].blank


def test_a_report_that_draws_nothing_keeps_the_drawing_before_it(page, sample, lab):
    at, canvas = page
    _, second = two_strokes(page, sample)
    canvas.reports = ({"objects": "x"}, canvas_png(sample.images[7]))
    run(at)
    assert metrics(at) == expected(lab, second)
