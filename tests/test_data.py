"""The MNIST loader: a path, an environment variable, and clear failures."""

import numpy as np
import pytest

from capsnet.data import DataError, load_arrays, load_mnist


def write_fake(path, n_train=50, n_test=20, **overrides):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return arrays


def test_path_argument_and_environment_variable(tmp_path, monkeypatch):
    arrays = write_fake(tmp_path / "m.npz")
    loaded = load_arrays(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded[0], arrays["x_train"])
    monkeypatch.setenv("CAPSNET_MNIST", str(tmp_path / "m.npz"))
    np.testing.assert_array_equal(load_arrays()[3], arrays["y_test"])


def test_validation_split_is_disjoint_and_seeded(tmp_path):
    write_fake(tmp_path / "m.npz", n_train=100)
    a = load_mnist(tmp_path / "m.npz", validation_size=30, seed=1)
    b = load_mnist(tmp_path / "m.npz", validation_size=30, seed=1)
    assert len(a.train) == 70 and len(a.validation) == 30 and len(a.test) == 20
    np.testing.assert_array_equal(a.validation.images, b.validation.images)
    train_rows = {img.tobytes() for img in a.train.images}
    assert not any(img.tobytes() in train_rows for img in a.validation.images)


def test_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(DataError, match="--data PATH.*CAPSNET_MNIST"):
        load_arrays(tmp_path / "absent.npz")


def test_wrong_keys_are_named(tmp_path):
    write_fake(tmp_path / "m.npz", y_test=None)
    with pytest.raises(DataError, match="y_test"):
        load_arrays(tmp_path / "m.npz")


def test_not_an_archive(tmp_path):
    (tmp_path / "m.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataError, match="Could not read"):
        load_arrays(tmp_path / "m.npz")


def test_download_failure_says_what_to_do(monkeypatch):
    import keras

    def offline():
        raise OSError("no network")

    monkeypatch.delenv("CAPSNET_MNIST", raising=False)
    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(DataError, match="Could not download MNIST.*--data PATH"):
        load_arrays()
