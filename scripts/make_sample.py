"""Make the small committed sample of MNIST test digits used by the tests and the page.

It takes a seeded, class-balanced random draw of test digits ("random") and, when trained
weights are available, every test digit on which the CNN and the CapsNet disagree
("disagreement"). Run from the project's root:

    python scripts/make_sample.py --data path/to/mnist.npz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from capsnet import checkpoints  # noqa: E402
from capsnet.data import DATA_HELP, load_arrays  # noqa: E402
from capsnet.samples import SAMPLE_PATH  # noqa: E402

PER_CLASS = 30  # 300 random digits: enough to measure 99% accuracy to within about 1%


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None,
                        help=DATA_HELP)
    parser.add_argument("--weights", type=Path, default=None,
                        help="weights folder for finding disagreements (default: shipped)")
    parser.add_argument("--per-class", type=int, default=PER_CLASS,
                        help=f"random test digits per class (default: {PER_CLASS})")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--out", type=Path, default=SAMPLE_PATH,
                        help=f"output file (default: {SAMPLE_PATH})")
    args = parser.parse_args()

    _, _, x_test, y_test = load_arrays(args.data)
    rng = np.random.default_rng(args.seed)
    chosen = np.concatenate([
        rng.choice(np.flatnonzero(y_test == digit), args.per_class, replace=False)
        for digit in range(10)
    ])
    chosen.sort()
    kinds = ["random"] * len(chosen)

    try:
        from capsnet.data import to_model_input
        from capsnet.training import predict

        disagree = []
        images = to_model_input(x_test)
        predictions = {}
        for name in checkpoints.MODEL_NAMES:
            built, _ = checkpoints.load(name, args.weights)
            predictions[name] = predict(name, built.model, images)
        disagree = np.flatnonzero(predictions["cnn"] != predictions["capsnet"])
        print(f"{len(disagree)} test digits on which the models disagree", file=sys.stderr)
        chosen = np.concatenate([chosen, disagree])
        kinds += ["disagreement"] * len(disagree)
    except checkpoints.WeightsError as error:
        print(f"no disagreements added: {error}", file=sys.stderr)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, images=x_test[chosen], labels=y_test[chosen].astype("uint8"),
                        test_index=chosen.astype("int32"), kind=np.array(kinds))
    print(f"{len(chosen)} digits -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
