"""Turn a drawing or a photo of a digit into a 28x28 MNIST-style image.

MNIST was made by scaling each digit to fit a 20x20 box, keeping its aspect ratio, with
anti-aliasing, and placing it in a 28x28 field so that its centre of mass sits at the
centre. `preprocess` does the same to any image, and also brings the stroke width to
MNIST's, so that a thin pen on a large canvas and a fat marker on a small one both look
like the digits the models learnt from. The page, the command line and the tests all use
this one function.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter, ImageOps

FIELD = 28  # MNIST's image side
BOX = 20  # MNIST scaled each digit's longer side to 20 pixels
CENTRE = 14.0  # mean centre of mass of MNIST test digits, in pixel indices (13.99, 14.01)
WORK = 4 * BOX  # the digit is normalised at 4x resolution before the final downsampling
INK_THRESHOLD = 0.2  # ink level that counts as drawn (of a 0..1 range)
MNIST_STROKE = 2.9  # median stroke width of MNIST test digits in pixels, as 2 * area / perimeter
STROKE_RANGE = (2.0, 5.5)  # widths left alone: MNIST's 10th percentile is 2.2, and its
# bold digits reach 6; thinner strokes are thickened to MNIST's median, bolder ones thinned
# to the top of the range
MIN_INK_PIXELS = 4  # fewer inked pixels than this is a speck, not a drawing
DOT_RATIO = 2.5  # ink whose extent is under this many stroke widths is a dot, not a digit


class NotADigit(ValueError):
    """The image holds nothing that could be a digit; the message says why, for a person."""


@dataclass
class Preprocessed:
    """The model input and what was measured on the way.

    Attributes:
        image: float32 `(28, 28)` in [0, 1], white ink on black, MNIST-style.
        stroke_width: the drawing's stroke width in 28x28 pixels, before normalising.
        box: `(top, left, bottom, right)` of the ink in the original image.
    """

    image: np.ndarray
    stroke_width: float
    box: tuple[int, int, int, int]


def to_ink(image: np.ndarray | Image.Image) -> np.ndarray:
    """Ink level in [0, 1] per pixel (1 = ink), for canvases and photos alike.

    Accepts a PIL image or an array `(H, W)`, `(H, W, 3)` or `(H, W, 4)` (uint8 or floats in
    [0, 1]). Transparent pixels are background (a canvas's strokes on a clear sheet);
    opaque images count as dark-on-light when their border is light, and are inverted.
    """
    if isinstance(image, Image.Image):
        image = _pil_to_array(image)
    array = np.asarray(image)
    if array.dtype == np.uint8:
        array = array.astype("float32") / 255.0
    elif array.dtype == np.uint16:
        array = array.astype("float32") / 65535.0
    else:
        array = np.nan_to_num(array.astype("float32"))
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        rgb, alpha = array[..., None], None
    elif array.ndim == 3 and array.shape[-1] in (3, 4):
        rgb = array[..., :3]
        alpha = array[..., 3] if array.shape[-1] == 4 else None
    else:
        raise NotADigit(f"An image must be greyscale, RGB or RGBA; this one has shape "
                        f"{array.shape}.")
    rgb = np.clip(rgb, 0.0, 1.0)
    luminance = rgb[..., 0] if rgb.shape[-1] == 1 else rgb @ np.float32([0.299, 0.587, 0.114])

    if alpha is not None and alpha.min() < 0.99:
        # 1) Transparent background: the ink is where the alpha is, light or dark pen alike.
        alpha = np.clip(alpha, 0.0, 1.0)
        weight = alpha.sum()
        light_pen = weight == 0 or (luminance * alpha).sum() / weight >= 0.5
        return alpha * (luminance if light_pen else 1.0 - luminance)

    # 2) Opaque: the border tells the paper from the ink; stretch paper to 0, ink to 1.
    border = np.concatenate([luminance[0], luminance[-1], luminance[:, 0], luminance[:, -1]])
    ink = 1.0 - luminance if np.median(border) > 0.5 else luminance
    edge = np.concatenate([ink[0], ink[-1], ink[:, 0], ink[:, -1]])
    # paper level plus three robust standard deviations of its grain (1.4826 MAD)
    paper = float(np.median(edge))
    paper += 3 * 1.4826 * float(np.median(np.abs(edge - paper)))
    peak = float(ink.max())
    if peak - paper < INK_THRESHOLD:
        return np.zeros_like(ink)
    return np.clip((ink - paper) / (peak - paper), 0.0, 1.0)


def _pil_to_array(image: Image.Image) -> np.ndarray:
    """A PIL image (any mode, EXIF-rotated) as a uint8 or float array for `to_ink`."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image.convert("F") if image.mode != "F" else image, "float32")
        top = 65535.0 if image.mode.startswith("I") and array.max() > 255 else 255.0
        return np.clip(array / top, 0.0, 1.0) if image.mode != "F" or array.max() > 1 else array
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        return np.asarray(image.convert("RGBA"))
    return np.asarray(image.convert("RGB"))


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary drawing, `2 * area / perimeter` (in its pixels).

    For a long stroke of width w and length L, the area is w L and the boundary holds
    about 2 L pixels.
    """
    padded = np.pad(mask, 1)
    interior = (padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1]
                & padded[1:-1, :-2] & padded[1:-1, 2:])
    boundary = int((mask & ~interior).sum())
    return 2.0 * float(mask.sum()) / max(boundary, 1)


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    resized = Image.fromarray(image.astype("float32"), mode="F").resize(
        (width, height), Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized), 0.0, 1.0)


def _filter(image: np.ndarray, kind, size: int) -> np.ndarray:
    pil = Image.fromarray(image.astype("float32"), mode="F")
    return np.asarray(pil.filter(kind(size)))


def preprocess(image: np.ndarray | Image.Image) -> Preprocessed:
    """MNIST-style 28x28 model input from any image of one digit.

    Raises:
        NotADigit: nothing is drawn, or the ink is a speck or a dot.
    """
    ink = to_ink(image)
    mask = ink > INK_THRESHOLD
    if mask.sum() < MIN_INK_PIXELS:
        raise NotADigit("Nothing is drawn yet: draw a digit from 0 to 9.")

    # 1) Crop to the ink.
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    crop = ink[top:bottom, left:right]
    width = stroke_width(mask[top:bottom, left:right])
    if max(crop.shape) < DOT_RATIO * width:
        raise NotADigit("That is a dot, not a digit: draw a digit from 0 to 9.")

    # 2) Scale the longer side to 4 x 20 pixels, keeping the aspect ratio.
    scale = WORK / max(crop.shape)
    height, breadth = (max(1, round(side * scale)) for side in crop.shape)
    work = _resize(crop, breadth, height)

    # 3) Bring the stroke width into MNIST's range (a max filter thickens, a min filter thins).
    final_width = width * scale * BOX / WORK
    if not STROKE_RANGE[0] <= final_width <= STROKE_RANGE[1]:
        target = MNIST_STROKE if final_width < STROKE_RANGE[0] else STROKE_RANGE[1]
        change = (target - final_width) * WORK / BOX  # in work pixels
        size = 2 * int(round(abs(change) / 2)) + 1
        kind = ImageFilter.MaxFilter if change > 0 else ImageFilter.MinFilter
        filtered = _filter(np.pad(work, size), kind, size)
        if (filtered > INK_THRESHOLD).sum() >= MIN_INK_PIXELS:  # thinning must not erase it
            work = filtered

    # 4) Crop again and downsample to 20 pixels on the longer side, with anti-aliasing.
    keep = work > INK_THRESHOLD
    r, c = np.flatnonzero(keep.any(axis=1)), np.flatnonzero(keep.any(axis=0))
    work = work[r[0]:r[-1] + 1, c[0]:c[-1] + 1]
    small_scale = BOX / max(work.shape)
    h, w = (max(1, round(side * small_scale)) for side in work.shape)
    digit = _resize(work, w, h)
    if digit.max() > 0:
        digit = digit / digit.max()

    # 5) Place in the 28x28 field with the centre of mass at MNIST's centre.
    total = digit.sum()
    ys, xs = np.indices(digit.shape)
    com_y, com_x = (ys * digit).sum() / total, (xs * digit).sum() / total
    offset_y, offset_x = int(round(CENTRE - com_y)), int(round(CENTRE - com_x))
    field = np.zeros((FIELD, FIELD), "float32")
    y0, x0 = max(offset_y, 0), max(offset_x, 0)
    y1, x1 = min(offset_y + h, FIELD), min(offset_x + w, FIELD)
    field[y0:y1, x0:x1] = digit[y0 - offset_y:y1 - offset_y, x0 - offset_x:x1 - offset_x]
    box = (int(top), int(left), int(bottom), int(right))
    return Preprocessed(field, final_width, box)
