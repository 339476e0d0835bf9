"""A yardstick of drawn digits: seeded synthetic drawings made as the page's canvas makes them.

MNIST's digits were written with a pen on paper and scanned; the page's visitors draw with a
mouse or a finger on a 280x280 canvas. This module makes a reproducible set of such drawings,
from no MNIST digit at all, to measure how the models read drawn input:

1. Each digit starts from a stroke skeleton written here by hand in a unit box (height 1,
   y pointing down): polylines and smooth curves (centripetal Catmull-Rom splines, drawn as
   cubic Bezier segments) through points, in the ways people write the digit: open and
   closed fours; ones as a bar, with a flag, with flag and base; sevens with and without a
   crossbar; and so on (`VARIANTS`).
2. A hand changes the proportions a little (a smooth `WARP` of the box) and misplaces each
   point a little (`KNOT_JITTER`), wobbles along the stroke (`WOBBLE`), stops short of or
   runs past each stroke's ends (`OVERSHOOT`), draws narrow or wide (`ASPECT`) and slants
   either way (`SLANT_DEGREES`).
3. The drawing is sized to a band of heights (`BANDS`, as fractions of the canvas), placed
   anywhere it fits, and drawn with a pen of one of the page's widths (`PEN_STYLES`), with
   round caps and joins, at 4x and downsampled, as a browser's canvas anti-aliases: white
   ink on the canvas's opaque black sheet, a uint8 RGBA `(280, 280, 4)` array.
   Pens stay sane for the size: a pen is at most `PEN_PER_HEIGHT` (a quarter) of the
   digit's height, since nobody draws a 60-pixel digit with a 40-pixel pen, which fills it
   into a blob, and at most `PEN_PER_WIDTH` (half) of its width, so that a narrow 0 keeps
   its hole (a 1 has none to keep); a style whose thinnest pen is wider than that is not
   used for that digit.
4. The page's own `preprocess(canvas, ink="light")` makes the 28x28 model input.

Every drawing has its own random generator, seeded by `(seed, index)`, so any one drawing can
be remade alone (`canvas`), and `make` streams: it never holds more than one canvas. Its
digit, size band and variant follow from its index (`plan`): classes in turn, then bands, then
variants, so that every class has the same count and every band the same count within a
class. A drawing that `preprocess` refuses is drawn again from the next generator,
`(seed, index, attempt)`, and so is one whose loops, on the canvas, filled in with ink or
stayed open (an 8 needs its two counters to read as an 8: `COUNTERS`); the redraws are
recorded. Loops are judged on the canvas, as a person sees the drawing, not on the model
input: a loop that preprocessing closes is a failure the yardstick must show.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from capsnet.preprocess import FIELD, NotADigit, preprocess

CANVAS = 280  # the page's canvas side in pixels (capsnet.page.inputs.CANVAS_SIZE)
PEN_WIDTHS = (6, 40)  # the page's thinnest and widest pen (capsnet.page.inputs.STROKE_LIMITS)
PEN_DEFAULT = 18  # the pen until a visitor moves the slider (capsnet.page.inputs.STROKE_DEFAULT)
PEN_STYLES = {  # named pens, in pixels on the canvas (both ends included)
    "thin": (6, 9),
    "medium": (10, 16),
    "default": (PEN_DEFAULT, PEN_DEFAULT),
    "marker": (22, 30),
    "widest": (31, PEN_WIDTHS[1]),
}
PEN_PER_HEIGHT = 0.25  # the widest pen for a digit, as a fraction of its height: at a
# quarter, MNIST's boldest digits (5.5 of 20 pixels), the loops of an 8 are about closed
PEN_PER_WIDTH = 0.5  # and of its width (but for a 1, which has no counter to fill): a narrow
# 0 drawn small with a quarter-height pen is a bar of ink
BANDS = {  # the digit's ink height as a fraction of the canvas's
    "small": (0.20, 0.35),  # 56 to 98 pixels: a digit in a corner of the canvas
    "medium": (0.35, 0.60),
    "large": (0.60, 0.95),  # up to the edges, the way many draw on a phone
}
MAX_WIDTH = 0.95  # a drawing is narrowed to fit this fraction of the canvas's width
SUPERSAMPLE = 4  # strokes are drawn at 4x and averaged down: a browser's anti-aliasing
DISC_SPACING = 0.25  # discs along a stroke, in pen widths apart: joins stay round
SAMPLES_PER_CURVE = 24  # points per cubic segment before resampling by arc length
SPACING = 0.004  # resampled point spacing along a stroke, in digit heights (~1 px at large)
WARP = 0.05  # standard deviation of a smooth displacement of the whole skeleton, in
# heights: a hand's proportions (a larger top loop, a lower crossing) move nearby points together
WARP_WAVES = 3  # sine waves summed into that displacement
WARP_FREQUENCY = (0.4, 1.0)  # their cycles per digit height: smooth across a stroke
KNOT_JITTER = 0.01  # standard deviation of each written point's own displacement, in heights
WOBBLE = 0.008  # standard deviation of the hand's slow wobble along a stroke, in heights
WOBBLE_STEP = 0.15  # arc length between independent wobble displacements, in heights
OVERSHOOT = (-0.03, 0.05)  # each stroke end stops short (-) or runs past (+), in heights
ASPECT = (0.75, 1.3)  # width scale, narrow to wide, drawn log-uniformly
SLANT_DEGREES = 12.0  # shear of the vertical either way: upright hands to italic ones
MAX_ATTEMPTS = 10  # tries at a drawing before the rules are declared broken
COUNTERS = {0: 1, 6: 1, 8: 2, 9: 1}  # closed loops a digit needs to be legible: a 6 whose loop
# stayed open reads as a b, an 8 with a loop filled in as a blob
COUNTER_INK = 0.5  # ink level above which a pixel is ink when counting counters
COUNTER_VIEW = 4  # loops are counted on the canvas shrunk 4x (70x70), as a person sees it:
# a hole a few canvas pixels wide is a hole; whether it survives preprocessing is for the
# models to show, so the drawing is not judged on its model input
PER_CLASS = 210  # drawings per digit in the shipped set: 2,100 in all, 70 per band and class
DRAWN_PATH = Path(__file__).parent / "assets" / "drawn.npz"

Point = tuple[float, float]
Piece = tuple[str, tuple[Point, ...]]  # ("line" | "smooth", points); a piece after the first
# in a stroke starts where the one before it ended (a corner)
Stroke = tuple[Piece, ...]
Skeleton = tuple[Stroke, ...]


def _line(*points: Point) -> Piece:
    return ("line", points)


def _smooth(*points: Point) -> Piece:
    return ("smooth", points)


def _ellipse(cx: float, cy: float, rx: float, ry: float, start: float, sweep: float,
             step: float = 45.0) -> tuple[Point, ...]:
    """Points on an elliptical arc; degrees, 0 at the right, 90 below (y points down).

    A negative sweep goes anticlockwise on the screen, as most people draw a 0.
    """
    count = max(2, int(abs(sweep) // step) + 1)
    angles = np.radians(start + np.linspace(0.0, sweep, count))
    return tuple(zip((cx + rx * np.cos(angles)).tolist(), (cy + ry * np.sin(angles)).tolist(),
                     strict=True))


# The bowl of a 5 and the lower half of a 3: from the middle, round to the right, to the left.
_BOWL = ((0.30, 0.38), (0.50, 0.47), (0.56, 0.70), (0.42, 0.93), (0.20, 0.99), (0.03, 0.88))
_NINE_LOOP = ((0.54, 0.17), (0.36, 0.02), (0.13, 0.06), (0.04, 0.24), (0.14, 0.42),
              (0.38, 0.44), (0.53, 0.30), (0.55, 0.12))

VARIANTS: dict[int, dict[str, Skeleton]] = {
    0: {
        "oval": ((_smooth(*_ellipse(0.30, 0.5, 0.27, 0.5, -80, -400)),),),
        "narrow": ((_smooth(*_ellipse(0.20, 0.5, 0.19, 0.5, -80, -400)),),),
        "round": ((_smooth(*_ellipse(0.42, 0.5, 0.40, 0.5, -80, -400)),),),
        "egg": ((_smooth((0.36, 0.02), (0.16, 0.12), (0.04, 0.45), (0.10, 0.84), (0.30, 1.0),
                         (0.50, 0.86), (0.56, 0.50), (0.48, 0.14), (0.30, 0.0),
                         (0.20, 0.06)),),),
    },
    1: {
        "bar": ((_line((0.0, 0.0), (0.0, 1.0)),),),
        "flag": ((_line((-0.20, 0.24), (0.0, 0.0), (0.0, 1.0)),),),
        "flag_base": ((_line((-0.20, 0.24), (0.0, 0.0), (0.0, 1.0)),),
                      (_line((-0.22, 1.0), (0.22, 1.0)),)),
    },
    2: {
        "plain": ((_smooth((0.04, 0.26), (0.12, 0.07), (0.30, 0.0), (0.49, 0.07), (0.54, 0.26),
                           (0.45, 0.47), (0.25, 0.72), (0.03, 0.98)),
                   _line((0.58, 0.98))),),
        "loop": ((_smooth((0.04, 0.26), (0.12, 0.07), (0.30, 0.0), (0.49, 0.07), (0.54, 0.26),
                          (0.45, 0.47), (0.30, 0.66), (0.16, 0.84), (0.06, 0.96),
                          (-0.02, 0.86), (0.08, 0.76), (0.20, 0.84), (0.28, 0.96),
                          (0.60, 0.97)),),),
        "angular": ((_smooth((0.03, 0.22), (0.18, 0.03), (0.40, 0.02), (0.54, 0.20),
                             (0.48, 0.40)),
                     _line((0.02, 0.98), (0.58, 0.98))),),
    },
    3: {
        "round": ((_smooth((0.06, 0.14), (0.28, 0.0), (0.50, 0.10), (0.48, 0.30), (0.24, 0.46)),
                   _smooth(*_BOWL[1:])),),
        "flat": ((_line((0.04, 0.0), (0.54, 0.0), (0.24, 0.40)), _smooth(*_BOWL[1:])),),
    },
    4: {
        "open": ((_line((0.36, 0.0), (0.02, 0.64), (0.62, 0.64)),),
                 (_line((0.46, 0.28), (0.46, 1.0)),)),
        "closed": ((_line((0.44, 0.0), (0.02, 0.66), (0.62, 0.66)),),
                   (_line((0.44, 0.0), (0.44, 1.0)),)),
        "upright": ((_line((0.06, 0.0), (0.04, 0.58), (0.60, 0.58)),),
                    (_line((0.46, 0.02), (0.44, 1.0)),)),
    },
    5: {
        "two_strokes": ((_line((0.10, 0.02), (0.06, 0.44)), _smooth(*_BOWL)),
                        (_line((0.10, 0.02), (0.56, 0.0)),)),
        "one_stroke": ((_line((0.56, 0.0), (0.10, 0.02), (0.06, 0.44)), _smooth(*_BOWL)),),
    },
    6: {
        "curved": ((_smooth((0.52, 0.02), (0.28, 0.14), (0.10, 0.42), (0.06, 0.70),
                            (0.16, 0.92), (0.34, 0.99), (0.52, 0.86), (0.52, 0.64),
                            (0.34, 0.52), (0.14, 0.58), (0.07, 0.72)),),),
        "straight": ((_line((0.36, 0.0), (0.06, 0.68)),
                      _smooth((0.12, 0.90), (0.32, 0.99), (0.50, 0.86), (0.48, 0.64),
                              (0.30, 0.56), (0.12, 0.64))),),
    },
    7: {
        "plain": ((_line((0.0, 0.0), (0.62, 0.0), (0.22, 1.0)),),),
        "crossbar": ((_line((0.0, 0.0), (0.62, 0.0), (0.22, 1.0)),),
                     (_line((0.18, 0.54), (0.58, 0.52)),)),
        "curved": ((_line((0.0, 0.02), (0.62, 0.0)),
                    _smooth((0.44, 0.32), (0.32, 0.66), (0.27, 1.0))),),
    },
    8: {
        "two_loops": ((_smooth(*_ellipse(0.30, 0.24, 0.20, 0.24, -80, -400)),),
                      (_smooth(*_ellipse(0.30, 0.73, 0.26, 0.27, -90, -390)),)),
        "figure": ((_smooth((0.50, 0.12), (0.30, 0.0), (0.10, 0.12), (0.14, 0.32),
                            (0.32, 0.48), (0.50, 0.64), (0.52, 0.86), (0.30, 1.0),
                            (0.08, 0.86), (0.12, 0.64), (0.30, 0.50), (0.46, 0.34),
                            (0.52, 0.16), (0.42, 0.04)),),),
    },
    9: {
        "curved": ((_smooth(*_NINE_LOOP), _smooth((0.52, 0.50), (0.46, 0.78), (0.34, 1.0))),),
        "straight": ((_smooth(*_NINE_LOOP), _line((0.52, 1.0))),),
    },
}


@dataclass
class Plan:
    """What drawing `index` of a set shows: its digit, size band and variant."""

    label: int
    band: str
    variant: str


def plan(index: int) -> Plan:
    """Digits in turn, then bands, then variants: every run of 30 holds each digit per band."""
    if index < 0:
        raise ValueError(f"index must be non-negative. Received: index={index}")
    label = index % len(VARIANTS)
    rest = index // len(VARIANTS)
    names = list(VARIANTS[label])
    return Plan(label, list(BANDS)[rest % len(BANDS)], names[(rest // len(BANDS)) % len(names)])


# --- Strokes ---------------------------------------------------------------------------------


def _bezier(controls: np.ndarray) -> np.ndarray:
    """Points on cubic Bezier segments: controls `(segments, 4, 2)` -> `(segments * n, 2)`."""
    t = np.linspace(0.0, 1.0, SAMPLES_PER_CURVE, endpoint=False)[None, :, None]
    p0, p1, p2, p3 = (controls[:, k, None, :] for k in range(4))
    curve = ((1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t ** 2 * p2
             + t ** 3 * p3)  # (segments, n, 2)
    return curve.reshape(-1, 2)


def _spline(points: np.ndarray) -> np.ndarray:
    """A centripetal Catmull-Rom spline through points, as cubic Bezier segments.

    Centripetal spacing keeps the curve from looping or cusping between unevenly spaced
    points (Yuksel, Schaefer and Keyser 2011).
    """
    if len(points) < 3:
        return points
    # 1) Mirror the ends so that the first and last segments have neighbours.
    padded = np.concatenate([2 * points[:1] - points[1:2], points, 2 * points[-1:] - points[-2:-1]])
    d = np.maximum(np.linalg.norm(np.diff(padded, axis=0), axis=1) ** 0.5, 1e-6)  # (n + 1,)
    p0, p1, p2, p3 = padded[:-3], padded[1:-2], padded[2:-1], padded[3:]
    d0, d1, d2 = d[:-2, None], d[1:-1, None], d[2:, None]
    # 2) Tangents at both ends of each segment, scaled to the segment's parameter span.
    m1 = ((p1 - p0) / d0 - (p2 - p0) / (d0 + d1) + (p2 - p1) / d1) * d1
    m2 = ((p2 - p1) / d1 - (p3 - p1) / (d1 + d2) + (p3 - p2) / d2) * d1
    controls = np.stack([p1, p1 + m1 / 3, p2 - m2 / 3, p2], axis=1)  # (segments, 4, 2)
    return np.concatenate([_bezier(controls), points[-1:]])


def _resample(points: np.ndarray, spacing: float) -> np.ndarray:
    """Points evenly spaced by arc length along a polyline, ends kept."""
    lengths = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    count = max(2, int(np.ceil(lengths[-1] / spacing)) + 1)
    at = np.linspace(0.0, lengths[-1], count)
    return np.stack([np.interp(at, lengths, points[:, k]) for k in range(2)], axis=1)


def _change_start(line: np.ndarray, change: float) -> np.ndarray:
    """A stroke whose start is cut back (`change` < 0) or run on (> 0) by `change` heights."""
    steps = int(abs(change) / SPACING)
    if change < 0:
        return line[min(steps, len(line) // 2):]
    direction = line[0] - line[min(len(line) - 1, int(OVERSHOOT[1] / SPACING))]
    direction /= max(float(np.linalg.norm(direction)), 1e-9)
    run_on = np.arange(steps, 0, -1)[:, None] * SPACING * direction  # (steps, 2)
    return np.concatenate([line[0] + run_on, line])


def _warp(rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    """A smooth random displacement of the unit box: points `(n, 2)` -> moved points."""
    angles = rng.uniform(0.0, 2 * np.pi, WARP_WAVES)
    frequencies = rng.uniform(*WARP_FREQUENCY, WARP_WAVES)[:, None] * np.stack(
        [np.cos(angles), np.sin(angles)], axis=1)  # (waves, 2) cycles per height
    phases = rng.uniform(0.0, 2 * np.pi, WARP_WAVES)
    amplitudes = rng.normal(0.0, WARP * np.sqrt(2 / WARP_WAVES), (WARP_WAVES, 2))

    def move(points: np.ndarray) -> np.ndarray:
        waves = np.sin(2 * np.pi * points @ frequencies.T + phases)  # (n, waves)
        return points + waves @ amplitudes

    return move


def _stroke_points(stroke: Stroke, warp: Callable[[np.ndarray], np.ndarray],
                   rng: np.random.Generator) -> np.ndarray:
    """One stroke's centre line in digit heights, with the hand's warp, jitter, wobble, ends."""
    # 1) Move every written point: with its neighbours (the warp) and a little on its own.
    pieces = [(kind, np.asarray(points, "float64")) for kind, points in stroke]
    pieces = [(kind, warp(points) + rng.normal(0.0, KNOT_JITTER, points.shape))
              for kind, points in pieces]
    # 2) Trace the pieces, each from where the one before it ended.
    traced, start = [], None
    for kind, points in pieces:
        through = points if start is None else np.concatenate([start[None], points])
        curve = _spline(through) if kind == "smooth" else through
        traced.append(curve if start is None else curve[1:])
        start = curve[-1]
    line = _resample(np.concatenate(traced), SPACING)
    # 3) Stop short of each end or run past it, along the stroke's direction there.
    line = _change_start(line, rng.uniform(*OVERSHOOT))
    line = _change_start(line[::-1], rng.uniform(*OVERSHOOT))[::-1]
    # 4) A slow wobble of the hand along the stroke.
    arc = np.arange(len(line)) * SPACING
    knots = np.arange(0.0, arc[-1] + 2 * WOBBLE_STEP, WOBBLE_STEP)
    offsets = rng.normal(0.0, WOBBLE, (len(knots), 2))
    wobble = np.stack([np.interp(arc, knots, offsets[:, k]) for k in range(2)], axis=1)
    return line + wobble


@dataclass
class Drawing:
    """One drawing: its canvas, the model input made from it, and how it was drawn.

    Attributes:
        canvas: uint8 RGBA `(280, 280, 4)`: white ink on the canvas's opaque black sheet.
        image: float32 `(28, 28)` in [0, 1], `preprocess(canvas, ink="light").image`.
        label, band, variant: see `plan`.
        style, pen: the pen's style (a key of `PEN_STYLES`) and width in canvas pixels.
        height: the ink's height on the canvas in pixels, as preprocessing measured it.
        slant: the shear of the vertical in degrees (positive leans to the right).
        redraws: how many tries before this one were refused (by preprocessing, or for
            their counters).
    """

    canvas: np.ndarray
    image: np.ndarray
    label: int
    band: str
    variant: str
    style: str
    pen: int
    height: int
    slant: float
    redraws: int


def _render(strokes: list[np.ndarray], pen: int) -> np.ndarray:
    """Strokes in canvas pixels -> the canvas's ink level, uint8 `(280, 280)`.

    Each segment is drawn as a line and each point as a disc of the pen's width: round caps
    and joins, as a canvas draws a path with `lineCap = lineJoin = "round"`.
    """
    big = Image.new("L", (CANVAS * SUPERSAMPLE, CANVAS * SUPERSAMPLE), 0)
    draw = ImageDraw.Draw(big)
    radius = pen * SUPERSAMPLE / 2
    for stroke in strokes:
        points = _resample(stroke, max(1.0, pen * DISC_SPACING)) * SUPERSAMPLE
        draw.line([tuple(point) for point in points.tolist()], fill=255,
                  width=pen * SUPERSAMPLE)
        for x, y in points.tolist():
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    return np.asarray(big.resize((CANVAS, CANVAS), Image.Resampling.BOX))


def _attempt(planned: Plan, rng: np.random.Generator) -> tuple[np.ndarray, str, int, float]:
    """One try at a drawing: `(canvas, style, pen, slant)`."""
    # 1) The skeleton, as this hand writes it: jitter, wobble, ends, aspect and slant.
    warp = _warp(rng)
    strokes = [_stroke_points(stroke, warp, rng)
               for stroke in VARIANTS[planned.label][planned.variant]]
    aspect = float(np.exp(rng.uniform(*np.log(ASPECT))))
    slant = float(rng.uniform(-SLANT_DEGREES, SLANT_DEGREES))
    shear = np.tan(np.radians(slant))
    for points in strokes:
        points[:, 0] = points[:, 0] * aspect + shear * (0.5 - points[:, 1])
    # 2) The size: the ink's height in its band, less the pen, is the skeleton's height;
    #    the pen at most a quarter of the height and half the width.
    everything = np.concatenate(strokes)
    top_left = everything.min(axis=0)
    extent = everything.max(axis=0) - top_left
    height = rng.uniform(*BANDS[planned.band]) * CANVAS
    width = min(height * extent[0] / extent[1], MAX_WIDTH * CANVAS)
    cap = PEN_PER_HEIGHT * height
    if planned.label != 1:
        cap = min(cap, PEN_PER_WIDTH * width)
    cap = max(int(cap), PEN_WIDTHS[0])
    styles = [name for name, (low, _) in PEN_STYLES.items() if low <= cap]
    style = styles[int(rng.integers(len(styles)))]
    low, high = PEN_STYLES[style]
    pen = int(rng.integers(low, min(high, cap) + 1))
    scale = np.full(2, (height - pen) / max(extent[1], 1e-9))
    scale[0] = min(scale[0], (MAX_WIDTH * CANVAS - pen) / max(extent[0], 1e-9))
    size = extent * scale + pen  # the ink's width and height
    # 3) Anywhere on the canvas that it fits.
    corner = rng.uniform(0.0, 1.0, 2) * (CANVAS - size) + pen / 2
    strokes = [(points - top_left) * scale + corner for points in strokes]
    ink = _render(strokes, pen)
    canvas = np.empty((CANVAS, CANVAS, 4), "uint8")
    canvas[..., :3], canvas[..., 3] = ink[..., None], 255
    return canvas, style, pen, slant


def canvas_view(canvas: np.ndarray) -> np.ndarray:
    """The canvas's ink level in [0, 1], shrunk by `COUNTER_VIEW` (box averaging)."""
    side = CANVAS // COUNTER_VIEW
    ink = Image.fromarray(np.ascontiguousarray(canvas[..., 0]))
    return np.asarray(ink.resize((side, side), Image.Resampling.BOX), "float32") / 255.0


def counters(image: np.ndarray) -> int:
    """Closed loops in an ink image in [0, 1]: regions of paper cut off from its border.

    Paper is what is at most `COUNTER_INK`, joined to its four neighbours, so that ink that
    touches only diagonally still closes a loop.
    """
    paper = np.pad(np.asarray(image) <= COUNTER_INK, 1, constant_values=True)
    seen = np.zeros_like(paper)
    regions = 0
    for start in zip(*np.nonzero(paper), strict=True):
        if seen[start]:
            continue
        regions += 1
        seen[start] = True
        stack = [start]
        while stack:
            y, x = stack.pop()
            for near in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                if (0 <= near[0] < paper.shape[0] and 0 <= near[1] < paper.shape[1]
                        and paper[near] and not seen[near]):
                    seen[near] = True
                    stack.append(near)
    return regions - 1  # the first region, from the padded corner, is the paper around it


def drawing(index: int, seed: int = 0) -> Drawing:
    """Drawing `index` of the set made with `seed`, remade on its own.

    Raises:
        RuntimeError: `MAX_ATTEMPTS` tries in a row were refused (a broken rule).
    """
    planned = plan(index)
    for attempt in range(MAX_ATTEMPTS):
        rng = np.random.default_rng([seed, index, attempt] if attempt else [seed, index])
        canvas, style, pen, slant = _attempt(planned, rng)
        try:
            made = preprocess(canvas, ink="light")
        except NotADigit:
            continue
        if counters(canvas_view(canvas)) < COUNTERS.get(planned.label, 0):
            continue
        top, _, bottom, _ = made.box
        return Drawing(canvas, made.image, planned.label, planned.band, planned.variant,
                       style, pen, bottom - top, round(slant, 2), attempt)
    raise RuntimeError(f"{MAX_ATTEMPTS} tries at drawing {index} (seed {seed}) were refused: "
                       "the drawing rules make what is not a legible digit")


def canvas(index: int, seed: int = 0) -> np.ndarray:
    """The canvas of drawing `index` (seed `seed`): uint8 RGBA `(280, 280, 4)`."""
    return drawing(index, seed).canvas


def drawings(count: int, seed: int = 0) -> Iterator[Drawing]:
    """The first `count` drawings of the set made with `seed`, one at a time."""
    for index in range(count):
        yield drawing(index, seed)


# --- The yardstick ---------------------------------------------------------------------------


class YardstickError(ValueError):
    """A yardstick file is missing or not one; the message says what to do."""


@dataclass
class Yardstick:
    """Drawn digits as the models see them, with how each was drawn.

    Attributes:
        images: uint8 `(n, 28, 28)`, MNIST-style model inputs.
        labels: `(n,)` the digits drawn.
        bands: `(n,)` size band, a key of `BANDS`.
        variants: `(n,)` how the digit was written, a key of `VARIANTS[label]`.
        styles: `(n,)` pen style, a key of `PEN_STYLES`.
        pens: `(n,)` pen width in canvas pixels.
        heights: `(n,)` the ink's height in canvas pixels.
        slants: `(n,)` shear of the vertical in degrees.
        redraws: `(n,)` refused tries before each drawing.
        seed: the seed that made the set.
    """

    images: np.ndarray
    labels: np.ndarray
    bands: np.ndarray
    variants: np.ndarray
    styles: np.ndarray
    pens: np.ndarray
    heights: np.ndarray
    slants: np.ndarray
    redraws: np.ndarray
    seed: int = 0

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, label: int | None = None, band: str | None = None,
               variant: str | None = None, style: str | None = None) -> Yardstick:
        """The drawings that match every given criterion."""
        keep = np.ones(len(self), bool)
        for values, wanted in ((self.labels, label), (self.bands, band),
                               (self.variants, variant), (self.styles, style)):
            if wanted is not None:
                keep &= values == wanted
        return Yardstick(**{f.name: getattr(self, f.name)[keep] for f in fields(self)
                            if f.name != "seed"}, seed=self.seed)

    def save(self, path: str | os.PathLike) -> None:
        """A compressed `.npz`, strings as fixed-width unicode (no pickles)."""
        arrays = {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}
        with open(path, "wb") as file:  # a file object: numpy adds no ".npz" to the name
            np.savez_compressed(file, **arrays)


ARRAY_TYPES = {  # how each field is stored: compact and pickle-free
    "images": "uint8", "labels": "uint8", "bands": str, "variants": str, "styles": str,
    "pens": "uint8", "heights": "int16", "slants": "float32", "redraws": "uint8",
}


def load(path: str | os.PathLike = DRAWN_PATH) -> Yardstick:
    """Reads a yardstick saved by `Yardstick.save`.

    Raises:
        YardstickError: the file is missing, unreadable or lacks a field.
    """
    path = Path(path)
    if not path.is_file():
        raise YardstickError(f"No drawn-digit yardstick at {path}. Make it with "
                             f"`python scripts/make_drawn.py --out {path}`.")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [name for name in (*ARRAY_TYPES, "seed") if name not in archive.files]
            if missing:
                raise YardstickError(f"{path} lacks {missing}: remake it with "
                                     "`python scripts/make_drawn.py`.")
            arrays = {name: archive[name] for name in ARRAY_TYPES}
            seed = int(archive["seed"])
    except YardstickError:
        raise
    except Exception as error:  # not a zip, truncated, pickled objects
        raise YardstickError(f"Could not read {path} as a yardstick: {error}") from error
    arrays["labels"] = arrays["labels"].astype("int64")
    return Yardstick(**arrays, seed=seed)


def make(seed: int = 0, per_class: int = PER_CLASS) -> Yardstick:
    """The yardstick: `per_class` drawings of each digit, a third in each size band.

    Drawings are made one at a time and only their 28x28 model inputs are kept.
    """
    if per_class <= 0 or per_class % len(BANDS):
        raise ValueError(f"per_class must be a positive multiple of {len(BANDS)} (one share "
                         f"per size band). Received: per_class={per_class}")
    count = per_class * len(VARIANTS)
    columns: dict[str, list] = {name: [] for name in ARRAY_TYPES}
    for made in drawings(count, seed):
        columns["images"].append(np.round(made.image * 255.0).astype("uint8"))
        for name, value in (("labels", made.label), ("bands", made.band),
                            ("variants", made.variant), ("styles", made.style),
                            ("pens", made.pen), ("heights", made.height),
                            ("slants", made.slant), ("redraws", made.redraws)):
            columns[name].append(value)
    arrays = {name: np.asarray(values, dtype=ARRAY_TYPES[name])
              for name, values in columns.items()}
    arrays["images"] = arrays["images"].reshape(count, FIELD, FIELD)
    arrays["labels"] = arrays["labels"].astype("int64")
    return Yardstick(**arrays, seed=seed)


def _accuracy(right: np.ndarray) -> dict:
    count = int(right.size)
    return {"accuracy": round(float(right.mean()), 4) if count else None, "count": count}


def report(predicted: np.ndarray, yardstick: Yardstick) -> dict:
    """Accuracy of predicted labels on a yardstick: overall, per class and per size band.

    Returns:
        `{"accuracy", "count", "errors", "per_class": {"0": {"accuracy", "count"}, ...},
        "per_band": {"small": {...}, "medium": {...}, "large": {...}}}`, plain numbers
        rounded to 4 decimals (an accuracy is None where a group has no drawings).
    """
    predicted = np.asarray(predicted)
    if predicted.shape != yardstick.labels.shape:
        raise ValueError(f"predicted must hold one label per drawing, shape "
                         f"{yardstick.labels.shape}. Received: shape {predicted.shape}")
    right = predicted == yardstick.labels
    return {
        **_accuracy(right),
        "errors": int((~right).sum()),
        "per_class": {str(digit): _accuracy(right[yardstick.labels == digit])
                      for digit in VARIANTS},
        "per_band": {band: _accuracy(right[yardstick.bands == band]) for band in BANDS},
    }


# --- Drawn pairs -----------------------------------------------------------------------------

PAIR_BANDS = ("medium", "large")  # two digits drawn over each other: neither in a corner
PAIR_PEN = 3  # the two digits' pens differ by at most this many pixels: one pen draws both
PAIR_OFFSET = 0.2  # each digit's centre moves by up to this fraction of its ink height across
# and down, as MultiMNIST moves a digit about 20 pixels tall by up to 4 pixels


@dataclass
class DrawnPair:
    """Two drawings of different digits over each other on one canvas, as a visitor draws a
    pair in the page's two-digit mode: with one pen, at about one size.

    Attributes:
        canvas: uint8 RGBA `(280, 280, 4)`: both digits' white ink on the black sheet.
        labels: the two digits, different.
        indices: the drawings they are (`drawing(index, yardstick.seed)`).
        band: the size band of both.
    """

    canvas: np.ndarray
    labels: tuple[int, int]
    indices: tuple[int, int]
    band: str


def ink_box(canvas: np.ndarray) -> tuple[int, int, int, int]:
    """`(top, left, bottom, right)` of the ink on a canvas (bottom and right excluded)."""
    rows = np.flatnonzero(canvas[..., 0].any(axis=1))
    cols = np.flatnonzero(canvas[..., 0].any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def overlay(canvases: list[np.ndarray], offsets: list[tuple[float, float]]) -> np.ndarray:
    """One canvas from canvases of one drawing each: each drawing's ink box is moved to the
    canvas's centre plus its offset (rows down, columns right, in pixels; kept on the canvas),
    and where strokes cross, the brighter ink shows, as on the page's canvas."""
    ink = np.zeros((CANVAS, CANVAS), "uint8")
    for canvas, (down, right) in zip(canvases, offsets, strict=True):
        top, left, bottom, end = ink_box(canvas)
        height, width = bottom - top, end - left
        row = int(np.clip(round((CANVAS - height) / 2 + down), 0, CANVAS - height))
        col = int(np.clip(round((CANVAS - width) / 2 + right), 0, CANVAS - width))
        place = np.s_[row:row + height, col:col + width]
        ink[place] = np.maximum(ink[place], canvas[top:bottom, left:end, 0])
    out = np.empty((CANVAS, CANVAS, 4), "uint8")
    out[..., :3], out[..., 3] = ink[..., None], 255
    return out


def drawn_pair(index: int, yardstick: Yardstick) -> DrawnPair:
    """Pair `index` made from the drawings of `yardstick` (remade from their indices): a
    drawing of a medium or large band (`PAIR_BANDS`) and one of another digit in the same
    band drawn with a pen at most `PAIR_PEN` pixels wider or narrower, each centred on the
    canvas and moved by up to `PAIR_OFFSET` of its height each way, overlaid. The same index
    and yardstick make the same pair.

    Raises:
        ValueError: the yardstick holds no two such drawings.
    """
    rng = np.random.default_rng(np.random.SeedSequence(yardstick.seed, spawn_key=(index,)))
    candidates = np.flatnonzero(np.isin(yardstick.bands, PAIR_BANDS))
    first = int(rng.choice(candidates)) if len(candidates) else None
    partners = [] if first is None else np.flatnonzero(
        (yardstick.bands == yardstick.bands[first])
        & (yardstick.labels != yardstick.labels[first])
        & (np.abs(yardstick.pens.astype(int) - int(yardstick.pens[first])) <= PAIR_PEN))
    if not len(partners):
        raise ValueError("the yardstick holds no two drawings of different digits in one of "
                         f"{PAIR_BANDS} drawn with about one pen")
    second = int(rng.choice(partners))
    made = [drawing(index_of, yardstick.seed) for index_of in (first, second)]
    offsets = [tuple(rng.uniform(-PAIR_OFFSET, PAIR_OFFSET, 2) * each.height) for each in made]
    return DrawnPair(overlay([each.canvas for each in made], offsets),
                     (made[0].label, made[1].label), (first, second), made[0].band)
