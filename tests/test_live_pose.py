"""The pose sliders with the decoder in the browser (`capsnet/page/live_pose.py` and `.js`).

What the browser gets (the decoder's weights, layer by layer), the JavaScript decoder against
the Keras decoder, and the component on the page in a real Chromium: a drag redraws the
reconstruction with no rerun until release, a release or a key press sends the pose back,
the weights travel once per session, and a browser whose decoder fails gets the server's
sliders.
"""

import base64
import hashlib
import re

import numpy as np
import pytest
from conftest import ROOT
from page_driver import (
    PHONE,
    answers,
    canvas_size,
    clear,
    digit_stroke,
    draw,
    draw_by_touch,
    heatmap,
    open_page,
)

from capsnet import dimensions
from capsnet.inference import POSE_RANGE
from capsnet.page.live_pose import DecoderPayload

SHAPES = ((160, 512), (512, 1024), (1024, 784))  # Figure 2: 160 -> 512 -> 1024 -> 784
CASES = 100  # random capsules, classes and poses through both decoders
FLOAT32 = 1e-4  # per pixel, on the 0-1 scale: the same weights, another order of sums
FLOAT16 = 0.01  # per pixel: the browser's float16 weights against the model's float32
PANEL = ".st-key-live_pose .live-pose"
RECONSTRUCT_VIEW = "Reconstruct and pose"
BLOCK_DECODER = "window.atob = () => { throw new Error('no base64 here'); };"  # the weights
# reach the browser as base64; nothing else the page runs needs atob


def cases(count: int = CASES, seed: int = 0) -> list[tuple[list[float], int, list[float]]]:
    """`(capsule, class, pose)` triples: capsules of digit capsules' size (lengths up to
    about 1), poses on the sliders' 0.01 steps."""
    rng = np.random.default_rng(seed)
    capsules = rng.normal(0.0, 0.25, (count, 16))
    poses = np.round(rng.uniform(-POSE_RANGE, POSE_RANGE, (count, 16)), 2)
    digits = rng.integers(0, 10, count)
    return [(c.tolist(), int(d), p.tolist()) for c, d, p in zip(capsules, digits, poses,
                                                                 strict=True)]


def keras_reconstructions(lab, triples) -> np.ndarray:
    """The `Lab`'s reconstructions of `(capsule, class, pose)` triples, `(n, 784)`."""
    capsules = np.zeros((len(triples), 10, 16), "float32")
    digits = [digit for _, digit, _ in triples]
    for i, (capsule, digit, pose) in enumerate(triples):
        capsules[i, digit] = np.add(capsule, pose, dtype="float32")
    return lab.reconstruct_batch(capsules, np.array(digits)).reshape(len(triples), -1)


# --- What the browser gets -------------------------------------------------------------


def test_decoder_layers_are_the_decoder_the_lab_runs(lab):
    """A numpy forward pass through the layers is the Keras decoder's image."""
    layers = lab.decoder_layers()
    assert [kernel.shape for kernel, _ in layers] == list(SHAPES)
    triples = cases(8)
    for (capsule, digit, pose), expected in zip(triples, keras_reconstructions(lab, triples),
                                                strict=True):
        x = np.zeros(160)
        x[16 * digit:16 * digit + 16] = np.add(capsule, pose)
        for index, (kernel, bias) in enumerate(layers):
            x = x @ kernel + bias
            x = np.maximum(x, 0) if index < len(layers) - 1 else 1 / (1 + np.exp(-x))
        np.testing.assert_allclose(x, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_payload_holds_each_kernel_then_bias_in_order(lab, dtype):
    layers = lab.decoder_layers()
    payload = DecoderPayload.from_layers(layers, dtype)
    raw = base64.b64decode(payload.weights)
    values = np.frombuffer(raw, np.dtype(dtype).newbyteorder("<"))
    expected = np.concatenate([array.astype(dtype).ravel() for layer in layers
                               for array in layer])
    np.testing.assert_array_equal(values, expected)
    assert payload.shapes == SHAPES
    assert payload.sha == hashlib.sha256(raw).hexdigest()
    assert payload.metadata() == {"sha": payload.sha, "dtype": dtype, "shapes": SHAPES}


def test_float16_payload_is_half_the_float32_one(lab):
    half = DecoderPayload.from_layers(lab.decoder_layers())
    assert half.dtype == "float16"
    assert len(base64.b64decode(half.weights)) == 2 * sum(
        rows * cols + cols for rows, cols in SHAPES)  # 2.8 MB


def test_payload_refuses_other_types(lab):
    with pytest.raises(ValueError, match="float16 or float32"):
        DecoderPayload.from_layers(lab.decoder_layers(), "int8")


# --- The decoder in Chromium -----------------------------------------------------------

browser_test = pytest.mark.browser


@pytest.fixture(scope="module")
def decoder_page(browser):
    """A blank page with live_pose.js imported as a module: its decoder, without the app."""
    page = browser.new_page()
    page.set_content("<!doctype html><title>decoder</title>")
    page.evaluate(
        """async source => {
            const url = URL.createObjectURL(new Blob([source], {type: "text/javascript"}));
            window.livePose = await import(url);
        }""",
        (ROOT / "capsnet" / "page" / "live_pose.js").read_text(),
    )
    yield page
    page.close()


def browser_reconstructions(page, payload: DecoderPayload, triples) -> np.ndarray:
    return np.array(page.evaluate(
        """([payload, triples]) => {
            const layers = window.livePose.readLayers(payload);
            return triples.map(([capsule, digit, pose]) =>
                Array.from(window.livePose.decode(layers, capsule, digit, pose)));
        }""",
        [{**payload.metadata(), "weights": payload.weights}, triples],
    ))


@browser_test
@pytest.mark.parametrize("dtype, tolerance", [("float32", FLOAT32), ("float16", FLOAT16)])
def test_browser_decoder_is_the_keras_decoder(decoder_page, lab, dtype, tolerance):
    triples = cases()
    payload = DecoderPayload.from_layers(lab.decoder_layers(), dtype)
    shown = browser_reconstructions(decoder_page, payload, triples)
    expected = keras_reconstructions(lab, triples)
    assert shown.shape == expected.shape == (CASES, 784)
    assert np.abs(shown - expected).max() <= tolerance
    assert expected.std(axis=0).max() > 0.1  # the cases are different images, not one blur


# --- The component on the page ---------------------------------------------------------


def open_pose_view(page, digit: int = 3, draw_digit: bool = True) -> None:
    """Draws `digit` (unless told not to), then opens the pose view and waits until every
    run it caused is over."""
    if draw_digit:
        draw(page, digit_stroke(digit, canvas_size(page)))
        answers(page)
    mark = page.runs.mark()
    page.get_by_role("tab", name=RECONSTRUCT_VIEW).click()
    page.runs.wait_after(mark)


@pytest.fixture
def pose_page(browser, server):
    """A session whose pose view is open, with the decoder running in the browser."""
    page = open_page(browser, server.url, watch=True)
    open_pose_view(page)
    page.locator(PANEL).wait_for()
    page.locator(".st-key-pose_0").wait_for(state="detached")  # the browser has the weights
    page.runs.settle()
    yield page
    page.close()


def canvas_image(page) -> np.ndarray:
    """The live reconstruction as drawn: the canvas's grey levels, `(28, 28)` in [0, 255]."""
    return np.array(page.locator(f"{PANEL} canvas").evaluate(
        """canvas => Array.from(canvas.getContext("2d").getImageData(0, 0, 28, 28).data)
                         .filter((_, i) => i % 4 === 0)""")).reshape(28, 28)


def shown_pose(page) -> list[str]:
    return page.locator(f"{PANEL} output").all_inner_texts()


def error_caption(page) -> float:
    text = page.get_by_text("Mean squared difference from the input").inner_text()
    return float(re.search(r"(\d+\.\d+)", text).group(1))


def expected_error(lab, image: np.ndarray, digit: int, pose: np.ndarray) -> float:
    analysis = lab.analyze(image)
    return float(np.mean(np.square(image - lab.reconstruct(analysis.capsules, digit, pose))))


@browser_test
def test_browser_draws_the_labs_reconstruction_of_the_drawing(pose_page, lab):
    page = pose_page
    assert page.locator(".st-key-pose_0").count() == 0  # the server's sliders gave way
    assert page.locator(f"{PANEL} input[type=range]").count() == 16
    assert shown_pose(page) == ["+0.00"] * 16
    image = heatmap(page, "model_input")
    analysis = lab.analyze(image)
    digit = analysis.capsnet_label
    assert page.locator(f"{PANEL} figcaption").inner_text() == f"Decoded from the {digit} capsule"
    expected = lab.reconstruct(analysis.capsules, digit)
    assert np.abs(canvas_image(page) - 255 * expected).max() <= 255 * FLOAT16 + 0.5
    # and any other capsule, with the weights the page sent
    triples = cases(seed=1)
    shown = np.array(page.locator(PANEL).evaluate(
        "(panel, triples) => triples.map(([c, d, p]) => panel.decode(c, d, p))", triples))
    assert np.abs(shown - keras_reconstructions(lab, triples)).max() <= FLOAT16


@browser_test
def test_drag_redraws_every_frame_and_reruns_only_on_release(pose_page, lab):
    page = pose_page
    image = heatmap(page, "model_input")
    digit = lab.analyze(image).capsnet_label
    before = canvas_image(page)
    slider = page.locator(f"{PANEL} input[type=range]").first
    slider.scroll_into_view_if_needed()  # below the fold under long names on some screens
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    frames = page.locator(PANEL).evaluate("panel => panel.stats.frames")
    mark = page.runs.mark()

    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    drawn = []
    for step in range(1, 21):  # to the right end, in 20 moves a frame apart
        page.mouse.move(box["x"] + box["width"] / 2 + step * box["width"] / 36, y)
        page.wait_for_timeout(20)
        drawn.append(canvas_image(page))
    during = page.locator(PANEL).evaluate("panel => panel.stats.frames") - frames
    assert page.runs.mark() == mark, "the drag asked the server for a rerun before release"
    page.mouse.up()

    assert during >= 10, f"{during} frames drawn during 20 moves"
    changes = sum(np.abs(b - a).max() > 0 for a, b in zip([before] + drawn, drawn, strict=False))
    assert changes >= 10, f"the canvas changed {changes} times during 20 moves"
    runs = page.runs.wait_after(mark)
    assert [run.fragment for run in runs] == [True], "a release reruns the panel alone, once"
    assert shown_pose(page)[0] == f"+{POSE_RANGE:.2f}"
    pose = np.zeros(16, "float32")
    pose[0] = POSE_RANGE
    assert error_caption(page) == pytest.approx(expected_error(lab, image, digit, pose),
                                                abs=1e-4)

    # the keyboard, as on Streamlit's sliders: each key press is a release
    mark = page.runs.mark()
    page.locator(f"{PANEL} input[type=range]").nth(1).focus()
    for _ in range(10):
        page.keyboard.press("ArrowLeft")
    page.runs.wait_after(mark)
    assert shown_pose(page)[:2] == [f"+{POSE_RANGE:.2f}", "-0.10"]
    pose[1] = -0.10
    assert error_caption(page) == pytest.approx(expected_error(lab, image, digit, pose),
                                                abs=1e-4)

    mark = page.runs.mark()
    page.get_by_role("button", name="Reset pose").click()
    page.runs.wait_after(mark)
    assert shown_pose(page) == ["+0.00"] * 16
    np.testing.assert_array_equal(canvas_image(page), before)


@browser_test
def test_a_finger_drags_a_slider_on_a_phone(browser, server):
    phone = open_page(browser, server.url, watch=True, **PHONE)
    try:
        draw_by_touch(phone, digit_stroke(7, canvas_size(phone)))
        answers(phone)
        open_pose_view(phone, draw_digit=False)
        phone.locator(PANEL).wait_for()
        slider = phone.locator(f"{PANEL} input[type=range]").nth(4)
        slider.scroll_into_view_if_needed()
        before = canvas_image(phone)
        box = slider.bounding_box()
        y = box["y"] + box["height"] / 2
        points = [box["x"] + box["width"] * (0.5 - step / 40) for step in range(21)]
        mark = phone.runs.mark()
        touch = phone.context.new_cdp_session(phone)
        try:
            for kind, x in [("touchStart", points[0])] + [("touchMove", x) for x in points[1:]]:
                touch.send("Input.dispatchTouchEvent",
                           {"type": kind, "touchPoints": [{"x": x, "y": y}]})
            assert phone.runs.mark() == mark, "the drag reran the page before the finger lifted"
            touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        finally:
            touch.detach()
        phone.runs.wait_after(mark)
        assert shown_pose(phone)[4] == f"-{POSE_RANGE:.2f}"  # dragged to the left end
        assert np.abs(canvas_image(phone) - before).max() > 0
    finally:
        phone.close()


@browser_test
def test_weights_travel_once_per_session(pose_page):
    page = pose_page
    payload = len(base64.b64encode(bytes(2 * sum(r * c + c for r, c in SHAPES))))
    assert sum(run.received >= payload for run in page.runs.runs) == 1
    first = len(page.runs.runs)
    for view in ("Compare the models", RECONSTRUCT_VIEW):  # away and back: mounted anew
        mark = page.runs.mark()
        page.get_by_role("tab", name=view).click()
        page.runs.wait_after(mark)
    page.locator(PANEL).wait_for()
    mark = page.runs.mark()
    page.locator(f"{PANEL} input[type=range]").nth(2).focus()
    page.keyboard.press("ArrowRight")
    page.runs.wait_after(mark)
    later = page.runs.runs[first:]
    assert len(later) >= 3
    assert all(run.received < payload / 10 for run in later), [r.received for r in later]
    assert shown_pose(page)[2] == "+0.01"


@browser_test
def test_without_the_browser_decoder_the_server_sliders_work(browser, server):
    from playwright.sync_api import expect

    page = open_page(browser, server.url, watch=True, init_script=BLOCK_DECODER)
    try:
        open_pose_view(page)
        status = page.locator(".st-key-live_pose .status")
        expect(status).to_contain_text("could not start in this browser")
        assert page.get_by_text("decoder that redraws it in your browser").is_visible()
        before = heatmap(page, "reconstruction")
        mark = page.runs.mark()
        page.locator(".st-key-pose_0").get_by_role("slider").focus()
        for _ in range(10):
            page.keyboard.press("ArrowRight")
        page.runs.wait_after(mark)
        assert "+0.10" in page.locator(".st-key-pose_0").inner_text()
        assert np.abs(heatmap(page, "reconstruction") - before).max() > 1e-4

        mark = page.runs.mark()
        page.get_by_role("button", name="Reset pose").click()
        page.runs.wait_after(mark)
        assert "+0.00" in page.locator(".st-key-pose_0").inner_text()
        np.testing.assert_allclose(heatmap(page, "reconstruction"), before, atol=1e-6)
    finally:
        page.close()


def slider_names(page) -> list[str]:
    return page.locator(f"{PANEL} .name").all_inner_texts()


@browser_test
def test_the_sliders_say_what_each_dimension_does_for_the_digit_read(browser, server, lab,
                                                                     trained):
    """Draw a 1, then a 0: the names beside the sliders are the report's for the class the
    CapsNet read, with its numbers on hover, and they change where the report's differ."""
    report = dimensions.load_report()
    if report is None:
        pytest.skip("no committed dimensions report")
    page = open_page(browser, server.url, watch=True)
    try:
        shown = {}
        for number, digit in enumerate((1, 0)):
            if number:
                clear(page)
                mark = page.runs.mark()
                draw(page, digit_stroke(digit, canvas_size(page)))
                answers(page)
                page.runs.wait_after(mark)
            else:
                open_pose_view(page, digit)
            page.locator(PANEL).wait_for()
            page.runs.settle()
            read = lab.analyze(heatmap(page, "model_input")).capsnet_label
            if trained:
                assert read == digit
            entries = report["classes"][str(read)]["dimensions"]
            names = [f"Dimension {entry['dimension']}: {entry['name']}" for entry in entries]
            assert slider_names(page) == names
            hover = page.locator(f"{PANEL} .pose").nth(5).get_attribute("title")
            assert hover == dimensions.describe(entries[5])
            assert (page.locator(f"{PANEL} input[type=range]").nth(5).get_attribute("aria-label")
                    == names[5])
            shown[read] = names
        if len(shown) == 2:
            one, zero = (report["classes"][str(d)]["dimensions"] for d in shown)
            differs = [a["name"] != b["name"] for a, b in zip(one, zero, strict=True)]
            assert any(differs)
            first, second = shown.values()
            assert [a != b for a, b in zip(first, second, strict=True)] == differs
    finally:
        page.close()
