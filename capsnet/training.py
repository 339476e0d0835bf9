"""Training and evaluation of both models, shared by `train.py` and the tests.

Only Keras and numpy are used here, so the same code trains on TensorFlow (CPU) and on
JAX (GPU).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import time
from pathlib import Path

import keras
import numpy as np

from capsnet import checkpoints, drawn
from capsnet.config import NUM_CLASSES, CapsNetConfig, CNNConfig, TrainConfig
from capsnet.data import MNIST, Split, to_model_input
from capsnet.models import build_capsnet, build_cnn

EVAL_BATCH = 500  # images per forward pass when scoring a whole split


def scores(name: str, model: keras.Model, images: np.ndarray,
           batch_size: int = EVAL_BATCH) -> np.ndarray:
    """Class scores for a stack of images: CNN probabilities or CapsNet capsule lengths."""
    outputs = []
    for start in range(0, len(images), batch_size):
        result = model.predict_on_batch(images[start:start + batch_size])
        outputs.append(result["lengths"] if name == "capsnet" else result)
    return np.concatenate(outputs).astype("float32")


def evaluate(name: str, model: keras.Model, split: Split) -> dict:
    """Accuracy, error count and confusion matrix (rows: truth, columns: prediction)."""
    predicted = scores(name, model, split.images).argmax(axis=-1)
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype="int64")
    np.add.at(confusion, (split.labels, predicted), 1)
    errors = int((predicted != split.labels).sum())
    return {
        "test_accuracy": round(1.0 - errors / len(split), 6),
        "test_errors": errors,
        "test_images": len(split),
        "confusion_matrix": confusion.tolist(),
    }


def evaluate_drawn(name: str, model: keras.Model, yardstick: drawn.Yardstick) -> dict:
    """A model's accuracy on the drawn-digit yardstick: `drawn.report` of its answers."""
    predicted = scores(name, model, to_model_input(yardstick.images)).argmax(axis=-1)
    return drawn.report(predicted, yardstick)


def describe_device() -> str:
    """The device that Keras computes on, in words (for the metrics file)."""
    devices = keras.distribution.list_devices()
    if devices and devices[0].startswith("gpu") and shutil.which("nvidia-smi"):
        query = ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"]
        names = subprocess.run(query, capture_output=True, text=True).stdout.split("\n")
        return f"{len(devices)} x {names[0].strip()}"
    return f"CPU: {cpu_model()}, {os.cpu_count()} cores"


def cpu_model() -> str:
    """The processor's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class KeepBest(keras.callbacks.Callback):
    """Saves the inference weights whenever validation accuracy improves.

    The validation split is carved from the training set, so the test set never takes
    part in choosing the weights.
    """

    def __init__(self, save, monitor: str = "val_accuracy"):
        super().__init__()
        self.save = save
        self.monitor = monitor
        self.best = -np.inf
        self.best_epoch = 0
        self.history: list[dict] = []
        self._started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        record = {"epoch": epoch + 1, "seconds": round(time.perf_counter() - self._started, 2)}
        learning_rate = self.model.optimizer.learning_rate
        record["learning_rate"] = float(keras.ops.convert_to_numpy(learning_rate))
        record.update({key: round(float(value), 6) for key, value in logs.items()})
        self.history.append(record)
        value = logs.get(self.monitor)
        if value is not None and value > self.best:
            self.best, self.best_epoch = float(value), epoch + 1
            self.save(self)


def _optimizer(train_config: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    # Exponential decay once per epoch, as in the paper's code.
    schedule = keras.optimizers.schedules.ExponentialDecay(
        train_config.learning_rate, decay_steps=steps_per_epoch,
        decay_rate=train_config.lr_decay, staircase=True,
    )
    return keras.optimizers.Adam(schedule)


def compile_trainer(name: str, built, train_config: TrainConfig, steps_per_epoch: int,
                    jit_compile="auto") -> None:
    """Compiles a model's trainer for `fit`: Adam with per-epoch decay, and the model's loss.

    Args:
        name: "capsnet" or "cnn".
        built: the `CapsNet` or `CNN` from `capsnet.models` whose trainer is compiled.
        train_config: the learning rate and its decay.
        steps_per_epoch: optimizer steps between two decays of the learning rate.
        jit_compile: passed to `keras.Model.compile`.
    """
    if name not in ("capsnet", "cnn"):
        raise ValueError(f"name must be 'capsnet' or 'cnn'. Received: name={name!r}")
    # CapsNetTrainer.compute_loss adds margin and weighted reconstruction losses itself.
    loss = None if name == "capsnet" else "categorical_crossentropy"
    built.trainer.compile(
        optimizer=_optimizer(train_config, steps_per_epoch),
        loss=loss,
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        jit_compile=jit_compile,
    )


def train(name: str, data: MNIST, train_config: TrainConfig, out: str | Path,
          model_config: CapsNetConfig | CNNConfig | None = None, jit_compile="auto",
          verbose: int | str = "auto", init: str | Path | None = None,
          callbacks: list | None = None) -> dict:
    """Trains one model, keeps the weights best on validation, and measures them on test.

    Args:
        init: a weights folder to start from instead of a fresh initialisation (the run
            goes on from those weights with a new optimizer); its model configuration is
            used and `model_config` is ignored.
        callbacks: more Keras callbacks for `fit` (for example, one that stops at a deadline).

    Returns:
        The metrics record written beside the weights in `out`.
    """
    keras.utils.set_random_seed(train_config.seed)
    start = None
    if init is not None:
        start, earlier = checkpoints.load(name, init)
        model_config = start.config
    steps_per_epoch = int(np.ceil(len(data.train) / train_config.batch_size))
    drawing = train_config.drawing if train_config.augment == "drawing" else None
    if name == "capsnet":
        built = build_capsnet(model_config, train_config.max_shift, seed=train_config.seed,
                              drawing=drawing)
        x_train = [data.train.images, data.train.one_hot()]
        y_train = data.train.one_hot()
        validation = ([data.validation.images, data.validation.one_hot()],
                      data.validation.one_hot())
    elif name == "cnn":
        built = build_cnn(model_config, train_config.max_shift, seed=train_config.seed,
                          drawing=drawing)
        x_train, y_train = data.train.images, data.train.one_hot()
        validation = (data.validation.images, data.validation.one_hot())
    else:
        raise ValueError(f"name must be 'capsnet' or 'cnn'. Received: name={name!r}")
    if start is not None:
        built.model.set_weights(start.model.get_weights())
    compile_trainer(name, built, train_config, steps_per_epoch, jit_compile)

    record = {
        "model": name,
        "parameters": int(built.model.count_params()),
        "train": train_config.to_dict(),
        "train_images": len(data.train),
        "validation_images": len(data.validation),
        "backend": keras.backend.backend(),
        "keras_version": keras.__version__,
        "device": describe_device(),
        "jit_compile": bool(built.trainer.jit_compile),  # False if a layer made Keras refuse
    }
    if start is not None:
        record["init"] = {
            **{key: earlier.get(key) for key in ("weights_sha256", "device",
                                                 "validation_accuracy", "test_accuracy")},
            **checkpoints.training_totals(earlier),
        }

    def save(keeper: KeepBest) -> None:
        # Written at every improvement, so an interrupted run still leaves usable weights.
        record.update(
            epochs_run=len(keeper.history), best_epoch=keeper.best_epoch,
            validation_accuracy=round(keeper.best, 6) if np.isfinite(keeper.best) else None,
            history=keeper.history,
        )
        checkpoints.save(name, built.model, built.config, record, out)

    keeper = KeepBest(save)
    started = time.perf_counter()
    built.trainer.fit(
        x_train, y_train, batch_size=train_config.batch_size, epochs=train_config.epochs,
        validation_data=validation if len(data.validation) else None,
        callbacks=[keeper, *(callbacks or [])], verbose=verbose, shuffle=True,
    )
    training_seconds = time.perf_counter() - started
    if not len(data.validation):  # nothing to choose with: keep the last epoch
        keeper.best_epoch = len(keeper.history)
        save(keeper)

    weights_path, _ = checkpoints.paths(name, out)
    built.model.load_weights(weights_path)
    record.update(
        epochs_run=len(keeper.history), history=keeper.history,
        training_seconds=round(training_seconds, 1),
        **evaluate(name, built.model, data.test),
    )
    checkpoints.save(name, built.model, built.config, record, out)
    return record
