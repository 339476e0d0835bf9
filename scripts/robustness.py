"""Measure both models' accuracy on the MNIST test set under rotations and shifts.

Every test image is rotated by each of -45, -30, -15, 0, 15, 30 and 45 degrees (about its
centre of mass), and shifted by 2, 4 and 6 pixels in one of the eight directions, drawn at
random per image with a fixed seed (k pixels along each axis it moves on). Both models answer
each condition in batches. The report goes to capsnet/assets/robustness.json, with the
SHA-256 of the weights it was measured with, and the page plots it. Run from the project's
root:

    python scripts/robustness.py --data path/to/mnist.npz

The full test set is 100,000 images through each model: tens of minutes on a two-core CPU.
`--limit N` measures the first N test images only, for a quick look; it must then write
elsewhere (`--out`), so the committed report always covers the whole test set.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from capsnet import checkpoints, robustness  # noqa: E402
from capsnet.data import DATA_HELP, load_arrays, to_model_input  # noqa: E402
from capsnet.training import describe_device, scores  # noqa: E402


def classifier(name: str, model):
    """Answers of one model for images `(n, 28, 28)` in [0, 1]."""
    return lambda images: scores(name, model, images[..., None], len(images)).argmax(axis=-1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None,
                        help=DATA_HELP)
    parser.add_argument("--weights", type=Path, default=None,
                        help=checkpoints.WEIGHTS_HELP)
    parser.add_argument("--limit", type=int, default=None,
                        help="measure only the first N test images (needs --out)")
    parser.add_argument("--seed", type=int, default=robustness.SEED,
                        help=f"seed of the shift directions (default: {robustness.SEED})")
    parser.add_argument("--batch", type=int, default=robustness.BATCH,
                        help=f"images per model call (default: {robustness.BATCH})")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"output file (default: {robustness.REPORT_PATH})")
    args = parser.parse_args()
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit must be a positive number of images. Received: {args.limit}")
    if args.limit is not None and args.out is None:
        parser.error("--limit measures part of the test set: give --out, so that the "
                     "report of the whole test set is not overwritten")
    out = args.out or robustness.REPORT_PATH

    _, _, x_test, y_test = load_arrays(args.data)
    if args.limit is not None:
        x_test, y_test = x_test[:args.limit], y_test[:args.limit]
    classifiers, sha256s = {}, {}
    try:
        for name in checkpoints.MODEL_NAMES:
            built, _ = checkpoints.load(name, args.weights)
            classifiers[name] = classifier(name, built.model)
            sha256s[name] = checkpoints.sha256(checkpoints.paths(name, args.weights)[0])
    except checkpoints.WeightsError as error:
        sys.exit(f"error: {error}")

    started = time.perf_counter()
    report = robustness.measure(to_model_input(x_test)[..., 0], y_test, classifiers,
                                seed=args.seed, batch=args.batch,
                                log=lambda line: print(line, file=sys.stderr, flush=True))
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["device"] = describe_device()
    report["weights_sha256"] = sha256s
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{len(x_test)} test images, {report['seconds']:.0f} s -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
