"""Both trained models behind one thread-safe object: what the page and the CLI call.

One `Lab` is loaded per process and shared by every visitor's session, so each call
takes a lock: Keras models hold state (compiled functions, the random-seed state) that
concurrent calls must not interleave on.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import numpy as np

from capsnet import checkpoints
from capsnet.config import IMAGE_SIZE, NUM_CLASSES
from capsnet.preprocess import preprocess

POSE_RANGE = 0.25  # Figure 4: each dimension perturbed by up to +-0.25...
POSE_STEP = 0.05  # ...in intervals of 0.05
POSE_STEPS = np.round(np.arange(-POSE_RANGE, POSE_RANGE + POSE_STEP / 2, POSE_STEP), 2)


@dataclass
class Analysis:
    """Both models' reading of one 28x28 image.

    Attributes:
        image: the model input, float32 `(28, 28)` in [0, 1].
        cnn_probabilities: softmax output of the CNN, `(10,)`.
        capsnet_lengths: DigitCaps lengths, `(10,)`, each in [0, 1).
        capsules: DigitCaps vectors, `(10, 16)`.
        reconstruction: decoder output from the longest capsule, `(28, 28)`.
        couplings: routing coupling coefficients, `(routings, 1152, 10)`.
    """

    image: np.ndarray
    cnn_probabilities: np.ndarray
    capsnet_lengths: np.ndarray
    capsules: np.ndarray
    reconstruction: np.ndarray
    couplings: np.ndarray

    @property
    def cnn_label(self) -> int:
        return int(self.cnn_probabilities.argmax())

    @property
    def capsnet_label(self) -> int:
        return int(self.capsnet_lengths.argmax())

    @property
    def agree(self) -> bool:
        return self.cnn_label == self.capsnet_label

    @property
    def reconstruction_error(self) -> float:
        """Mean squared difference between the input and its reconstruction."""
        return float(np.mean(np.square(self.image - self.reconstruction)))


def image_batch(images: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """Images `(size, size)`, `(n, size, size)` or `(n, size, size, 1)` as float32
    `(n, size, size, 1)`."""
    images = np.asarray(images, dtype="float32")
    if images.shape[-2:] == (size, size):
        images = images[..., None]
    if images.ndim == 3:
        images = images[None]
    return images


class CapsuleLab:
    """A CNN and a CapsNet, loaded once and shared, and what the CapsNet's decoder draws;
    `Lab` (one digit) and `capsnet.two_digits.TwoDigitLab` (two) read images with them.

    Args:
        cnn: a `capsnet.models.CNN` with trained weights.
        capsnet: a `capsnet.models.CapsNet` with trained weights.
        metrics: the metrics file of each model, by name.
    """

    def __init__(self, cnn, capsnet, metrics: dict | None = None):
        self.cnn = cnn
        self.capsnet = capsnet
        self.metrics = metrics or {}
        self._lock = threading.Lock()

    def reconstruct_batch(self, capsules: np.ndarray, digits) -> np.ndarray:
        """Decoder images `(n, side, side)` from capsules `(n, 10, 16)`, masked to `digits`."""
        capsules = np.asarray(capsules, dtype="float32").reshape(-1, NUM_CLASSES,
                                                                 capsules.shape[-1])
        one_hot = np.eye(NUM_CLASSES, dtype="float32")[np.broadcast_to(digits, len(capsules))]
        with self._lock:
            images = self.capsnet.reconstructor.predict_on_batch([capsules, one_hot])
        return np.asarray(images)[..., 0]

    def reconstruct(self, capsules: np.ndarray, digit: int,
                    pose: np.ndarray | None = None) -> np.ndarray:
        """The decoder's image of one class's capsule, with `pose` added to its vector.

        Args:
            capsules: DigitCaps vectors `(10, 16)` of one image.
            digit: the class whose capsule is kept (the others are masked out).
            pose: optional change `(16,)` added to that capsule (the paper's Figure 4).
        """
        capsules = np.array(capsules, dtype="float32")
        if pose is not None:
            capsules[digit] += np.asarray(pose, dtype="float32")
        return self.reconstruct_batch(capsules[None], digit)[0]

    def decoder_layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The decoder's dense layers as `(kernel (inputs, units), bias (units,))` pairs, in
        order: the masked 160-vector -> 512 ReLU -> 1024 ReLU -> the image's pixels, sigmoid
        (Figure 2: 784 for one digit)."""
        decoder = self.capsnet.reconstructor.get_layer("decoder")
        return [tuple(layer.get_weights()) for layer in decoder.layers if layer.weights]

    def pose_grid(self, capsules: np.ndarray, digit: int,
                  steps: np.ndarray = POSE_STEPS) -> np.ndarray:
        """Figure 4: each of the 16 dimensions swept over `steps`, in one batch.

        Returns:
            `(16, len(steps), side, side)` reconstructions: row d varies dimension d alone.
        """
        capsules = np.asarray(capsules, dtype="float32")
        dims = capsules.shape[-1]
        grid = np.repeat(capsules[None, None], dims, axis=0).repeat(len(steps), axis=1)
        for d in range(dims):
            grid[d, :, digit, d] += steps
        images = self.reconstruct_batch(grid.reshape(-1, NUM_CLASSES, dims), digit)
        return images.reshape(dims, len(steps), *images.shape[1:])


class Lab(CapsuleLab):
    """The CNN and the CapsNet for one digit, loaded once and shared (see `CapsuleLab`)."""

    @classmethod
    def load(cls, folder: str | os.PathLike | None = None) -> Lab:
        """Loads both shipped models (or those in `folder`); raises `WeightsError`."""
        cnn, cnn_metrics = checkpoints.load("cnn", folder)
        capsnet, capsnet_metrics = checkpoints.load("capsnet", folder)
        return cls(cnn, capsnet, {"cnn": cnn_metrics, "capsnet": capsnet_metrics})

    def analyze_batch(self, images: np.ndarray, routings: int | None = None) -> list[Analysis]:
        """Both models on a stack of 28x28 images, `(n, 28, 28)` or `(n, 28, 28, 1)`.

        Args:
            routings: the CapsNet's routing iterations, with the same weights (default: as
                trained; 1 is uniform couplings, no routing).
        """
        batch = image_batch(images)
        with self._lock:
            probabilities = np.asarray(self.cnn.model.predict_on_batch(batch))
            outputs = self.capsnet.routed(routings).predict_on_batch(batch)
        return [
            Analysis(
                image=batch[i, ..., 0],
                cnn_probabilities=probabilities[i],
                capsnet_lengths=np.asarray(outputs["lengths"][i]),
                capsules=np.asarray(outputs["capsules"][i]),
                reconstruction=np.asarray(outputs["reconstruction"][i, ..., 0]),
                couplings=np.asarray(outputs["couplings"][i]),
            )
            for i in range(len(batch))
        ]

    def analyze(self, image: np.ndarray, routings: int | None = None) -> Analysis:
        """Both models on one 28x28 image (the CapsNet with `routings` iterations)."""
        return self.analyze_batch(image, routings)[0]

    def analyze_drawing(self, drawing) -> Analysis:
        """Preprocesses any image of a digit (canvas, photo) and analyses it.

        Raises:
            NotADigit: nothing is drawn, or only a dot.
        """
        return self.analyze(preprocess(drawing).image)
