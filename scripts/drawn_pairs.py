"""Measure how the two-digit models read pairs of drawn digits, as visitors draw them.

The MultiMNIST test pairs are MNIST digits, written with a pen on paper; the page's visitors
draw two digits over each other on the canvas, with one pen, at about one size. This makes
such pairs from the drawn-digit yardstick's drawings (`capsnet.drawn.drawn_pair`: no MNIST
digit at all), reads each as the page does (`preprocess_pair`, then `TwoDigitLab`), and
prints, as a Markdown table, how many of them each model names both digits of, by size
band, beside its figure on the MNIST test pairs. Run from the project's root:

    python scripts/drawn_pairs.py
    python scripts/drawn_pairs.py --count 1000 --weights runs/mm
    python scripts/drawn_pairs.py --record        # into the metrics files, for the page
    python scripts/drawn_pairs.py --weights runs/mm --against capsnet/weights

`--against FOLDER` also reads the same pairs with the two-digit models in FOLDER and compares
each model with its namesake there, pair by pair: the pairs only these weights name both
digits of (wins), those only FOLDER's do (losses), and the exact McNemar p of that split.

Costs about 0.25 s a pair on two CPU cores (remaking two drawings and reading the pair).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from capsnet import checkpoints, drawn, paired, quiet  # noqa: E402
from capsnet.multimnist import both_named  # noqa: E402
from capsnet.paths import shown  # noqa: E402
from capsnet.preprocess import NotADigit, preprocess_pair  # noqa: E402

BATCH = 100  # pairs per call
MODELS = {"capsnet": "multimnist_capsnet", "cnn": "multimnist_cnn"}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=None, help=checkpoints.WEIGHTS_HELP)
    parser.add_argument("--count", type=int, default=500,
                        help="drawn pairs measured (default: 500)")
    parser.add_argument("--yardstick", type=Path, default=drawn.DRAWN_PATH,
                        help="the drawn-digit yardstick whose drawings are paired "
                             "(default: the committed capsnet/assets/drawn.npz)")
    parser.add_argument("--against", type=Path, default=None, metavar="FOLDER",
                        help="also compare each model, pair by pair, with the same model's "
                             "weights in FOLDER: wins, losses and the exact McNemar p")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    parser.add_argument("--record", action="store_true",
                        help="write each model's figure into its metrics file as "
                             "\"drawn_pairs\" (the page's two-digit mode quotes it)")
    return parser.parse_args(argv)


def read_pairs(lab, pairs: list[drawn.DrawnPair]) -> dict:
    """Each model's answers on the pairs that preprocessing accepts, and which it refused:
    `{"kept": (n,) indices, "refused": [indices], "capsnet": (n, 10) lengths,
    "cnn": (n, 10) scores, "one_digit": {model: (n,) its "one digit" calls}}`."""
    images, kept, refused = [], [], []
    for index, pair in enumerate(pairs):
        try:
            images.append(preprocess_pair(pair.canvas, ink="light").image)
            kept.append(index)
        except NotADigit:  # the page would say why and read nothing
            refused.append(index)
    lengths, scores, one_digit = [], [], {model: [] for model in MODELS}
    for start in range(0, len(images), BATCH):
        for analysis in lab.analyze_batch(np.stack(images[start:start + BATCH])):
            lengths.append(analysis.capsnet_lengths)
            scores.append(analysis.cnn_scores)
            one_digit["capsnet"].append(analysis.one_digit)
            one_digit["cnn"].append(analysis.cnn_one_digit)
    return {"kept": np.asarray(kept, int), "refused": refused, "capsnet": np.asarray(lengths),
            "cnn": np.asarray(scores),
            "one_digit": {model: np.asarray(calls, bool) for model, calls in one_digit.items()}}


def named(lab, pairs: list[drawn.DrawnPair]) -> tuple[dict, dict]:
    """`read_pairs`, and per model whether it names both digits of each pair kept."""
    read = read_pairs(lab, pairs)
    labels = np.asarray([pairs[i].labels for i in read["kept"]]).reshape(-1, 2)
    right = {model: both_named(labels, read[model]) if len(labels) else np.zeros(0, bool)
             for model in MODELS}
    return read, right


def report(lab, pairs: list[drawn.DrawnPair], against=None) -> dict:
    """Per model: both digits named, overall and per size band, its "one digit" calls, and
    the pairs the page names both digits of (named, and not called one digit), with the
    model's figure on the MNIST test pairs; with `against` (another `TwoDigitLab`), each
    model compared pair by pair with its namesake there (`paired.compare`)."""
    read, right = named(lab, pairs)
    other_right = named(against, pairs)[1] if against is not None else None
    bands = np.asarray([pairs[i].band for i in read["kept"]])
    figures = {"pairs": len(pairs), "refused": len(read["refused"])}
    for model, name in MODELS.items():
        mine = right[model]
        per_band = {band: {"right": int(mine[bands == band].sum()),
                           "count": int((bands == band).sum())} for band in drawn.PAIR_BANDS}
        figures[model] = {"right": int(mine.sum()), "count": int(mine.size),
                          "per_band": per_band,
                          "mnist_test_accuracy": lab.metrics[name].get("test_accuracy")}
        if other_right is not None:
            figures[model]["against"] = paired.compare(mine, other_right[model])
        if len(read["kept"]):
            one_digit = read["one_digit"][model]
            figures[model]["one_digit_calls"] = int(one_digit.sum())
            figures[model]["shown_right"] = int((mine & ~one_digit).sum())
    return figures


def share(right: int, count: int) -> str:
    return f"{right} of {count} ({right / count:.1%})" if count else "none"


def table(figures: dict) -> str:
    rows = [f"{figures['pairs']} drawn pairs, {figures['refused']} refused by preprocessing "
            "(the page would say why)", "",
            "| model | both digits named | "
            + " | ".join(f"{band} band" for band in drawn.PAIR_BANDS)
            + " | MNIST test pairs |",
            "|---|---|" + "---|" * len(drawn.PAIR_BANDS) + "---|"]
    for model in MODELS:
        entry = figures[model]
        bands = " | ".join(share(part["right"], part["count"])
                           for part in entry["per_band"].values())
        mnist = entry["mnist_test_accuracy"]
        rows.append(f"| {model} | {share(entry['right'], entry['count'])} | {bands} | "
                    f"{'–' if mnist is None else f'{mnist:.1%}'} |")
    for model in MODELS:
        if "against" in figures[model]:
            versus = figures[model]["against"]
            rows += ["", f"{model}: {versus['wins']} pairs named only with these weights, "
                         f"{versus['losses']} only with {figures['against']}'s "
                         f"({versus['test_errors']} missed there); exact McNemar p = "
                         f"{versus['mcnemar_p']:.3g}"]
    for model, label in (("capsnet", "CapsNet"), ("cnn", "CNN")):
        entry = figures[model]
        if "one_digit_calls" in entry:
            rows += ["", f"The {label} calls {entry['one_digit_calls']} of {entry['count']} "
                         f"pairs one digit; the page names both digits of "
                         f"{share(entry['shown_right'], entry['count'])}."]
    return "\n".join(rows)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.count <= 0:
        raise SystemExit(f"--count must be positive. Received: {args.count}")
    quiet.import_keras()
    from capsnet.two_digits import TwoDigitLab

    try:
        yardstick = drawn.load(args.yardstick)
        lab = TwoDigitLab.load(args.weights)
        against = TwoDigitLab.load(args.against) if args.against is not None else None
    except (drawn.YardstickError, checkpoints.WeightsError) as error:
        print(error, file=sys.stderr)
        return 1
    pairs = [drawn.drawn_pair(index, yardstick) for index in range(args.count)]
    figures = report(lab, pairs, against)
    if against is not None:
        figures["against"] = shown(args.against)
    print(json.dumps(figures) if args.json else table(figures))
    if args.record:
        for model, name in MODELS.items():
            entry = figures[model]
            checkpoints.update_metrics(name, {"drawn_pairs": {
                "accuracy": round(entry["right"] / entry["count"], 4) if entry["count"] else None,
                "shown_accuracy": (round(entry["shown_right"] / entry["count"], 4)
                                   if "shown_right" in entry else None),
                "count": entry["count"], "refused": figures["refused"],
                "yardstick_seed": yardstick.seed}}, args.weights)
    return 0


if __name__ == "__main__":
    sys.exit(main())
