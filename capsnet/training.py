"""Training and evaluation of both models, shared by `train.py` and the tests.

Only Keras and numpy are used here, so the same code trains on TensorFlow (CPU) and on
JAX (GPU).
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import keras
import numpy as np

from capsnet import checkpoints, drawn, multimnist
from capsnet.config import NUM_CLASSES, CapsNetConfig, CNNConfig, TrainConfig
from capsnet.data import MNIST, Split, to_model_input
from capsnet.models import build_capsnet, build_cnn
from capsnet.warm_start import warm_start as warm_start_weights

EVAL_BATCH = 500  # images per forward pass when scoring a whole split


def scores(name: str, model: keras.Model, images: np.ndarray,
           batch_size: int = EVAL_BATCH) -> np.ndarray:
    """Class scores for a stack of images: CNN probabilities or CapsNet capsule lengths."""
    outputs = []
    for start in range(0, len(images), batch_size):
        result = model.predict_on_batch(images[start:start + batch_size])
        outputs.append(result["lengths"] if checkpoints.kind(name) == "capsnet" else result)
    return np.concatenate(outputs).astype("float32")


def pair_accuracy(two_hot, scores):
    """Per example, 1.0 where the two highest scores are the two present classes (`keras.ops`).

    Args:
        two_hot: `(batch, 10)` targets with two ones.
        scores: `(batch, 10)` capsule lengths or sigmoid outputs.
    """
    ops = keras.ops
    _, top = ops.top_k(scores, multimnist.DIGITS)  # (batch, 2)
    named = ops.sum(ops.one_hot(top, NUM_CLASSES), axis=1)  # (batch, 10)
    both = ops.all(ops.equal(named, ops.cast(two_hot, named.dtype)), axis=-1)
    return ops.cast(both, scores.dtype)


class PairAccuracy(keras.metrics.MeanMetricWrapper):
    """Share of examples whose two answers are both right: MultiMNIST's accuracy."""

    def __init__(self, name: str = "accuracy", **kwargs):
        super().__init__(fn=pair_accuracy, name=name, **kwargs)


def reconstruction_errors(reconstructor: keras.Model, capsules: np.ndarray,
                          labels: np.ndarray, digits: np.ndarray) -> np.ndarray:
    """Mean squared error of each digit of a pair against its reconstruction from its own
    capsule, the other capsules masked out: `(n, 2)`.

    Args:
        reconstructor: `CapsNet.reconstructor`.
        capsules: DigitCaps vectors `(n, 10, 16)` of the overlays.
        labels: the classes `(n, 2)` whose capsules are kept, one at a time.
        digits: the single digits `(n, 2, 36, 36, 1)`, the targets.
    """
    errors = []
    for k in range(labels.shape[1]):
        one_hot = np.eye(NUM_CLASSES, dtype="float32")[labels[:, k]]
        drawn_back = np.asarray(reconstructor.predict_on_batch([capsules, one_hot]))
        errors.append(np.mean(np.square(drawn_back - digits[:, k]), axis=(1, 2, 3)))
    return np.stack(errors, axis=1)


def answer_pairs(name: str, built, pairs: multimnist.Pairs, batch_size: int = EVAL_BATCH,
                 reconstruct: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """A two-digit model's answers to MultiMNIST pairs: per pair, whether its two answers
    (highest scores) are its two digits; for the CapsNet (with `reconstruct`), also the mean
    squared error `(n, 2)` of each digit's reconstruction from the capsule of its true class,
    the other masked out (else None).

    Args:
        name: "multimnist_capsnet" or "multimnist_cnn" (or the bare kind).
        built: the `CapsNet` or `CNN` from `capsnet.models`.
    """
    capsnet = checkpoints.kind(name) == "capsnet"
    reconstruct = reconstruct and capsnet
    right, errors = [], []
    for start in range(0, len(pairs), batch_size):
        chunk = slice(start, start + batch_size)
        result = built.model.predict_on_batch(pairs.images[chunk])
        right.append(multimnist.both_named(pairs.labels[chunk],
                                           result["lengths"] if capsnet else result))
        if reconstruct:
            errors.append(reconstruction_errors(built.reconstructor, result["capsules"],
                                                pairs.labels[chunk], pairs.digits[chunk]))
    return np.concatenate(right).astype(bool), np.concatenate(errors) if reconstruct else None


def pair_record(right: np.ndarray, reconstruction: np.ndarray | None = None) -> dict:
    """The metrics of `answer_pairs`' answers: an example is right only when both digits are
    named; the reconstruction error overall and per digit (first, second) where measured."""
    wrong = int(len(right) - np.sum(right))
    record = {"test_accuracy": round(1.0 - wrong / len(right), 6),
              "test_error": round(wrong / len(right), 6), "test_errors": wrong,
              "test_pairs": len(right)}
    if reconstruction is not None:
        per_digit = reconstruction.mean(axis=0)
        record["reconstruction_error"] = round(float(per_digit.mean()), 6)
        record["reconstruction_error_per_digit"] = [round(float(e), 6) for e in per_digit]
    return record


def evaluate_pairs(name: str, built, pairs: multimnist.Pairs,
                   batch_size: int = EVAL_BATCH) -> dict:
    """A two-digit model on MultiMNIST pairs: `pair_record` of `answer_pairs`."""
    return pair_record(*answer_pairs(name, built, pairs, batch_size))


def predict(name: str, model: keras.Model, images: np.ndarray) -> np.ndarray:
    """The class each image is read as: the highest probability or longest capsule."""
    return scores(name, model, images).argmax(axis=-1)


def classification_record(predicted: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy, error count and confusion matrix (rows: truth, columns: prediction)."""
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype="int64")
    np.add.at(confusion, (labels, predicted), 1)
    errors = int((predicted != labels).sum())
    return {
        "test_accuracy": round(1.0 - errors / len(labels), 6),
        "test_errors": errors,
        "test_images": len(labels),
        "confusion_matrix": confusion.tolist(),
    }


def evaluate(name: str, model: keras.Model, split: Split) -> dict:
    """`classification_record` of a model's answers to a split."""
    return classification_record(predict(name, model, split.images), split.labels)


def evaluate_drawn(name: str, model: keras.Model, yardstick: drawn.Yardstick) -> dict:
    """A model's accuracy on the drawn-digit yardstick: `drawn.report` of its answers."""
    return drawn.report(predict(name, model, to_model_input(yardstick.images)), yardstick)


def describe_device() -> str:
    """The device that Keras computes on, in words (for the metrics file)."""
    devices = keras.distribution.list_devices()
    if devices and devices[0].startswith("gpu") and shutil.which("nvidia-smi"):
        query = ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"]
        names = subprocess.run(query, capture_output=True, text=True).stdout.split("\n")
        return f"{len(devices)} x {names[0].strip()}"
    return f"CPU: {cpu_model()}, {os.cpu_count()} cores"


def onednn_setting() -> bool | None:
    """Whether TF_ENABLE_ONEDNN_OPTS turns TensorFlow's oneDNN kernels on (True) or off
    (False); None where it is not set, and TensorFlow decides from the CPU."""
    value = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "").strip().lower()
    if value in ("1", "true"):
        return True
    if value in ("0", "false"):
        return False
    return None


def cpu_model() -> str:
    """The processor's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class PairValidation(keras.callbacks.Callback):
    """Measures a two-digit model on fixed validation pairs after each epoch, as
    `val_accuracy` in the epoch's logs (the trainer makes its own pairs, so `fit`'s own
    validation would pair and shift the validation digits afresh each epoch).

    Comes before `KeepBest` in the callbacks, which reads the value it writes.
    """

    def __init__(self, name: str, built, pairs: multimnist.Pairs):
        super().__init__()
        self.name, self.built, self.pairs = name, built, pairs

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            measured = evaluate_pairs(self.name, self.built, self.pairs)
            logs["val_accuracy"] = measured["test_accuracy"]
            if "reconstruction_error" in measured:
                logs["val_reconstruction_error"] = measured["reconstruction_error"]


class Deadline(keras.callbacks.Callback):
    """Stops training after the epoch that would otherwise end past a deadline.

    Args:
        began: `time.monotonic()` when the clock started.
        deadline: seconds after `began` by which training must have ended.
    """

    def __init__(self, began: float, deadline: float):
        super().__init__()
        self.began, self.deadline = began, deadline
        self.epoch_started = self.last_epoch = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        now = time.monotonic()
        # the first epoch includes compilation: later ones are timed on their own
        self.last_epoch = now - self.epoch_started if epoch else 0.0
        if now + self.last_epoch > self.began + self.deadline:
            self.model.stop_training = True


class StopOnSignal(keras.callbacks.Callback):
    """Ends training at the end of the epoch under way when the process gets SIGTERM or
    SIGINT (Ctrl+C), so that a run stopped by hand still measures its best weights and
    records every pair it saw; a second signal acts at once, as without this callback.

    Signal handlers can only be set from the main thread; elsewhere this does nothing.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        super().__init__()
        self.received = None
        self._previous = {}

    def _stop(self, signum, frame):
        self.received = signal.Signals(signum).name
        for signum_, handler in self._previous.items():  # a second signal: act at once
            signal.signal(signum_, handler)
        print(f"{self.received}: stopping at the end of this epoch (again to stop now)",
              file=sys.stderr, flush=True)

    def on_train_begin(self, logs=None):
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.signal(signum, self._stop)
                              for signum in self.SIGNALS}

    def on_epoch_end(self, epoch, logs=None):
        if self.received is not None:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}


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


@keras.saving.register_keras_serializable(package="capsnet")
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """`initial * rate ** floor((step + offset) / decay_steps)`: exponential decay in steps, as
    in the paper's code, from `offset` steps already taken (a resumed run goes on where the
    last one stopped)."""

    def __init__(self, initial: float, decay_steps: int, rate: float, offset: int = 0):
        self.initial, self.decay_steps, self.rate, self.offset = (
            float(initial), int(decay_steps), float(rate), int(offset))

    def __call__(self, step):
        passes = keras.ops.floor((keras.ops.cast(step, "float32") + self.offset)
                                 / self.decay_steps)
        return self.initial * keras.ops.power(self.rate, passes)

    def get_config(self):
        return {"initial": self.initial, "decay_steps": self.decay_steps, "rate": self.rate,
                "offset": self.offset}


def _optimizer(train_config: TrainConfig, steps_per_pass: int,
               steps_done: int = 0) -> keras.optimizers.Optimizer:
    schedule = StepDecay(train_config.learning_rate, steps_per_pass, train_config.lr_decay,
                         offset=steps_done)
    if train_config.ema is None:
        return keras.optimizers.Adam(schedule)
    return keras.optimizers.Adam(schedule, use_ema=True, ema_momentum=train_config.ema)


def compile_trainer(name: str, built, train_config: TrainConfig, steps_per_epoch: int,
                    jit_compile="auto", steps_done: int = 0) -> None:
    """Compiles a model's trainer for `fit`: Adam with per-epoch decay, and the model's loss.

    Args:
        name: "capsnet" or "cnn", or "multimnist_capsnet" or "multimnist_cnn", whose
            trainers bring their own losses and are measured on both digits of a pair.
        built: the `CapsNet` or `CNN` from `capsnet.models` whose trainer is compiled.
        train_config: the learning rate and its decay.
        steps_per_epoch: optimizer steps between two decays of the learning rate (one pass
            over the training set).
        jit_compile: passed to `keras.Model.compile`.
        steps_done: optimizer steps of earlier runs that this one goes on from.
    """
    pairs = name in checkpoints.PAIR_MODEL_NAMES
    # CapsNetTrainer.compute_loss adds margin and weighted reconstruction losses itself, and
    # PairCNNTrainer's its binary cross-entropy.
    loss = None if pairs or checkpoints.kind(name) == "capsnet" else "categorical_crossentropy"
    accuracy = (PairAccuracy() if pairs
                else keras.metrics.CategoricalAccuracy(name="accuracy"))
    built.trainer.compile(
        optimizer=_optimizer(train_config, steps_per_epoch, steps_done),
        loss=loss,
        metrics=[accuracy],
        jit_compile=jit_compile,
    )


def default_config(name: str) -> CapsNetConfig | CNNConfig:
    """The architecture of a model name: the paper's CapsNet or the CNN, for MNIST or for
    36x36 MultiMNIST pairs."""
    config = CapsNetConfig if checkpoints.kind(name) == "capsnet" else CNNConfig
    return config.for_pairs() if name in checkpoints.PAIR_MODEL_NAMES else config()


def cpu_has_bfloat16() -> bool:
    """Whether the CPU computes in bfloat16 natively (AVX-512 BF16 or AMX), where oneDNN
    makes `mixed_bfloat16` faster than float32; elsewhere bfloat16 is emulated and slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resumable(name: str, out: str | Path) -> dict | None:
    """The metrics of a run in `out` that `train(..., resume=True)` can go on from, or None
    where `out` holds none of `name`'s weights."""
    weights_path, metrics_path = checkpoints.paths(name, out)
    if not (weights_path.is_file() and metrics_path.is_file()):
        return None
    return checkpoints.read_metrics(name, out)


def train(name: str, data: MNIST, train_config: TrainConfig, out: str | Path,
          model_config: CapsNetConfig | CNNConfig | None = None, jit_compile="auto",
          verbose: int | str = "auto", init: str | Path | None = None,
          callbacks: list | None = None, warm_start: str | Path | None = None,
          resume: bool = False) -> dict:
    """Trains one model, keeps the weights best on validation, and measures them on test.

    A MultiMNIST model ("multimnist_capsnet", "multimnist_cnn") trains on pairs that its
    trainer makes from `data.train` in every step (`train_config.max_shift` is each digit's
    shift), keeps the epoch best on fixed pairs of `data.validation`, is measured on the fixed
    test pairs of `data.test` (`multimnist.test_pairs`), and is stored as float16.

    The best weights so far are written at every improvement, so a run stopped at any point
    leaves them in `out`; `resume=True` goes on from them.

    Args:
        name: "capsnet", "cnn", "multimnist_capsnet" or "multimnist_cnn".
        model_config: the architecture (default: `default_config(name)`).
        init: a weights folder to start from instead of a fresh initialisation (the run
            goes on from those weights with a new optimizer); its model configuration is
            used and `model_config` is ignored.
        callbacks: more Keras callbacks for `fit` (for example, one that stops at a deadline).
        warm_start: for a two-digit model, the one-digit weights folder to take its first
            weights from (`capsnet.warm_start`) in place of a fresh initialisation.
        resume: go on from the run already in `out`, if there is one: its weights, its
            learning-rate schedule (the steps it took), its count of examples seen and its
            best validation score, which a new epoch must beat to replace its weights. The
            optimizer's moments start afresh. Without a run in `out`, a new run starts.
            A run that goes on from earlier training (`resume` or `init`) draws its own
            shuffles, pairs and shifts (`stream_seed`), not those the earlier runs drew.

    Returns:
        The metrics record written beside the weights in `out`.
    """
    kind, pairs = checkpoints.kind(name), name in checkpoints.PAIR_MODEL_NAMES
    if warm_start is not None and not pairs:
        raise ValueError("warm_start is for the two-digit models. "
                         f"Received: name={name!r}")
    earlier_run = resumable(name, out) if resume else None
    if earlier_run is not None:
        init = out
    start = None
    if init is not None:
        start, earlier = checkpoints.load(name, init)
        model_config = start.config
    model_config = model_config or default_config(name)
    steps_per_decay = int(np.ceil((train_config.lr_decay_every or len(data.train))
                                 / train_config.batch_size))
    epoch_size = train_config.epoch_size or len(data.train)
    steps_per_epoch = int(np.ceil(epoch_size / train_config.batch_size))
    steps_done = 0
    seen_before = 0 if start is None else checkpoints.training_totals(earlier)["examples_seen"] or 0
    if earlier_run is not None:
        steps_done = int(round(seen_before / train_config.batch_size))
    # The shuffles, pairs and shifts of a run that goes on from earlier training are its own,
    # not a replay of those the earlier runs began with.
    seed = stream_seed(train_config.seed, seen_before)
    keras.utils.set_random_seed(seed)
    drawing = train_config.drawing if train_config.augment == "drawing" else None
    builder = build_capsnet if kind == "capsnet" else build_cnn
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(train_config.precision)
    try:
        built = builder(model_config, train_config.max_shift, seed=seed,
                        drawing=drawing)
    finally:
        keras.config.set_dtype_policy(previous_policy)
    # Trainers that take labels as an input: the CapsNet masks with them, pairs are made
    # with them; `y` is then only what `fit` expects to be given.
    labelled = pairs or kind == "capsnet"
    x_train = [data.train.images, data.train.one_hot()] if labelled else data.train.images
    y_train = data.train.one_hot()
    validation, measure = None, []
    if pairs and len(data.validation):
        validation_pairs = multimnist.make_pairs(data.validation, len(data.validation),
                                                 multimnist.VALIDATION_SEED)
        measure = [PairValidation(name, built, validation_pairs)]
    elif len(data.validation):
        validation = ([data.validation.images, data.validation.one_hot()] if labelled
                      else data.validation.images, data.validation.one_hot())
    warmed = None
    if start is not None:
        built.model.set_weights(start.model.get_weights())
    elif warm_start is not None:
        warmed = warm_start_weights(name, built, warm_start)
    for layer in train_config.freeze:  # before compiling: the trainer shares these layers
        built.model.get_layer(layer).trainable = False
    compile_trainer(name, built, train_config, steps_per_decay, jit_compile, steps_done)

    record = {
        "model": name,
        "parameters": int(built.model.count_params()),
        "train": train_config.to_dict(),
        "train_images": len(data.train),  # for pairs: digits, and pairs made per pass
        "validation_images": len(data.validation),
        "backend": keras.backend.backend(),
        "keras_version": keras.__version__,
        "device": describe_device(),
        "jit_compile": bool(built.trainer.jit_compile),  # False if a layer made Keras refuse
        "stream_seed": seed,
    }
    if keras.backend.backend() == "tensorflow":
        record["onednn"] = onednn_setting()
    if warmed is not None:
        record["warm_start"] = warmed
    if start is not None:
        record["init"] = {
            **{key: earlier.get(key) for key in ("weights_sha256", "device",
                                                 "validation_accuracy", "test_accuracy",
                                                 "test_error")},
            **checkpoints.training_totals(earlier),
        }
        if earlier_run is not None:
            record["init"]["resumed"] = True
            if "warm_start" in earlier:
                record["warm_start"] = earlier["warm_start"]

    storage = "float16" if pairs else "float32"  # a two-digit CapsNet is 45 MB in float32
    seen_key = "pairs_seen" if pairs else "images_seen"

    def totals(epochs: int) -> dict:
        # this run's count, and the total with the runs it went on from
        steps = int(keras.ops.convert_to_numpy(built.trainer.optimizer.iterations))
        this_run = {"epochs_run": epochs,
                    seen_key: examples_seen(steps, len(data.train), train_config.batch_size)}
        earlier_seen = (record.get("init") or {}).get("examples_seen") or 0
        return {**this_run, f"{seen_key}_total": this_run[seen_key] + earlier_seen}

    def save(keeper: KeepBest) -> None:
        # Written at every improvement, so an interrupted run still leaves usable weights,
        # and the pairs and the seconds behind them.
        record.update(
            **totals(len(keeper.history)), best_epoch=keeper.best_epoch,
            validation_accuracy=round(keeper.best, 6) if np.isfinite(keeper.best) else None,
            history=keeper.history, training_seconds=round(time.perf_counter() - started, 1),
        )
        checkpoints.save(name, built.model, built.config, record, out, storage)

    keeper = KeepBest(save)
    # With a moving average, each epoch's end puts it in the model's place, before the
    # validation and the keeper see the model, and the next epoch trains the weights again.
    averaged = ([keras.callbacks.SwapEMAWeights(swap_on_epoch=True)]
                if train_config.ema is not None else [])
    if earlier_run is not None and same_validation(earlier_run, train_config, data):
        keeper.best = earlier_run.get("validation_accuracy") or -np.inf  # to beat
    started = time.perf_counter()
    with warnings.catch_warnings():
        # An epoch that reaches the end of a pass ends there; `examples_seen` counts it.
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        built.trainer.fit(
            x_train, y_train, batch_size=train_config.batch_size, epochs=train_config.epochs,
            steps_per_epoch=steps_per_epoch if train_config.epoch_size else None,
            validation_data=validation,
            callbacks=[*averaged, *measure, keeper, *(callbacks or [])],
            verbose=verbose, shuffle=True,
        )
    training_seconds = time.perf_counter() - started
    if not len(data.validation):  # nothing to choose with: keep the last epoch
        keeper.best_epoch = len(keeper.history)
        save(keeper)

    # the best weights as stored (float16 for pairs), so the test measures the file
    weights_path, _ = checkpoints.paths(name, out)
    checkpoints.load_weights(built.model, weights_path, storage)
    if pairs:
        measured = evaluate_pairs(name, built, multimnist.test_pairs(data.test))
    else:
        measured = evaluate(name, built.model, data.test)
    record.update(
        **totals(len(keeper.history)), history=keeper.history,
        best_epoch=keeper.best_epoch,
        validation_accuracy=round(keeper.best, 6) if np.isfinite(keeper.best) else None,
        training_seconds=round(training_seconds, 1), **measured,
    )
    # The weights file already holds the best weights: only their record grows.
    return checkpoints.update_metrics(name, record, out)


def examples_seen(steps: int, count: int, batch_size: int) -> int:
    """The training examples behind a run's first `steps` optimizer steps over `count`
    examples: a pass over them is `ceil(count / batch_size)` steps, the last one the rest.

    Epochs alone would overcount: an epoch of `epoch_size` examples that reaches the end of
    a pass ends there, and Keras begins the next pass with the next epoch (with 58,000 digits
    and epochs of 10,000, every sixth epoch is 8,000).
    """
    per_pass = -(-count // batch_size)
    passes, rest = divmod(int(steps), per_pass)
    return passes * count + rest * batch_size


def stream_seed(seed: int, seen_before: int) -> int:
    """The seed of a run's random stream (its shuffles, and the pairs and shifts its trainer
    makes): `seed` for a fresh run, and for a run that goes on from weights trained on
    `seen_before` examples a seed of its own, so that it draws new examples."""
    return (int(seed) + int(seen_before)) % 2**31


def same_validation(metrics: dict, train_config: TrainConfig, data: MNIST) -> bool:
    """Whether an earlier run chose its best weights on the same validation set as this one
    (the same split of the same size from the same seed), so that its score can be beaten."""
    earlier = metrics.get("train") or {}
    return (earlier.get("validation_size") == train_config.validation_size
            and earlier.get("seed") == train_config.seed
            and metrics.get("validation_images") == len(data.validation))
