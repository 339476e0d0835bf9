"""Measure and name what each of the sixteen pose dimensions does, per class, for the shipped
CapsNet.

For each class, the first test digits of that class the CapsNet reads correctly (100 by
default) have each dimension of their winning capsule moved over Figure 4's range (-0.25 to
+0.25); the decoder's reconstructions are measured (ink, stroke width, height, width, centre
across and down, slant, and how local the change is) and each dimension named by what
dominates it (`capsnet/dimensions.py`). The report goes to capsnet/assets/dimensions.json with
the SHA-256 of the weights it was measured with; the page names its pose sliders from it and
`python -m capsnet dimensions` prints it. Run from the project's root:

    python scripts/dimensions_report.py --data path/to/mnist.npz

Without the full MNIST file (no --data, no $CAPSNET_MNIST) the committed sample's digits are
used instead (about 30 per class). `--per-class N` and `--out` for a quick look elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from capsnet import checkpoints, dimensions  # noqa: E402
from capsnet.data import DATA_ENV, DATA_HELP, load_test  # noqa: E402
from capsnet.samples import load_sample  # noqa: E402


def test_digits(data: Path | None) -> tuple[str, object, object]:
    """`(source, images (n, 28, 28) in [0, 1], labels)`: the full test set where there is
    one, else the committed sample."""
    if data is not None or os.environ.get(DATA_ENV):
        test = load_test(data)
        return "MNIST test set", test.images[..., 0], test.labels
    sample = load_sample()
    return "committed sample", sample.images.astype("float32") / 255.0, sample.labels


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help=DATA_HELP)
    parser.add_argument("--weights", type=Path, default=None, help=checkpoints.WEIGHTS_HELP)
    parser.add_argument("--per-class", type=int, default=dimensions.IMAGES_PER_CLASS,
                        help="correctly read test digits per class (default: "
                             f"{dimensions.IMAGES_PER_CLASS}; fewer needs --out)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"output file (default: {dimensions.REPORT_PATH})")
    args = parser.parse_args(argv)
    if args.per_class < 1:
        parser.error(f"--per-class must be positive. Received: {args.per_class}")
    if args.per_class < dimensions.IMAGES_PER_CLASS and args.out is None:
        parser.error("--per-class below the default measures less: give --out, so that the "
                     "committed report is not overwritten")
    out = args.out or dimensions.REPORT_PATH

    from capsnet.inference import Lab
    from capsnet.training import describe_device

    source, images, labels = test_digits(args.data)
    try:
        lab = Lab.load(args.weights)
    except checkpoints.WeightsError as error:
        sys.exit(f"error: {error}")
    started = time.perf_counter()
    report = dimensions.measure(lab, images, labels, args.per_class,
                                log=lambda line: print(line, file=sys.stderr, flush=True))
    report["source"] = source
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["device"] = describe_device()
    report["weights_sha256"] = lab.metrics.get("capsnet", {}).get("weights_sha256") or \
        checkpoints.sha256(checkpoints.paths("capsnet", args.weights)[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"{report['seconds']:.0f} s -> {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
