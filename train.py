"""Train and evaluate the CapsNet and the CNN baseline on MNIST, or on MultiMNIST pairs.

Examples:
    python train.py train --model both --data path/to/mnist.npz --out runs/main
    python train.py evaluate --data path/to/mnist.npz
    python train.py train --task multimnist --model both --data path/to/mnist.npz --out runs/mm
    python train.py evaluate --task multimnist --data path/to/mnist.npz --weights runs/mm

The same command trains on TensorFlow (CPU) and on JAX (GPU): set KERAS_BACKEND=jax.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from capsnet import checkpoints, drawn, quiet
from capsnet.config import (
    AUGMENTATIONS,
    PAIR_MAX_SHIFT,
    PRECISIONS,
    CapsNetConfig,
    TrainConfig,
)
from capsnet.data import DATA_HELP, DataError, load_mnist, load_test

DEFAULTS = TrainConfig()
TASKS = ("mnist", "multimnist")  # one digit, or two overlapping digits (Section 6)
SIGNIFICANCE = 0.05  # McNemar p below which `--against` calls a difference more than chance
TASK_HELP = ("'mnist': one digit per image; 'multimnist': two overlapping digits of different "
             "classes on a 36x36 canvas, the paper's Section 6 (default: mnist)")


def model_names(task: str, model: str) -> tuple[str, ...]:
    """The weights names of `--model` for a task: cnn, capsnet or both, the CNN first."""
    names = ("cnn", "capsnet") if model == "both" else (model,)
    return tuple(checkpoints.PAIR_PREFIX + name for name in names) if task == "multimnist" \
        else names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train one model or both")
    train.add_argument("--task", choices=TASKS, default="mnist", help=TASK_HELP)
    train.add_argument("--model", choices=("capsnet", "cnn", "both"), default="both",
                       help="which model to train (default: both)")
    train.add_argument("--data", type=Path, default=None, help=DATA_HELP)
    train.add_argument("--out", type=Path, default=Path("runs/latest"),
                       help="folder for <model>.weights.h5 and <model>.json "
                            "(default: runs/latest; the page reads capsnet/weights)")
    train.add_argument("--epochs", type=int, default=DEFAULTS.epochs,
                       help=f"training epochs (default: {DEFAULTS.epochs})")
    train.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size,
                       help=f"images per step (default: {DEFAULTS.batch_size})")
    train.add_argument("--lr", type=float, default=DEFAULTS.learning_rate,
                       help=f"initial Adam learning rate (default: {DEFAULTS.learning_rate})")
    train.add_argument("--lr-decay", type=float, default=DEFAULTS.lr_decay,
                       help="learning-rate factor of the exponential decay "
                            f"(default: {DEFAULTS.lr_decay})")
    train.add_argument("--lr-decay-every", type=int, default=None, metavar="EXAMPLES",
                       help="training examples between two decays (default: a pass over the "
                            "training digits; the paper's code: --lr-decay 0.96 "
                            "--lr-decay-every 256000, 2,000 steps of 128)")
    train.add_argument("--max-shift", type=int, default=None,
                       help="random shifts of up to this many pixels, the paper's augmentation; "
                            "for multimnist, each digit's shift in a pair "
                            f"(default: {DEFAULTS.max_shift}, multimnist {PAIR_MAX_SHIFT}; "
                            "0 turns it off)")
    train.add_argument("--augment", choices=AUGMENTATIONS, default=None,
                       help="'drawing': make digits look like canvas drawings (size, "
                            "proportions, elastic bends, stroke width, flat ink), then the "
                            "shifts (for multimnist, each digit before it is paired); "
                            "'shift': the paper's shifts alone "
                            f"(default: {DEFAULTS.augment}; multimnist: shift, as in the paper)")
    train.add_argument("--validation-size", type=int, default=DEFAULTS.validation_size,
                       help="training images held out to choose the best epoch "
                            f"(default: {DEFAULTS.validation_size})")
    train.add_argument("--limit", type=int, default=None,
                       help="train on only this many images (quick runs and tests)")
    train.add_argument("--routings", type=int, default=CapsNetConfig.routings,
                       help=f"CapsNet routing iterations (default: {CapsNetConfig.routings})")
    train.add_argument("--seed", type=int, default=DEFAULTS.seed,
                       help=f"random seed for weights, shifts and the split "
                            f"(default: {DEFAULTS.seed})")
    train.add_argument("--jit-compile", choices=("auto", "true", "false"), default="auto",
                       help="XLA compilation: 'auto' compiles on JAX and on GPUs and not on "
                            "a TensorFlow CPU, where XLA's convolution gradients are slow "
                            "(default: auto)")
    train.add_argument("--init", type=Path, default=None,
                       help="weights folder to continue training from, e.g. capsnet/weights "
                            "(default: a fresh initialisation)")
    train.add_argument("--warm-start", type=Path, default=None, metavar="FOLDER",
                       help="multimnist: take the first weights from the one-digit models in "
                            "this folder, e.g. capsnet/weights (layers copied, DigitCaps and "
                            "the decoder's output mapped to the larger canvas; default: a "
                            "fresh initialisation, as in the paper)")
    train.add_argument("--resume", action="store_true",
                       help="go on from the run already in --out: its best weights, its "
                            "learning-rate schedule, its count of examples seen and its best "
                            "validation score (a new run where --out holds none)")
    train.add_argument("--epoch-size", type=int, default=None,
                       help="examples per epoch, one log line and one validation each "
                            "(default: one pass over the training images); an epoch that "
                            "reaches the end of a pass ends there, and the learning rate "
                            "still decays once per pass")
    train.add_argument("--precision", choices=("auto", *PRECISIONS), default="float32",
                       help="'mixed_bfloat16' computes in bfloat16 with float32 weights, "
                            "faster only on CPUs with AVX-512 BF16 or AMX and on GPUs; "
                            "'auto' picks it where the CPU has them (default: float32)")
    train.add_argument("--ema", type=float, default=None, metavar="MOMENTUM",
                       help="validate and keep a moving average of the weights, updated "
                            "each step with this momentum, e.g. 0.998 (default: the weights "
                            "as trained)")
    train.add_argument("--freeze", nargs="+", default=(), metavar="LAYER",
                       help="layers to keep as they are, e.g. 'conv1 primary_caps' to train "
                            "only the CapsNet's DigitCaps and decoder, about twice as fast "
                            "on a CPU (default: every layer trains)")
    train.add_argument("--time-limit", type=float, default=None, metavar="MINUTES",
                       help="stop after the epoch that would otherwise end past this many "
                            "minutes (default: no limit)")
    train.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                       help="0 silent, 1 progress bar, 2 one line per epoch (default: 1)")

    evaluate = commands.add_parser(
        "evaluate", help="measure the shipped weights on the full test set (JSON to stdout)")
    evaluate.add_argument("--task", choices=TASKS, default="mnist", help=TASK_HELP)
    evaluate.add_argument("--pairs", type=int, default=None,
                          help="multimnist: measure on the first this many of the fixed "
                               "10,000 test pairs (default: all)")
    evaluate.add_argument("--data", type=Path, default=None, help=DATA_HELP)
    evaluate.add_argument("--weights", type=Path, default=None, help=checkpoints.WEIGHTS_HELP)
    evaluate.add_argument("--model", choices=("capsnet", "cnn", "both"), default="both",
                          help="which model to evaluate (default: both)")
    evaluate.add_argument("--record", action="store_true",
                          help="also write the test metrics and confusion matrix into each "
                               "model's metrics file (completes the record of an interrupted "
                               "training run)")
    evaluate.add_argument("--drawn", type=Path, nargs="?", const=drawn.DRAWN_PATH, default=None,
                          metavar="PATH",
                          help="also measure each model on the drawn-digit yardstick (synthetic "
                               "canvas drawings, no MNIST): accuracy overall, per digit and per "
                               "size band (default path: capsnet/assets/drawn.npz, "
                               "made by scripts/make_drawn.py's defaults when missing)")
    evaluate.add_argument("--against", type=Path, default=None, metavar="FOLDER",
                          help="also read the same test examples with the weights in FOLDER "
                               "and compare the two example by example: how many only the "
                               "weights measured get right (wins), how many only FOLDER's "
                               "(losses), and the exact McNemar test's p, the chance of a "
                               "split at least that uneven were the two equally good")
    return parser.parse_args(argv)


def run_train(args: argparse.Namespace) -> None:
    import time

    import keras

    from capsnet.training import (
        Deadline,
        StopOnSignal,
        cpu_has_bfloat16,
        default_config,
        train,
    )

    pairs = args.task == "multimnist"
    max_shift = args.max_shift if args.max_shift is not None else (
        PAIR_MAX_SHIFT if pairs else DEFAULTS.max_shift)
    train_config = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
        lr_decay=args.lr_decay, lr_decay_every=args.lr_decay_every,
        max_shift=max_shift,
        augment=args.augment or ("shift" if pairs else DEFAULTS.augment),
        validation_size=args.validation_size, seed=args.seed, epoch_size=args.epoch_size,
        precision=("mixed_bfloat16" if cpu_has_bfloat16() else "float32")
        if args.precision == "auto" else args.precision,
        ema=args.ema, freeze=args.freeze,
    )
    if args.warm_start is not None and not pairs:
        raise DataError("--warm-start is for --task multimnist: the one-digit models are the "
                        "ones it starts from.")
    began = time.monotonic()
    data = load_mnist(args.data, train_config.validation_size, seed=train_config.seed)
    if args.limit:
        data.train.images = data.train.images[:args.limit]
        data.train.labels = data.train.labels[:args.limit]
    jit = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    print(f"Keras {keras.__version__} on {keras.backend.backend()}; "
          f"{len(data.train)} training, {len(data.validation)} validation images",
          file=sys.stderr)
    for name in model_names(args.task, args.model):
        config = default_config(name)
        if checkpoints.kind(name) == "capsnet":
            config = dataclasses.replace(config, routings=args.routings)
        stops = [StopOnSignal()]  # kill -TERM or Ctrl+C: the epoch under way is the last
        if args.time_limit:
            stops.append(Deadline(began, 60 * args.time_limit))
        record = train(name, data, train_config, args.out, config, jit_compile=jit,
                       verbose=args.verbose, init=args.init, callbacks=stops,
                       warm_start=args.warm_start, resume=args.resume)
        print(f"{name}: test accuracy {record['test_accuracy']:.4f} "
              f"({record['test_errors']} errors), best epoch {record['best_epoch']} of "
              f"{record['epochs_run']}, {record['training_seconds']:.0f} s on "
              f"{record['device']} -> {args.out}", file=sys.stderr)
        if stops[0].received:  # stopped by hand: the models after this one are not begun
            break


def drawn_yardstick(path: Path) -> drawn.Yardstick:
    """The drawn-digit yardstick at `path`; made (and saved there) with the defaults if missing."""
    if not path.exists():
        print(f"No drawn-digit yardstick at {path}: making it as `python scripts/make_drawn.py "
              f"--out {path}` would (seed 0, {drawn.PER_CLASS} drawings per digit; about half a "
              "minute)...", file=sys.stderr)
        yardstick = drawn.make(seed=0, per_class=drawn.PER_CLASS)
        path.parent.mkdir(parents=True, exist_ok=True)
        yardstick.save(path)
        print(f"...saved {len(yardstick)} drawings to {path}", file=sys.stderr)
        return yardstick
    try:
        return drawn.load(path)
    except drawn.YardstickError as error:
        raise DataError(str(error)) from error


def compared(name: str, right, args: argparse.Namespace, answers) -> dict:
    """`paired.compare` of one model's answers (`right`, per test example) with the same
    model's weights in `--against`, whose answers `answers(built)` gives; also said on
    stderr, in words."""
    from capsnet import paired
    from capsnet.paths import shown

    other, _ = checkpoints.load(name, args.against)
    comparison = paired.compare(right, answers(other))
    measured = shown(args.weights or checkpoints.weights_dir())
    p = comparison["mcnemar_p"]
    print(f"{name}: {comparison['wins']} test examples right only with {measured}, "
          f"{comparison['losses']} only with {shown(args.against)} "
          f"({int(len(right) - right.sum())} errors against {comparison['test_errors']}); "
          f"exact McNemar p = {p:.3g}, "
          f"{'more than' if p < SIGNIFICANCE else 'within'} chance", file=sys.stderr)
    return {"weights": str(args.against), **comparison}


def run_evaluate_pairs(args: argparse.Namespace) -> None:
    """Each two-digit model's error on the fixed MultiMNIST test pairs (an example is right
    only when both digits are named), and the CapsNet's reconstruction error per digit."""
    from capsnet.multimnist import test_pairs
    from capsnet.training import answer_pairs, pair_record

    pairs = test_pairs(load_test(args.data))
    if args.pairs is not None:
        pairs = pairs.head(args.pairs)
    results = {}
    for name in model_names(args.task, args.model):
        built, _ = checkpoints.load(name, args.weights)
        right, reconstruction = answer_pairs(name, built, pairs)
        results[name] = measured = pair_record(right, reconstruction)
        if args.record:
            checkpoints.update_metrics(name, measured, args.weights)
        if args.against is not None:
            results[name] = {**measured, "against": compared(
                name, right, args,
                lambda other, name=name: answer_pairs(name, other, pairs, reconstruct=False)[0])}
    print(json.dumps(results))


def run_evaluate(args: argparse.Namespace) -> None:
    from capsnet.training import classification_record, evaluate_drawn, predict

    if args.task == "multimnist":
        run_evaluate_pairs(args)
        return
    test = load_test(args.data)
    yardstick = drawn_yardstick(args.drawn) if args.drawn is not None else None
    results = {}
    for name in model_names(args.task, args.model):
        built, _ = checkpoints.load(name, args.weights)
        predicted = predict(name, built.model, test.images)
        measured = classification_record(predicted, test.labels)
        results[name] = {key: measured[key] for key in ("test_accuracy", "test_errors")}
        if yardstick is not None:  # fed as the test split is: float32 /255, (n, 28, 28, 1)
            results[name]["drawn"] = measured["drawn"] = evaluate_drawn(name, built.model,
                                                                        yardstick)
        if args.record:
            checkpoints.update_metrics(name, measured, args.weights)
        if args.against is not None:
            results[name]["against"] = compared(
                name, predicted == test.labels, args,
                lambda other, name=name: predict(name, other.model, test.images) == test.labels)
    print(json.dumps(results))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # TensorFlow turns its oneDNN kernels on by itself only on CPUs with AVX-512 VNNI, BF16 or
    # AMX; on others (an AVX2 EPYC) they train a two-digit CapsNet step about 1.3 times as fast
    # as its own, to the same losses. Before Keras loads: TensorFlow reads it as it starts.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    quiet.import_keras()  # first, so that TensorFlow's start-up notes stay off stderr
    try:
        if args.command == "train":
            run_train(args)
        else:
            run_evaluate(args)
    except (DataError, checkpoints.WeightsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
