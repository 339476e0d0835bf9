"""MultiMNIST (Sabour et al. 2017, Section 6): two digits of different classes, overlaid.

Each example puts two MNIST digits of different classes on a 36x36 canvas: each digit is
padded from 28x28 to 36x36 and shifted by up to 4 pixels in each direction, and the two are
added, clipped at full ink. The models see the overlay; the CapsNet's decoder learns to
redraw each digit on its own, so each example also keeps its two single shifted digits.

Pairs are made twice, the same way:
- in the train step, by `capsnet.layers.OverlayPairs` (plain `keras.ops`, so the step stays
  compiled under XLA): each digit of a batch gets a random partner of another class from the
  same batch and both get fresh random shifts, so no two epochs show the same pairs;
- in numpy, by `make_pairs`, for the fixed, seeded validation and test sets (`test_pairs`
  remakes the same 10,000 test pairs from MNIST's test digits whenever it is called).

This module is numpy only, so the page can read pairs without loading Keras.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from capsnet.config import (
    IMAGE_SIZE,
    NUM_CLASSES,
    PAIR_DIGITS,
    PAIR_IMAGE_SIZE,
    PAIR_MAX_SHIFT,
    PAIR_PAD,
)
from capsnet.data import Split

PAD = PAIR_PAD
DIGITS = PAIR_DIGITS
TEST_SEED = 0  # the fixed test set: MNIST test digits, paired and shifted with this seed
VALIDATION_SEED = 1  # the fixed validation pairs, from the validation split's digits


@dataclass
class Pairs:
    """Overlaid digit pairs and what they were made of.

    Attributes:
        images: the overlays, float32 `(n, 36, 36, 1)` in [0, 1].
        labels: the two classes of each example, int64 `(n, 2)`, always different.
        digits: each digit alone, shifted as in the overlay, float32 `(n, 2, 36, 36, 1)`:
            the reconstruction targets.
        shifts: each digit's shift `(rows down, columns right)`, int64 `(n, 2, 2)`.
        indices: which digits of the split were paired, int64 `(n, 2)`.
    """

    images: np.ndarray
    labels: np.ndarray
    digits: np.ndarray
    shifts: np.ndarray
    indices: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, count: int) -> Pairs:
        """The first `count` pairs."""
        return Pairs(self.images[:count], self.labels[:count], self.digits[:count],
                     self.shifts[:count], self.indices[:count])

    def two_hot(self) -> np.ndarray:
        """`(n, 10)` float32 targets with a 1 for each of the two classes."""
        return np.eye(NUM_CLASSES, dtype="float32")[self.labels].sum(axis=1)


def partners(labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Indices `(count, 2)` of digit pairs of different classes, each digit drawn uniformly.

    Raises:
        ValueError: the labels hold fewer than two classes.
    """
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        raise ValueError("Pairs of different classes need digits of two classes at least.")
    first = rng.choice(len(labels), count, replace=count > len(labels))
    second = rng.integers(len(labels), size=count)
    same = labels[second] == labels[first]
    while same.any():  # redraw the partners of the same class (1 in 10 each round)
        second[same] = rng.integers(len(labels), size=int(same.sum()))
        same = labels[second] == labels[first]
    return np.stack([first, second], axis=1)


def place(digit: np.ndarray, shift=(0, 0)) -> np.ndarray:
    """A 28x28 digit (`(28, 28)` or `(28, 28, 1)`) on the 36x36 canvas, moved by `shift`
    `(rows down, columns right)` from its middle; a shift of at most `PAD` pixels keeps the
    whole 28x28 field on the canvas."""
    top, left = PAD + int(shift[0]), PAD + int(shift[1])
    canvas = np.zeros((PAIR_IMAGE_SIZE, PAIR_IMAGE_SIZE) + digit.shape[2:], "float32")
    canvas[top:top + IMAGE_SIZE, left:left + IMAGE_SIZE] = digit
    return canvas


def make_pairs(split: Split, count: int, seed: int,
               max_shift: int = PAIR_MAX_SHIFT) -> Pairs:
    """`count` overlaid pairs from a split's digits, deterministic for a seed.

    Args:
        split: 28x28 digits and their labels.
        count: pairs to make; each digit is used once as a first digit while `count` allows.
        seed: seed of the pairing and the shifts.
        max_shift: largest shift of each digit in pixels, each direction and axis.
    """
    if not 0 <= max_shift <= PAD:
        raise ValueError(f"max_shift must be in [0, {PAD}]. Received: max_shift={max_shift}")
    rng = np.random.default_rng(seed)
    index = partners(split.labels, count, rng)
    shifts = rng.integers(-max_shift, max_shift + 1, size=(count, DIGITS, 2))
    digits = np.zeros((count, DIGITS, PAIR_IMAGE_SIZE, PAIR_IMAGE_SIZE, 1), "float32")
    for n in range(count):
        for k in range(DIGITS):
            digits[n, k] = place(split.images[index[n, k]], shifts[n, k])
    overlays = np.minimum(digits[:, 0] + digits[:, 1], 1.0)  # the sum, clipped at full ink
    return Pairs(overlays, split.labels[index].astype("int64"), digits,
                 shifts.astype("int64"), index.astype("int64"))


def test_pairs(test: Split) -> Pairs:
    """The fixed MultiMNIST test set: MNIST test digits only, each the first digit of one
    pair (10,000 pairs from MNIST's test set), the same pairs at every call."""
    return make_pairs(test, len(test), TEST_SEED)


def field_overlap(shifts: np.ndarray) -> np.ndarray:
    """Share of the area that the two digits' 28x28 fields have in common, per pair `(n,)`:
    the paper's "80% overlap" on average for shifts of up to 4 pixels."""
    apart = np.abs(shifts[:, 0] - shifts[:, 1])  # (n, 2): rows, columns
    return np.prod(IMAGE_SIZE - apart, axis=-1) / IMAGE_SIZE**2


def answers(scores: np.ndarray) -> np.ndarray:
    """The two highest-scoring classes of each example, highest first: `(n, 2)`."""
    return np.argsort(-np.asarray(scores), axis=-1, kind="stable")[..., :DIGITS]


def both_named(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Whether each example's two answers are its two classes (in either order): `(n,)`."""
    return np.all(np.sort(answers(scores), axis=-1) == np.sort(labels, axis=-1), axis=-1)
