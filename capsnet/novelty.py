"""The CapsNet's own "this does not look like a digit" signal.

A digit capsule's length is the CapsNet's estimate that its digit is present (Sabour et al.
2017, Section 2), and the decoder redraws the input from the longest capsule alone. An input
unlike any digit tends to leave every capsule short, or to come back from the decoder far from
itself. The signal fires when the longest capsule is shorter than `min_length`, or the mean
squared reconstruction error larger than `max_error`: two thresholds chosen on MNIST's test
digits by `scripts/calibrate_novelty.py`, so that few real digits set it off.

The thresholds hold for one set of weights only. They are stored beside the weights in
`novelty.json` with the SHA-256 of the CapsNet weights file they were calibrated for; for any
other weights `load_thresholds` gives None and there is no signal.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from capsnet import checkpoints
from capsnet.inference import Analysis

NOVELTY_FILE = "novelty.json"  # beside capsnet.weights.h5 and capsnet.json
REQUIRED = ("min_length", "max_error", "weights_sha256")


@dataclass(frozen=True)
class Thresholds:
    """When the signal fires, and how it did on the calibration sets.

    Attributes:
        min_length: a longest capsule shorter than this fires the signal.
        max_error: a reconstruction error (mean squared) above this fires the signal.
        weights_sha256: SHA-256 of the CapsNet weights file the thresholds were chosen for.
        false_alarm_rate: share of MNIST test digits that fire it, if recorded.
        detection_rate: share of generated non-digits that fire it, if recorded.
    """

    min_length: float
    max_error: float
    weights_sha256: str
    false_alarm_rate: float | None = None
    detection_rate: float | None = None


@dataclass(frozen=True)
class Novelty:
    """The signal for one input.

    Attributes:
        length: the longest capsule's length.
        error: the mean squared difference between the input and its reconstruction.
        short: the longest capsule is shorter than the threshold.
        unlike: the reconstruction error is above the threshold.
    """

    length: float
    error: float
    short: bool
    unlike: bool

    @property
    def fires(self) -> bool:
        return self.short or self.unlike


def measure(analysis: Analysis) -> tuple[float, float]:
    """`(longest capsule's length, reconstruction error)` of one analysis."""
    return float(np.max(analysis.capsnet_lengths)), analysis.reconstruction_error


def assess(analysis: Analysis, thresholds: Thresholds) -> Novelty:
    """The signal for one analysis under the given thresholds."""
    length, error = measure(analysis)
    return Novelty(length, error, short=length < thresholds.min_length,
                   unlike=error > thresholds.max_error)


def fires(lengths: np.ndarray, errors: np.ndarray, min_length: float,
          max_error: float) -> np.ndarray:
    """Whether the signal fires for each of many inputs (the rule of `assess`, vectorised)."""
    return (np.asarray(lengths) < min_length) | (np.asarray(errors) > max_error)


def choose_thresholds(digit_lengths: np.ndarray, digit_errors: np.ndarray,
                      other_lengths: np.ndarray, other_errors: np.ndarray,
                      max_false_alarm: float) -> tuple[float, float]:
    """The pair of thresholds that catches the most non-digits within a false-alarm budget.

    At most `floor(max_false_alarm * n)` of the n digits may fire. The budget is split
    between the two tests in every possible way: k digits may fall under the length threshold
    (set at the k-th shortest digit's length), the rest of the budget goes to the error
    threshold among the digits left. The split that fires for the most non-digits wins; ties
    go to the split that flags fewest digits by length.

    Args:
        digit_lengths, digit_errors: longest-capsule lengths and reconstruction errors of
            real digits, `(n,)` each.
        other_lengths, other_errors: the same for non-digits, `(m,)` each.
        max_false_alarm: the largest share of digits that may fire, in [0, 1).

    Returns:
        `(min_length, max_error)`.
    """
    if not 0.0 <= max_false_alarm < 1.0:
        raise ValueError("max_false_alarm must be in [0, 1). "
                         f"Received: max_false_alarm={max_false_alarm}")
    lengths = np.asarray(digit_lengths, dtype="float64")
    errors = np.asarray(digit_errors, dtype="float64")
    if lengths.size == 0 or lengths.shape != errors.shape:
        raise ValueError("digit_lengths and digit_errors must be non-empty and of one shape. "
                         f"Received: shapes {lengths.shape} and {errors.shape}")
    budget = int(np.floor(max_false_alarm * lengths.size))
    order = np.sort(lengths)
    best = None
    for k in range(min(budget, lengths.size - 1) + 1):
        # 1) Length: fire below the k-th shortest digit, so at most k digits fire by length.
        min_length = float(order[k])
        kept = errors[lengths >= min_length]
        # 2) Error: the rest of the budget, among the digits the length test let through.
        spare = budget - (lengths.size - kept.size)  # >= 0: ties only lower the length's share
        descending = np.sort(kept)[::-1]
        max_error = float(descending[min(spare, descending.size - 1)])
        caught = int(fires(other_lengths, other_errors, min_length, max_error).sum())
        if best is None or caught > best[0]:
            best = (caught, min_length, max_error)
    return best[1], best[2]


def thresholds_path(folder: str | os.PathLike | None = None) -> Path:
    """Where the thresholds of the weights in a folder are kept."""
    return checkpoints.weights_dir(folder) / NOVELTY_FILE


def load_thresholds(folder: str | os.PathLike | None = None) -> Thresholds | None:
    """The thresholds calibrated for the CapsNet weights in a folder, or None.

    None when there is no thresholds file, it cannot be read, or it was calibrated for other
    weights than the CapsNet weights file now in the folder: the signal is then skipped.
    """
    path = thresholds_path(folder)
    weights_path, _ = checkpoints.paths("capsnet", folder)
    try:
        record = json.loads(path.read_text())
        thresholds = Thresholds(
            min_length=float(record["min_length"]), max_error=float(record["max_error"]),
            weights_sha256=str(record["weights_sha256"]),
            false_alarm_rate=_optional_float(record.get("false_alarm_rate")),
            detection_rate=_optional_float(record.get("detection_rate")),
        )
        calibrated_for_these = checkpoints.sha256(weights_path) == thresholds.weights_sha256
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return thresholds if calibrated_for_these else None


def _optional_float(value) -> float | None:
    return None if value is None else float(value)


def save_thresholds(thresholds: Thresholds, record: dict,
                    path: str | os.PathLike) -> Path:
    """Writes the thresholds, with whatever else the calibration `record`s, as JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**asdict(thresholds), **record}, indent=2) + "\n")
    return path
