"""The training augmentation for drawings: each step against an independent reference (Pillow's
affine resampling and rank filters), identity where it must be, and a trainer that XLA compiles.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from capsnet.augment import DrawingStyle, bilinear_sample, interpolation_matrix
from capsnet.config import DrawingAugment, TrainConfig
from capsnet.samples import load_sample

IDENTITY = {"rate": 1.0, "scale": (1.0, 1.0), "aspect": 0.0, "elastic": 0.0,
            "stroke": (0.0, 0.0), "contrast": (1.0, 1.0)}


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    """MNIST test digits, float32 `(n, 28, 28, 1)` in [0, 1]."""
    return load_sample().select("random").images[:20].astype("float32")[..., None] / 255.0


def augment(images: np.ndarray, training: bool = True, **settings) -> np.ndarray:
    import keras

    layer = DrawingStyle(**{**IDENTITY, **settings}, seed=0)
    return keras.ops.convert_to_numpy(layer(images, training=training))


def test_identity_settings_change_nothing(digits):
    np.testing.assert_allclose(augment(digits), digits, atol=1e-6)


def test_inference_and_rate_zero_change_nothing(digits):
    strong = {"scale": (0.6, 0.7), "elastic": 3.0, "stroke": (2.0, 2.0)}
    np.testing.assert_array_equal(augment(digits, training=False, **strong), digits)
    np.testing.assert_array_equal(augment(digits, **{**strong, "rate": 0.0}), digits)


def test_rate_changes_about_that_share_of_images():
    images = np.zeros((400, 28, 28, 1), "float32")
    images[:, 8:20, 12:16] = 0.5
    changed = np.abs(augment(images, rate=0.3, contrast=(2.0, 2.0)) - images).max(axis=(1, 2, 3))
    assert 0.2 < np.mean(changed > 0) < 0.4


@pytest.mark.parametrize("scale", [0.7, 1.2])
def test_scaling_matches_pillow_about_the_centre_of_mass(digits, scale):
    scaled = augment(digits, scale=(scale, scale))
    rows = np.arange(28)[:, None]
    for image, result in zip(digits[..., 0], scaled[..., 0], strict=True):
        mass = image.sum()
        centre_y, centre_x = (image * rows).sum() / mass, (image * rows.T).sum() / mass
        # Pillow samples at pixel centres: input = a * (x + 0.5) + c, then - 0.5 for the index.
        a = 1.0 / scale
        reference = Image.fromarray(image, mode="F").transform(
            (28, 28), Image.Transform.AFFINE,
            (a, 0.0, (centre_x + 0.5) * (1 - a), 0.0, a, (centre_y + 0.5) * (1 - a)),
            resample=Image.Resampling.BILINEAR)
        np.testing.assert_allclose(result, np.asarray(reference), atol=2e-3)


def test_bolder_and_thinner_strokes_are_pillows_max_and_min_filters(digits):
    for change, rank in ((2.0, ImageFilter.MaxFilter), (-2.0, ImageFilter.MinFilter)):
        result = augment(digits, stroke=(change, change))
        for image, changed in zip(digits[..., 0], result[..., 0], strict=True):
            reference = np.asarray(Image.fromarray(image, mode="F").filter(rank(3)))
            np.testing.assert_allclose(changed, reference, atol=1e-6)
    half = augment(digits, stroke=(1.0, 1.0))  # half a step: halfway to the dilation
    np.testing.assert_allclose(half, (digits + augment(digits, stroke=(2.0, 2.0))) / 2, atol=1e-6)


def test_contrast_is_a_gain_clipped_at_full_ink(digits):
    np.testing.assert_allclose(augment(digits, contrast=(1.5, 1.5)),
                               np.minimum(digits * 1.5, 1.0), atol=1e-6)


def test_elastic_field_is_smooth_and_keeps_the_digit(digits):
    bent = augment(digits, elastic=1.0)
    assert not np.allclose(bent, digits)
    # A smooth field of about a pixel moves ink, it does not make or lose much of it.
    np.testing.assert_allclose(bent.sum(axis=(1, 2, 3)), digits.sum(axis=(1, 2, 3)), rtol=0.25)


def test_interpolation_matrix_reproduces_linear_ramps():
    matrix = interpolation_matrix(28, 5)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(matrix @ np.linspace(0, 27, 5), np.arange(28), atol=1e-4)


def test_bilinear_sample_reads_between_pixels_and_black_outside():
    import keras

    image = np.arange(16, dtype="float32").reshape(1, 4, 4)
    rows = np.full((1, 4, 4), 1.5, "float32")
    cols = np.array([[[0.5, 2.0, -1.0, 5.0]] * 4], "float32")
    sampled = keras.ops.convert_to_numpy(bilinear_sample(image, rows, cols))[0, 0]
    # row 1.5 is between rows 1 and 2: (4 + 8) / 2 = 6 at column 0, then + column
    np.testing.assert_allclose(sampled, [6.5, 8.0, 0.0, 0.0], atol=1e-6)


@pytest.mark.parametrize("pairs", [False, True], ids=["digits", "pairs"])
@pytest.mark.parametrize("name", ["capsnet", "cnn"])
def test_trainers_with_the_drawing_recipe_compile_under_xla(name, pairs):
    from keras.src.trainers.trainer import model_supports_jit

    from capsnet.config import CapsNetConfig, CNNConfig
    from capsnet.models import build_capsnet, build_cnn

    build = build_capsnet if name == "capsnet" else build_cnn
    config = (CapsNetConfig if name == "capsnet" else CNNConfig)()
    config = config.for_pairs() if pairs else config
    built = build(config, drawing=DrawingAugment(), seed=0)
    layer_names = [layer.name for layer in built.trainer._flatten_layers()]
    assert "drawing_style" in layer_names
    assert ("pairs" if pairs else "random_shift") in layer_names
    assert model_supports_jit(built.trainer)
    plain = build(config, seed=0).trainer._flatten_layers()
    assert "drawing_style" not in [layer.name for layer in plain]


def test_train_config_records_the_recipe():
    drawing = TrainConfig().to_dict()
    assert drawing["augment"] == "drawing" and drawing["drawing"] == DrawingAugment().to_dict()
    assert TrainConfig(augment="shift").to_dict()["drawing"] is None
    with pytest.raises(ValueError, match="augment must be one of"):
        TrainConfig(augment="rotate")


def test_the_style_computes_in_float32_under_mixed_bfloat16(digits):
    """Two-digit training runs in mixed_bfloat16 on CPUs that have it: the style still draws
    and resamples in float32, as it does without the policy."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        mixed = augment(digits, stroke=(2.0, 2.0))
    finally:
        keras.config.set_dtype_policy(previous)
    np.testing.assert_allclose(mixed, augment(digits, stroke=(2.0, 2.0)), atol=1e-6)
