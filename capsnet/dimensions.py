"""What each pose dimension does: the sixteen DigitCaps dimensions measured, per class, and named.

The paper (Sabour et al. 2017, Figure 4) named its dimensions by eye. Here each one is
measured: for test digits of a class that the CapsNet reads correctly, one dimension of the
winning capsule is moved over Figure 4's range (-0.25 to +0.25) and a handful of properties
of the decoder's reconstruction are measured at each step, each in its own units:

- ink: the total ink (in pixels of full ink) and the stroke width (pixels);
- size: the height and the width of the ink (pixels; the width measured upright, the slant
  taken out, so that a slant does not read as a change of width);
- position: the ink's centre of mass across and down (pixels);
- slant: the ink's shear (columns per row; positive leans the top to the right, as
  `capsnet.transforms.Transform.shear`);
- how local the change is: the largest share of the change that falls in one small window of
  the image beyond the share of the digit's ink there (0 for a change spread over the whole
  digit like its ink, near 1 for one part redrawn).

Each property's change over the range is then put in one unit, the mean distance it moves
the digit's ink (`ink_moved`), so that a change of width in pixels and one of slant are
comparable. A dimension is named by the property with the largest share of the squared
changes so scaled, or as a local part where its change is local; where no property has a
clear majority it is called mixed, and where it barely changes the image, little change.
Numpy alone: the decoder's images come from the caller (`sweep_images` takes a
`capsnet.inference.CapsuleLab`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from capsnet import reports
from capsnet.config import NUM_CLASSES
from capsnet.inference import POSE_STEPS

REPORT_PATH = Path(__file__).parent / "assets" / "dimensions.json"
IMAGES_PER_CLASS = 100  # correctly read test digits per class: at least 50; 100 take
# under a minute on two CPU cores
PROPERTIES = {  # key: (what a dimension that changes it alone is called, unit)
    "ink": ("amount of ink", "pixels"),
    "stroke": ("stroke thickness", "pixels"),
    "height": ("height", "pixels"),
    "width": ("width", "pixels"),
    "across": ("moves across", "pixels"),
    "down": ("moves up/down", "pixels"),
    "slant": ("slant", "shear"),
}
NAMING = ("stroke", "height", "width", "across", "down", "slant")  # the properties that name a
# dimension: independent of each other for a rigid change. Total ink is measured and shown
# but names nothing: it is stroke width times stroke length, so it moves with both.
EXTENT = (0.05, 0.95)  # height and width: the span of the middle 90% of the ink, which a
# stray grey pixel of the reconstruction hardly moves
LOCAL_WINDOW = 9  # pixels per side of the window a local change is looked for in: about a
# fifth of a 20-pixel digit's box, the size of a loop or a tail
LOCAL = 0.35  # locality at which a change is called local (hand-made single parts: 0.6 or
# more; the page's transforms of whole digits: under 0.2, see tests/test_dimensions.py)
DOMINANT = 0.6  # share of the squared scaled changes one property needs to name a dimension:
# with two effects, the larger moves the ink 1.22 times as far as the other
FAINT = 0.1  # share of the digit's ink that must change over the range for any name
CENTRE_RADIUS = 2.5  # pixels: a local change whose window is this near the ink's centre is
# in the middle
REGIONS = ("right", "bottom right", "bottom", "bottom left", "left", "top left", "top",
           "top right")  # by angle from the ink's centre, counter-clockwise from the right
# in image coordinates (y down), 45 degrees each


# --- Properties of images --------------------------------------------------------------


def _images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images, dtype="float64")
    if images.ndim == 2:
        images = images[None]
    if images.ndim != 3:
        raise ValueError(f"images must be (n, height, width) or (height, width). "
                         f"Received: shape={np.shape(images)}")
    return np.clip(images, 0.0, None)


def _spans(marginals: np.ndarray, first: float) -> np.ndarray:
    """The span of the middle of each distribution `(n, bins)` of ink over unit bins, the
    first centred at `first`: each bin's ink spread evenly over it, so that the span moves
    smoothly as ink moves."""
    total = marginals.sum(axis=1, keepdims=True)
    shares = marginals / np.where(total > 0, total, 1)
    below = np.cumsum(shares, axis=1) - shares  # ink before each bin
    ends = []
    for q in EXTENT:
        index = np.clip((np.cumsum(shares, axis=1) < q).sum(axis=1), 0, shares.shape[1] - 1)
        rows = np.arange(len(shares))
        inside = (q - below[rows, index]) / np.where(shares[rows, index] > 0,
                                                     shares[rows, index], 1)
        ends.append(first - 0.5 + index + np.clip(inside, 0.0, 1.0))
    return np.where(total[:, 0] > 0, ends[1] - ends[0], 0.0)


def _upright_columns(images: np.ndarray, across: np.ndarray, down: np.ndarray,
                     slant: np.ndarray) -> np.ndarray:
    """The ink per column once each row is shifted to take the slant out: `(n, W + 2 W)`
    over columns -W to 2W - 1, each row's ink split between the two columns it lands on."""
    n, height, width = images.shape
    rows, columns = np.indices((height, width), dtype="float64")
    landed = np.clip(columns[None] + slant[:, None, None] * (rows[None] - down[:, None, None]),
                     -width, 2 * width - 1.001) + width  # (n, H, W), from 0
    lower = np.floor(landed)
    upper_share = landed - lower
    bins = 3 * width
    offsets = (np.arange(n) * bins)[:, None, None]
    index = (offsets + lower).astype("int64").ravel()
    counts = np.bincount(index, (images * (1 - upper_share)).ravel(), n * bins)
    counts += np.bincount(index + 1, (images * upper_share).ravel(), n * bins)
    return counts.reshape(n, bins)


def measure_images(images: np.ndarray) -> dict[str, np.ndarray]:
    """The properties of each image: `{property: (n,)}` (see the module's docstring).

    Args:
        images: grey levels `(n, H, W)` or `(H, W)`, white ink on black, in [0, 1].
    """
    images = _images(images)
    n, height, width = images.shape
    rows, columns = np.indices((height, width), dtype="float64")
    ink = images.sum(axis=(1, 2))
    weights = images / np.where(ink > 0, ink, 1)[:, None, None]
    down = (weights * rows).sum(axis=(1, 2))
    across = (weights * columns).sum(axis=(1, 2))
    y = rows[None] - down[:, None, None]
    x = columns[None] - across[:, None, None]
    # slant: the shear that would make the ink upright. x' = x - k y moves top rows (y < 0)
    # to the right and lowers cov(x, y) by k var(y), so -cov / var rises by k.
    variance = (weights * y * y).sum(axis=(1, 2))
    slant = -(weights * x * y).sum(axis=(1, 2)) / np.where(variance > 0, variance, 1)
    # stroke width: for a stroke of width w and length L, the ink's area is A = w L and its
    # outline P = 2 L + 2 w (both sides and both ends), so w = (P - sqrt(P^2 - 16 A)) / 4:
    # exact for any rectangle. The outline of a grey image is its total variation, taken on
    # 2x2 cells so that each edge of a one-pixel line counts in full.
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    step_down = np.diff(padded, axis=1)
    step_across = np.diff(padded, axis=2)
    gradient_down = (step_down[:, :, 1:] + step_down[:, :, :-1]) / 2  # (n, H + 1, W + 1)
    gradient_across = (step_across[:, 1:] + step_across[:, :-1]) / 2
    outline = np.hypot(gradient_down, gradient_across).sum(axis=(1, 2))
    stroke = (outline - np.sqrt(np.clip(outline ** 2 - 16 * ink, 0.0, None))) / 4
    # height and width: the span of the middle of the ink; the width measured upright
    spans_down = _spans(images.sum(axis=2), 0.0)
    spans_across = _spans(_upright_columns(images, across, down, slant), -float(width))
    return {"ink": ink, "stroke": stroke,
            "height": spans_down, "width": spans_across,
            "across": across, "down": down, "slant": slant}


def _window_sums(images: np.ndarray, size: int) -> np.ndarray:
    """Sums over every `size` x `size` window: `(n, H - size + 1, W - size + 1)`."""
    integral = np.pad(np.cumsum(np.cumsum(images, axis=1), axis=2), ((0, 0), (1, 0), (1, 0)))
    return (integral[:, size:, size:] - integral[:, :-size, size:]
            - integral[:, size:, :-size] + integral[:, :-size, :-size])


def locality(before: np.ndarray, after: np.ndarray,
             window: int = LOCAL_WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """How local the change from `before` to `after` is, and where.

    Args:
        before, after: images `(n, H, W)` (or one `(H, W)` each).

    Returns:
        `(local (n,), offset (n, 2))`: the largest share of the change (the absolute
        difference) inside one `window` x `window` window less the share of `before`'s ink
        there, and that window's centre less the ink's centre of mass, `(down, across)`
        in pixels.
    """
    before, after = _images(before), _images(after)
    change = np.abs(after - before)
    change_share = _window_sums(change, window) / np.maximum(
        change.sum(axis=(1, 2)), 1e-12)[:, None, None]
    ink_share = _window_sums(before, window) / np.maximum(
        before.sum(axis=(1, 2)), 1e-12)[:, None, None]
    excess = (change_share - ink_share).reshape(len(before), -1)
    best = excess.argmax(axis=1)
    positions = np.stack(np.unravel_index(best, change_share.shape[1:]), axis=1)
    centres = positions + (window - 1) / 2
    props = measure_images(before)
    offsets = centres - np.stack([props["down"], props["across"]], axis=1)
    return np.clip(excess.max(axis=1), 0.0, 1.0), offsets


def region(offset) -> str:
    """Where an offset `(down, across)` from the ink's centre lies: "middle", "top", ..."""
    down, across = (float(value) for value in offset)
    if np.hypot(down, across) <= CENTRE_RADIUS:
        return "middle"
    angle = np.degrees(np.arctan2(down, across)) % 360  # y down: 90 degrees is the bottom
    return REGIONS[int(((angle + 22.5) % 360) // 45)]


# --- Sweeps of one dimension -----------------------------------------------------------


def measure_sweeps(sweeps: np.ndarray, steps=POSE_STEPS) -> dict:
    """What moving one quantity over `steps` does to images: the mean over several digits.

    Args:
        sweeps: `(n, len(steps), H, W)`: digit i's image at each step, in [0, 1].
        steps: the quantity's values, increasing; 0 among them (the unchanged image).

    Returns:
        `{"changes": {property: mean change over the range, in its unit}, "per_digit":
        {property: (n,)}, "local": mean locality, "offset": mean `(down, across)` of the
        local window, "changed": mean share of the digit's ink that changes}`. A change is
        the least-squares slope over the steps times the range's width.
    """
    sweeps = np.asarray(sweeps, dtype="float64")
    steps = np.asarray(steps, dtype="float64").reshape(-1)
    if sweeps.ndim != 4 or sweeps.shape[1] != len(steps) or len(sweeps) == 0:
        raise ValueError(f"sweeps must be (n, {len(steps)}, height, width) with n > 0. "
                         f"Received: shape={sweeps.shape}")
    zero = np.flatnonzero(np.isclose(steps, 0))
    if len(zero) != 1:
        raise ValueError(f"steps must hold 0 once. Received: steps={steps.tolist()}")
    n, count = sweeps.shape[:2]
    measured = measure_images(sweeps.reshape(n * count, *sweeps.shape[2:]))
    centred = steps - steps.mean()
    per_digit = {}
    for name, values in measured.items():
        values = values.reshape(n, count)
        slope = (values - values.mean(axis=1, keepdims=True)) @ centred / (centred @ centred)
        per_digit[name] = slope * (steps[-1] - steps[0])
    unchanged, first, last = sweeps[:, zero[0]], sweeps[:, 0], sweeps[:, -1]
    local, offsets = locality(unchanged, last)
    back, back_offsets = locality(unchanged, first)
    # the more local of the two halves of the range: a part may grow one way and not the other
    use_back = back > local
    local = np.where(use_back, back, local)
    offsets = np.where(use_back[:, None], back_offsets, offsets)
    ink = np.maximum(unchanged.sum(axis=(1, 2)), 1e-12)
    changed = np.abs(last - first).sum(axis=(1, 2)) / ink
    return {"changes": {name: float(values.mean()) for name, values in per_digit.items()},
            "per_digit": per_digit, "local": float(local.mean()),
            "offset": [float(value) for value in offsets.mean(axis=0)],
            "changed": float(changed.mean())}


def ink_moved(images: np.ndarray) -> dict[str, float]:
    """How far the ink moves, on average, per unit of each property: `{property: pixels}`.

    This puts every property on one scale: a change of slant or of height is worth the mean
    distance it moves the digit's ink. A shift moves all ink by its size (1 per pixel); a
    stroke widened by w moves each edge by w / 2; a height changed by h, with the ink
    stretched about its centre, moves ink at y pixels from the centre by y h / height, on
    average mean|y| / height per pixel (the width likewise, upright); a slant of k moves it
    by k |y|, mean|y| per unit. The mean is over `images` `(n, H, W)`, a class's digits.
    Total ink moves no ink and gets 0.
    """
    images = _images(images)
    props = measure_images(images)
    rows, columns = np.indices(images.shape[1:], dtype="float64")
    weights = images / np.maximum(props["ink"], 1e-12)[:, None, None]
    y = rows[None] - props["down"][:, None, None]
    x = columns[None] - props["across"][:, None, None] + props["slant"][:, None, None] * y
    reach_down = (weights * np.abs(y)).sum(axis=(1, 2))
    reach_across = (weights * np.abs(x)).sum(axis=(1, 2))
    return {"ink": 0.0, "stroke": 0.5,
            "height": float(np.mean(reach_down / np.maximum(props["height"], 1e-12))),
            "width": float(np.mean(reach_across / np.maximum(props["width"], 1e-12))),
            "across": 1.0, "down": 1.0, "slant": float(np.mean(reach_down))}


def name_dimension(changes: dict[str, float], moved: dict[str, float], local: float,
                   offset, changed: float) -> dict:
    """A name for what one dimension does, and how dominant that is.

    Args:
        changes: each property's change over the range (`measure_sweeps`).
        moved: how far each property's unit change moves the class's ink (`ink_moved`).
        local: the change's locality; offset: where, `(down, across)` from the ink's centre.
        changed: the share of the digit's ink that changes over the range.

    Returns:
        `{"name", "kind", "strength", "shares"}`: kind is a property's key, "local",
        "mixed" or "faint"; strength is the named property's share of the squared scaled
        changes (for a local change, its locality; for "faint", the share of ink changed);
        shares is every naming property's share. Scaled changes are in pixels the ink
        moves.
    """
    scaled = {key: changes[key] * moved[key] for key in NAMING}
    total = sum(value ** 2 for value in scaled.values())
    shares = {key: (value ** 2 / total if total > 0 else 0.0) for key, value in scaled.items()}
    ranked = sorted(shares, key=shares.get, reverse=True)
    if changed < FAINT:
        return {"name": "little change", "kind": "faint", "strength": round(changed, 4),
                "shares": shares}
    if local >= LOCAL:
        return {"name": f"a local part ({region(offset)})", "kind": "local",
                "strength": round(local, 4), "shares": shares}
    top, second = ranked[0], ranked[1]
    if shares[top] >= DOMINANT:
        return {"name": PROPERTIES[top][0], "kind": top, "strength": round(shares[top], 4),
                "shares": shares}
    return {"name": f"mixed: {PROPERTIES[top][0]}, {PROPERTIES[second][0]}", "kind": "mixed",
            "strength": round(shares[top], 4), "shares": shares}


# --- The decoder ----------------------------------------------------------------------


def sweep_images(lab, capsules: np.ndarray, digit: int, dimension: int,
                 steps=POSE_STEPS) -> np.ndarray:
    """The decoder's images as one dimension of each image's `digit` capsule moves.

    Args:
        lab: a `capsnet.inference.CapsuleLab`.
        capsules: DigitCaps vectors `(n, 10, 16)`.

    Returns:
        `(n, len(steps), 28, 28)`.
    """
    capsules = np.asarray(capsules, dtype="float32")
    steps = np.asarray(steps, dtype="float32")
    n, count = len(capsules), len(steps)
    moved = np.repeat(capsules[:, None], count, axis=1)  # (n, steps, 10, 16)
    moved[:, :, digit, dimension] += steps
    images = lab.reconstruct_batch(moved.reshape(n * count, *capsules.shape[1:]), digit)
    return images.reshape(n, count, *images.shape[1:])


def measure_class(lab, capsules: np.ndarray, digit: int, steps=POSE_STEPS) -> dict:
    """Every dimension of one class's capsules, measured and named.

    Args:
        capsules: DigitCaps vectors `(n, 10, 16)` of digits of class `digit` read correctly.

    Returns:
        `{"images", "ink_moved": {property: pixels per unit}, "dimensions": [16 entries]}`;
        each entry `{"dimension" (1-based), "name", "kind", "strength", "changes",
        "scaled", "shares", "local", "region", "changed"}`.
    """
    capsules = np.asarray(capsules, dtype="float32")
    unchanged = lab.reconstruct_batch(capsules, digit)
    moved = ink_moved(unchanged)
    entries = []
    for dimension in range(capsules.shape[-1]):
        measured = measure_sweeps(sweep_images(lab, capsules, digit, dimension, steps), steps)
        named = name_dimension(measured["changes"], moved, measured["local"],
                               measured["offset"], measured["changed"])
        entries.append({
            "dimension": dimension + 1, "name": named["name"], "kind": named["kind"],
            "strength": named["strength"],
            "changes": {key: round(value, 4) for key, value in measured["changes"].items()},
            "scaled": {key: round(measured["changes"][key] * moved[key], 4)
                       for key in PROPERTIES},
            "shares": {key: round(value, 4) for key, value in named["shares"].items()},
            "local": round(measured["local"], 4), "region": region(measured["offset"]),
            "changed": round(measured["changed"], 4),
        })
    return {"images": len(capsules), "ink_moved": {k: round(v, 4) for k, v in moved.items()},
            "dimensions": entries}


def correct_capsules(lab, images: np.ndarray, labels: np.ndarray,
                     per_class: int = IMAGES_PER_CLASS, batch: int = 100) -> dict[int, np.ndarray]:
    """The capsules `(k, 10, 16)` of up to `per_class` digits per class that the CapsNet reads
    correctly, the first in the order given."""
    images = np.asarray(images, dtype="float32")
    labels = np.asarray(labels).reshape(-1)
    chosen = {digit: [] for digit in range(NUM_CLASSES)}
    # read the first few of each class, then more where some were read wrong
    for start in range(0, len(images), batch):
        wanted = [i for i in range(start, min(start + batch, len(images)))
                  if len(chosen[int(labels[i])]) < per_class]
        if not wanted:
            if all(len(found) >= per_class for found in chosen.values()):
                break
            continue
        for i, analysis in zip(wanted, lab.analyze_batch(images[wanted]), strict=True):
            if analysis.capsnet_label == labels[i] and len(chosen[int(labels[i])]) < per_class:
                chosen[int(labels[i])].append(analysis.capsules)
    return {digit: np.stack(found) for digit, found in chosen.items() if found}


def measure(lab, images: np.ndarray, labels: np.ndarray, per_class: int = IMAGES_PER_CLASS,
            steps=POSE_STEPS, log=None) -> dict:
    """The report: every class's sixteen dimensions (`measure_class`), for `scripts/
    dimensions_report.py` to write and the page and `python -m capsnet dimensions` to read."""
    steps = np.asarray(steps, dtype="float64")
    report = {"steps": [round(float(step), 4) for step in steps], "per_class": per_class,
              "properties": {key: {"name": name, "unit": unit}
                             for key, (name, unit) in PROPERTIES.items()},
              "classes": {}}
    for digit, capsules in correct_capsules(lab, images, labels, per_class).items():
        report["classes"][str(digit)] = measure_class(lab, capsules, digit, steps)
        if log is not None:
            names = [entry["name"] for entry in report["classes"][str(digit)]["dimensions"]]
            log(f"{digit} ({len(capsules)} digits): " + "; ".join(names))
    return report


# --- The stored report ----------------------------------------------------------------


class ReportError(RuntimeError):
    """The dimensions report is unreadable or not in the expected layout."""


def load_report(path: str | os.PathLike | None = None) -> dict | None:
    """The dimensions report (by default the committed one), or None where there is none.

    Raises:
        ReportError: the file is there but unreadable or not a report.
    """
    return reports.load(REPORT_PATH if path is None else path, _check_report, ReportError,
                        "dimensions report")


def _check_report(report: dict) -> None:
    """Raises where anything the page or the command line reads is missing or mistyped."""
    classes = report["classes"]
    if not classes:
        raise ValueError("no classes")
    for key in PROPERTIES:
        str(report["properties"][key]["name"])
        str(report["properties"][key]["unit"])
    for digit, measured in classes.items():
        if not 0 <= int(digit) < NUM_CLASSES:
            raise ValueError(f"class {digit} is not a digit")
        int(measured["images"])
        for index, entry in enumerate(measured["dimensions"]):
            if int(entry["dimension"]) != index + 1:
                raise ValueError(f"class {digit}: dimension {entry['dimension']} out of order")
            for text in ("name", "kind", "region"):
                if not isinstance(entry[text], str):
                    raise TypeError(f"class {digit}, dimension {index + 1}: {text} is not text")
            for number in ("strength", "local", "changed"):
                float(entry[number])
            for key in PROPERTIES:
                float(entry["changes"][key])
                float(entry["scaled"][key])
            for key in NAMING:
                float(entry["shares"][key])


def describe(entry: dict) -> str:
    """One dimension's measured changes in words, for a hover or a caption."""
    units = {key: unit for key, (_, unit) in PROPERTIES.items()}
    labels = {"ink": "ink", "stroke": "stroke width", "height": "height", "width": "width",
              "across": "centre across", "down": "centre down", "slant": "slant"}
    changes = ", ".join(
        f"{labels[key]} {entry['changes'][key]:+.2f}"
        + (" px" if units[key] == "pixels" else "") for key in PROPERTIES)
    kind = entry["kind"]
    if kind == "local":
        how = f"local: {entry['local']:.2f} of the change in one part beyond its ink"
    elif kind == "faint":
        how = f"only {100 * entry['changed']:.0f}% of the ink changes"
    else:
        top = max(entry["shares"], key=entry["shares"].get)
        how = (f"{PROPERTIES[top][0]} makes {100 * entry['shares'][top]:.0f}% of the ink's "
               "movement")
    return f"From -0.25 to +0.25: {changes}; {how}."
