"""The committed sample of MNIST test digits (made by `scripts/make_sample.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_PATH = Path(__file__).parent / "assets" / "mnist_sample.npz"


@dataclass
class Sample:
    """Test digits with their labels.

    Attributes:
        images: uint8 `(n, 28, 28)`, as in MNIST.
        labels: `(n,)` true digits.
        test_index: `(n,)` position of each digit in the MNIST test set.
        kind: `(n,)` "random" (a class-balanced random draw) or "disagreement" (the CNN and
            the CapsNet read it differently).
    """

    images: np.ndarray
    labels: np.ndarray
    test_index: np.ndarray
    kind: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, kind: str) -> Sample:
        keep = self.kind == kind
        return Sample(self.images[keep], self.labels[keep], self.test_index[keep],
                      self.kind[keep])


def load_sample(path: str | Path = SAMPLE_PATH) -> Sample:
    with np.load(path, allow_pickle=False) as archive:
        return Sample(archive["images"], archive["labels"].astype("int64"),
                      archive["test_index"], archive["kind"])
