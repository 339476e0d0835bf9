"""Bend a 28x28 model input: rotate, shift, scale, shear, thicken or thin its strokes.

Pure functions of numpy arrays, built on Pillow. The geometric changes are composed into
one affine map and resampled once (bilinear), so a combination blurs no more than a single
change. Rotation, scaling and shearing turn about the digit's centre of mass, so they bend
the digit where it stands; a shift then moves it. Pixels are indexed `[row, column]`, row 0
at the top; angles are in degrees, positive counter-clockwise as the image is seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

ROTATION_LIMIT = 45.0  # degrees each way on the page's slider
SHIFT_LIMIT = 6  # pixels each way: MNIST leaves about 4 pixels around a digit, so 6 crops it
SCALE_RANGE = (0.6, 1.4)  # 0.6 makes a 20-pixel digit 12 pixels tall; 1.4 fills the field
SHEAR_LIMIT = 0.5  # horizontal shear: columns move by half a pixel per row from the centre
STROKE_LIMIT = 2  # pixels of stroke width added or removed (MNIST's median width is 2.9)
STROKE_UPSAMPLE = 2  # strokes change at twice the resolution: 1 pixel of width in 2 steps
SHRINK_TOLERANCE = 0.99  # a map shrinking less than this samples the input once per pixel
SWEEP_ROTATIONS = np.arange(-60, 61, 5)  # degrees: past the slider's range, to see the fall
SWEEP_SHIFTS = np.arange(-SHIFT_LIMIT, SHIFT_LIMIT + 1)  # pixels


@dataclass(frozen=True)
class Transform:
    """One change of a digit; the defaults leave it as it is.

    Attributes:
        rotation: degrees, positive counter-clockwise as seen.
        shift_x: pixels to the right.
        shift_y: pixels down.
        scale: size factor (1 keeps the size).
        shear: horizontal shear factor; positive leans the top to the right, like italics.
        stroke: pixels added to the stroke width (negative thins), an integer.
    """

    rotation: float = 0.0
    shift_x: float = 0.0
    shift_y: float = 0.0
    scale: float = 1.0
    shear: float = 0.0
    stroke: int = 0

    def __post_init__(self):
        if not self.scale > 0:
            raise ValueError(f"scale must be positive. Received: scale={self.scale}")
        if self.stroke != int(self.stroke):
            raise ValueError(f"stroke must be a whole number of pixels. "
                             f"Received: stroke={self.stroke}")


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    """`(row, column)` of the ink's centre of mass; the field's centre for a blank image."""
    image = np.asarray(image, dtype="float64")
    total = image.sum()
    if total <= 0:
        return (image.shape[0] - 1) / 2, (image.shape[1] - 1) / 2
    rows, columns = np.indices(image.shape)
    return float((rows * image).sum() / total), float((columns * image).sum() / total)


def linear_part(transform: Transform) -> np.ndarray:
    """The 2x2 matrix acting on `(x, y)` offsets from the centre (x right, y down).

    Scaling first, then shearing, then rotating: `rotate @ shear @ scale`.
    """
    angle = math.radians(transform.rotation)
    cos, sin = math.cos(angle), math.sin(angle)
    # y points down, so a counter-clockwise turn on screen takes (1, 0) towards (0, -1)
    rotate = np.array([[cos, sin], [-sin, cos]])
    shear = np.array([[1.0, -transform.shear], [0.0, 1.0]])  # top rows (y < 0) move right
    return rotate @ shear @ (transform.scale * np.eye(2))


def change_stroke(image: np.ndarray, pixels: int) -> np.ndarray:
    """Thickens (`pixels > 0`) or thins (`pixels < 0`) the strokes by about `pixels` of width.

    A grey-level dilation (max filter) or erosion (min filter) at twice the resolution: a
    3x3 filter there moves each edge of a stroke by half a pixel of the 28x28 image. The
    image is enlarged by repeating pixels and reduced by averaging them, so thickening
    never darkens a pixel and thinning never brightens one.
    """
    image = np.asarray(image, dtype="float32")
    if pixels == 0:
        return image
    height, width = image.shape
    large = Image.fromarray(image, mode="F").resize(
        (width * STROKE_UPSAMPLE, height * STROKE_UPSAMPLE), Image.Resampling.NEAREST)
    size = 2 * abs(int(pixels)) + 1  # odd, as Pillow's rank filters require
    kind = ImageFilter.MaxFilter if pixels > 0 else ImageFilter.MinFilter
    small = large.filter(kind(size)).resize((width, height), Image.Resampling.BOX)
    return np.clip(np.asarray(small, dtype="float32"), 0.0, 1.0)


def apply(image: np.ndarray, transform: Transform) -> np.ndarray:
    """The image changed by `transform`: strokes first, then one affine resampling.

    Args:
        image: grey levels `(H, W)` in [0, 1], white ink on black.
        transform: what to change.

    Returns:
        float32 `(H, W)` in [0, 1]; ink moved outside the field is lost.
    """
    image = change_stroke(np.asarray(image, dtype="float32"), transform.stroke)
    height, width = image.shape
    row, column = centre_of_mass(image)
    # 1) Pillow asks, for each output pixel, where to read in the input: the inverse map.
    #    Its coordinates put pixel i's centre at i + 0.5.
    centre = np.array([column + 0.5, row + 0.5])  # (x, y)
    forward = linear_part(transform)
    inverse = np.linalg.inv(forward)
    shift = np.array([transform.shift_x, transform.shift_y])
    # input = inverse @ (output - centre - shift) + centre
    offset = centre - inverse @ (centre + shift)
    coefficients = (inverse[0, 0], inverse[0, 1], offset[0],
                    inverse[1, 0], inverse[1, 1], offset[1])
    # 2) Where the map shrinks some direction, bilinear sampling would skip input pixels
    #    (thin strokes break up): sample a finer grid, then average it down.
    factor = supersampling(forward)
    fine = (coefficients[0] / factor, coefficients[1] / factor, coefficients[2],
            coefficients[3] / factor, coefficients[4] / factor, coefficients[5])
    # 3) One bilinear resampling; outside the field reads as black paper.
    moved = Image.fromarray(image, mode="F").transform(
        (width * factor, height * factor), Image.Transform.AFFINE, fine,
        resample=Image.Resampling.BILINEAR, fillcolor=0.0)
    if factor > 1:
        moved = moved.resize((width, height), Image.Resampling.BOX)
    return np.clip(np.asarray(moved, dtype="float32"), 0.0, 1.0)


def supersampling(forward: np.ndarray) -> int:
    """Output samples per pixel side that keep a shrinking map from skipping input pixels.

    1 where the map shrinks no direction (rotations, shifts, enlargements), so those are
    resampled once, exactly; else enough that samples lie at most a pixel apart in the input.
    """
    smallest = float(np.linalg.svd(forward, compute_uv=False).min())
    return 1 if smallest >= SHRINK_TOLERANCE else math.ceil(1 / smallest)


def apply_all(image: np.ndarray, transforms: list[Transform]) -> np.ndarray:
    """One image under each of several transforms: `(len(transforms), H, W)`."""
    return np.stack([apply(image, transform) for transform in transforms])


def rotation_sweep(image: np.ndarray, angles=SWEEP_ROTATIONS) -> np.ndarray:
    """The image rotated by each angle in turn: `(len(angles), H, W)`."""
    return apply_all(image, [Transform(rotation=float(angle)) for angle in angles])


def shift_sweep(image: np.ndarray, offsets=SWEEP_SHIFTS) -> np.ndarray:
    """The image shifted by each offset, first horizontally, then vertically.

    Returns:
        `(2, len(offsets), H, W)`: `[0]` shifted to the right by each offset, `[1]` down.
    """
    across = [Transform(shift_x=float(offset)) for offset in offsets]
    down = [Transform(shift_y=float(offset)) for offset in offsets]
    return apply_all(image, across + down).reshape(2, len(offsets), *np.shape(image))


def steady_range(amounts, right) -> tuple[float, float] | None:
    """The stretch of a sweep, around no change, over which a model stays right.

    Args:
        amounts: the sweep's changes in increasing order, 0 among them.
        right: whether the model's answer was right at each change.

    Returns:
        `(lowest, highest)` change of the unbroken run of right answers that holds 0, or
        None where the model is wrong at 0.
    """
    amounts = np.asarray(amounts).reshape(-1)
    right = np.asarray(right, dtype=bool).reshape(-1)
    zero = np.flatnonzero(amounts == 0)
    if len(amounts) != len(right) or len(zero) != 1:
        raise ValueError(f"amounts must hold 0 once and match right in length. Received: "
                         f"{len(amounts)} amounts, {len(right)} answers")
    low = high = int(zero[0])
    if not right[low]:
        return None
    while low > 0 and right[low - 1]:
        low -= 1
    while high < len(right) - 1 and right[high + 1]:
        high += 1
    return float(amounts[low]), float(amounts[high])
