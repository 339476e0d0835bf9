"""Speed and memory of both models and of the page's steps on this machine, as Markdown.

Every time is the median of several runs after a warm-up run, so that tracing and
compiling the Keras functions is not counted. The inputs are real MNIST test digits from
the committed sample, and the page's drawing is one of them drawn into a canvas-sized
RGBA image, white ink on a clear sheet, as the page's canvas hands it over.
"""

from __future__ import annotations

import importlib
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import keras
import numpy as np
from PIL import Image

from capsnet import checkpoints, multimnist
from capsnet.config import NUM_CLASSES, PAIR_MAX_SHIFT, TrainConfig
from capsnet.inference import Lab
from capsnet.models import build_capsnet, build_cnn
from capsnet.samples import load_sample
from capsnet.training import (
    compile_trainer,
    cpu_model,
    default_config,
    describe_device,
    onednn_setting,
)
from capsnet.two_digits import TwoDigitLab

try:
    import resource
except ImportError:  # not on Windows
    resource = None

BATCH = TrainConfig.batch_size  # training batch, and the batch timed for inference
CANVAS = 280  # side of the page's drawing canvas in pixels: 10x an MNIST digit
POSE_NUDGE = 0.1  # a slider move: one pose dimension changed by this much (range +-0.25)
SEED = 1


def median_seconds(function: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of `function()` over `repeats` runs, after `warmup` untimed runs."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def canvas_drawing(digit: np.ndarray, size: int = CANVAS) -> np.ndarray:
    """A uint8 MNIST digit `(28, 28)` as the page's canvas gives it: `(size, size, 4)` RGBA,
    white ink whose alpha is the ink level, on a transparent sheet."""
    alpha = np.asarray(Image.fromarray(digit).resize((size, size), Image.Resampling.BILINEAR))
    drawing = np.full((size, size, 4), 255, dtype="uint8")
    drawing[..., 3] = alpha
    return drawing


def memory() -> tuple[int | None, int | None]:
    """`(peak, current)` resident memory of this process in bytes; None where unknown."""
    peak = None
    if resource is not None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak *= 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    try:
        with open("/proc/self/statm") as statm:
            current = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        current = None
    return peak, current


def _models(folder) -> tuple[Lab, str]:
    """The shipped (or given) models, else freshly built ones, and a line saying which."""
    try:
        lab = Lab.load(folder)
        return lab, f"Weights: {checkpoints.weights_dir(folder)}."
    except checkpoints.WeightsError as error:
        keras.utils.set_random_seed(SEED)
        lab = Lab(build_cnn(seed=SEED), build_capsnet(seed=SEED))
        reason = " ".join(str(error).split())
        return lab, ("Weights: none loaded, so freshly built models were timed (timings do "
                     f"not depend on weight values). {reason}")


def _header(weights_line: str, repeats: int, train_steps: int) -> list[str]:
    backend = keras.backend.backend()
    backend_version = getattr(importlib.import_module(backend), "__version__", "?")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = f", load average {os.getloadavg()[0]:.1f} at the start" if hasattr(
        os, "getloadavg") else ""
    device = describe_device()
    gpu = "" if device.startswith("CPU") else f"; computing on {device}"
    onednn = ""
    if backend == "tensorflow":
        setting = onednn_setting()
        onednn = "; oneDNN " + ("as TensorFlow picks for this CPU" if setting is None
                                else "on" if setting else "off")
    return [
        f"Keras {keras.__version__} on {backend} {backend_version}{onednn}, Python "
        f"{platform.python_version()}; CPU: {cpu_model()}, {cores} cores{load}{gpu}.",
        weights_line,
        f"Times: median of {_count(repeats, 'run')} after a warm-up run; training: median of "
        f"{_count(train_steps, 'step')} of {BATCH} images after a warm-up step.",
    ]


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' * (number != 1)}"


def _duration(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _mebibytes(size: int | None) -> str:
    return "unknown" if size is None else f"{size / 2**20:.0f} MiB"


def pair_drawing(first: np.ndarray, second: np.ndarray, size: int = CANVAS) -> np.ndarray:
    """Two uint8 MNIST digits `(28, 28)` overlaid as in MultiMNIST (the second moved 3 pixels
    down and to the right), drawn into the page's canvas as `canvas_drawing` does."""
    overlay = np.minimum(multimnist.place(first, (-1, -1)) + multimnist.place(second, (2, 2)),
                         255).astype("uint8")
    return canvas_drawing(overlay, size)


def training_rate(name: str, built, recipe: TrainConfig, x, y, train_steps: int) -> float:
    """Examples per second through `built`'s trainer, compiled for `name` with `recipe`: the
    median of `train_steps` steps of `BATCH` examples after a warm-up step."""
    compile_trainer(name, built, recipe, steps_per_epoch=1)  # decay costs nothing
    return BATCH / median_seconds(lambda: built.trainer.train_on_batch(x, y), train_steps)


def two_digit_rows(folder, digits: np.ndarray, images: np.ndarray, one_hot: np.ndarray,
                   repeats: int, train_steps: int) -> list[tuple[str, str]]:
    """The two-digit rows: the page reading a drawing of `digits` (two uint8 `(28, 28)`
    digits, overlaid by `pair_drawing`) where the two-digit weights load, and both
    two-digit models' training steps on pairs made from `images` in the step."""
    rows = []
    try:
        lab = TwoDigitLab.load(folder)
    except checkpoints.WeightsError:
        pass  # the table says so by leaving the row out; training is timed regardless
    else:
        drawing = pair_drawing(digits[0], digits[1])
        seconds = median_seconds(lambda: lab.analyze_drawing(drawing), repeats)
        rows.append((f"Page, two digits: {CANVAS}x{CANVAS} canvas drawing -> preprocessing, "
                     "both answers and both reconstructions", _duration(seconds)))
    recipe = TrainConfig(augment="shift", max_shift=PAIR_MAX_SHIFT)  # as train.py for pairs
    for title, name, builder in (("CNN", "multimnist_cnn", build_cnn),
                                 ("CapsNet", "multimnist_capsnet", build_capsnet)):
        built = builder(default_config(name), recipe.max_shift, seed=SEED)
        rate = training_rate(name, built, recipe, [images, one_hot], one_hot, train_steps)
        rows.append((f"Two-digit {title} training, batches of {BATCH} pairs",
                     f"{rate:.0f} pairs/s"))
    return rows


def run(repeats: int = 5, train_steps: int = 3, folder=None) -> str:
    """Times everything and returns the Markdown: header lines, then one table."""
    lab, weights_line = _models(folder)
    sample = load_sample()
    images = (sample.images[:BATCH].astype("float32") / 255.0)[..., None]  # (100, 28, 28, 1)
    one_hot = np.eye(NUM_CLASSES, dtype="float32")[sample.labels[:BATCH]]  # (100, 10)
    models = {"CNN": lab.cnn, "CapsNet": lab.capsnet}
    rows = []

    # 1) Inference through the compiled predict function, as `Lab` calls it.
    for size in (1, BATCH):
        for title, built in models.items():
            batch = images[:size]
            seconds = median_seconds(lambda m=built.model, b=batch: m.predict_on_batch(b),
                                     repeats)
            rows.append((f"{title} inference, {size} image{'s' * (size > 1)}",
                         _duration(seconds)))

    # 2) The page: a canvas drawing to both answers and a reconstruction, a pose-slider
    #    move, and the Figure 4 grid.
    drawing = canvas_drawing(sample.images[0])
    analysis = lab.analyze_drawing(drawing)
    pose = np.zeros(analysis.capsules.shape[-1], dtype="float32")
    pose[0] = POSE_NUDGE
    label = analysis.capsnet_label
    page = [
        (f"Page: {CANVAS}x{CANVAS} canvas drawing -> preprocessing, both answers and the "
         "reconstruction", lambda: lab.analyze_drawing(drawing)),
        ("Page: pose-slider move -> new reconstruction",
         lambda: lab.reconstruct(analysis.capsules, label, pose)),
        ("Page: Figure 4 grid (16 dimensions x 11 steps of reconstructions)",
         lambda: lab.pose_grid(analysis.capsules, label)),
    ]
    rows += [(title, _duration(median_seconds(step, repeats))) for title, step in page]

    # 3) Training steps with the default recipe's augmentation, on fresh trainers.
    recipe = TrainConfig()
    drawing = recipe.drawing if recipe.augment == "drawing" else None
    trainers = {"CNN": build_cnn(seed=SEED, drawing=drawing),
                "CapsNet": build_capsnet(seed=SEED, drawing=drawing)}
    for title, built in trainers.items():
        name = title.lower()
        x = [images, one_hot] if name == "capsnet" else images
        rate = training_rate(name, built, recipe, x, one_hot, train_steps)
        rows.append((f"{title} training ({recipe.augment} augmentation), batches of {BATCH}",
                     f"{rate:.0f} images/s"))

    # 4) Two digits at once: the page's step where the two-digit weights are in place, and
    #    the training steps on pairs made in the step (each digit shifted by up to 4 pixels).
    rows += two_digit_rows(folder, sample.images[:2], images, one_hot, repeats, train_steps)

    # 5) How long an epoch took where the loaded weights were trained (their metrics file).
    for title, name in (("CNN", "cnn"), ("CapsNet", "capsnet")):
        record = lab.metrics.get(name) or {}
        seconds = checkpoints.epoch_seconds(record)
        if seconds is not None:
            augment = (record.get("train") or {}).get("augment", "shift")
            rows.append((f"{title} training epoch ({augment} augmentation) on "
                         f"{record.get('device', 'an unrecorded device')}, as recorded",
                         _duration(seconds)))

    # 6) Memory after all of the above.
    peak, current = memory()
    rows += [("Process memory, peak resident", _mebibytes(peak)),
             ("Process memory, resident now", _mebibytes(current))]

    lines = _header(weights_line, repeats, train_steps) + ["", "| Measurement | Result |",
                                                           "|---|---:|"]
    lines += [f"| {title} | {value} |" for title, value in rows]
    return "\n".join(lines)
