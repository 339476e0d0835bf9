"""The page, driven through Streamlit's AppTest: what each input and each control shows.

The page runs against the weights folder that `Lab.load()` picks (`$CAPSNET_WEIGHTS`, else
the shipped weights). The tests check the page against the `Lab` itself, so they hold for
any weights, trained or not: the answers shown are the Lab's answers for that input.
"""

import base64
import io
import json

import numpy as np
import pytest
from conftest import ROOT
from page_reading import array, chart, chart_keys, heatmap, run
from PIL import Image
from streamlit.testing.v1 import AppTest

from capsnet.inference import POSE_STEPS
from capsnet.page import charts, live_pose
from capsnet.page.live_pose import DecoderPayload
from capsnet.preprocess import preprocess
from capsnet.samples import load_sample

APP = str(ROOT / "app.py")
TIMEOUT = 90  # seconds: the first run imports TensorFlow and loads both models
RECONSTRUCT_VIEW = "Reconstruct and pose"
EXACT = 1e-7  # about one float32 step at 0.5: the page and the Lab run the same decoder
DIGITS_TRIED = 60  # sample digits searched for one the models agree on (cheap on a CPU)


@pytest.fixture(scope="module")
def sample():
    return load_sample()


@pytest.fixture
def app(weights_folder, monkeypatch):
    monkeypatch.setenv("CAPSNET_WEIGHTS", str(weights_folder))
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


def png(uri: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def inject(at: AppTest, image: np.ndarray, view: str | None = None) -> AppTest:
    at.session_state["injected_image"] = image
    if view is not None:
        at.session_state["view"] = view
    return run(at)


def test_blank_page_shows_guidance_and_no_prediction(app):
    run(app)
    assert any("Draw a digit" in info.value for info in app.info)
    assert len(app.metric) == 0
    assert chart_keys(app) == []
    assert not app.error


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((280, 280), "uint8"), "Nothing is drawn yet"),
        (np.pad(np.full((12, 12), 255, "uint8"), 134), "dot"),
    ],
    ids=["cleared canvas", "dot"],
)
def test_not_a_digit_shows_its_message(app, image, message):
    inject(app, image)
    assert any(message in info.value for info in app.info)
    assert len(app.metric) == 0
    assert chart_keys(app) == []


def test_injected_digit_shows_both_answers_as_the_lab_gives_them(app, lab, sample):
    image = sample.images[0]
    expected = lab.analyze(preprocess(image).image)
    inject(app, image)

    answers = {metric.label: metric.value for metric in app.metric}
    assert answers == {"CNN": str(expected.cnn_label), "CapsNet": str(expected.capsnet_label)}
    np.testing.assert_allclose(heatmap(app, "model_input"), preprocess(image).image, atol=1e-6)

    for key, scores, label in (("cnn_bars", expected.cnn_probabilities, expected.cnn_label),
                               ("capsnet_bars", expected.capsnet_lengths,
                                expected.capsnet_label)):
        bars = chart(app, key)
        np.testing.assert_allclose(array(bars["data"][0]["y"]), scores, atol=1e-5)
        colours = bars["data"][0]["marker"]["color"]
        assert [d for d, c in enumerate(colours) if c == charts.HIGHLIGHT] == [label]
        assert bars["layout"]["yaxis"]["range"] == [0.0, 1.0]

    if expected.agree:
        assert any(str(expected.cnn_label) in s.value for s in app.success)
        assert not [w for w in app.warning if "disagree" in w.value]
    else:
        assert any("disagree" in w.value for w in app.warning)


def test_disagreement_is_marked(app, lab, sample):
    """Among the sample, find an input the two models read differently, and one they agree on."""
    # the sample's "disagreement" digits first, then enough others to find an agreement
    candidates = np.concatenate([np.flatnonzero(sample.kind == "disagreement"),
                                 np.flatnonzero(sample.kind != "disagreement")[:DIGITS_TRIED]])
    analyses = lab.analyze_batch(sample.images[candidates].astype("float32") / 255.0)
    agreeing = [int(i) for i, a in zip(candidates, analyses, strict=True) if a.agree]
    differing = [int(i) for i, a in zip(candidates, analyses, strict=True) if not a.agree]
    assert agreeing or differing
    for indices, should_warn in ((agreeing, False), (differing, True)):
        if not indices:
            continue
        app.session_state["gallery_index"] = indices[0]
        app.session_state["source"] = "gallery"
        run(app)
        warned = any("disagree" in w.value for w in app.warning)
        assert warned == should_warn
        assert bool(app.success) != should_warn


def test_reconstruction_follows_the_chosen_class(app, lab, sample):
    image = preprocess(sample.images[1]).image
    expected = lab.analyze(image)
    inject(app, sample.images[1], RECONSTRUCT_VIEW)

    choice = app.selectbox(key="recon_digit")
    assert choice.value == expected.capsnet_label
    winner = heatmap(app, "reconstruction")
    np.testing.assert_allclose(winner, expected.reconstruction, atol=1e-4)
    np.testing.assert_allclose(heatmap(app, "reconstruct_input"), image, atol=1e-6)

    other = (expected.capsnet_label + 1) % 10
    choice.set_value(other)
    run(app)
    rebuilt = heatmap(app, "reconstruction")
    # the same computation as the Lab's, to the last bit or so: an untrained decoder's
    # images of two classes may differ by little more than that
    np.testing.assert_allclose(rebuilt, lab.reconstruct(expected.capsules, other),
                               rtol=0, atol=EXACT)
    assert not np.array_equal(rebuilt, winner)
    assert any(f"{other} capsule" in caption.value for caption in app.caption)


def test_pose_slider_moves_the_reconstruction_and_reset_restores_it(app, lab, sample):
    expected = lab.analyze(preprocess(sample.images[2]).image)
    digit = expected.capsnet_label
    inject(app, sample.images[2], RECONSTRUCT_VIEW)
    sliders = [app.slider(key=f"pose_{d}") for d in range(expected.capsules.shape[-1])]
    assert len(sliders) == 16
    assert all(s.min == -0.25 and s.max == 0.25 and s.value == 0.0 for s in sliders)
    before = heatmap(app, "reconstruction")

    app.slider(key="pose_3").set_value(0.25)
    run(app)
    pose = np.zeros(16, "float32")
    pose[3] = 0.25
    after = heatmap(app, "reconstruction")
    np.testing.assert_allclose(after, lab.reconstruct(expected.capsules, digit, pose),
                               rtol=0, atol=EXACT)
    assert not np.array_equal(after, before)

    reset = next(b for b in app.button if b.label == "Reset pose")
    reset.click()
    run(app)
    assert app.slider(key="pose_3").value == 0.0
    np.testing.assert_allclose(heatmap(app, "reconstruction"), before, rtol=0, atol=EXACT)


def live_pose_data(at: AppTest) -> dict:
    """What the page gave the live pose component on its last run."""
    mounted = [element.proto for element in at.get("bidi_component")
               if element.proto.component_name == "capsnet.live_pose"]
    assert len(mounted) == 1
    return json.loads(mounted[0].json)


def test_live_pose_gets_the_capsule_and_the_weights_until_the_browser_has_them(app, lab,
                                                                                sample):
    expected = lab.analyze(preprocess(sample.images[4]).image)
    digit = expected.capsnet_label
    payload = DecoderPayload.from_layers(lab.decoder_layers())
    inject(app, sample.images[4], RECONSTRUCT_VIEW)
    data = live_pose_data(app)
    assert data["digit"] == digit
    np.testing.assert_allclose(data["capsule"], expected.capsules[digit], rtol=0, atol=EXACT)
    assert data["pose"] == [0.0] * 16 and data["caption"] == f"Decoded from the {digit} capsule"
    assert (data["sha"], data["weights"]) == (payload.sha, payload.weights)
    assert len(app.slider) >= 16  # no browser has said it decodes: the server's sliders

    app.session_state[live_pose.IN_BROWSER] = payload.sha  # as the browser reports it
    app.slider(key="pose_5").set_value(-0.1)  # a pose the page keeps across the switch
    run(app)
    data = live_pose_data(app)
    assert "weights" not in data and data["sha"] == payload.sha
    # a run sends the capsule, the pose and the sliders' names and numbers, not the weights
    assert len(json.dumps(data)) < 8192
    assert data["pose"][5] == pytest.approx(-0.1)
    assert not [slider for slider in app.slider if (slider.key or "").startswith("pose_")]
    assert "reconstruction" not in chart_keys(app)


def test_figure4_grid_is_the_labs_pose_grid(app, lab, sample):
    expected = lab.analyze(preprocess(sample.images[3]).image)
    inject(app, sample.images[3], RECONSTRUCT_VIEW)
    figure = chart(app, "pose_grid")
    shown = png(figure["data"][0]["source"]).astype("int16")
    grid = lab.pose_grid(expected.capsules, expected.capsnet_label)
    assert grid.shape == (16, len(POSE_STEPS), 28, 28)
    reference = np.round(np.clip(charts.stitch(grid), 0, 1) * 255).astype("int16")
    assert shown.shape == reference.shape
    assert np.abs(shown - reference).max() <= 1  # one grey level for float rounding
    assert figure["layout"]["xaxis"]["ticktext"][len(POSE_STEPS) // 2] == "0"  # not "-0.00"


def test_gallery_loads_a_test_digit_and_returns_to_the_drawing(app, lab, sample):
    run(app)
    buttons = [b for b in app.button if b.key and b.key.startswith("gallery_")]
    assert len(buttons) == 10
    assert sorted(b.label for b in buttons) == [str(d) for d in range(10)]
    index = int(buttons[0].key.removeprefix("gallery_"))
    buttons[0].click()
    run(app)

    image = sample.images[index].astype("float32") / 255.0
    expected = lab.analyze(image)
    np.testing.assert_allclose(heatmap(app, "model_input"), image, atol=1e-6)
    answers = {metric.label: metric.value for metric in app.metric}
    assert answers == {"CNN": str(expected.cnn_label), "CapsNet": str(expected.capsnet_label)}
    assert any(f"#{sample.test_index[index]}" in c.value for c in app.caption)

    next(b for b in app.button if b.label == "Back to my drawing").click()
    run(app)
    assert app.session_state["source"] == "drawing"
    assert len(app.metric) == 0  # the canvas is still blank: guidance again
    assert any("Draw a digit" in info.value for info in app.info)


def test_gallery_pages_through_other_digits(app):
    run(app)
    first = {b.key for b in app.button if b.key and b.key.startswith("gallery_")}
    next(b for b in app.button if b.label == "Other test digits").click()
    run(app)
    second = {b.key for b in app.button if b.key and b.key.startswith("gallery_")}
    assert len(second) == 10 and first.isdisjoint(second)


def test_injected_image_takes_priority_over_the_gallery(app, lab, sample):
    app.session_state["source"] = "gallery"
    app.session_state["gallery_index"] = 5
    inject(app, sample.images[6])
    np.testing.assert_allclose(heatmap(app, "model_input"), preprocess(sample.images[6]).image,
                               atol=1e-6)


def test_missing_weights_show_how_to_train_them(tmp_path, monkeypatch):
    monkeypatch.setenv("CAPSNET_WEIGHTS", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    run(at)
    assert len(at.error) == 1
    message = at.error[0].value
    assert "could not be loaded" in message and "train.py" in message
    assert "$CAPSNET_WEIGHTS/cnn.json" in message  # the file named, the server's path not
    assert str(tmp_path) not in message
    assert len(at.metric) == 0 and chart_keys(at) == []
