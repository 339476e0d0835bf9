"""The input transforms against exact references: numpy's rot90, integer shifts, moments."""

import numpy as np
import pytest

from capsnet import transforms
from capsnet.samples import load_sample
from capsnet.transforms import Transform, apply, centre_of_mass


@pytest.fixture(scope="module")
def digits():
    sample = load_sample()
    return sample.images[:20].astype("float32") / 255.0


def chiral_points(size: int = 29) -> np.ndarray:
    """Three equal dots whose centre of mass is the field's centre pixel, with no symmetry
    that a quarter turn in the wrong direction could match."""
    image = np.zeros((size, size), "float32")
    image[14, 17] = image[11, 14] = image[17, 11] = 1.0
    return image


def test_the_identity_returns_the_input(digits):
    for digit in digits:
        np.testing.assert_array_equal(apply(digit, Transform()), digit)


def test_a_quarter_turn_about_a_pixel_is_numpys_counter_clockwise_rot90():
    image = chiral_points()
    assert centre_of_mass(image) == (14.0, 14.0)
    turned = apply(image, Transform(rotation=90))
    np.testing.assert_allclose(turned, np.rot90(image, 1), atol=1e-6)
    assert not np.allclose(turned, np.rot90(image, -1))
    np.testing.assert_allclose(apply(image, Transform(rotation=-90)), np.rot90(image, -1),
                               atol=1e-6)


def test_four_quarter_turns_give_the_digit_back(digits):
    for digit in digits:
        turned = digit
        for _ in range(4):
            turned = apply(turned, Transform(rotation=90))
        # about a centre of mass between pixels each turn resamples, so some blur remains
        assert np.corrcoef(turned.ravel(), digit.ravel())[0, 1] > 0.9
        np.testing.assert_allclose(centre_of_mass(turned), centre_of_mass(digit), atol=0.2)


def test_rotation_keeps_the_centre_of_mass_and_the_ink(digits):
    for angle in (-45, 15, 30):
        for digit in digits:
            turned = apply(digit, Transform(rotation=angle))
            kept = turned.sum() / digit.sum()
            assert abs(kept - 1) < 0.05
            if abs(kept - 1) < 0.01:  # no corner of the digit turned out of the field
                np.testing.assert_allclose(centre_of_mass(turned), centre_of_mass(digit),
                                           atol=0.1)


@pytest.mark.parametrize(("dx", "dy"), [(3, 0), (0, -2), (-4, 5), (1, 1)])
def test_an_integer_shift_moves_every_pixel_and_the_centre_of_mass(digits, dx, dy):
    for digit in digits:
        moved = apply(digit, Transform(shift_x=dx, shift_y=dy))
        reference = np.zeros_like(digit)
        # reference[r + dy, c + dx] = digit[r, c], where both lie in the field
        rows, columns = digit.shape
        reference[max(dy, 0):rows + min(dy, 0), max(dx, 0):columns + min(dx, 0)] = \
            digit[max(-dy, 0):rows + min(-dy, 0), max(-dx, 0):columns + min(-dx, 0)]
        np.testing.assert_allclose(moved, reference, atol=1e-6)
        if np.isclose(reference.sum(), digit.sum()):  # no ink pushed out of the field
            row, column = centre_of_mass(digit)
            np.testing.assert_allclose(centre_of_mass(moved), (row + dy, column + dx),
                                       atol=1e-4)


def test_scaling_scales_the_spread_about_the_centre_of_mass(digits):
    def spread(image):
        row, column = centre_of_mass(image)
        rows, columns = np.indices(image.shape)
        return np.sqrt((image * ((rows - row) ** 2 + (columns - column) ** 2)).sum()
                       / image.sum())

    for factor in (0.6, 0.8, 1.2):
        ratios = [spread(apply(d, Transform(scale=factor))) / spread(d) for d in digits]
        assert abs(np.median(ratios) - factor) < 0.05
    for digit in digits:  # shrinking pushes nothing out of the field
        shrunk = apply(digit, Transform(scale=0.7))
        np.testing.assert_allclose(centre_of_mass(shrunk), centre_of_mass(digit), atol=0.1)
        assert shrunk.sum() / digit.sum() == pytest.approx(0.7 ** 2, rel=0.05)


def test_a_positive_shear_leans_the_top_to_the_right():
    image = chiral_points()
    sheared = apply(image, Transform(shear=0.5))

    def column_of_ink(rows):  # the ink's mean column in a band of rows
        band = sheared[rows]
        return (band * np.arange(band.shape[1])).sum() / band.sum()

    # the dot 3 rows above the centre moves 1.5 columns right, the one 3 below 1.5 left,
    # the one on the centre's row stays
    assert column_of_ink(slice(9, 13)) == pytest.approx(15.5, abs=0.05)
    assert column_of_ink(slice(16, 20)) == pytest.approx(9.5, abs=0.05)
    assert column_of_ink(slice(13, 16)) == pytest.approx(17.0, abs=0.05)


def test_stroke_changes_thicken_and_thin_in_order(digits):
    for digit in digits:
        ink = [transforms.change_stroke(digit, k).sum() for k in (-2, -1, 0, 1, 2)]
        assert all(a < b for a, b in zip(ink, ink[1:], strict=False))
        np.testing.assert_array_equal(transforms.change_stroke(digit, 0), digit)
        # dilation never darkens a pixel, erosion never brightens one
        assert (transforms.change_stroke(digit, 1) >= digit).all()
        assert (transforms.change_stroke(digit, -1) <= digit).all()


def test_one_pixel_of_stroke_widens_a_bar_by_one_pixel():
    image = np.zeros((28, 28), "float32")
    image[6:22, 12:15] = 1.0  # a vertical bar 3 pixels wide
    width = transforms.change_stroke(image, 1)[14].sum()
    assert width == pytest.approx(4.0, abs=0.3)
    assert transforms.change_stroke(image, -1)[14].sum() == pytest.approx(2.0, abs=0.3)


def test_values_stay_in_range_and_shapes_are_kept(digits):
    change = Transform(rotation=30, shift_x=2, shift_y=-3, scale=1.4, shear=-0.5, stroke=2)
    for digit in digits:
        bent = apply(digit, change)
        assert bent.shape == digit.shape and bent.dtype == np.float32
        assert bent.min() >= 0.0 and bent.max() <= 1.0


def test_sweeps_have_one_image_per_step(digits):
    rotated = transforms.rotation_sweep(digits[0])
    assert rotated.shape == (len(transforms.SWEEP_ROTATIONS), 28, 28)
    assert list(transforms.SWEEP_ROTATIONS) == list(range(-60, 61, 5))
    zero = list(transforms.SWEEP_ROTATIONS).index(0)
    np.testing.assert_array_equal(rotated[zero], digits[0])
    shifted = transforms.shift_sweep(digits[0])
    assert shifted.shape == (2, 13, 28, 28)
    np.testing.assert_allclose(shifted[0, -1], apply(digits[0], Transform(shift_x=6)))
    np.testing.assert_allclose(shifted[1, 0], apply(digits[0], Transform(shift_y=-6)))


def test_steady_range_is_the_run_of_right_answers_around_zero():
    amounts = [-3, -2, -1, 0, 1, 2, 3]
    assert transforms.steady_range(amounts, [0, 1, 1, 1, 1, 0, 1]) == (-2, 1)
    assert transforms.steady_range(amounts, [1] * 7) == (-3, 3)
    assert transforms.steady_range(amounts, [1, 1, 1, 0, 1, 1, 1]) is None
    with pytest.raises(ValueError):
        transforms.steady_range([1, 2], [1, 1])


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="scale"):
        Transform(scale=0)
    with pytest.raises(ValueError, match="stroke"):
        Transform(stroke=0.5)
