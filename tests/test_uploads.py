"""Uploads beside the canvas, driven through the page's file uploader with AppTest.

A readable image is read exactly as `load_image` then `preprocess` read it, and anything else
(not an image, empty, a decompression bomb, too large, no digit in it) gets a message while
the page and the drawing on the canvas carry on.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest
from test_app import APP, TIMEOUT, chart_keys, heatmap, run
from test_images import png_claiming
from test_preprocess import aligned_correlation

from capsnet.images import MAX_BYTES, load_image
from capsnet.preprocess import preprocess
from capsnet.samples import load_sample

MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif"}


@pytest.fixture(scope="module")
def sample():
    return load_sample().select("random")


@pytest.fixture
def app(weights_folder, monkeypatch):
    monkeypatch.setenv("CAPSNET_WEIGHTS", str(weights_folder))
    return run(AppTest.from_file(APP, default_timeout=TIMEOUT))


def photo(digit: np.ndarray, image_format: str = "PNG") -> bytes:
    """A digit as a photo or a scan has it: dark ink on light grey paper, enlarged 8 times."""
    big = np.asarray(Image.fromarray(digit).resize((224, 224), Image.Resampling.BICUBIC))
    paper = (225 - big.astype("float32") * 200 / 255).astype("uint8")
    buffer = io.BytesIO()
    Image.fromarray(paper).convert("RGB").save(buffer, format=image_format)
    return buffer.getvalue()


def upload(at: AppTest, data: bytes, name: str = "digit.png") -> AppTest:
    extension = name.rsplit(".", 1)[-1].upper().replace("JPG", "JPEG")
    at.file_uploader(key="upload").set_value((name, data, MIME.get(extension, "image/png")))
    return run(at)


def answers(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def canvas_id(at: AppTest) -> str:
    (canvas,) = [component for component in at.get("bidi_component")
                 if "drawable_canvas" in component.proto.component_name]
    return canvas.proto.id


@pytest.mark.parametrize("image_format", ["PNG", "JPEG"])
def test_dark_on_light_upload_is_read_as_the_lab_reads_it(app, lab, sample, image_format):
    data = photo(sample.images[0], image_format)
    expected_input = preprocess(load_image(data)).image
    expected = lab.analyze(expected_input)
    upload(app, data, f"digit.{image_format.lower()}")

    assert app.session_state["source"] == "upload"
    assert answers(app) == {"CNN": str(expected.cnn_label),
                            "CapsNet": str(expected.capsnet_label)}
    np.testing.assert_allclose(heatmap(app, "model_input"), expected_input, atol=1e-6)
    assert not app.error


def test_upload_reads_like_the_mnist_digit_it_shows(sample):
    """The photo comes back as MNIST drew the digit (the page's reference for 'read right')."""
    scores = [aligned_correlation(digit / 255.0, preprocess(load_image(photo(digit))).image)
              for digit in sample.images[:20]]
    # a bold digit (MNIST's boldest quarter) comes back thinned to the top of MNIST's usual
    # range, as every bold drawing is: still the same digit, a little less alike
    assert np.median(scores) > 0.97 and min(scores) > 0.85


BAD_FILES = {  # made when a test asks, each with a word its message must hold
    "not an image": (lambda: b"%PDF-1.4 a document, not a picture\n" * 10, "not an image"),
    "empty file": (lambda: b"", "empty"),
    "decompression bomb": (lambda: png_claiming(30_000, 30_000), "megapixels"),
    "too large": (lambda: b"\x89PNG\r\n\x1a\n" + bytes(MAX_BYTES), "are accepted"),
    "damaged": (lambda: photo(load_sample().images[0])[:400], "damaged"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_unreadable_upload_gets_a_message_and_the_page_carries_on(app, lab, sample, case):
    make, message = BAD_FILES[case]
    upload(app, make())
    errors = [error.value for error in app.error]
    assert len(errors) == 1 and "The upload cannot be read" in errors[0], errors
    assert message in errors[0]
    assert len(app.metric) == 0 and chart_keys(app) == []

    # the page still works: a good file next is read
    good = photo(sample.images[1])
    expected = lab.analyze(preprocess(load_image(good)).image)
    upload(app, good)
    assert not app.error
    assert answers(app)["CapsNet"] == str(expected.capsnet_label)


def test_upload_without_a_digit_says_so(app):
    blank = io.BytesIO()
    Image.new("RGB", (200, 150), (235, 235, 230)).save(blank, format="PNG")
    upload(app, blank.getvalue())
    warnings = [warning.value for warning in app.warning]
    assert any("The upload shows no digit to read" in w for w in warnings), warnings
    assert len(app.metric) == 0 and not app.error


def test_drawing_is_kept_and_can_be_returned_to(app, sample):
    canvas = canvas_id(app)
    upload(app, photo(sample.images[2]))
    assert canvas_id(app) == canvas  # the same canvas element, so the browser keeps its strokes
    assert len(app.metric) == 2

    next(b for b in app.button if b.label == "Back to my drawing").click()
    run(app)
    assert app.session_state["source"] == "drawing"
    assert canvas_id(app) == canvas
    assert len(app.metric) == 0  # the canvas is blank in a test: guidance again
    assert any("Draw a digit" in info.value for info in app.info)

    next(b for b in app.button if b.label == "Read the uploaded image").click()
    run(app)
    assert app.session_state["source"] == "upload" and len(app.metric) == 2


def test_removing_the_file_returns_to_the_drawing(app, sample):
    upload(app, photo(sample.images[3]))
    app.file_uploader(key="upload").clear()
    run(app)
    assert app.session_state["source"] == "drawing"
    assert len(app.metric) == 0


def test_precedence_injected_then_the_latest_choice_of_upload_and_gallery(app, sample):
    data = photo(sample.images[4])
    upload(app, data)
    uploaded = heatmap(app, "model_input")

    gallery = next(b for b in app.button if b.key and b.key.startswith("gallery_"))
    gallery.click()
    run(app)
    index = int(gallery.key.removeprefix("gallery_"))
    np.testing.assert_allclose(heatmap(app, "model_input"),
                               load_sample().images[index] / 255.0, atol=1e-6)

    next(b for b in app.button if b.label == "Read the uploaded image").click()
    run(app)
    np.testing.assert_allclose(heatmap(app, "model_input"), uploaded, atol=1e-6)

    app.session_state["injected_image"] = sample.images[5]
    run(app)
    np.testing.assert_allclose(heatmap(app, "model_input"),
                               preprocess(sample.images[5], ink="light").image, atol=1e-6)
