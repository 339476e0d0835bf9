"""Accuracy of both models on MNIST test digits that are rotated or shifted.

`measure` applies each condition to every test image (with `capsnet.transforms`, the page's
own transforms), asks each model in batches, and returns a report that
`scripts/robustness.py` writes to `capsnet/assets/robustness.json` and the page plots.

Shifts move each image by k pixels along each axis it moves on, in one of the eight
directions (left, right, up, down and the four diagonals), drawn at random per image with a
fixed seed; every shift size uses the same directions, so the sizes differ in size alone.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from capsnet import reports, transforms

REPORT_PATH = Path(__file__).parent / "assets" / "robustness.json"
ROTATIONS = (-45, -30, -15, 0, 15, 30, 45)  # degrees; training saw none
SHIFTS = (0, 2, 4, 6)  # pixels; training saw up to 2 (the paper's augmentation)
DIRECTIONS = np.array([(dx, dy) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dx or dy])
# (8, 2): (x, y) steps of the eight directions, y down
BATCH = 100  # images per model call: the training batch, a few hundred MB for the CapsNet
SEED = 0

Classifier = Callable[[np.ndarray], np.ndarray]  # images (n, 28, 28) in [0, 1] -> labels (n,)


def shift_directions(count: int, seed: int = SEED) -> np.ndarray:
    """A direction for each of `count` images: `(count, 2)` steps `(x, y)`, each -1, 0 or 1."""
    return DIRECTIONS[np.random.default_rng(seed).integers(len(DIRECTIONS), size=count)]


def condition_images(images: np.ndarray, kind: str, amount: float,
                     directions: np.ndarray) -> np.ndarray:
    """Every image under one condition: `kind` "rotation" (degrees) or "shift" (pixels)."""
    if kind == "rotation":
        changes = [transforms.Transform(rotation=float(amount))] * len(images)
    elif kind == "shift":
        changes = [transforms.Transform(shift_x=float(amount * dx), shift_y=float(amount * dy))
                   for dx, dy in directions]
    else:
        raise ValueError(f"kind must be 'rotation' or 'shift'. Received: kind={kind!r}")
    if amount == 0:
        return np.asarray(images, dtype="float32")
    return np.stack([transforms.apply(image, change)
                     for image, change in zip(images, changes, strict=True)])


def accuracy(classify: Classifier, images: np.ndarray, labels: np.ndarray,
             batch: int = BATCH) -> float:
    """The share of `images` that `classify` labels right, asked `batch` images at a time."""
    right = 0
    for start in range(0, len(images), batch):
        answers = np.asarray(classify(images[start:start + batch])).reshape(-1)
        right += int((answers == labels[start:start + batch]).sum())
    return right / len(images)


def measure(images: np.ndarray, labels: np.ndarray, classifiers: dict[str, Classifier],
            rotations=ROTATIONS, shifts=SHIFTS, seed: int = SEED, batch: int = BATCH,
            log: Callable[[str], None] | None = None) -> dict:
    """Each model's accuracy under each rotation and each shift.

    Args:
        images: `(n, 28, 28)` grey levels in [0, 1] (uint8 is divided by 255).
        labels: `(n,)` true digits.
        classifiers: a function per model name from images to answers.
        rotations: angles in degrees; shifts: sizes in pixels.
        seed: draws the shift directions.
        log: called with one line per condition, for progress.

    Returns:
        `{"images", "seed", "rotation": {"degrees", "accuracy": {name: [...]}},
        "shift": {"pixels", "directions", "accuracy": {name: [...]}}}`.
    """
    images = np.asarray(images)
    if images.dtype == np.uint8:
        images = images.astype("float32") / 255.0
    labels = np.asarray(labels).reshape(-1)
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"images and labels must be as many, and some. Received: "
                         f"{len(images)} images, {len(labels)} labels")
    directions = shift_directions(len(images), seed)
    report = {"images": len(images), "seed": seed}
    unchanged = {}  # rotation 0 and shift 0 are the same images: measured once
    for kind, amounts, unit in (("rotation", rotations, "degrees"), ("shift", shifts, "pixels")):
        scores = {name: [] for name in classifiers}
        for amount in amounts:
            started = time.perf_counter()
            changed = condition_images(images, kind, amount, directions)
            for name, classify in classifiers.items():
                if amount != 0 or name not in unchanged:
                    result = round(accuracy(classify, changed, labels, batch), 6)
                    if amount == 0:
                        unchanged[name] = result
                scores[name].append(result if amount != 0 else unchanged[name])
            if log is not None:
                results = ", ".join(f"{name} {values[-1]:.4f}" for name, values in scores.items())
                log(f"{kind} {amount:+g} {unit}: {results} ({time.perf_counter() - started:.0f} s)")
        report[kind] = {unit: [_number(amount) for amount in amounts], "accuracy": scores}
    report["shift"]["directions"] = ("one of the 8 directions per image, at random (seed "
                                     f"{seed}); k pixels along each axis it moves on")
    return report


def _number(value) -> int | float:
    """A condition's amount for JSON: 15 rather than 15.0 where it is whole."""
    return int(value) if float(value).is_integer() else float(value)


class ReportError(RuntimeError):
    """The robustness report is unreadable or not in the expected layout."""


def load_report(path: str | os.PathLike | None = None) -> dict | None:
    """The report (by default the committed one), or None where there is none.

    Raises:
        ReportError: the file is there but unreadable or not a report.
    """
    return reports.load(REPORT_PATH if path is None else path, _check_report, ReportError,
                        "robustness report")


def _check_report(report: dict) -> None:
    for kind, unit in (("rotation", "degrees"), ("shift", "pixels")):
        amounts = report[kind][unit]
        for values in report[kind]["accuracy"].values():
            if len(values) != len(amounts):
                raise ValueError(f"{kind}: {len(values)} accuracies for {len(amounts)} "
                                 "conditions")


def stale_models(report: dict, sha256s: dict[str, str | None]) -> list[str]:
    """The models whose weights differ from those the report was computed for."""
    recorded = report.get("weights_sha256", {})
    return [name for name, digest in sha256s.items() if recorded.get(name) != digest]
