"""The GPU side of training, in one call: train, measure, and pack the weights to come back.

Runs on the GPU machine through `scripts/gpu_run.sh` (which installs the carried Keras
wheels and picks the JAX backend), and on any CPU with `--dry-run`, which runs the very same
steps on a few thousand images for one epoch each, so that the GPU call works the first time.

Three runs, in order of importance, each with a deadline so that the whole call ends inside
its time limit (a run that reaches its deadline stops after the epoch in progress and keeps
its best epoch so far):

1. the CapsNet with the recipe for drawings (`--augment drawing`),
2. the CNN with the same recipe,
3. the CapsNet with the paper's shifts alone, as a reproduction of the paper.

Each run keeps the epoch best on the validation split, then is measured on the MNIST test set
and on the drawn-digit yardstick. Everything goes to the output folder: `summary.json` (also
printed as the last line), the weights and metrics files as a `.tar.gz` cut into parts of at
most 15 MiB (`weights.tar.gz.part-aa`, ...), and the SHA-256 of the archive and of every
weights file. `scripts/gpu_land.py` joins and checks them on the other side.

Example (on the GPU machine, from the project's root):
    scripts/gpu_run.sh                # KERAS_BACKEND=jax, output to $OUT
    python scripts/gpu_train.py --dry-run --out runs/dry    # on a CPU, in minutes
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PART_BYTES = 15 * 2**20  # files come back from the GPU machine only up to 16 MiB each
ARCHIVE = "weights.tar.gz"


@dataclass(frozen=True)
class Run:
    """One training run of the call."""

    name: str  # folder in the output, and the run's name in the summary
    model: str  # "capsnet" or "cnn"
    augment: str  # "drawing" or "shift"
    epochs: int
    lr_decay: float  # per epoch: the learning rate ends near 1/50 of its start
    deadline: float  # seconds since the call began by which the run must have ended


RUNS = (
    Run("capsnet-drawing", "capsnet", "drawing", epochs=80, lr_decay=0.95, deadline=250),
    Run("cnn-drawing", "cnn", "drawing", epochs=40, lr_decay=0.91, deadline=330),
    Run("capsnet-shift", "capsnet", "shift", epochs=60, lr_decay=0.94, deadline=480),
)
DRY_RUN = {"train": 1000, "validation": 200, "test": 1000, "epochs": 1}


def call_arguments(parser: argparse.ArgumentParser, dry_run_help: str) -> None:
    """The flags of every GPU call: output and work folders, the data, deadlines, dry run."""
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "runs/gpu")),
                        help="output folder (default: $OUT, else runs/gpu)")
    parser.add_argument("--work", type=Path, default=Path("runs/gpu-work"),
                        help="folder for the runs' weights before packing (default: "
                             "runs/gpu-work)")
    parser.add_argument("--data", type=Path, default=ROOT / ".data" / "mnist.npz",
                        help="MNIST .npz (default: .data/mnist.npz, as carried to the GPU)")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="multiplies every deadline (default: 1)")
    parser.add_argument("--dry-run", action="store_true", help=dry_run_help)


def call_data(args: argparse.Namespace, dry_run: dict):
    """MNIST for a call, with the training default's validation split; for a dry run, only the
    first `dry_run["train"]`, `["validation"]` and `["test"]` images. Makes the output folder."""
    from capsnet.config import TrainConfig
    from capsnet.data import load_mnist

    args.out.mkdir(parents=True, exist_ok=True)
    data = load_mnist(args.data, TrainConfig.validation_size, seed=TrainConfig.seed)
    if args.dry_run:
        for split, size in ((data.train, dry_run["train"]),
                            (data.validation, dry_run["validation"]), (data.test, dry_run["test"])):
            split.images, split.labels = split.images[:size], split.labels[:size]
    return data


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    call_arguments(parser, f"{DRY_RUN['train']} training and {DRY_RUN['test']} test images, "
                           "one epoch per run: the same steps on a CPU, in minutes")
    parser.add_argument("--drawn", type=Path, default=None,
                        help="the drawn-digit yardstick (default: the committed one)")
    parser.add_argument("--runs", nargs="+", choices=[run.name for run in RUNS],
                        default=[run.name for run in RUNS], help="which runs, in order")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the weights and the augmentation (default: the "
                             "training default; the validation split keeps its own seed)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    began = time.monotonic()
    import keras

    from capsnet import checkpoints, drawn
    from capsnet.config import CapsNetConfig, CNNConfig, TrainConfig
    from capsnet.training import Deadline, describe_device, evaluate_drawn, train

    data = call_data(args, DRY_RUN)
    yardstick = drawn.load(args.drawn) if args.drawn else drawn.load()
    summary = {
        "backend": keras.backend.backend(), "keras_version": keras.__version__,
        "device": describe_device(), "dry_run": args.dry_run, "runs": {},
    }
    print(f"Keras {keras.__version__} on {keras.backend.backend()}, {summary['device']}; "
          f"{len(data.train)} training images", flush=True)

    for run in (run for run in RUNS if run.name in args.runs):
        deadline = run.deadline * args.time_scale
        if time.monotonic() - began > deadline - 30:
            summary["runs"][run.name] = {"skipped": "no time left"}
            continue
        config = TrainConfig(epochs=DRY_RUN["epochs"] if args.dry_run else run.epochs,
                             lr_decay=run.lr_decay, augment=run.augment,
                             seed=TrainConfig.seed if args.seed is None else args.seed)
        model_config = CapsNetConfig() if run.model == "capsnet" else CNNConfig()
        folder = args.work / run.name
        started = time.monotonic()
        record = train(run.model, data, config, folder, model_config,
                       jit_compile="auto" if args.dry_run else True, verbose=2,
                       callbacks=[Deadline(began, deadline)])
        built, _ = checkpoints.load(run.model, folder)
        report = evaluate_drawn(run.model, built.model, yardstick)
        checkpoints.update_metrics(run.model, {"drawn": report}, folder)
        history = record["history"]
        summary["runs"][run.name] = {
            "model": run.model, "augment": run.augment, "jit_compile": record["jit_compile"],
            "epochs_run": record["epochs_run"], "best_epoch": record["best_epoch"],
            "validation_accuracy": record["validation_accuracy"],
            "test_accuracy": record["test_accuracy"], "test_errors": record["test_errors"],
            "drawn_accuracy": report["accuracy"], "drawn_bands": {
                band: group["accuracy"] for band, group in report["per_band"].items()},
            "first_epoch_seconds": history[0]["seconds"],
            "median_epoch_seconds": checkpoints.epoch_seconds(record),
            "seconds": round(time.monotonic() - started, 1),
            "weights_sha256": checkpoints.read_metrics(run.model, folder)["weights_sha256"],
        }
        print(json.dumps({run.name: summary["runs"][run.name]}), flush=True)

    # Pack every run's metrics, and the weights of the CNN and of the CapsNet best on
    # validation (two CapsNets would not fit in what comes back), cut into parts.
    done = {name: run for name, run in summary["runs"].items() if "skipped" not in run}
    capsnets = [name for name, run in done.items() if run["model"] == "capsnet"]
    best = max(capsnets, key=lambda name: done[name]["validation_accuracy"], default=None)
    summary["chosen_capsnet"] = best
    members = []
    for name, run in done.items():
        weights, metrics = checkpoints.paths(run["model"], args.work / name)
        members.append((metrics, f"{name}/{metrics.name}"))
        if run["model"] == "cnn" or name == best:
            members.append((weights, f"{name}/{weights.name}"))
    summary["archive"] = pack(args.out / ARCHIVE, members)
    summary["seconds"] = round(time.monotonic() - began, 1)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary), flush=True)
    return 0


def pack(archive: Path, members: list[tuple[Path, str]]) -> dict:
    """Packs files into a `.tar.gz` under the names given, cut into parts to come back.

    Returns:
        `{"sha256", "bytes", "parts"}` of the archive, for `scripts/gpu_land.py`.
    """
    from capsnet import checkpoints

    with tarfile.open(archive, "w:gz", compresslevel=6) as tar:
        for path, name in members:
            tar.add(path, arcname=name)
    return {"sha256": checkpoints.sha256(archive), "bytes": archive.stat().st_size,
            "parts": split(archive, PART_BYTES)}


def split(path: Path, part_bytes: int) -> list[str]:
    """Cuts a file into `<name>.part-aa`, `-ab`, ... of at most `part_bytes`, removing it."""
    names = []
    with open(path, "rb") as source:
        for index in range(26 * 26):
            chunk = source.read(part_bytes)
            if not chunk:
                break
            part = path.with_name(f"{path.name}.part-{chr(97 + index // 26)}{chr(97 + index % 26)}")
            part.write_bytes(chunk)
            names.append(part.name)
    path.unlink()
    return names


if __name__ == "__main__":
    sys.exit(main())
