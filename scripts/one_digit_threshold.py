"""Measure where the two-digit models' "one digit" calls should sit, for a set of weights.

The two-digit CapsNet answers with its two longest capsules and redraws each answer from its
own capsule; the page says it sees one digit where the second capsule is shorter than
`two_digits.ONE_DIGIT_LENGTH`, or where the second answer's redrawing covers less than
`ONE_DIGIT_INK` of the input's ink beyond what the first's covers (`two_digits.second_ink`).
The CNN sees one digit where its second sigmoid score is below `CNN_ONE_DIGIT_THRESHOLD`.

Each call is measured on single digits and on pairs of two sources: MNIST test digits alone
in the middle of the 36x36 canvas (as the page reads a gallery digit) and the fixed MNIST
test pairs; and drawn digits alone and drawn pairs, both read from the canvas as the page
reads a drawing (the drawn-digit yardstick's drawings of the medium and large bands, and
`drawn.drawn_pair`). For each threshold it prints, as Markdown tables, how many single
digits a call calls one digit and how many pairs it calls two, then the threshold that calls
the most single digits one digit while still calling at least `PAIRS_KEPT` of the pairs of
each source two; for the CapsNet, also the best pair of length and ink thresholds. Run from
the project's root:

    python scripts/one_digit_threshold.py --data path/to/mnist.npz
    python scripts/one_digit_threshold.py --data mnist.npz --count 2000 --drawn 1000

Costs both models on 2 x `--count` images and on 2 x `--drawn` drawings (remade, about 0.1 s
each): about ten minutes on two CPU cores for the defaults.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from capsnet import checkpoints, drawn, quiet  # noqa: E402
from capsnet.data import DATA_HELP, load_test  # noqa: E402
from capsnet.multimnist import place, test_pairs  # noqa: E402
from capsnet.preprocess import NotADigit, preprocess_pair  # noqa: E402
from capsnet.two_digits import (  # noqa: E402
    CNN_ONE_DIGIT_THRESHOLD,
    ONE_DIGIT_INK,
    ONE_DIGIT_LENGTH,
    one_digit_calls,
    second_scores,
)

INKS = np.round(np.arange(0.06, 0.301, 0.02), 2)  # thresholds on the ink only the second covers
SCORES = np.round(np.arange(0.1, 0.91, 0.05), 2)  # thresholds on a capsule length or a score
LENGTH_FLOORS = (0.0, 0.2, 0.25, 0.3, 0.35, 0.4)  # the CapsNet's length thresholds, with INKS


def capsnet_scores(read: dict, min_length: float) -> np.ndarray:
    """The CapsNet's `second_ink`, as -1 (below every threshold: one digit) where the second
    capsule is shorter than `min_length`."""
    return np.where(read["capsnet_length"] < min_length, -1.0, read["capsnet_ink"])


CALLS = {  # what each call reads from `second_scores`, the thresholds tried, the one in use
    "capsnet": (f"CapsNet (in use): second capsule shorter than {ONE_DIGIT_LENGTH:g}, or ink "
                "only the second redrawing covers under the threshold",
                lambda read: capsnet_scores(read, ONE_DIGIT_LENGTH), INKS, ONE_DIGIT_INK),
    "capsnet_ink": ("CapsNet: ink only the second redrawing covers, alone",
                    lambda read: read["capsnet_ink"], INKS, None),
    "capsnet_length": ("CapsNet: second capsule length, alone",
                       lambda read: read["capsnet_length"], SCORES, None),
    "cnn": ("CNN: second sigmoid score", lambda read: read["cnn"], SCORES,
            CNN_ONE_DIGIT_THRESHOLD),
}
PAIRS_KEPT = 0.97  # the share of the pairs of each source a threshold must still call two
BATCH = 100  # images per call


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help=DATA_HELP)
    parser.add_argument("--weights", type=Path, default=None, help=checkpoints.WEIGHTS_HELP)
    parser.add_argument("--count", type=int, default=2000,
                        help="single MNIST test digits, and MNIST test pairs, measured "
                             "(default: 2000)")
    parser.add_argument("--drawn", type=int, default=500,
                        help="drawn single digits, and drawn pairs, measured (default: 500; "
                             "0 measures MNIST only)")
    parser.add_argument("--yardstick", type=Path, default=drawn.DRAWN_PATH,
                        help="the drawn-digit yardstick (default: the committed "
                             "capsnet/assets/drawn.npz)")
    return parser.parse_args(argv)


def drawn_sets(yardstick: drawn.Yardstick, count: int) -> dict[str, np.ndarray]:
    """`count` drawn digits alone and `count` drawn pairs, as the page reads them from the
    canvas: `{"single": (n, 36, 36), "pair": (m, 36, 36)}` (drawings that preprocessing
    refuses are left out). The digits alone are drawings of the pairs' size bands, chosen
    with the yardstick's seed."""
    rng = np.random.default_rng(yardstick.seed)
    candidates = np.flatnonzero(np.isin(yardstick.bands, drawn.PAIR_BANDS))
    chosen = rng.choice(candidates, min(count, len(candidates)), replace=False)
    canvases = {"single": (drawn.drawing(int(i), yardstick.seed).canvas for i in chosen),
                "pair": (drawn.drawn_pair(i, yardstick).canvas for i in range(count))}
    sets = {}
    for kind, made in canvases.items():
        images = []
        for canvas in made:
            try:
                images.append(preprocess_pair(canvas, ink="light").image)
            except NotADigit:
                continue
        sets[kind] = np.stack(images)
    return sets


def table(rows: list[dict], singles: int, pairs: int, in_use: float | None) -> str:
    lines = ["| threshold | single digits called one | pairs called two | both right |",
             "|---|---|---|---|"]
    for row in rows:
        mark = " (in use)" if in_use is not None and np.isclose(row["threshold"], in_use) else ""
        lines.append(f"| {row['threshold']:g}{mark} | {row['singles_right']} "
                     f"({row['singles_right'] / singles:.1%}) | {row['pairs_right']} "
                     f"({row['pairs_right'] / pairs:.1%}) | "
                     f"{row['right'] / (singles + pairs):.1%} |")
    return "\n".join(lines)


def best(rows_by_source: dict[str, list[dict]],
         sizes: dict[str, tuple[int, int]]) -> tuple[float, float] | None:
    """`(share of single digits called one digit, summed over the sources, threshold)` of the
    threshold that calls the most of them one digit while calling at least `PAIRS_KEPT` of
    each source's pairs two; None where no threshold keeps that many pairs."""
    thresholds = [row["threshold"] for row in next(iter(rows_by_source.values()))]
    kept = []
    for k, threshold in enumerate(thresholds):
        rows = {source: rows[k] for source, rows in rows_by_source.items()}
        if all(rows[source]["pairs_right"] >= PAIRS_KEPT * sizes[source][1] for source in rows):
            caught = sum(rows[source]["singles_right"] / sizes[source][0] for source in rows)
            kept.append((caught, threshold))
    return max(kept) if kept else None


def said(found: tuple[float, float] | None, what: str = "") -> str:
    if found is None:
        return f"no threshold calls {PAIRS_KEPT:.0%} of the pairs of every source two"
    return (f"{what}{found[1]:g} (the most single digits called one digit with at least "
            f"{PAIRS_KEPT:.0%} of each source's pairs called two)")


def calls(scores: dict, score, thresholds) -> dict[str, list[dict]]:
    """`one_digit_calls` of each source for the score `score(read)`."""
    return {source: one_digit_calls(score(read["single"]), score(read["pair"]), thresholds)
            for source, read in scores.items()}


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.count <= 0 or args.drawn < 0:
        raise SystemExit(f"--count must be positive and --drawn not negative. Received: "
                         f"--count {args.count} --drawn {args.drawn}")
    quiet.import_keras()
    from capsnet.two_digits import TwoDigitLab

    try:
        lab = TwoDigitLab.load(args.weights)
        yardstick = drawn.load(args.yardstick) if args.drawn else None
    except (checkpoints.WeightsError, drawn.YardstickError) as error:
        print(error, file=sys.stderr)
        return 1
    test = load_test(args.data)
    count = min(args.count, len(test))
    sources = {"MNIST": {"single": np.stack([place(test.images[i]) for i in range(count)]),
                         "pair": test_pairs(test).head(count).images}}
    if yardstick is not None:
        sources["drawn"] = drawn_sets(yardstick, args.drawn)
    scores = {source: {kind: second_scores(lab, images, BATCH) for kind, images in sets.items()}
              for source, sets in sources.items()}
    sizes = {source: (len(sets["single"]), len(sets["pair"])) for source, sets in sources.items()}
    for title, score, thresholds, in_use in CALLS.values():
        rows_by_source = calls(scores, score, thresholds)
        for source, rows in rows_by_source.items():
            singles, pairs = sizes[source]
            print(f"\n{title}; {source}: {singles} single digits, {pairs} pairs\n")
            print(table(rows, singles, pairs, in_use))
        print(f"\n{title}: best {said(best(rows_by_source, sizes))}")
    found = []  # (singles called one, ink threshold, length threshold)
    for floor in LENGTH_FLOORS:
        rows_by_source = calls(scores, lambda read, floor=floor: capsnet_scores(read, floor),
                               INKS)
        if (chosen := best(rows_by_source, sizes)) is not None:
            found.append((*chosen, floor))
    if found:
        caught, ink, floor = max(found)
        print(f"\nCapsNet, length and ink together: best {said((caught, ink), 'ink ')}, "
              f"with a second capsule shorter than {floor:g} called one digit too")
    else:
        print(f"\nCapsNet, length and ink together: best {said(None)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
