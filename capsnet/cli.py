"""The command line: read digits from image files, and time both models on this machine.

Examples:
    python -m capsnet predict drawing.png photo.jpg
    python -m capsnet benchmark --repeats 10
    python -m capsnet dimensions

`predict` prints one JSON object per file and line. It exits with 0 when every file was
read, 1 when any file was not an image or held no digit (its line says why), and 2 when
the weights are missing or damaged. `dimensions` prints the measured names of the sixteen
pose dimensions of each class (`capsnet/assets/dimensions.json`) as one JSON object; it exits
with 3 when that report is missing or unreadable.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from capsnet import checkpoints, dimensions, paths, quiet
from capsnet.images import ImageError, load_image
from capsnet.inference import Lab
from capsnet.preprocess import NotADigit, preprocess

EXIT_FILE_FAILED = 1  # a file was not an image or held no digit; the others were read
EXIT_NO_WEIGHTS = 2  # the weights are missing or damaged: nothing could be read
EXIT_NO_REPORT = 3  # the dimensions report is missing or unreadable
REPEATS = 5  # timed runs per benchmark measurement; the median is reported
TRAIN_STEPS = 3  # a CapsNet step on 100 images takes seconds on a laptop CPU, so few


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m capsnet", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    predict = commands.add_parser(
        "predict", help="read the digit in each image file with both models (JSON lines)")
    predict.add_argument("images", nargs="+", type=Path, metavar="IMAGE",
                         help="PNG, JPEG, GIF, BMP, WebP or TIFF file of one digit: a canvas "
                              "drawing (light ink on a clear or dark sheet) or a photo "
                              "(dark ink on light paper)")
    predict.add_argument("--weights", type=Path, default=None, help=checkpoints.WEIGHTS_HELP)

    benchmark = commands.add_parser(
        "benchmark", help="time training, inference and the page's steps (Markdown table)")
    benchmark.add_argument("--repeats", type=_positive, default=REPEATS,
                           help="timed runs per measurement after a warm-up run; the median "
                                f"is reported (default: {REPEATS})")
    benchmark.add_argument("--train-steps", type=_positive, default=TRAIN_STEPS,
                           help="timed training steps of 100 images per model after a "
                                f"warm-up step (default: {TRAIN_STEPS})")
    benchmark.add_argument("--weights", type=Path, default=None,
                           help=checkpoints.WEIGHTS_HELP + "; freshly built models are timed when "
                                "there are none")

    named = commands.add_parser(
        "dimensions", help="what each of the 16 pose dimensions does, per class (JSON)")
    named.add_argument("--report", type=Path, default=None,
                       help="a report made by scripts/dimensions_report.py (default: "
                            "capsnet/assets/dimensions.json)")
    named.add_argument("--weights", type=Path, default=None, help=checkpoints.WEIGHTS_HELP +
                       "; the output says whether the report was measured with them")
    return parser.parse_args(argv)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {value}")
    return value


def read_digit(lab: Lab, path: Path) -> dict:
    """Both models' reading of one image file, as the JSON record that `predict` prints.

    Raises:
        ImageError: the file cannot be read or is not an image.
        NotADigit: the image holds nothing that could be a digit.
    """
    analysis = lab.analyze(preprocess(load_image(path)).image)
    return {
        "file": str(path),
        "cnn": {"label": analysis.cnn_label,
                "probabilities": [float(p) for p in analysis.cnn_probabilities]},
        "capsnet": {"label": analysis.capsnet_label,
                    "lengths": [float(v) for v in analysis.capsnet_lengths]},
    }


def run_predict(args: argparse.Namespace) -> int:
    lab = Lab.load(args.weights)
    failed = False
    for path in args.images:
        try:
            record = read_digit(lab, path)
        except (ImageError, NotADigit) as error:
            record = {"file": str(path), "error": str(error)}
            failed = True
        print(json.dumps(record), flush=True)
    return EXIT_FILE_FAILED if failed else 0


def run_benchmark(args: argparse.Namespace) -> int:
    from capsnet.benchmark import run  # the models' builders and trainers: benchmark only

    print(run(repeats=args.repeats, train_steps=args.train_steps, folder=args.weights))
    return 0


def dimensions_record(report: dict, weights_sha256: str | None) -> dict:
    """The dimensions report as `dimensions` prints it: one entry per class and dimension."""
    entries = [{"class": int(digit), "dimension": entry["dimension"], "name": entry["name"],
                "kind": entry["kind"], "strength": entry["strength"],
                "changes": entry["changes"], "ink_moved": entry["scaled"],
                "local": entry["local"], "region": entry["region"]}
               for digit, measured in sorted(report["classes"].items())
               for entry in measured["dimensions"]]
    return {"weights_sha256": report.get("weights_sha256"),
            "for_these_weights": report.get("weights_sha256") == weights_sha256,
            "source": report.get("source"), "per_class": report.get("per_class"),
            "properties": report.get("properties"), "dimensions": entries}


def run_dimensions(args: argparse.Namespace) -> int:
    shown = paths.shown(dimensions.REPORT_PATH if args.report is None else args.report)
    try:
        report = dimensions.load_report(args.report)
    except dimensions.ReportError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_NO_REPORT
    if report is None:
        print(f"error: there is no dimensions report at {shown}; measure it with "
              "`python scripts/dimensions_report.py --data path/to/mnist.npz`", file=sys.stderr)
        return EXIT_NO_REPORT
    metrics = checkpoints.read_metrics("capsnet", args.weights)
    digest = metrics.get("weights_sha256") or checkpoints.sha256(
        checkpoints.paths("capsnet", args.weights)[0])
    print(json.dumps(dimensions_record(report, digest), indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command != "dimensions":  # which reads a file and needs no model
        quiet.import_keras()  # first, so that TensorFlow's start-up notes stay off stderr
    try:
        if args.command == "predict":
            return run_predict(args)
        if args.command == "dimensions":
            return run_dimensions(args)
        return run_benchmark(args)
    except checkpoints.WeightsError as error:
        print("error: " + " ".join(str(error).split()), file=sys.stderr)
        return EXIT_NO_WEIGHTS
