"""Drawings that are not digits, made the way a visitor would make them on the page's canvas.

They calibrate and test the CapsNet's "this does not look like a digit" signal
(`capsnet.novelty`): white ink on the page's 280x280 black canvas, with the page's pen widths,
then `preprocess`ed like any drawing. Four kinds, in equal numbers and reproducible from a
seed:

- "scribble": one stroke that wanders at random, as when someone scribbles.
- "strokes": two to five straight strokes at random.
- "blob": smooth random noise cut at a level, a cloud of shapes.
- "letter": a capital letter that does not resemble a digit, in Pillow's default font.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from capsnet.preprocess import FIELD, NotADigit, preprocess

CANVAS = 280  # the page's canvas side, in pixels
PEN_WIDTHS = (6, 40)  # the page's thinnest and widest pen (capsnet.page.inputs.STROKE_LIMITS)
KINDS = ("scribble", "strokes", "blob", "letter")
LETTERS = "ACEFHKMNPRTUVWXY"  # capitals unlike any digit: no O (0), I (1), Z (2), S (5), B (8)
LETTER_SIZES = (120, 240)  # font sizes in pixels: a letter a third to most of the canvas high
SCRIBBLE_POINTS = (8, 25)  # corners of a scribble
STROKE_COUNT = (2, 5)  # straight strokes in a "strokes" drawing
BLOB_GRID = (3, 8)  # noise cells across the canvas: few and large to many and small
BLOB_COVER = (0.1, 0.4)  # the share of the canvas a blob drawing inks


def _pen(rng: np.random.Generator) -> int:
    return int(rng.integers(PEN_WIDTHS[0], PEN_WIDTHS[1] + 1))


def _box(rng: np.random.Generator) -> tuple[int, int, int, int]:
    """A random box of at least a third of the canvas on each side: `(left, top, right, bottom)`."""
    width, height = rng.integers(CANVAS // 3, CANVAS, 2)
    left, top = rng.integers(0, CANVAS - width + 1), rng.integers(0, CANVAS - height + 1)
    return int(left), int(top), int(left + width), int(top + height)


def _scribble(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    left, top, right, bottom = _box(rng)
    count = int(rng.integers(*SCRIBBLE_POINTS))
    points = list(zip(rng.integers(left, right, count).tolist(),
                      rng.integers(top, bottom, count).tolist(), strict=True))
    draw.line(points, fill=255, width=_pen(rng), joint="curve")


def _strokes(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    for _ in range(int(rng.integers(STROKE_COUNT[0], STROKE_COUNT[1] + 1))):
        start, end = rng.integers(0, CANVAS, (2, 2)).tolist()
        draw.line([tuple(start), tuple(end)], fill=255, width=_pen(rng))


def _blob(rng: np.random.Generator) -> np.ndarray:
    cells = int(rng.integers(BLOB_GRID[0], BLOB_GRID[1] + 1))
    noise = Image.fromarray(rng.uniform(size=(cells, cells)).astype("float32"), mode="F")
    smooth = np.asarray(noise.resize((CANVAS, CANVAS), Image.Resampling.BICUBIC))
    level = np.quantile(smooth, 1.0 - rng.uniform(*BLOB_COVER))
    return np.where(smooth > level, 255, 0).astype("uint8")


def _letter(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    font = ImageFont.load_default(size=int(rng.integers(*LETTER_SIZES)))
    letter = LETTERS[int(rng.integers(len(LETTERS)))]
    left, top, right, bottom = draw.textbbox((0, 0), letter, font=font)
    x = rng.integers(0, max(1, CANVAS - (right - left))) - left
    y = rng.integers(0, max(1, CANVAS - (bottom - top))) - top
    draw.text((int(x), int(y)), letter, fill=255, font=font)


def drawing(kind: str, rng: np.random.Generator) -> np.ndarray:
    """One canvas-like drawing of a kind: uint8 RGBA `(280, 280, 4)`, white ink on black."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}. Received: kind={kind!r}")
    if kind == "blob":
        ink = _blob(rng)
    else:
        image = Image.new("L", (CANVAS, CANVAS), 0)
        {"scribble": _scribble, "strokes": _strokes, "letter": _letter}[kind](
            ImageDraw.Draw(image), rng)
        ink = np.asarray(image)
    canvas = np.empty((CANVAS, CANVAS, 4), "uint8")
    canvas[..., :3] = ink[..., None]
    canvas[..., 3] = 255
    return canvas


def drawings(count: int, seed: int = 0) -> Iterator[tuple[str, np.ndarray]]:
    """`count` drawings, the kinds in turn: `(kind, canvas)` pairs."""
    rng = np.random.default_rng(seed)
    for position in range(count):
        kind = KINDS[position % len(KINDS)]
        yield kind, drawing(kind, rng)


def model_inputs(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`count` non-digits as the models see them, through the page's preprocessing.

    Drawings that preprocessing refuses (a blot that covers the canvas, a dash) never reach
    the models on the page either, so they are left out: fewer than `count` may come back.

    Returns:
        `(images, kinds)`: float32 `(n, 28, 28)` model inputs and the kind of each.
    """
    images, kinds = [], []
    for kind, canvas in drawings(count, seed):
        try:
            images.append(preprocess(canvas, ink="light").image)
        except NotADigit:
            continue
        kinds.append(kind)
    return (np.stack(images) if images else np.zeros((0, FIELD, FIELD), "float32"),
            np.array(kinds, dtype=str))
