"""The CapsNet read with 1 to 5 routing iterations: one set of weights, exact uniform couplings
without routing, and the report's sums checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from capsnet import routing
from capsnet.layers import DigitCapsules
from capsnet.samples import load_sample

UNIFORM = 1.0 / 10  # ten digit capsules share each vote evenly


@pytest.fixture(scope="module")
def digits():
    sample = load_sample().select("random")
    return sample.images[:8].astype("float32") / 255.0, sample.labels[:8]


def test_every_count_reads_with_the_one_set_of_weights(lab):
    trained = lab.capsnet.model
    for routings in routing.ITERATIONS:
        model = lab.capsnet.routed(routings)
        assert len(model.weights) == len(trained.weights)
        assert all(a is b for a, b in zip(model.weights, trained.weights, strict=True))
    assert lab.capsnet.routed(lab.capsnet.config.routings) is trained
    assert lab.capsnet.routed(None) is trained


def test_one_iteration_is_exactly_uniform_couplings(lab, digits):
    images, _ = digits
    for analysis in lab.analyze_batch(images, routings=1):
        assert analysis.couplings.shape == (1, 1152, 10)
        np.testing.assert_array_equal(analysis.couplings, np.float32(UNIFORM))
        np.testing.assert_allclose(routing.mean_entropy(analysis.couplings), np.log2(10),
                                   rtol=1e-6)


@pytest.mark.parametrize("routings", routing.ITERATIONS)
def test_each_count_routes_that_many_times(lab, digits, routings):
    images, _ = digits
    analysis = lab.analyze(images[0], routings=routings)
    assert analysis.couplings.shape == (routings, 1152, 10)
    np.testing.assert_allclose(analysis.couplings.sum(axis=-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(analysis.couplings[0], np.float32(UNIFORM))


def test_the_trained_count_is_the_page_reading(lab, digits):
    images, _ = digits
    trained = lab.capsnet.config.routings
    default, explicit = lab.analyze_batch(images), lab.analyze_batch(images, routings=trained)
    for a, b in zip(default, explicit, strict=True):
        np.testing.assert_array_equal(a.capsnet_lengths, b.capsnet_lengths)
        np.testing.assert_array_equal(a.couplings, b.couplings)


def test_a_routing_count_must_be_positive():
    layer = DigitCapsules(10, 16, routings=3)
    with pytest.raises(ValueError, match="routings must be a positive integer"):
        layer(np.zeros((1, 4, 8), "float32"), routings=0)
    assert layer.compute_output_shape((None, 4, 8), routings=5) == (None, 10, 16)


def test_summarise_and_finish_match_a_count_by_hand():
    lengths = np.array([[0.9, 0.1] + [0.0] * 8, [0.2, 0.6] + [0.0] * 8], "float32")
    couplings = np.full((2, 3, 1152, 10), UNIFORM, "float32")
    couplings[1, -1] = 0.0
    couplings[1, -1, :, 0] = 1.0  # every vote to one capsule: 0 bits
    images = np.zeros((2, 28, 28), "float32")
    reconstructions = np.full((2, 28, 28, 1), 0.5, "float32")
    outputs = {"lengths": lengths, "couplings": couplings, "reconstruction": reconstructions}
    sums = routing.summarise(outputs, images, np.array([0, 0]))
    assert sums["images"] == 2 and sums["accuracy"] == 1  # the second reads 1, not 0
    assert sums["winning_length"] == pytest.approx(0.9 + 0.6)
    assert sums["last_entropy"] == pytest.approx(np.log2(10) + 0.0)
    assert sums["reconstruction_error"] == pytest.approx(2 * 0.25)
    means = routing.finish([sums, sums])
    assert means == {"images": 4, "accuracy": 0.5, "winning_length": 0.75,
                     "last_entropy": pytest.approx(np.log2(10) / 2, abs=1e-6),
                     "reconstruction_error": 0.25}


def test_report_loading(tmp_path):
    assert routing.load_report(tmp_path / "absent.json") is None
    broken = tmp_path / "broken.json"
    broken.write_text('{"sets": {"drawn": {"rows": [{"routings": 1}]}}}')
    with pytest.raises(routing.ReportError, match="unreadable"):
        routing.load_report(broken)


def test_committed_report_is_for_the_shipped_weights_and_agrees_with_their_record(
        weights_folder):
    from capsnet import checkpoints

    report = routing.load_report()
    if report is None:
        pytest.skip("no routing report committed")
    metrics = checkpoints.read_metrics("capsnet", weights_folder)
    assert report["weights_sha256"] == metrics["weights_sha256"]
    assert report["sets"]["mnist_test"]["images"] == 10_000
    assert [row["routings"] for row in report["sets"]["mnist_test"]["rows"]] == list(
        routing.ITERATIONS)
    trained = {name: next(row for row in data_set["rows"]
                          if row["routings"] == report["trained_routings"])
               for name, data_set in report["sets"].items()}
    # read as trained, the report's accuracies are those the metrics file records
    assert trained["mnist_test"]["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    assert trained["drawn"]["accuracy"] == pytest.approx(metrics["drawn"]["accuracy"], abs=1e-4)
