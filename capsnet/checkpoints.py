"""Trained weights on disk: `<name>.weights.h5` with `<name>.json` beside it.

The JSON file records the configuration that built the model, its test metrics and the
SHA-256 of the weights file. Loading rebuilds the architecture from that configuration,
checks the checksum, and loads weights only (never a pickled or serialized model, so a
weights file cannot run code).

Weights may be stored as float16 to halve the file (`save(..., storage="float16")`, recorded
as `weights_storage` in the JSON); they are cast back to float32 on load, and the checksum is
of the file as stored.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from capsnet.config import CapsNetConfig, CNNConfig
from capsnet.paths import WEIGHTS_ENV, shown, without_paths

WEIGHTS_DIR = Path(__file__).parent / "weights"  # the weights shipped with the package
WEIGHTS_HELP = f"weights folder (default: ${WEIGHTS_ENV}, else the shipped capsnet/weights)"
MODEL_NAMES = ("cnn", "capsnet")
PAIR_PREFIX = "multimnist_"
PAIR_MODEL_NAMES = tuple(PAIR_PREFIX + name for name in MODEL_NAMES)  # the two-digit models
TRAIN_HINT = "Train them with `python train.py train --model {model} --out {folder}`."
PAIR_TRAIN_HINT = ("Train them with `python train.py train --task multimnist --model {model} "
                   "--out {folder}`, or on a GPU with `scripts/gpu_run.sh --job multimnist`.")
STORAGE = ("float32", "float16")  # how weights are stored on disk; always float32 in memory


class WeightsError(RuntimeError):
    """A weights file is missing, damaged or does not fit its model; the message says why."""


def weights_dir(folder: str | os.PathLike | None = None) -> Path:
    """The weights folder: the argument, else `$CAPSNET_WEIGHTS`, else the shipped one."""
    return Path(folder or os.environ.get(WEIGHTS_ENV) or WEIGHTS_DIR)


def sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def kind(name: str) -> str:
    """The architecture behind a model name: "capsnet" or "cnn" (`multimnist_capsnet` is a
    CapsNet for two-digit pairs)."""
    if name not in MODEL_NAMES + PAIR_MODEL_NAMES:
        raise ValueError(f"name must be one of {MODEL_NAMES + PAIR_MODEL_NAMES}. "
                         f"Received: name={name!r}")
    return name.removeprefix(PAIR_PREFIX)


def train_hint(name: str, folder: str | os.PathLike) -> str:
    """The command that trains a model's weights into a folder."""
    hint = PAIR_TRAIN_HINT if name in PAIR_MODEL_NAMES else TRAIN_HINT
    return hint.format(model=kind(name), folder=folder)


def paths(name: str, folder: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """`(weights file, metrics file)` of a model in a folder."""
    kind(name)  # checks the name
    folder = weights_dir(folder)
    return folder / f"{name}.weights.h5", folder / f"{name}.json"


def read_metrics(name: str, folder: str | os.PathLike | None = None) -> dict:
    """The metrics file of a model, or a `WeightsError` saying what is wrong."""
    _, metrics_path = paths(name, folder)
    if not metrics_path.is_file():
        raise WeightsError(
            f"No {name} metrics file at {shown(metrics_path)}. "
            + train_hint(name, shown(metrics_path.parent))
        )
    try:
        return json.loads(metrics_path.read_text())
    except (OSError, ValueError) as error:
        raise WeightsError(
            f"The {name} metrics file {shown(metrics_path)} is unreadable: "
            f"{without_paths(str(error))}"
        ) from error


def training_totals(metrics: dict) -> dict:
    """Epochs, seconds and examples (images, or pairs for a two-digit model) of training
    behind a set of weights, counting the earlier runs that a `train --init` or `--resume` run
    went on from (`metrics["init"]` holds their totals).

    Returns:
        `{"epochs_run": int | None, "training_seconds": float | None,
        "examples_seen": int | None}`; None where the metrics do not record it.
    """
    earlier = metrics.get("init") or {}
    this_run = {**metrics, "examples_seen": metrics.get("pairs_seen",
                                                        metrics.get("images_seen"))}
    totals = {}
    for key in ("epochs_run", "training_seconds", "examples_seen"):
        value = this_run.get(key)
        totals[key] = None if value is None else value + (earlier.get(key) or 0)
    return totals


def epoch_seconds(metrics: dict) -> float | None:
    """Median seconds per training epoch in a metrics file's history, the first epoch left out
    (it includes compiling the train step); None where fewer than two epochs are recorded."""
    seconds = sorted(entry["seconds"] for entry in (metrics.get("history") or [])[1:])
    return seconds[len(seconds) // 2] if seconds else None


def save(name: str, model, config, metrics: dict, folder: str | os.PathLike,
         storage: str = "float32") -> Path:
    """Saves a model's weights and its metrics (with config and checksum) to a folder.

    Args:
        storage: "float32", or "float16" for half the file size (cast back on load).
    """
    if storage not in STORAGE:
        raise ValueError(f"storage must be one of {STORAGE}. Received: storage={storage!r}")
    weights_path, metrics_path = paths(name, folder)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(weights_path)
    if storage != "float32":
        cast_weights_file(weights_path, storage)
    record = {**metrics, "config": config.to_dict(), "weights_storage": storage,
              "weights_sha256": sha256(weights_path)}
    metrics_path.write_text(json.dumps(record, indent=2) + "\n")
    return weights_path


def cast_weights_file(path: str | os.PathLike, dtype: str) -> None:
    """Rewrites every floating-point array of a `.weights.h5` file in `dtype`, in place."""
    import h5py  # a Keras dependency: only needed where weights are written or cast

    # A new file, copied item by item: HDF5 does not give back the space of a deleted array.
    path = Path(path)
    cast = path.with_name(path.name + ".cast")
    with h5py.File(path, "r") as source, h5py.File(cast, "w") as target:
        target.attrs.update(source.attrs)

        def copy(key, item):
            if isinstance(item, h5py.Dataset):
                values = item[()]
                if item.dtype.kind == "f":
                    values = np.asarray(values).astype(dtype)
                target.create_dataset(key, data=values).attrs.update(item.attrs)
            else:
                target.require_group(key).attrs.update(item.attrs)

        source.visititems(copy)
    cast.replace(path)


def load_weights(model, path: str | os.PathLike, storage: str = "float32") -> None:
    """Loads a weights file into a model, casting float16-stored weights back to float32 in
    a temporary copy (the model's variables never see float16)."""
    if storage == "float32":
        model.load_weights(path)
        return
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / Path(path).name
        copy.write_bytes(Path(path).read_bytes())
        cast_weights_file(copy, "float32")
        model.load_weights(copy)


def update_metrics(name: str, updates: dict, folder: str | os.PathLike | None = None) -> dict:
    """Adds measurements to a model's metrics file (the weights and checksum stay as they are)."""
    _, metrics_path = paths(name, folder)
    record = {**read_metrics(name, folder), **updates}
    metrics_path.write_text(json.dumps(record, indent=2) + "\n")
    return record


def load(name: str, folder: str | os.PathLike | None = None, verify: bool = True):
    """Rebuilds a model from its saved configuration and loads its weights.

    Returns:
        `(built, metrics)`: a `CapsNet` or `CNN` from `capsnet.models`, and the metrics file.

    Raises:
        WeightsError: the weights or metrics file is missing, the checksum differs, or the
            weights do not fit the architecture.
    """
    from capsnet.models import build_capsnet, build_cnn  # Keras loads only when needed

    weights_path, _ = paths(name, folder)
    metrics = read_metrics(name, folder)
    if not weights_path.is_file():
        raise WeightsError(
            f"No {name} weights at {shown(weights_path)}. "
            + train_hint(name, shown(weights_path.parent))
        )
    expected = metrics.get("weights_sha256")
    if verify and expected and sha256(weights_path) != expected:
        raise WeightsError(
            f"The {name} weights file {shown(weights_path)} is damaged or not the one its metrics "
            "describe (SHA-256 mismatch). Restore it (`git checkout -- "
            f"{weights_path.name}`, or `git lfs pull`) or retrain it."
        )
    try:
        if kind(name) == "capsnet":
            built = build_capsnet(CapsNetConfig.from_dict(metrics.get("config", {})))
        else:
            built = build_cnn(CNNConfig.from_dict(metrics.get("config", {})))
        load_weights(built.model, weights_path, metrics.get("weights_storage", "float32"))
    except Exception as error:  # h5py, shape and layer-count errors all land here
        raise WeightsError(
            f"The {name} weights file {shown(weights_path)} could not be loaded into the "
            f"{name} architecture: {without_paths(str(error))}"
        ) from error
    return built, metrics
