"""The page's "Two digits" mode (`capsnet/page/pair_reading.py`), in AppTest.

The answers shown are checked against the `TwoDigitLab` itself, so the tests hold for any
two-digit weights; they run on untrained weights saved (as float16, as shipped) beside the
MNIST models in a folder of their own, and on the shipped folder, which may have none.
"""

import io
import shutil

import numpy as np
import pytest
from conftest import ROOT
from page_reading import array, chart, run
from PIL import Image
from streamlit.testing.v1 import AppTest
from test_app import APP, TIMEOUT

from capsnet import checkpoints
from capsnet.config import CapsNetConfig, CNNConfig
from capsnet.data import Split
from capsnet.multimnist import make_pairs, place
from capsnet.page import display
from capsnet.preprocess import preprocess_pair
from capsnet.samples import load_sample

TWO, ONE = "Two digits", "One digit"  # the mode control's options
TEST_PAIRS = 200  # as the page makes them from the sample: TEST_PAIRS...
TEST_PAIR_SEED = 0  # ...and its seed


@pytest.fixture(scope="module")
def pair_folder(tmp_path_factory, weights_folder):
    """The page's MNIST weights and untrained two-digit models, in one folder."""
    from capsnet.models import build_capsnet, build_cnn

    folder = tmp_path_factory.mktemp("weights")
    for name in checkpoints.MODEL_NAMES:
        for path in checkpoints.paths(name, weights_folder):
            shutil.copy(path, folder / path.name)
    for name, built in (("multimnist_capsnet", build_capsnet(CapsNetConfig.for_pairs(), seed=0)),
                        ("multimnist_cnn", build_cnn(CNNConfig.for_pairs(), seed=0))):
        checkpoints.save(name, built.model, built.config, {"model": name}, folder, "float16")
    return folder


@pytest.fixture(scope="module")
def pair_lab(pair_folder):
    from capsnet.two_digits import TwoDigitLab

    return TwoDigitLab.load(pair_folder)


@pytest.fixture(scope="module")
def sample():
    return load_sample()


def page(folder, monkeypatch) -> AppTest:
    monkeypatch.setenv("CAPSNET_WEIGHTS", str(folder))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["mode"] = TWO
    return at


def two_digit_drawing(sample) -> np.ndarray:
    """Two test digits of different classes overlaid, light ink on black, as a canvas has
    them (the page preprocesses an injected image like a drawing)."""
    first, second = (int(np.flatnonzero(sample.labels == digit)[0]) for digit in (3, 7))
    canvas = np.zeros((36, 36), "uint8")
    canvas[2:30, 2:30] = sample.images[first]
    canvas[6:34, 6:34] = np.maximum(canvas[6:34, 6:34], sample.images[second])
    return canvas


def png(data) -> np.ndarray:
    """An `st.image` as the browser gets it (a media URL in AppTest: read from its file)."""
    return np.asarray(Image.open(io.BytesIO(data)))


def captions(at: AppTest) -> list[str]:
    """The captions of the page's `st.image`s."""
    return [image.caption for element in at.get("image") for image in element.proto.imgs]


def named(answers, one_digit: bool) -> str:
    """Two answers as the page words them: "3 and 7", or "3" where only one is seen."""
    return str(answers[0]) if one_digit else f"{answers[0]} and {answers[1]}"


def metric_values(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


# --- What the page shows -------------------------------------------------------------------


def test_overlay_draws_each_reconstruction_in_its_own_colour():
    image = np.zeros((36, 36), "float32")
    image[0, 0] = 1.0
    reconstructions = np.zeros((2, 36, 36), "float32")
    reconstructions[0, 1, 1] = 1.0
    reconstructions[1, 2, 2] = 1.0
    shown = display.overlay(image, reconstructions)
    assert shown.shape == (36, 36, 3)
    np.testing.assert_allclose(shown[0, 0], [display.BACKDROP] * 3)  # the input, grey
    np.testing.assert_allclose(shown[1, 1], display.COLOURS[0])  # red
    np.testing.assert_allclose(shown[2, 2], display.COLOURS[1])  # green
    assert shown[3, 3].max() == 0.0


def test_enlarged_image_keeps_every_pixel_square():
    image = np.linspace(0, 1, 36 * 36, dtype="float32").reshape(36, 36)
    shown = png(display.enlarged(image, 6))
    assert shown.shape == (36 * 6, 36 * 6)
    np.testing.assert_array_equal(shown[::6, ::6], np.round(image * 255))
    np.testing.assert_array_equal(shown[5::6, 5::6], shown[::6, ::6])


def test_a_digit_placed_alone_sits_in_the_middle_of_the_pair_canvas(sample):
    digit = sample.images[0] / 255.0
    placed = place(digit)
    assert placed.shape == (36, 36)
    np.testing.assert_allclose(placed[4:32, 4:32], digit)
    assert placed.sum() == pytest.approx(digit.sum())
    moved = place(digit, (-4, 4))  # four up, four right: the field's corner is the canvas's
    np.testing.assert_allclose(moved[0:28, 8:36], digit)


# --- The mode on the page ------------------------------------------------------------------


def test_without_two_digit_weights_the_mode_says_how_to_train_them(tmp_path, weights_folder,
                                                                    monkeypatch, sample):
    folder = tmp_path / "weights"  # the MNIST models alone
    folder.mkdir()
    for name in checkpoints.MODEL_NAMES:
        for path in checkpoints.paths(name, weights_folder):
            shutil.copy(path, folder / path.name)
    at = page(folder, monkeypatch)
    at.session_state["injected_image"] = two_digit_drawing(sample)
    run(at)
    notes = " ".join(info.value for info in at.info)
    assert "two-digit models are not in place" in notes
    assert "train.py train --task multimnist" in notes
    assert f"${checkpoints.WEIGHTS_ENV}/multimnist_" in notes  # named as the visitor set it...
    assert str(tmp_path) not in notes and str(ROOT) not in notes  # ...never by the server's path
    assert not at.metric and not at.error
    assert any("MultiMNIST would have it" in caption for caption in captions(at))  # the input

    at.session_state["mode"] = ONE  # the rest of the page is unaffected
    run(at)
    assert sorted(metric_values(at)) == ["CNN", "CapsNet"]


def test_both_models_name_two_digits_as_the_lab_does(pair_folder, pair_lab, monkeypatch,
                                                     sample):
    drawing = two_digit_drawing(sample)
    expected = pair_lab.analyze(preprocess_pair(drawing, ink="light").image)
    at = page(pair_folder, monkeypatch)
    at.session_state["injected_image"] = drawing
    run(at)
    shown = metric_values(at)
    assert shown["CapsNet"] == named(expected.capsnet_answers, expected.one_digit)
    assert shown["CNN"] == named(expected.cnn_answers, expected.cnn_one_digit)
    lengths = array(chart(at, "pair_capsnet_bars")["data"][0]["y"])
    np.testing.assert_allclose(lengths, expected.capsnet_lengths, atol=1e-6)
    first, second = expected.capsnet_answers
    shown = captions(at)
    assert f"Over the input: the {first} in red, the {second} in green" in shown
    assert f"The {first} capsule alone" in shown and f"The {second} capsule alone" in shown

    at.selectbox(key="pair_asked").set_value(5)  # is there a 5 in here?
    run(at)
    assert f"The 5 capsule, {expected.capsnet_lengths[5]:.2f} long" in captions(at)
    notes = " ".join(caption.value for caption in at.caption)
    assert "Measured: the CapsNet has no measured test accuracy" in notes  # untrained here


def test_a_test_pair_loads_and_names_its_two_digits(pair_folder, monkeypatch, sample):
    at = page(pair_folder, monkeypatch)
    run(at)
    next(button for button in at.button if button.label == "Load a test pair").click()
    run(at)
    pairs = make_pairs(Split(sample.images[..., None] / 255.0, sample.labels), TEST_PAIRS,
                       TEST_PAIR_SEED)
    first, second = pairs.labels[0]
    assert any(f"Test pair 1 of {TEST_PAIRS}: a {first} and a {second}" in caption
               for caption in captions(at))
    assert sorted(metric_values(at)) == ["CNN", "CapsNet"]
    next(button for button in at.button if button.label == "Next test pair").click()
    run(at)
    first, second = pairs.labels[1]
    assert any(f"Test pair 2 of {TEST_PAIRS}: a {first} and a {second}" in caption
               for caption in captions(at))



def test_the_pages_own_button_switches_the_mode_and_the_sidebar_follows(pair_folder,
                                                                         monkeypatch, sample):
    """On phones and tablets the sidebar starts closed: a button under the upload switches
    to two digits and back, and the sidebar's "Read" control shows the mode it switched to.
    The drawing stays, and is read by the mode's models."""
    monkeypatch.setenv("CAPSNET_WEIGHTS", str(pair_folder))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["injected_image"] = two_digit_drawing(sample)
    run(at)
    assert at.button(key="mode_button").label == "Try two digits at once"
    assert not any("MultiMNIST would have it" in caption for caption in captions(at))
    at.button(key="mode_button").click()
    run(at)
    assert at.session_state["mode"] == TWO
    assert at.sidebar.button_group[0].value == TWO  # the "Read" control shows it
    assert "Draw two digits, one over the other" in [header.value for header in at.subheader]
    assert any("MultiMNIST would have it" in caption for caption in captions(at))
    assert sorted(metric_values(at)) == ["CNN", "CapsNet"]  # the same drawing, read as a pair
    assert at.button(key="mode_button").label == "Back to one digit"
    at.button(key="mode_button").click()
    run(at)
    assert at.session_state["mode"] == ONE and at.sidebar.button_group[0].value == ONE
    assert "Draw a digit" in [header.value for header in at.subheader]


def test_the_mode_says_how_well_each_model_reads_the_test_pairs():
    from capsnet.two_digits import measured_note

    metrics = {"multimnist_capsnet": {"test_accuracy": 0.8123, "test_pairs": 10_000,
                                      "pairs_seen": 50_000, "init": {"examples_seen": 30_000}},
               "multimnist_cnn": {}}
    note = measured_note(metrics)
    assert ("the CapsNet names both digits of 81.2% of 10,000 test pairs after 80,000 "
            "training pairs (the paper's: 94.8%)") in note
    assert "the CNN has no measured test accuracy" in note
    assert "drawn pairs" not in note  # not measured on them

    metrics["multimnist_cnn"] = {"test_accuracy": 0.85, "pairs_seen": 90_000,
                                 "drawn_pairs": {"accuracy": 0.7412, "count": 500}}
    assert ("the CNN names both digits of 85.0% of 10,000 test pairs after 90,000 training "
            "pairs (the paper's: 91.9%) and of 74.1% of 500 drawn pairs") in measured_note(metrics)

    # Where it was measured, the note quotes what the page shows: the pairs named and not
    # called one digit, not the model's top two alone.
    metrics["multimnist_cnn"]["drawn_pairs"]["shown_accuracy"] = 0.7296
    note = measured_note(metrics)
    assert "and of 73.0% of 500 drawn pairs" in note and "74.1%" not in note


def test_a_value_under_its_threshold_is_never_printed_at_or_over_it():
    under = display.under

    assert under(0.21, 0.3, 2) == "0.21"
    assert under(0.296, 0.3, 2) == "0.296"  # "0.30" would read as not under 0.3
    assert under(0.2999, 0.3, 2) == "0.2999"
    assert under(0.09, 0.14, 0, percent=True) == "9%"
    assert under(0.1396, 0.14, 0, percent=True) == "13.96%"  # not "14%"
    for value in np.linspace(0.0, 0.2999, 500):
        assert float(under(value, 0.3, 2)) < 0.3
        assert float(under(value / 2, 0.15, 0, percent=True).rstrip("%")) < 15
