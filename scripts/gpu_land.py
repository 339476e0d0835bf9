"""The local side of a GPU training call: check what came back, measure it here, ship it.

`scripts/gpu_run.sh` leaves `summary.json`, `train.log` and `weights.tar.gz.part-*` in its
output folder. Copy that folder here, then:

    python scripts/gpu_land.py runs/gpu                     # join, check, measure: a table
    python scripts/gpu_land.py runs/gpu --install capsnet-drawing cnn-drawing --remake \\
        --data path/to/mnist.npz                            # ship two runs, remake the rest
    python scripts/gpu_land.py runs/gpu-mm --job multimnist --install multimnist-capsnet \\
        multimnist-cnn --data path/to/mnist.npz             # the two-digit models

It joins the parts, checks the archive's SHA-256 and every weights file's against the ones
printed on the GPU machine, unpacks the runs beside the parts, and measures each run with
weights on this machine's backend (TensorFlow) on the MNIST test set and the drawn-digit
yardstick, beside the shipped weights; each run is also compared with the shipped weights of
its model on the same test examples (`against_shipped`: `wins`, the examples only the run gets
right, `losses`, the ones only the shipped weights get right, and the exact McNemar p of that
split, as `train.py evaluate --against` gives it). `--install` copies runs into
`capsnet/weights` (or `$CAPSNET_WEIGHTS`, where set) and records their measurements there
(`train.py evaluate --record --drawn`); `--remake` then remakes what depends on the weights:
the committed sample, the not-a-digit thresholds, and the robustness, routing and
pose-dimension reports (tens of minutes on a two-core CPU).

With `--job multimnist` (what `scripts/gpu_run.sh --job multimnist` sent), each run is
measured on the fixed 10,000 MultiMNIST test pairs instead (`train.py evaluate --task
multimnist`), and `--install` records that measurement.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from capsnet import checkpoints, drawn, multimnist, paired  # noqa: E402
from capsnet.data import DATA_HELP, load_test  # noqa: E402
from capsnet.paths import shown  # noqa: E402

ARCHIVE = "weights.tar.gz"
REMAKE = (  # what depends on the shipped weights, in order (the sample's disagreements first)
    ["scripts/make_sample.py"],
    ["scripts/calibrate_novelty.py"],
    ["scripts/robustness.py"],
    ["scripts/routing_report.py"],
    ["scripts/dimensions_report.py"],
)


class LandingError(RuntimeError):
    """What came back is incomplete or not what the GPU machine sent."""


def unpack(folder: Path) -> dict:
    """Joins and checks the parts in `folder`, unpacks them into `folder/runs`, and returns
    the summary with each run's `folder` where it has weights."""
    summary = json.loads((folder / "summary.json").read_text())
    archive = folder / ARCHIVE
    with open(archive, "wb") as joined:
        for name in summary["archive"]["parts"]:
            joined.write((folder / name).read_bytes())
    if checkpoints.sha256(archive) != summary["archive"]["sha256"]:
        raise LandingError(f"{archive}: the joined parts differ from what was sent "
                           "(SHA-256 mismatch); copy the parts again.")
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(folder / "runs", filter="data")
    archive.unlink()
    for name, run in summary["runs"].items():
        if "skipped" in run:
            continue
        weights, _ = checkpoints.paths(run["model"], folder / "runs" / name)
        if weights.is_file():
            if checkpoints.sha256(weights) != run["weights_sha256"]:
                raise LandingError(f"{weights}: SHA-256 differs from the GPU machine's.")
            run["folder"] = str(weights.parent)
    return summary


def measure(name: str, folder, test, yardstick) -> tuple[dict, np.ndarray]:
    """Test accuracy and yardstick report of one model's weights, on this machine, and
    whether it reads each test digit right."""
    from capsnet.training import classification_record, evaluate_drawn, predict

    built, _ = checkpoints.load(name, folder)
    predicted = predict(name, built.model, test.images)
    measured = classification_record(predicted, test.labels)
    report = evaluate_drawn(name, built.model, yardstick)
    return {"test_accuracy": measured["test_accuracy"], "test_errors": measured["test_errors"],
            "drawn_accuracy": report["accuracy"],
            "drawn_bands": {band: group["accuracy"]
                            for band, group in report["per_band"].items()}}, \
        predicted == test.labels


def measure_pairs(name: str, folder, pairs: multimnist.Pairs) -> tuple[dict, np.ndarray]:
    """A two-digit model's error on the MultiMNIST test pairs, on this machine, and whether
    it names both digits of each pair."""
    from capsnet.training import answer_pairs, pair_record

    built, _ = checkpoints.load(name, folder)
    right, reconstruction = answer_pairs(name, built, pairs)
    return pair_record(right, reconstruction), right


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", type=Path, nargs="+",
                        help="output folders of GPU calls, as they came back")
    parser.add_argument("--data", type=Path, default=None, help=DATA_HELP)
    parser.add_argument("--drawn", type=Path, default=drawn.DRAWN_PATH,
                        help="the drawn-digit yardstick (default: the committed one)")
    parser.add_argument("--install", nargs="+", default=(), metavar="RUN",
                        help="runs to ship, by name (one per model; with several folders, "
                             "FOLDER/RUN)")
    parser.add_argument("--job", choices=("mnist", "multimnist"), default="mnist",
                        help="what the GPU call trained: the MNIST models, or the two-digit "
                             "ones (`scripts/gpu_run.sh --job multimnist`) (default: mnist)")
    parser.add_argument("--remake", action="store_true",
                        help="then remake the sample, the not-a-digit thresholds and the "
                             "robustness, routing and pose-dimension reports for the shipped "
                             "weights")
    args = parser.parse_args(argv)

    pairs = args.job == "multimnist"
    if pairs:
        measure_run = functools.partial(measure_pairs,
                                        pairs=multimnist.test_pairs(load_test(args.data)))
    else:
        measure_run = functools.partial(measure, test=load_test(args.data),
                                        yardstick=drawn.load(args.drawn))
    runs = {}
    for folder in args.folders:
        summary = unpack(folder)
        for name, run in summary["runs"].items():
            key = name if len(args.folders) == 1 else f"{folder.name}/{name}"
            runs[key] = run
    shipped_rows, shipped_right = {}, {}
    for name in checkpoints.PAIR_MODEL_NAMES if pairs else checkpoints.MODEL_NAMES:
        try:
            here, shipped_right[name] = measure_run(name, None)
            shipped_rows[f"shipped/{name}"] = {"model": name, "here": here}
        except checkpoints.WeightsError as error:  # no two-digit weights shipped yet
            shipped_rows[f"shipped/{name}"] = {"model": name, "missing": str(error)}
    rows = {}
    for key, run in runs.items():
        gpu_keys = ("test_error", "reconstruction_error") if pairs else ("test_accuracy",
                                                                         "drawn_accuracy")
        row = {"model": run.get("model"), "validation_accuracy": run.get("validation_accuracy"),
               "gpu": {k: run.get(k) for k in gpu_keys}}
        if "folder" in run:
            row["here"], right = measure_run(run["model"], run["folder"])
            if run["model"] in shipped_right:  # example by example: wins are the run's
                row["against_shipped"] = paired.compare(right, shipped_right[run["model"]])
        rows[key] = row
    rows.update(shipped_rows)
    print(json.dumps(rows, indent=2))

    shipped = checkpoints.weights_dir()  # `$CAPSNET_WEIGHTS` where set, as for train.py
    for key in args.install:
        run = runs[key]
        if "folder" not in run:
            raise LandingError(f"{key} came back without its weights.")
        for path in checkpoints.paths(run["model"], run["folder"]):
            shutil.copy2(path, shipped / path.name)
        task = (["--task", "multimnist"] if pairs else ["--drawn", str(args.drawn)])
        record = [sys.executable, "train.py", "evaluate", "--model",
                  checkpoints.kind(run["model"]), "--record", *task] + (
            ["--data", str(args.data)] if args.data else [])
        subprocess.run(record, cwd=ROOT, check=True)
        print(f"shipped {key} as {shown(shipped / run['model'])}", file=sys.stderr)
    if args.remake and not pairs:
        data = ["--data", str(args.data)] if args.data else []
        for command in REMAKE:
            subprocess.run([sys.executable, *command, *data], cwd=ROOT, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
