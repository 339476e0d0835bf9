"""Preprocessing against MNIST's own statistics: digits redrawn large come back as MNIST."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from capsnet.preprocess import (
    BOX,
    CENTRE,
    NotADigit,
    preprocess,
    stroke_width,
    to_ink,
)
from capsnet.samples import load_sample


@pytest.fixture(scope="module")
def digits():
    sample = load_sample().select("random")
    return sample.images[:120], sample.labels[:120]


def aligned_correlation(a, b):
    """Correlation after the best shift of at most one pixel.

    MNIST centred each digit to a whole pixel, so its own centre of mass sits up to half a
    pixel off; a redrawn digit may land one pixel away from the original.
    """
    return max(
        np.corrcoef(a.ravel(), np.roll(b, (dy, dx), (0, 1)).ravel())[0, 1]
        for dy in (-1, 0, 1) for dx in (-1, 0, 1)
    )


def canvas_with(digit, scale, position, size=400):
    """A canvas-style RGBA image: the digit enlarged in white ink on a clear sheet."""
    side = int(28 * scale)
    big = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC))
    canvas = np.zeros((size, size, 4), np.uint8)
    canvas[..., :3] = 255
    y, x = position
    canvas[y:y + side, x:x + side, 3] = big
    return canvas


def redrawn(images, scales, seed, size=400):
    """Each digit enlarged by a random factor in `scales`, anywhere on a large canvas,
    then preprocessed."""
    rng = np.random.default_rng(seed)
    out = []
    for digit in images:
        scale = rng.uniform(*scales)
        position = rng.integers(0, size - int(28 * scale), 2)
        out.append(preprocess(canvas_with(digit, scale, position, size)).image)
    return np.stack(out)


def test_enlarged_digits_come_back_close_to_the_original(digits):
    images, _ = digits
    outputs = redrawn(images, (3, 12), seed=0)
    scores = np.array([aligned_correlation(d / 255.0, o) for d, o in zip(images, outputs,
                                                                          strict=True)])
    assert np.median(scores) > 0.96
    assert np.mean(scores > 0.9) > 0.9


def test_output_matches_mnist_layout(digits):
    images, _ = digits
    for digit in images[:30]:
        out = preprocess(canvas_with(digit, 8, (30, 60))).image
        assert out.shape == (28, 28) and out.dtype == np.float32
        assert out.max() == pytest.approx(1.0) and out.min() >= 0.0
        ys, xs = np.indices(out.shape)
        com = ((ys * out).sum() / out.sum(), (xs * out).sum() / out.sum())
        assert abs(com[0] - CENTRE) <= 0.5 and abs(com[1] - CENTRE) <= 0.5
        rows, cols = np.flatnonzero(out.any(1)), np.flatnonzero(out.any(0))
        longer = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
        assert BOX - 1 <= longer <= BOX + 1


def test_dark_on_light_photo_matches_canvas(digits):
    images, _ = digits
    rng = np.random.default_rng(1)
    scores = []
    for digit in images[:20]:
        canvas = canvas_with(digit, 6, (50, 80))
        ink = canvas[..., 3].astype("float32") / 255
        # grey paper with noise, dark ink, as a phone photo
        paper = 0.85 + rng.normal(0, 0.02, ink.shape)
        photo = np.clip(paper * (1 - ink) + 0.1 * ink, 0, 1)
        rgb = (np.repeat(photo[..., None], 3, axis=-1) * 255).astype(np.uint8)
        expected = preprocess(canvas).image
        scores.append(aligned_correlation(expected, preprocess(rgb).image))
    assert np.median(scores) > 0.98 and min(scores) > 0.9


def test_accepts_grey_rgb_rgba_and_pil(digits):
    digit = digits[0][0]
    reference = preprocess(digit).image
    for form in (
        digit.astype("float32") / 255.0,
        np.repeat(digit[..., None], 3, axis=-1),
        np.dstack([np.repeat(digit[..., None], 3, axis=-1), np.full((28, 28), 255, np.uint8)]),
        Image.fromarray(digit),
        Image.fromarray(255 - digit),  # dark on light
    ):
        np.testing.assert_allclose(preprocess(form).image, reference, atol=0.02)


def draw_seven(width, size=400, box=(60, 60, 300, 340)):
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = box
    points = [(left, top), (right, top), (left + (right - left) // 3, bottom)]
    draw.line(points, fill=(255, 255, 255, 255), width=width, joint="curve")
    return np.asarray(image)


@pytest.mark.parametrize("pen", [2, 4, 60])
def test_stroke_width_is_brought_into_mnist_range(pen):
    out = preprocess(draw_seven(pen)).image
    width = stroke_width(out > 0.5)
    assert 1.8 <= width <= 6.0
    reference = preprocess(draw_seven(24)).image
    assert aligned_correlation(reference, out) > 0.75


def test_blank_canvas_is_not_a_digit():
    with pytest.raises(NotADigit, match="Nothing is drawn"):
        preprocess(np.zeros((280, 280, 4), np.uint8))


def test_dot_is_not_a_digit():
    image = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((130, 130, 150, 150), fill=(255, 255, 255, 255))
    with pytest.raises(NotADigit, match="dot"):
        preprocess(image)


def test_transparent_canvas_and_black_canvas_agree():
    clear = draw_seven(20)
    black = clear.copy()
    black[..., :3] = black[..., :3] * (black[..., 3:] / 255)
    black[..., 3] = 255
    np.testing.assert_allclose(preprocess(clear).image, preprocess(black).image, atol=1e-5)


def test_to_ink_inverts_light_paper():
    paper = np.full((50, 50), 230, np.uint8)
    paper[20:30, 10:40] = 20
    ink = to_ink(paper)
    assert ink[25, 25] == pytest.approx(1.0) and ink[0, 0] == pytest.approx(0.0)


def test_preprocessed_digits_are_read_like_mnist(lab):
    """The shipped models read enlarged redrawn test digits as well as the originals."""
    sample = load_sample().select("random")
    originals = lab.analyze_batch(sample.images.astype("float32") / 255)
    redrawns = lab.analyze_batch(redrawn(sample.images, (4, 10), seed=2))
    for name in ("cnn_label", "capsnet_label"):
        before = np.array([getattr(a, name) for a in originals])
        after = np.array([getattr(a, name) for a in redrawns])
        assert np.mean(after == sample.labels) >= np.mean(before == sample.labels) - 0.01, name
        assert np.mean(after == before) >= 0.97, name
