"""Warm start: a two-digit model's first weights taken from the trained one-digit model.

The paper trains its MultiMNIST CapsNet from scratch. On a CPU that costs days, and most of
what the two-digit model must learn first (strokes, their parts, how parts vote for digits,
how a digit is drawn) the one-digit model already knows. A warm start copies it across:

- Layers whose weights do not depend on the canvas size are copied as they are: the CapsNet's
  Conv1 and PrimaryCaps convolution and the decoder's two hidden layers; the CNN's
  convolutions, batch normalisations and output layer.
- The CapsNet's DigitCaps holds one transformation matrix per primary capsule, and the
  primary grid grows from 6x6 (28x28 input) to 10x10 (36x36): each place of the larger grid
  takes the matrices of the nearest place of the smaller one, scaled to the same relative
  position, for every capsule type.
- The decoder's output layer draws 28x28 pixels; on the 36x36 canvas the MNIST field is the
  middle 28x28 (`PAIR_PAD` pixels in from each side), so its weights land there and the
  border starts blank (zero weights, the smallest bias of the one-digit decoder).
- The CNN's head convolution sees the whole remaining map (4x4 from 28x28, 6x6 from 36x36)
  and keeps its fresh initialisation.

Keras and numpy only, so it runs on the GPU machine's JAX backend too.
"""

from __future__ import annotations

import os

import numpy as np

from capsnet import checkpoints
from capsnet.config import IMAGE_SIZE, PAIR_PAD


def nearest_places(source_grid: int, target_grid: int) -> np.ndarray:
    """For each row (or column) of a `target_grid` grid, the row of a `source_grid` grid at
    the same relative position (cell centres matched): `(target_grid,)` indices."""
    centres = (np.arange(target_grid) + 0.5) * source_grid / target_grid - 0.5
    return np.clip(np.rint(centres), 0, source_grid - 1).astype("int64")


def map_digit_transforms(kernel: np.ndarray, source_grid: int, target_grid: int,
                         types: int) -> np.ndarray:
    """DigitCaps transformation matrices for a larger primary grid, by nearest place.

    Args:
        kernel: `(source_grid**2 * types, classes, dim, input_dim)`, primary capsule index
            `(row * source_grid + col) * types + type`.

    Returns:
        `(target_grid**2 * types, classes, dim, input_dim)` in the same layout.
    """
    grid = kernel.reshape(source_grid, source_grid, types, *kernel.shape[1:])
    rows = nearest_places(source_grid, target_grid)
    mapped = grid[rows][:, rows]  # (target, target, types, classes, dim, input_dim)
    return mapped.reshape(target_grid * target_grid * types, *kernel.shape[1:])


def place_output_layer(kernel: np.ndarray, bias: np.ndarray,
                       size: int) -> tuple[np.ndarray, np.ndarray]:
    """A decoder output layer for 28x28 pixels placed in the middle of a `size`x`size` canvas:
    the border's weights are zero and its bias the smallest of the layer's (blank ink)."""
    pad = (size - IMAGE_SIZE) // 2
    if pad != PAIR_PAD and size != IMAGE_SIZE:
        raise ValueError(f"size must be {IMAGE_SIZE} or {IMAGE_SIZE + 2 * PAIR_PAD}. "
                         f"Received: size={size}")
    units = kernel.shape[0]
    new_kernel = np.zeros((units, size, size), kernel.dtype)
    new_kernel[:, pad:pad + IMAGE_SIZE, pad:pad + IMAGE_SIZE] = kernel.reshape(
        units, IMAGE_SIZE, IMAGE_SIZE)
    new_bias = np.full((size, size), bias.min(), bias.dtype)
    new_bias[pad:pad + IMAGE_SIZE, pad:pad + IMAGE_SIZE] = bias.reshape(IMAGE_SIZE, IMAGE_SIZE)
    return new_kernel.reshape(units, size * size), new_bias.reshape(size * size)


def _copy(source_layer, target_layer, copied: list[str]) -> None:
    target_layer.set_weights(source_layer.get_weights())
    copied.append(target_layer.name)


def _capsnet(source, target) -> dict:
    copied, mapped = [], []
    for name in ("conv1", "primary_caps"):
        _copy(source.model.get_layer(name), target.model.get_layer(name), copied)
    (kernel,) = source.model.get_layer("digit_caps").get_weights()
    digit = target.model.get_layer("digit_caps")
    digit.set_weights([map_digit_transforms(kernel, source.config.primary_grid,
                                            target.config.primary_grid,
                                            target.config.primary_types)])
    mapped.append(f"digit_caps (W by nearest place, {source.config.primary_grid}x"
                  f"{source.config.primary_grid} -> {target.config.primary_grid}x"
                  f"{target.config.primary_grid})")
    source_dense = [layer for layer in source.model.get_layer("decoder").layers
                    if layer.weights]
    target_dense = [layer for layer in target.model.get_layer("decoder").layers
                    if layer.weights]
    for number, (source_layer, target_layer) in enumerate(
            zip(source_dense[:-1], target_dense[:-1], strict=True), start=1):
        target_layer.set_weights(source_layer.get_weights())
        copied.append(f"decoder hidden layer {number}")
    target_dense[-1].set_weights(list(place_output_layer(*source_dense[-1].get_weights(),
                                                         target.config.image_size)))
    mapped.append(f"decoder output (the 28x28 field in the middle of "
                  f"{target.config.image_size}x{target.config.image_size})")
    return {"copied": copied, "mapped": mapped, "fresh": []}


def _cnn(source, target) -> dict:
    copied, fresh = [], []
    for source_layer, target_layer in zip(source.model.layers, target.model.layers,
                                          strict=True):
        if not target_layer.weights:
            continue
        shapes = [tuple(w.shape) for w in source_layer.weights]
        if shapes == [tuple(w.shape) for w in target_layer.weights]:
            _copy(source_layer, target_layer, copied)
        else:
            fresh.append(target_layer.name)
    return {"copied": copied, "mapped": [], "fresh": fresh}


def warm_start(name: str, built, folder: str | os.PathLike | None = None) -> dict:
    """Sets a two-digit model's weights from the one-digit model of the same kind.

    Args:
        name: "multimnist_capsnet" or "multimnist_cnn".
        built: the freshly built two-digit `CapsNet` or `CNN`.
        folder: the one-digit weights folder (default: the shipped one).

    Returns:
        What was done, for the metrics file: the source's SHA-256 and test accuracy, and the
        layers copied, mapped and left fresh.
    """
    if name not in checkpoints.PAIR_MODEL_NAMES:
        raise ValueError(f"name must be one of {checkpoints.PAIR_MODEL_NAMES}. "
                         f"Received: name={name!r}")
    kind = checkpoints.kind(name)
    source, metrics = checkpoints.load(kind, folder)
    done = _capsnet(source, built) if kind == "capsnet" else _cnn(source, built)
    return {"from": kind, "weights_sha256": metrics.get("weights_sha256"),
            "test_accuracy": metrics.get("test_accuracy"), **done}
