"""Measure where the two-digit models' "one digit" call should sit, for a set of weights.

The two-digit CapsNet answers with its two longest capsules; the page says it sees one digit
where the second is shorter than `two_digits.ONE_DIGIT_THRESHOLD` (the CNN: where its second
sigmoid score is below `CNN_ONE_DIGIT_THRESHOLD`). This runs both models on MNIST test digits
alone, each in the middle of the 36x36 canvas (as the page reads a gallery digit), and on the
fixed test pairs, and prints, for each threshold, how many single digits it calls one digit
and how many pairs it calls two, as a Markdown table, then the threshold that calls the most
of both right. Run from the project's root:

    python scripts/one_digit_threshold.py --data path/to/mnist.npz
    python scripts/one_digit_threshold.py --data mnist.npz --count 2000 --weights runs/mm

Costs both models on 2 x `--count` images: a few minutes on two CPU cores for 10,000.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from capsnet import checkpoints, quiet  # noqa: E402
from capsnet.data import DATA_HELP, load_test  # noqa: E402
from capsnet.multimnist import place, test_pairs  # noqa: E402
from capsnet.two_digits import (  # noqa: E402
    CNN_ONE_DIGIT_THRESHOLD,
    ONE_DIGIT_THRESHOLD,
    one_digit_calls,
    second_scores,
)

THRESHOLDS = np.round(np.arange(0.1, 0.91, 0.05), 2)
BATCH = 100  # images per call


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help=DATA_HELP)
    parser.add_argument("--weights", type=Path, default=None, help=checkpoints.WEIGHTS_HELP)
    parser.add_argument("--count", type=int, default=10_000,
                        help="single test digits, and test pairs, measured (default: 10000)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    quiet.import_keras()
    from capsnet.two_digits import TwoDigitLab

    lab = TwoDigitLab.load(args.weights)
    test = load_test(args.data)
    count = min(args.count, len(test))
    singles = np.stack([place(test.images[i]) for i in range(count)])
    pairs = test_pairs(test).head(count).images
    seconds = {kind: second_scores(lab, images, BATCH)
               for kind, images in (("single", singles), ("pair", pairs))}
    for model, default in (("capsnet", ONE_DIGIT_THRESHOLD), ("cnn", CNN_ONE_DIGIT_THRESHOLD)):
        rows = one_digit_calls(seconds["single"][model], seconds["pair"][model], THRESHOLDS)
        print(f"\n{model}: second capsule length (CNN: second score) against the threshold; "
              f"{count} single digits, {count} pairs\n")
        print("| threshold | single digits called one | pairs called two | both right |")
        print("|---|---|---|---|")
        for row in rows:
            mark = " (in use)" if np.isclose(row["threshold"], default) else ""
            print(f"| {row['threshold']:.2f}{mark} | {row['singles_right']} "
                  f"({row['singles_right'] / count:.1%}) | {row['pairs_right']} "
                  f"({row['pairs_right'] / count:.1%}) | {row['right'] / (2 * count):.1%} |")
        best = max(rows, key=lambda row: row["right"])
        print(f"\nbest: {best['threshold']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
