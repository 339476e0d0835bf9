"""The GPU side of training the two-digit models (MultiMNIST, Section 6), in one call.

Runs on the GPU machine through `scripts/gpu_run.sh --job multimnist` (which installs the
carried Keras wheels and picks the JAX backend), and on any CPU with `--dry-run`, which runs the
very same steps on a few thousand pairs for one epoch each, so that the GPU call works the first
time.

Two runs, each with a deadline so that the whole call ends inside its time limit (a run that
reaches its deadline stops after the epoch in progress and keeps its best epoch so far):

1. the 36x36 CapsNet, margin loss on both digits and a reconstruction of each;
2. the CNN with independent sigmoid outputs, for as many epochs as the CapsNet ran, so that
   both see the same number of pairs from the same pair generator.

Each run goes on from the shipped two-digit weights where `capsnet/weights` has them, else it
starts warm from the shipped one-digit model of its kind (`capsnet.warm_start`).

Each run makes fresh pairs from the 55,000 training digits in every step, keeps the epoch best
on fixed pairs of the 5,000 validation digits, and is measured on the fixed 10,000 test pairs.
The weights (float16) and metrics files go to the output folder as a `.tar.gz` cut into parts of
at most 15 MiB, with `summary.json` (also printed as the last line) holding the SHA-256 of the
archive and of each weights file. `scripts/gpu_land.py --job multimnist` joins, checks,
measures and installs them.

Example (on the GPU machine, from the project's root):
    scripts/gpu_run.sh --job multimnist            # KERAS_BACKEND=jax, output to $OUT
    python scripts/gpu_multimnist.py --dry-run --out runs/dry-mm    # on a CPU, in minutes
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from gpu_train import ARCHIVE, Run, call_arguments, call_data, pack

# One epoch is 55,000 pairs: 4.8 s of the CapsNet on an H200 (15 s for the first, compiled),
# 1.2 to 1.6 s of the CNN, so 50 epochs of each fit one call.
# Each call goes on from the shipped weights. The schedule starts at half the training default
# and ends near 1.3e-5 (5e-4 * 0.93**50): the calls that restarted at 0.001 and ended at 8.5e-5
# lost their first epochs to the restart, and the shipped CapsNet went on gaining on validation
# as its learning rate fell from 8e-5 to 1e-5 (the README's "On a GPU").
LEARNING_RATE = 5e-4
RUNS = (
    Run("multimnist-capsnet", "multimnist_capsnet", "shift", epochs=50, lr_decay=0.93,
        deadline=330),
    Run("multimnist-cnn", "multimnist_cnn", "shift", epochs=50, lr_decay=0.93, deadline=460),
)
DRY_RUN = {"train": 2000, "validation": 200, "test": 500, "epochs": 1}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    call_arguments(parser, f"{DRY_RUN['train']} training digits, {DRY_RUN['validation']} "
                           f"validation and {DRY_RUN['test']} test pairs, one epoch per run: "
                           "the same steps on a CPU, in minutes")
    parser.add_argument("--lr", type=float, default=LEARNING_RATE,
                        help=f"both runs' first learning rate (default: {LEARNING_RATE})")
    parser.add_argument("--lr-decay", type=float, default=None,
                        help="both runs' learning-rate factor per epoch of 55,000 pairs "
                             "(default: each run's own, "
                             f"{', '.join(str(run.lr_decay) for run in RUNS)})")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the weights and the pairs in training (default: the "
                             "training default; validation and test pairs keep their own)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    began = time.monotonic()
    import keras

    from capsnet import checkpoints
    from capsnet.config import PAIR_MAX_SHIFT, TrainConfig
    from capsnet.training import Deadline, describe_device, resumable, train

    data = call_data(args, DRY_RUN)
    summary = {
        "job": "multimnist", "backend": keras.backend.backend(),
        "keras_version": keras.__version__, "device": describe_device(),
        "dry_run": args.dry_run, "runs": {},
    }
    print(f"Keras {keras.__version__} on {keras.backend.backend()}, {summary['device']}; "
          f"{len(data.train)} training digits, a pair each per epoch", flush=True)

    epochs = DRY_RUN["epochs"] if args.dry_run else None
    for run in RUNS:
        deadline = run.deadline * args.time_scale
        if time.monotonic() - began > deadline - 30:
            summary["runs"][run.name] = {"skipped": "no time left"}
            continue
        config = TrainConfig(epochs=epochs or run.epochs,
                             learning_rate=args.lr,
                             lr_decay=run.lr_decay if args.lr_decay is None else args.lr_decay,
                             max_shift=PAIR_MAX_SHIFT, augment=run.augment,
                             seed=TrainConfig.seed if args.seed is None else args.seed)
        # From the shipped two-digit weights where there are some, else warm-started from the
        # shipped one-digit models (see capsnet/warm_start.py).
        shipped = checkpoints.WEIGHTS_DIR
        start = ({"init": shipped} if resumable(run.model, shipped) is not None
                 else {"warm_start": shipped})
        started = time.monotonic()
        record = train(run.model, data, config, args.work / run.name,
                       jit_compile="auto" if args.dry_run else True, verbose=2,
                       callbacks=[Deadline(began, deadline)], **start)
        epochs = epochs or record["epochs_run"]  # the CNN sees as many pairs as the CapsNet
        summary["runs"][run.name] = {
            "model": run.model, "jit_compile": record["jit_compile"],
            "learning_rate": config.learning_rate, "lr_decay": config.lr_decay,
            **{key: record.get(key) for key in (
                "epochs_run", "best_epoch", "pairs_seen", "validation_accuracy",
                "test_error", "test_errors", "test_pairs", "reconstruction_error",
                "reconstruction_error_per_digit") if key in record},
            "first_epoch_seconds": record["history"][0]["seconds"],
            "median_epoch_seconds": checkpoints.epoch_seconds(record),
            "seconds": round(time.monotonic() - started, 1),
            "weights_sha256": checkpoints.read_metrics(run.model,
                                                       args.work / run.name)["weights_sha256"],
        }
        print(json.dumps({run.name: summary["runs"][run.name]}), flush=True)

    # Pack every run's weights and metrics (the CapsNet's 23 MB in float16), cut into parts.
    members = []
    for name, run in summary["runs"].items():
        if "skipped" not in run:
            for path in checkpoints.paths(run["model"], args.work / name):
                members.append((path, f"{name}/{path.name}"))
    summary["archive"] = pack(args.out / ARCHIVE, members)
    summary["seconds"] = round(time.monotonic() - began, 1)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
