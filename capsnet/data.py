"""MNIST loading: from a given `.npz` path, or Keras' download where a network exists."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from capsnet.config import IMAGE_SIZE, NUM_CLASSES

DATA_ENV = "CAPSNET_MNIST"  # environment variable naming the MNIST .npz file
DATA_HELP = f"MNIST .npz in the keras.datasets layout (default: ${DATA_ENV}, else Keras' download)"
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")  # keras.datasets.mnist layout


@dataclass
class Split:
    """Images as float32 `(n, 28, 28, 1)` in [0, 1] and integer labels `(n,)`."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def one_hot(self) -> np.ndarray:
        return np.eye(NUM_CLASSES, dtype="float32")[self.labels]


@dataclass
class MNIST:
    train: Split
    validation: Split
    test: Split


class DataError(RuntimeError):
    """The data set could not be found or read; the message says what to do."""


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 `(n, 28, 28)` grey levels -> float32 `(n, 28, 28, 1)` in [0, 1]."""
    return (np.asarray(images, dtype="float32") / 255.0)[..., None]


def load_arrays(path: str | os.PathLike | None = None) -> tuple[np.ndarray, ...]:
    """Returns `(x_train, y_train, x_test, y_test)` as uint8 arrays.

    Args:
        path: an `.npz` file in the `keras.datasets.mnist` layout. Without it, the
            `CAPSNET_MNIST` environment variable is used, and without that, Keras'
            download (which needs a network).

    Raises:
        DataError: the file is missing or not an MNIST `.npz`, or the download failed.
    """
    path = path or os.environ.get(DATA_ENV)
    if path is None:
        try:
            import keras  # imported here: reading a file needs only numpy

            (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
        except Exception as error:  # no network, blocked host, bad cache
            raise DataError(
                f"Could not download MNIST ({error}). Pass --data PATH to an mnist.npz "
                f"in the keras.datasets layout, or set {DATA_ENV}=PATH."
            ) from error
        return x_train, y_train, x_test, y_test

    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(
            f"No MNIST file at {path}. Pass --data PATH (or set {DATA_ENV}) to an .npz "
            f"with the keys {', '.join(NPZ_KEYS)}."
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in NPZ_KEYS if key not in archive.files]
            if missing:
                raise DataError(f"{path} lacks the keys {missing}; expected {NPZ_KEYS}.")
            arrays = tuple(archive[key] for key in NPZ_KEYS)
    except DataError:
        raise
    except Exception as error:  # not a zip, truncated, pickled objects
        raise DataError(f"Could not read {path} as an .npz archive: {error}") from error

    x_train, y_train, x_test, y_test = arrays
    for name, images in (("x_train", x_train), ("x_test", x_test)):
        if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise DataError(f"{name} in {path} has shape {images.shape}; expected (n, 28, 28).")
    return x_train, y_train, x_test, y_test


def load_mnist(path: str | os.PathLike | None = None, validation_size: int = 5000,
               seed: int = 0) -> MNIST:
    """Loads MNIST and carves a validation split from the training set.

    The validation images are a seeded random sample of the training set; the test set
    stays untouched, for the final measurement only.
    """
    x_train, y_train, x_test, y_test = load_arrays(path)
    if not 0 <= validation_size < len(x_train):
        raise ValueError(
            f"validation_size must be in [0, {len(x_train)}). Received: {validation_size}"
        )
    order = np.random.default_rng(seed).permutation(len(x_train))
    valid, train = order[:validation_size], order[validation_size:]

    def split(images, labels):
        return Split(to_model_input(images), np.asarray(labels, dtype="int64"))

    return MNIST(
        train=split(x_train[train], y_train[train]),
        validation=split(x_train[valid], y_train[valid]),
        test=split(x_test, y_test),
    )


def load_test(path: str | os.PathLike | None = None) -> Split:
    """The full 10,000-image MNIST test set."""
    _, _, x_test, y_test = load_arrays(path)
    return Split(to_model_input(x_test), np.asarray(y_test, dtype="int64"))
