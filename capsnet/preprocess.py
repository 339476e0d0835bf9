"""Turn a drawing or a photo of a digit into a 28x28 MNIST-style image.

MNIST was made by scaling each digit to fit a 20x20 box, keeping its aspect ratio, with
anti-aliasing, and placing it in a 28x28 field so that its centre of mass sits at the
centre. `preprocess` does the same to any image, and also brings the stroke width to
MNIST's, so that a thin pen on a large canvas and a fat marker on a small one both look
like the digits the models learnt from. The page, the command line and the tests all use
this one function.

`preprocess_pair` does the same for a drawing of two overlapping digits, the 36x36 input of
the MultiMNIST models: the union of the strokes is fitted to the box that MNIST's pairs
occupy, its centre of mass at the canvas's centre, with the same stroke width.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from capsnet.config import PAIR_IMAGE_SIZE

FIELD = 28  # MNIST's image side
BOX = 20  # MNIST scaled each digit's longer side to 20 pixels
CENTRE = 14.0  # mean centre of mass of MNIST test digits, in pixel indices (13.99, 14.01)
WORK = 4 * BOX  # the digit is normalised at 4x resolution before the final downsampling
INK_THRESHOLD = 0.2  # ink level that counts as drawn (of a 0..1 range)
MNIST_STROKE = 2.9  # stroke width given to thin drawings, in 28x28 pixels as 2 * area /
# perimeter measured on the drawing at its own resolution; the 28x28 image then measures
# about 0.5 wider (its anti-aliased edge counts), 3.4, MNIST's median (3.46 on its test set)
STROKE_RANGE = (2.0, 3.2)  # widths left alone; bolder strokes are thinned to 3.2, which
# measures 3.5 to 4.0 on the 28x28 image, between MNIST's median and its 75th percentile
# (MNIST's quartiles: 3.03, 3.46, 4.0). A small drawing scaled up would otherwise keep a
# marker's width, 4.5 to 5.5 pixels, which closes the loops of a 6, 9 or 2 into an 8's
MIN_INK_PIXELS = 4  # fewer inked pixels than this is a speck, not a drawing
DOT_RATIO = 2.5  # ink whose extent is under this many stroke widths is a dot, not a digit
MAX_INK_COVER = 0.65  # ink on more of the image than this is paint, not a digit: an 8 drawn
# to a 280-pixel canvas's edges with a 40-pixel pen covers 47%, MNIST's boldest digit 43% of
# its 28x28 field
MIN_ASPECT = 0.25  # ink less tall than this fraction of its width is a dash or a horizontal
# line: no digit of MNIST's 70,000 is less tall than 0.4 of its width
INK_COLOURS = ("auto", "light", "dark")  # how `to_ink` tells the ink from the paper
PAIR_BOX = 23  # the longer side of the two digits' ink together on the MultiMNIST test pairs:
# median 23, mean 23.4, where one MNIST digit's is 20 (ink above INK_THRESHOLD)
PAIR_CENTRE = 18.0  # the pairs' mean centre of mass (17.99, 18.00): 14 plus the 4-pixel pad


class NotADigit(ValueError):
    """The image holds nothing that could be a digit; the message says why, for a person."""


@dataclass
class Preprocessed:
    """The model input and what was measured on the way.

    Attributes:
        image: float32 `(28, 28)` in [0, 1], white ink on black, MNIST-style; `(36, 36)`
            from `preprocess_pair`.
        stroke_width: the drawing's stroke width in model-input pixels, before normalising.
        box: `(top, left, bottom, right)` of the ink in the original image.
    """

    image: np.ndarray
    stroke_width: float
    box: tuple[int, int, int, int]


def to_ink(image: np.ndarray | Image.Image, ink: str = "auto") -> np.ndarray:
    """Ink level in [0, 1] per pixel (1 = ink), for canvases and photos alike.

    Accepts a PIL image or an array `(H, W)`, `(H, W, 3)` or `(H, W, 4)` (uint8 or floats in
    [0, 1]). Transparent pixels are background (a canvas's strokes on a clear sheet).

    Args:
        image: the image.
        ink: "auto" for images from outside: opaque images count as dark-on-light when their
            border is light, and are inverted, with the paper's grain removed. "light" or
            "dark" when the caller knows the ink's colour, as the page knows its canvas's:
            the ink level is then the brightness (or darkness), scaled so that the strongest
            ink is 1, with no paper level taken from the border, so that ink that reaches
            every edge, or covers the whole image, is still read as ink.
    """
    if ink not in INK_COLOURS:
        raise ValueError(f"ink must be one of {INK_COLOURS}. Received: ink={ink!r}")
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
        light_pen = (ink == "light" if ink != "auto"
                     else weight == 0 or (luminance * alpha).sum() / weight >= 0.5)
        return alpha * (luminance if light_pen else 1.0 - luminance)

    if ink != "auto":
        # 2) Opaque, the ink's colour known: paper is 0 wherever it is, the strongest ink 1.
        level = luminance if ink == "light" else 1.0 - luminance
        peak = float(level.max())
        return level / peak if peak >= INK_THRESHOLD else np.zeros_like(level)

    # 3) Opaque, from outside: the border tells the paper from the ink; stretch paper to 0,
    #    ink to 1.
    border = np.concatenate([luminance[0], luminance[-1], luminance[:, 0], luminance[:, -1]])
    level = 1.0 - luminance if np.median(border) > 0.5 else luminance
    edge = np.concatenate([level[0], level[-1], level[:, 0], level[:, -1]])
    # paper level plus three robust standard deviations of its grain (1.4826 MAD)
    paper = float(np.median(edge))
    paper += 3 * 1.4826 * float(np.median(np.abs(edge - paper)))
    peak = float(level.max())
    if peak - paper < INK_THRESHOLD:
        return np.zeros_like(level)
    return np.clip((level - paper) / (peak - paper), 0.0, 1.0)


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


def preprocess(image: np.ndarray | Image.Image, ink: str = "auto") -> Preprocessed:
    """MNIST-style 28x28 model input from any image of one digit.

    Args:
        image: the image: a canvas drawing, a photo, an MNIST digit.
        ink: the ink's colour, "light" or "dark", when the caller knows it (the page's canvas
            has white ink); "auto" tells ink from paper by the image's border (see `to_ink`).

    Raises:
        NotADigit: nothing is drawn, ink covers most of the image, or the ink is a speck,
            a dot or a blob, or a horizontal line.
    """
    return _normalise(to_ink(image, ink), BOX, FIELD, CENTRE)


def preprocess_pair(image: np.ndarray | Image.Image, ink: str = "auto") -> Preprocessed:
    """MultiMNIST-style 36x36 model input from any image of two overlapping digits (or one):
    `preprocess`'s steps, with all the ink fitted to `PAIR_BOX` pixels on the longer side and
    its centre of mass at `PAIR_CENTRE`.

    Raises:
        NotADigit: as `preprocess`.
    """
    return _normalise(to_ink(image, ink), PAIR_BOX, PAIR_IMAGE_SIZE, PAIR_CENTRE)


def _normalise(ink_level: np.ndarray, box_side: int, field_side: int,
               centre: float) -> Preprocessed:
    """Ink levels -> the ink scaled to `box_side` pixels on its longer side, stroke width
    brought into MNIST's range, centre of mass at `centre` of a `field_side` square."""
    work_side = WORK // BOX * box_side  # normalised at 4x the final resolution
    mask = ink_level > INK_THRESHOLD
    if mask.sum() < MIN_INK_PIXELS:
        raise NotADigit("Nothing is drawn yet: draw a digit from 0 to 9.")
    cover = float(mask.mean())
    if cover > MAX_INK_COVER:
        painted = ("The whole image is ink" if mask.all()
                   else f"Ink covers {cover:.0%} of the image")
        raise NotADigit(f"{painted}, so there is no digit shape to read: clear the canvas "
                        "(or undo) and draw a digit from 0 to 9.")

    # 1) Crop to the ink.
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    crop = ink_level[top:bottom, left:right]
    width = stroke_width(mask[top:bottom, left:right])
    if max(crop.shape) < DOT_RATIO * width:
        raise NotADigit("That is a dot or a blob of ink, not a digit: draw a digit from 0 "
                        "to 9.")
    if crop.shape[0] < MIN_ASPECT * crop.shape[1]:
        raise NotADigit("That is a horizontal line or a dash, not a digit: no digit is that "
                        "much wider than it is tall. Draw a digit from 0 to 9.")

    # 2) Scale the longer side to 4 x 20 pixels (4 x 23 for pairs), keeping the aspect ratio.
    scale = work_side / max(crop.shape)
    height, breadth = (max(1, round(side * scale)) for side in crop.shape)
    work = _resize(crop, breadth, height)

    # 3) Bring the stroke width into MNIST's range (a max filter thickens, a min filter thins).
    final_width = width * scale * box_side / work_side
    if not STROKE_RANGE[0] <= final_width <= STROKE_RANGE[1]:
        target = MNIST_STROKE if final_width < STROKE_RANGE[0] else STROKE_RANGE[1]
        change = (target - final_width) * work_side / box_side  # in work pixels
        size = 2 * int(round(abs(change) / 2)) + 1
        kind = ImageFilter.MaxFilter if change > 0 else ImageFilter.MinFilter
        filtered = _filter(np.pad(work, size), kind, size)
        if (filtered > INK_THRESHOLD).sum() >= MIN_INK_PIXELS:  # thinning must not erase it
            work = filtered

    # 4) Crop again and downsample to 20 pixels on the longer side, with anti-aliasing.
    keep = work > INK_THRESHOLD
    r, c = np.flatnonzero(keep.any(axis=1)), np.flatnonzero(keep.any(axis=0))
    work = work[r[0]:r[-1] + 1, c[0]:c[-1] + 1]
    small_scale = box_side / max(work.shape)
    h, w = (max(1, round(side * small_scale)) for side in work.shape)
    digit = _resize(work, w, h)
    if digit.max() > 0:
        digit = digit / digit.max()

    # 5) Place in the 28x28 field with the centre of mass at MNIST's centre.
    total = digit.sum()
    ys, xs = np.indices(digit.shape)
    com_y, com_x = (ys * digit).sum() / total, (xs * digit).sum() / total
    offset_y, offset_x = int(round(centre - com_y)), int(round(centre - com_x))
    field = np.zeros((field_side, field_side), "float32")
    y0, x0 = max(offset_y, 0), max(offset_x, 0)
    y1, x1 = min(offset_y + h, field_side), min(offset_x + w, field_side)
    field[y0:y1, x0:x1] = digit[y0 - offset_y:y1 - offset_y, x0 - offset_x:x1 - offset_x]
    box = (int(top), int(left), int(bottom), int(right))
    return Preprocessed(field, final_width, box)
