"""Summaries of routing by agreement, from the coupling coefficients of every iteration.

`Analysis.couplings` holds `c_ij` (Eq. 3) for each routing iteration: `(routings, 1152, 10)`,
primary capsule i to digit capsule j. The primary capsules lie on PrimaryCaps' 6x6 grid with
32 capsule types at each position, and their index is `(row * 6 + column) * 32 + type`
(`capsnet.layers.PrimaryCapsules`). These functions reshape and reduce that array with numpy
alone; they know nothing of models or of the page.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from capsnet import reports
from capsnet.config import NUM_CLASSES, CapsNetConfig

GRID = CapsNetConfig().primary_grid  # 6: positions per side of PrimaryCaps' grid
TYPES = CapsNetConfig().primary_types  # 32 capsule types at each position
REDUCTIONS = ("mean", "max")  # over the 32 types at a position
ITERATIONS = (1, 2, 3, 4, 5)  # routing counts the page offers: 1 is no routing (uniform
# couplings), 3 the paper's and the shipped model's
REPORT_PATH = Path(__file__).parent / "assets" / "routing.json"
MEASURES = ("accuracy", "winning_length", "last_entropy", "reconstruction_error")


def _check(couplings: np.ndarray) -> np.ndarray:
    couplings = np.asarray(couplings, dtype="float64")
    if couplings.ndim != 3 or couplings.shape[1:] != (GRID * GRID * TYPES, NUM_CLASSES):
        raise ValueError(
            f"couplings must have shape (routings, {GRID * GRID * TYPES}, {NUM_CLASSES}). "
            f"Received: couplings.shape={couplings.shape}"
        )
    return couplings


def _check_digit(digit: int) -> int:
    if not 0 <= int(digit) < NUM_CLASSES:
        raise ValueError(f"digit must be in [0, {NUM_CLASSES}). Received: digit={digit}")
    return int(digit)


def on_grid(couplings: np.ndarray, digit: int) -> np.ndarray:
    """The coupling of every primary capsule to one digit capsule, laid out on the grid.

    Returns:
        `(routings, 6, 6, 32)`: `[t, row, column, type]` is `c_ij` at iteration t + 1.
    """
    couplings = _check(couplings)
    # (routings, 1152) -> (routings, 6, 6, 32): the index is (row * 6 + column) * 32 + type
    return couplings[:, :, _check_digit(digit)].reshape(-1, GRID, GRID, TYPES)


def position_maps(couplings: np.ndarray, digit: int, reduce: str = "mean") -> np.ndarray:
    """The coupling to one digit capsule at each grid position, over the 32 types.

    Args:
        reduce: "mean" (the share of the position's votes that go to the digit) or "max"
            (the most any one type there sends).

    Returns:
        `(routings, 6, 6)`.
    """
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}. Received: reduce={reduce!r}")
    grid = on_grid(couplings, digit)  # (routings, 6, 6, 32)
    return grid.mean(axis=-1) if reduce == "mean" else grid.max(axis=-1)


def type_profile(couplings: np.ndarray, digit: int) -> np.ndarray:
    """The coupling to one digit capsule of each capsule type, averaged over the 36 positions.

    Returns:
        `(routings, 32)`.
    """
    return on_grid(couplings, digit).mean(axis=(1, 2))


def mean_coupling(couplings: np.ndarray, digit: int) -> np.ndarray:
    """The mean coupling of all primary capsules to one digit capsule: `(routings,)`.

    1/10 at the first iteration; it grows as routing sends more votes to that digit.
    """
    return _check(couplings)[:, :, _check_digit(digit)].mean(axis=1)


def mean_entropy(couplings: np.ndarray) -> np.ndarray:
    """Mean entropy, in bits, of each primary capsule's ten couplings: `(routings,)`.

    log2(10) = 3.32 bits when every capsule splits its vote evenly (the first iteration);
    0 when each sends all of it to one digit capsule.
    """
    return _entropy_bits(_check(couplings)).mean(axis=-1)


def _entropy_bits(couplings: np.ndarray) -> np.ndarray:
    """Entropy in bits over the last axis (0 log 0 = 0: a zero coupling adds nothing)."""
    couplings = np.asarray(couplings, dtype="float64")
    terms = np.where(couplings > 0, couplings * np.log2(np.where(couplings > 0, couplings, 1)),
                     0.0)
    return -terms.sum(axis=-1)


def summarise(outputs: dict, images: np.ndarray, labels: np.ndarray) -> dict:
    """Sums over a batch of CapsNet outputs, for `finish`: right answers, the winning
    capsule's length, the last iteration's mean coupling entropy, the reconstruction error.

    Args:
        outputs: the CapsNet model's outputs for the batch (`lengths`, `reconstruction`,
            `couplings` of shape `(n, routings, 1152, 10)`).
        images: the batch, `(n, 28, 28)` or `(n, 28, 28, 1)`, in [0, 1].
        labels: the true digits, `(n,)`.
    """
    lengths = np.asarray(outputs["lengths"])
    images = np.asarray(images, "float32").reshape(len(lengths), -1)
    reconstructions = np.asarray(outputs["reconstruction"]).reshape(len(lengths), -1)
    last = np.asarray(outputs["couplings"])[:, -1]  # (n, 1152, 10)
    return {
        "images": len(lengths),
        "accuracy": int((lengths.argmax(axis=-1) == np.asarray(labels)).sum()),
        "winning_length": float(lengths.max(axis=-1).sum()),
        "last_entropy": float(_entropy_bits(last).mean(axis=-1).sum()),
        "reconstruction_error": float(np.square(images - reconstructions).mean(axis=-1).sum()),
    }


def finish(sums: list[dict]) -> dict:
    """Means over all batches from `summarise`: `{"images", "accuracy", ...}`."""
    images = sum(batch["images"] for batch in sums)
    return {"images": images, **{name: round(sum(batch[name] for batch in sums) / images, 6)
                                 for name in MEASURES}}


class ReportError(RuntimeError):
    """The routing report is unreadable or not in the expected layout."""


def load_report(path: str | os.PathLike | None = None) -> dict | None:
    """The routing-iterations report (by default the committed one), or None where there is
    none.

    Raises:
        ReportError: the file is there but unreadable or not a report.
    """
    return reports.load(REPORT_PATH if path is None else path, _check_report, ReportError,
                        "routing report")


def _check_report(report: dict) -> None:
    for data_set in report["sets"].values():
        for row in data_set["rows"]:
            int(row["routings"])
            for name in MEASURES:
                float(row[name])
