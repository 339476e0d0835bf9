"""Calibrate the CapsNet's "this does not look like a digit" signal for a set of weights.

Runs the CapsNet on MNIST's test digits and on generated non-digits (`capsnet.nondigits`:
scribbles, random strokes, noise blobs, letters, drawn on a canvas like the page's and
preprocessed like a drawing), and chooses the two thresholds of `capsnet.novelty` (shortest
longest capsule, largest reconstruction error) that catch the most non-digits while at most
`--max-false-alarm` of the test digits set the signal off. One seeded set of non-digits
chooses the thresholds; a second, drawn with the next seed, measures the detection rate.

Writes `novelty.json` beside the weights (or to `--out`) with the thresholds, the SHA-256 of
the CapsNet weights they hold for, the false-alarm rate on the test digits and the detection
rate on the non-digits, and prints the same record. Run from the project's root:

    python scripts/calibrate_novelty.py --data path/to/mnist.npz
    python scripts/calibrate_novelty.py --data mnist.npz --limit 1000 --out novelty-trial.json

The full run costs CapsNet inference on 12,000 images: several minutes on two CPU cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from capsnet import checkpoints, nondigits, novelty  # noqa: E402
from capsnet.data import DATA_HELP, load_arrays  # noqa: E402
from capsnet.inference import Lab  # noqa: E402

MAX_FALSE_ALARM = 0.01  # at most 1 in 100 real digits may be called "not a digit"
NON_DIGITS = 1000  # generated non-digits in each of the two sets, 250 of each kind
BATCH = 100  # images per CapsNet call: bounds memory (couplings are 138 kB per image)


def measure(lab: Lab, images: np.ndarray, batch: int = BATCH) -> tuple[np.ndarray, np.ndarray]:
    """Longest-capsule lengths and reconstruction errors of float `(n, 28, 28)` inputs."""
    lengths, errors = [], []
    for start in range(0, len(images), batch):
        for analysis in lab.analyze_batch(images[start:start + batch]):
            length, error = novelty.measure(analysis)
            lengths.append(length)
            errors.append(error)
    return np.array(lengths), np.array(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None,
                        help=DATA_HELP)
    parser.add_argument("--weights", type=Path, default=None,
                        help=checkpoints.WEIGHTS_HELP)
    parser.add_argument("--limit", type=int, default=None,
                        help="use only the first N test digits, for a quick trial "
                             "(default: all 10,000)")
    parser.add_argument("--non-digits", type=int, default=NON_DIGITS,
                        help=f"generated non-digits per set; two sets, one to choose the "
                             f"thresholds, one to measure them (default: {NON_DIGITS})")
    parser.add_argument("--max-false-alarm", type=float, default=MAX_FALSE_ALARM,
                        help="largest share of test digits that may set the signal off "
                             f"(default: {MAX_FALSE_ALARM})")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the non-digits that choose the thresholds; the next "
                             "seed draws those that measure them (default: 0)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON file to write (default: novelty.json in the weights folder)")
    args = parser.parse_args()
    if args.limit is not None and args.limit <= 0:
        parser.error(f"--limit must be positive. Received: {args.limit}")
    if args.non_digits <= 0:
        parser.error(f"--non-digits must be positive. Received: {args.non_digits}")

    started = time.perf_counter()
    try:
        lab = Lab.load(args.weights)
    except checkpoints.WeightsError as error:
        parser.exit(2, f"error: {error}\n")
    _, _, x_test, _ = load_arrays(args.data)
    digits = x_test[:args.limit].astype("float32") / 255.0

    # 1) The test digits as the models see them (MNIST is already 28x28 and centred).
    digit_lengths, digit_errors = measure(lab, digits)
    # 2) Two independent sets of non-digits, drawn and preprocessed like drawings.
    choose_images, _ = nondigits.model_inputs(args.non_digits, seed=args.seed)
    report_images, report_kinds = nondigits.model_inputs(args.non_digits, seed=args.seed + 1)
    choose_lengths, choose_errors = measure(lab, choose_images)
    report_lengths, report_errors = measure(lab, report_images)
    # 3) The thresholds, chosen on the first set; the rates, measured on the digits and the
    #    second set.
    min_length, max_error = novelty.choose_thresholds(
        digit_lengths, digit_errors, choose_lengths, choose_errors, args.max_false_alarm)
    false_alarms = novelty.fires(digit_lengths, digit_errors, min_length, max_error)
    detected = novelty.fires(report_lengths, report_errors, min_length, max_error)

    weights_path, _ = checkpoints.paths("capsnet", args.weights)
    thresholds = novelty.Thresholds(
        min_length=min_length, max_error=max_error,
        weights_sha256=checkpoints.sha256(weights_path),
        false_alarm_rate=round(float(false_alarms.mean()), 5),
        detection_rate=round(float(detected.mean()), 5),
    )
    record = {
        "test_digits": len(digits),
        "max_false_alarm": args.max_false_alarm,
        "detection_by_kind": {kind: round(float(detected[report_kinds == kind].mean()), 5)
                              for kind in nondigits.KINDS if np.any(report_kinds == kind)},
        "non_digits_choosing": len(choose_images),
        "non_digits_measuring": len(report_images),
        "seed": args.seed,
        "digit_length_median": round(float(np.median(digit_lengths)), 5),
        "digit_error_median": round(float(np.median(digit_errors)), 6),
        "non_digit_length_median": round(float(np.median(report_lengths)), 5),
        "non_digit_error_median": round(float(np.median(report_errors)), 6),
    }
    out = novelty.save_thresholds(thresholds, record,
                                  args.out or novelty.thresholds_path(args.weights))
    print(out.read_text(), end="")
    print(f"{out} written in {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
