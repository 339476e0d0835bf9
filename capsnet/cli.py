"""The command line: read digits from image files, and time both models on this machine.

Examples:
    python -m capsnet predict drawing.png photo.jpg
    python -m capsnet benchmark --repeats 10

`predict` prints one JSON object per file and line. It exits with 0 when every file was
read, 1 when any file was not an image or held no digit (its line says why), and 2 when
the weights are missing or damaged.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from capsnet import checkpoints, quiet
from capsnet.images import ImageError, load_image
from capsnet.inference import Lab
from capsnet.preprocess import NotADigit, preprocess

EXIT_FILE_FAILED = 1  # a file was not an image or held no digit; the others were read
EXIT_NO_WEIGHTS = 2  # the weights are missing or damaged: nothing could be read
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet.import_keras()  # first, so that TensorFlow's start-up notes stay off stderr
    try:
        if args.command == "predict":
            return run_predict(args)
        return run_benchmark(args)
    except checkpoints.WeightsError as error:
        print("error: " + " ".join(str(error).split()), file=sys.stderr)
        return EXIT_NO_WEIGHTS
