"""Does routing matter? The shipped CapsNet read with 1 to 5 routing iterations.

The same weights, trained with 3 iterations, read the full MNIST test set and the drawn-digit
yardstick with each count (1 is no routing: every primary capsule splits its vote evenly).
Per count: accuracy, the mean length of the winning capsule, the mean entropy of the last
iteration's couplings (3.32 bits is uniform) and the mean squared reconstruction error of the
winning capsule's reconstruction. The report goes to capsnet/assets/routing.json with the
SHA-256 of the weights it was measured with; the page and the README show it. Run from the
project's root:

    python scripts/routing_report.py --data path/to/mnist.npz

Five readings of 12,100 images: about ten minutes on a two-core CPU. `--limit N` reads the
first N images of each set only, and must then write elsewhere (`--out`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from capsnet import checkpoints, drawn, routing  # noqa: E402
from capsnet.data import DATA_HELP, load_test, to_model_input  # noqa: E402
from capsnet.training import EVAL_BATCH, describe_device  # noqa: E402


def measure(model, images, labels, batch: int = EVAL_BATCH) -> dict:
    """One routing count on one set: the means of `routing.summarise` over all batches."""
    sums = [routing.summarise(model.predict_on_batch(images[start:start + batch]),
                              images[start:start + batch], labels[start:start + batch])
            for start in range(0, len(images), batch)]
    return routing.finish(sums)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help=DATA_HELP)
    parser.add_argument("--weights", type=Path, default=None, help=checkpoints.WEIGHTS_HELP)
    parser.add_argument("--limit", type=int, default=None,
                        help="read only the first N images of each set (needs --out)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"output file (default: {routing.REPORT_PATH})")
    args = parser.parse_args(argv)
    if args.limit is not None and args.out is None:
        parser.error("--limit reads part of each set: give --out, so that the report of the "
                     "whole sets is not overwritten")
    out = args.out or routing.REPORT_PATH

    test = load_test(args.data)
    yardstick = drawn.load()
    sets = {"mnist_test": (test.images, test.labels),
            "drawn": (to_model_input(yardstick.images), yardstick.labels)}
    built, metrics = checkpoints.load("capsnet", args.weights)
    report = {"trained_routings": built.config.routings, "sets": {}}
    started = time.perf_counter()
    for name, (images, labels) in sets.items():
        images, labels = images[:args.limit], labels[:args.limit]
        rows = []
        for routings in routing.ITERATIONS:
            row = {"routings": routings, **measure(built.routed(routings), images, labels)}
            rows.append(row)
            print(json.dumps({name: row}), file=sys.stderr, flush=True)
        report["sets"][name] = {"images": len(labels), "rows": rows}
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["device"] = describe_device()
    report["weights_sha256"] = metrics.get("weights_sha256") or checkpoints.sha256(
        checkpoints.paths("capsnet", args.weights)[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{report['seconds']:.0f} s -> {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
