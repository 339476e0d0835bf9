"""Routing summaries against plain loops over the primary capsules' index layout."""

import math

import numpy as np
import pytest

from capsnet import routing
from capsnet.page import charts

ROUTINGS = 3


@pytest.fixture(scope="module")
def couplings():
    """Random couplings that, like real ones, sum to one over the ten digit capsules,
    after a first iteration that is uniform."""
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(ROUTINGS, 1152, 10)) * np.arange(ROUTINGS)[:, None, None]
    values = np.exp(logits)
    return (values / values.sum(axis=-1, keepdims=True)).astype("float32")


def test_on_grid_follows_the_primary_capsule_index(couplings):
    grid = routing.on_grid(couplings, 4)
    assert grid.shape == (ROUTINGS, 6, 6, 32)
    for t in range(ROUTINGS):
        for row in range(6):
            for column in range(6):
                for kind in range(32):
                    assert grid[t, row, column, kind] == couplings[
                        t, (row * 6 + column) * 32 + kind, 4]


def test_position_maps_and_type_profile_reduce_the_grid(couplings):
    grid = routing.on_grid(couplings, 7)
    maps = routing.position_maps(couplings, 7)
    largest = routing.position_maps(couplings, 7, "max")
    profile = routing.type_profile(couplings, 7)
    for t in range(ROUTINGS):
        for row in range(6):
            for column in range(6):
                cell = [couplings[t, (row * 6 + column) * 32 + k, 7] for k in range(32)]
                assert maps[t, row, column] == pytest.approx(sum(cell) / 32)
                assert largest[t, row, column] == pytest.approx(max(cell))
        for kind in range(32):
            places = [couplings[t, p * 32 + kind, 7] for p in range(36)]
            assert profile[t, kind] == pytest.approx(sum(places) / 36)
    assert maps.shape == (ROUTINGS, 6, 6) and profile.shape == (ROUTINGS, 32)
    np.testing.assert_allclose(maps.mean(axis=(1, 2)), routing.mean_coupling(couplings, 7))
    assert np.allclose(grid[0], 0.1)


def test_mean_entropy_matches_the_formula(couplings):
    entropy = routing.mean_entropy(couplings)
    for t in range(ROUTINGS):
        per_capsule = [-sum(c * math.log2(c) for c in couplings[t, i] if c > 0)
                       for i in range(1152)]
        assert entropy[t] == pytest.approx(np.mean(per_capsule), rel=1e-6)
    assert entropy[0] == pytest.approx(math.log2(10), rel=1e-6)  # uniform: an even split
    assert entropy[0] > entropy[1] > entropy[2]  # sharper logits, lower entropy


def test_all_of_a_vote_to_one_digit_has_no_entropy():
    certain = np.zeros((1, 1152, 10), "float32")
    certain[0, :, 3] = 1.0
    assert routing.mean_entropy(certain)[0] == 0.0
    assert routing.mean_coupling(certain, 3)[0] == 1.0


def test_bad_shapes_and_digits_are_named(couplings):
    with pytest.raises(ValueError, match="couplings must have shape"):
        routing.on_grid(couplings[:, :100], 0)
    with pytest.raises(ValueError, match="digit"):
        routing.on_grid(couplings, 10)
    with pytest.raises(ValueError, match="reduce"):
        routing.position_maps(couplings, 0, "median")


def test_routing_figures_carry_the_arrays(couplings):
    maps = routing.position_maps(couplings, 2)
    figure = charts.routing_maps_figure(maps, 2, "coupling")
    assert len(figure.data) == ROUTINGS
    for t, trace in enumerate(figure.data):
        np.testing.assert_array_equal(trace.z, maps[t].astype("float32"))
        assert trace.zmax == pytest.approx(maps.max())  # one colour scale for every iteration
    assert [a.text for a in figure.layout.annotations] == [f"iteration {t + 1}"
                                                           for t in range(ROUTINGS)]

    profile = routing.type_profile(couplings, 2)
    np.testing.assert_array_equal(charts.routing_types_figure(profile, 2).data[0].z,
                                  profile.astype("float32"))

    grid = routing.on_grid(couplings, 2)[-1]
    tiled = np.asarray(charts.type_maps_figure(grid, 2, ROUTINGS).data[0].z)
    for kind in range(32):  # type k is in row k // 8, column k % 8, with a 1-pixel gap
        top, left = (kind // 8) * 7, (kind % 8) * 7
        np.testing.assert_array_equal(tiled[top:top + 6, left:left + 6],
                                      grid[..., kind].astype("float32"))
    assert np.isnan(tiled[6]).all() and np.isnan(tiled[:, 6]).all()
