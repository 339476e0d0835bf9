"""Capsule layers against independent references: numpy Procedure 1, Eq. 1, Eq. 4."""

import keras
import numpy as np
import pytest
from keras import ops

from capsnet.layers import (
    CapsuleLength,
    DigitCapsules,
    Mask,
    PrimaryCapsules,
    RandomShift,
    squash,
)
from capsnet.losses import margin_loss, reconstruction_loss


def numpy_squash(s):
    norm = np.linalg.norm(s, axis=-1, keepdims=True)
    return norm**2 / (1 + norm**2) * s / norm


def numpy_routing(u, W, iterations):
    """Procedure 1 of the paper, written as plain loops over the batch."""
    outputs, all_couplings = [], []
    for example in u:  # example: (num_in, in_dim)
        u_hat = np.einsum("ijkd,id->ijk", W, example)  # (num_in, num_out, dim)
        b = np.zeros(u_hat.shape[:2])
        couplings = []
        for _ in range(iterations):
            c = np.exp(b) / np.exp(b).sum(axis=1, keepdims=True)
            couplings.append(c)
            s = (c[..., None] * u_hat).sum(axis=0)
            v = numpy_squash(s)
            b = b + (u_hat * v[None]).sum(axis=-1)
        outputs.append(v)
        all_couplings.append(np.stack(couplings))
    return np.stack(outputs), np.stack(all_couplings)


@pytest.mark.parametrize("iterations", [1, 3])
def test_routing_matches_numpy_procedure_1(iterations):
    rng = np.random.default_rng(iterations)
    u = numpy_squash(rng.normal(size=(4, 36, 8))).astype("float32")
    layer = DigitCapsules(10, 16, routings=iterations, return_couplings=True,
                          kernel_initializer=keras.initializers.RandomNormal(stddev=0.5, seed=3))
    v, c = layer(u)
    W = ops.convert_to_numpy(layer.kernel)
    v_ref, c_ref = numpy_routing(u.astype("float64"), W.astype("float64"), iterations)
    np.testing.assert_allclose(ops.convert_to_numpy(v), v_ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(c), c_ref, rtol=1e-4, atol=1e-6)
    assert c.shape == (4, iterations, 36, 10)


def test_routing_sharpens_couplings():
    # With agreement the couplings move away from uniform: entropy drops per iteration.
    rng = np.random.default_rng(0)
    u = numpy_squash(rng.normal(size=(2, 64, 8))).astype("float32")
    layer = DigitCapsules(10, 16, routings=3, return_couplings=True,
                          kernel_initializer=keras.initializers.RandomNormal(stddev=1.0, seed=1))
    _, c = layer(u)
    c = ops.convert_to_numpy(c)
    entropy = -(c * np.log(c)).sum(-1).mean(axis=(0, 2))
    np.testing.assert_allclose(entropy[0], np.log(10), rtol=1e-5)  # iteration 1: uniform
    assert entropy[1] < entropy[0] and entropy[2] < entropy[1]


def test_squash_keeps_direction_and_bounds_length():
    rng = np.random.default_rng(0)
    s = rng.normal(size=(100, 16)).astype("float32") * rng.uniform(0.01, 10, size=(100, 1))
    v = ops.convert_to_numpy(squash(s))
    np.testing.assert_allclose(v, numpy_squash(s), rtol=1e-5, atol=1e-6)
    cosine = (v * s).sum(-1) / np.linalg.norm(v, axis=-1) / np.linalg.norm(s, axis=-1)
    np.testing.assert_allclose(cosine, 1.0, rtol=1e-5)
    assert np.all(np.linalg.norm(v, axis=-1) < 1.0)


def test_squash_length_is_monotone_in_input_length():
    direction = np.ones((1, 8), "float32") / np.sqrt(8)
    norms = np.linspace(0.0, 20.0, 200, dtype="float32")[:, None]
    lengths = np.linalg.norm(ops.convert_to_numpy(squash(direction * norms)), axis=-1)
    assert np.all(np.diff(lengths) > 0)
    # |v| = |s|^2 / (1 + |s|^2) at two hand-computed points
    np.testing.assert_allclose(lengths[norms[:, 0] == 0], 0.0, atol=1e-6)
    one = np.linalg.norm(ops.convert_to_numpy(squash(direction * 1.0)))
    np.testing.assert_allclose(one, 0.5, rtol=1e-5)


def test_margin_loss_hand_computed():
    y = np.array([[0, 1, 0], [1, 0, 0]], "float32")
    lengths = np.array([[0.2, 0.5, 0.05], [0.95, 0.3, 0.1]], "float32")
    # example 1: 0.5*(0.2-0.1)^2 + (0.9-0.5)^2 + 0 = 0.005 + 0.16 = 0.165
    # example 2: 0 + 0.5*(0.3-0.1)^2 + 0 = 0.02
    expected = (0.165 + 0.02) / 2
    np.testing.assert_allclose(float(margin_loss(y, lengths)), expected, rtol=1e-6)


def test_margin_loss_plateau_value():
    # All capsules near zero: the loss is m+^2 = 0.81, the plateau a dead start sits on.
    y = np.eye(10, dtype="float32")[[3]]
    np.testing.assert_allclose(float(margin_loss(y, np.zeros((1, 10), "float32"))), 0.81)


def test_reconstruction_loss_is_mean_squared_error():
    a = np.zeros((2, 28, 28, 1), "float32")
    b = np.full((2, 28, 28, 1), 0.5, "float32")
    np.testing.assert_allclose(ops.convert_to_numpy(reconstruction_loss(a, b)), [0.25, 0.25])


def test_mask_keeps_longest_capsule_in_inference():
    capsules = np.zeros((2, 10, 16), "float32")
    capsules[0, 3] = 0.5
    capsules[0, 7] = 0.1
    capsules[1, 9] = 0.2
    masked = ops.convert_to_numpy(Mask()(capsules)).reshape(2, 10, 16)
    np.testing.assert_array_equal(masked[0, 3], capsules[0, 3])
    assert np.all(masked[0, 7] == 0) and np.all(masked[1, 9] == 0.2)
    assert np.count_nonzero(masked[0].any(-1)) == 1


def test_mask_keeps_given_class():
    rng = np.random.default_rng(0)
    capsules = rng.normal(size=(3, 10, 16)).astype("float32")
    chosen = np.array([2, 5, 0])
    masked = ops.convert_to_numpy(Mask()([capsules, np.eye(10, dtype="float32")[chosen]]))
    masked = masked.reshape(3, 10, 16)
    for i, k in enumerate(chosen):
        np.testing.assert_array_equal(masked[i, k], capsules[i, k])
        assert np.all(np.delete(masked[i], k, axis=0) == 0)


def test_capsule_length():
    capsules = np.zeros((1, 10, 16), "float32")
    capsules[0, 4, :2] = [0.3, 0.4]
    lengths = ops.convert_to_numpy(CapsuleLength()(capsules))
    np.testing.assert_allclose(lengths[0, 4], 0.5, rtol=1e-5)
    assert lengths[0, 0] < 1e-3


def test_primary_capsules_shape_and_grouping():
    layer = PrimaryCapsules(32, 8, 9, strides=2)
    x = np.random.default_rng(0).normal(size=(2, 20, 20, 16)).astype("float32")
    out = layer(x)
    assert out.shape == (2, 1152, 8)
    # capsule (row, col, type) holds conv channels type*8 .. type*8+7 at (row, col), squashed
    conv = ops.convert_to_numpy(layer.conv(x))
    row, col, kind = 2, 4, 5
    expected = numpy_squash(conv[0, row, col, kind * 8:(kind + 1) * 8])
    np.testing.assert_allclose(ops.convert_to_numpy(out)[0, (row * 6 + col) * 32 + kind],
                               expected, rtol=1e-4, atol=1e-6)


def test_random_shift_moves_pixels_within_bounds():
    image = np.zeros((64, 28, 28, 1), "float32")
    image[:, 14, 14] = 1.0
    layer = RandomShift(2, seed=0)
    shifted = ops.convert_to_numpy(layer(image, training=True))
    positions = np.argwhere(shifted[..., 0] == 1.0)
    assert len(positions) == 64  # one pixel each, kept exactly
    offsets = positions[:, 1:] - 14
    assert np.abs(offsets).max() == 2 and len({tuple(o) for o in offsets}) > 10
    np.testing.assert_array_equal(ops.convert_to_numpy(layer(image, training=False)), image)


def test_random_shift_fills_border_with_zeros():
    image = np.ones((16, 28, 28, 1), "float32")
    shifted = ops.convert_to_numpy(RandomShift(2, seed=1)(image, training=True))
    sums = shifted.sum(axis=(1, 2, 3))
    dy_dx_area = np.array([28 * 28 - s for s in sums])
    assert np.all(dy_dx_area >= 0) and np.any(dy_dx_area > 0)
    assert set(np.unique(shifted)) <= {0.0, 1.0}


@pytest.mark.parametrize(
    "layer",
    [
        PrimaryCapsules(32, 8, 9, strides=2, name="p"),
        DigitCapsules(10, 16, routings=2, return_couplings=True, detach_routing=False),
        CapsuleLength(),
        Mask(),
        RandomShift(3, seed=7),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_layer_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer) and restored.get_config() == config


@pytest.mark.parametrize(
    "make",
    [
        lambda: DigitCapsules(10, 16, routings=0),
        lambda: DigitCapsules(10, 0),
        lambda: PrimaryCapsules(32, 8, 0),
        lambda: RandomShift(-1),
    ],
)
def test_layers_reject_bad_arguments(make):
    with pytest.raises(ValueError, match="Received"):
        make()
