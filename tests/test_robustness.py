"""The robustness measurement against answers worked out by hand, and its command line."""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from capsnet import checkpoints, robustness
from capsnet.transforms import centre_of_mass

SCRIPT = ROOT / "scripts" / "robustness.py"
BORDER = 14.5  # the toy classifier's boundary, in columns


def blobs(count: int, seed: int = 1) -> np.ndarray:
    """3x3 squares near the field's centre, far enough in that a 6-pixel shift keeps them."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, 28, 28), "float32")
    for image, (row, column) in zip(images, rng.integers(12, 16, size=(count, 2)), strict=True):
        image[row - 1:row + 2, column - 1:column + 2] = 1.0
    return images


def left_or_right(images: np.ndarray) -> np.ndarray:
    """A toy classifier: 0 for ink left of `BORDER`, 1 to its right."""
    return np.array([int(centre_of_mass(image)[1] > BORDER) for image in images])


def test_accuracy_follows_where_each_shift_takes_the_ink():
    images = blobs(40)
    labels = np.zeros(40, "int64")
    report = robustness.measure(images, labels, {"toy": left_or_right,
                                                        "zero": lambda x: np.zeros(len(x))},
                                rotations=(-30, 0, 30), shifts=(0, 2, 6), seed=3, batch=7)
    columns = np.array([centre_of_mass(image)[1] for image in images])
    directions = robustness.shift_directions(40, seed=3)
    expected = [float(np.mean(columns + k * directions[:, 0] <= BORDER)) for k in (0, 2, 6)]
    assert report["shift"]["pixels"] == [0, 2, 6]
    np.testing.assert_allclose(report["shift"]["accuracy"]["toy"], expected, atol=1e-6)
    # turning about the centre of mass leaves it where it was
    assert report["rotation"]["degrees"] == [-30, 0, 30]
    assert report["rotation"]["accuracy"]["toy"] == [expected[0]] * 3
    assert report["rotation"]["accuracy"]["zero"] == [1.0] * 3
    assert report["images"] == 40 and report["seed"] == 3
    assert "8 directions" in report["shift"]["directions"]


def test_the_batch_size_does_not_change_the_result():
    images, labels = blobs(25), np.zeros(25, "int64")
    small = robustness.measure(images, labels, {"toy": left_or_right}, batch=4)
    large = robustness.measure(images, labels, {"toy": left_or_right}, batch=100)
    assert small == large


def test_shift_directions_are_the_eight_neighbours_and_repeatable():
    directions = robustness.shift_directions(4000, seed=0)
    steps = {tuple(d) for d in directions}
    assert steps == {(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)} - {(0, 0)}
    counts = np.unique(directions, axis=0, return_counts=True)[1]
    assert counts.min() > 400  # about 500 each
    np.testing.assert_array_equal(directions, robustness.shift_directions(4000, seed=0))


def test_a_measured_report_reads_back(tmp_path):
    report = robustness.measure(blobs(5), np.zeros(5, "int64"), {"toy": left_or_right})
    report["weights_sha256"] = {"toy": "abc"}
    path = tmp_path / "robustness.json"
    path.write_text(json.dumps(report))
    assert robustness.load_report(path) == report
    assert robustness.stale_models(report, {"toy": "abc"}) == []
    assert robustness.stale_models(report, {"toy": "abd"}) == ["toy"]
    assert robustness.load_report(tmp_path / "absent.json") is None


@pytest.mark.parametrize("text", ["not json", '{"rotation": {}}',
                                  '{"rotation": {"degrees": [0, 15], "accuracy": {"cnn": [1]}},'
                                  ' "shift": {"pixels": [], "accuracy": {}}}'])
def test_an_unreadable_report_is_named(tmp_path, text):
    path = tmp_path / "robustness.json"
    path.write_text(text)
    with pytest.raises(robustness.ReportError, match="unreadable"):
        robustness.load_report(path)


def test_a_limited_run_must_not_overwrite_the_committed_report():
    result = subprocess.run([sys.executable, str(SCRIPT), "--limit", "5"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert "--out" in result.stderr


def test_the_script_measures_both_models_and_records_their_weights(
        tmp_path, mnist_path, weights_folder):
    out = tmp_path / "robustness.json"
    subprocess.run([sys.executable, str(SCRIPT), "--data", str(mnist_path), "--weights",
                    str(weights_folder), "--limit", "20", "--out", str(out)],
                   check=True, capture_output=True, text=True, cwd=ROOT)
    report = robustness.load_report(out)
    assert report["images"] == 20
    assert report["rotation"]["degrees"] == list(robustness.ROTATIONS)
    assert report["shift"]["pixels"] == list(robustness.SHIFTS)
    for name in checkpoints.MODEL_NAMES:
        assert report["weights_sha256"][name] == checkpoints.sha256(
            checkpoints.paths(name, weights_folder)[0])
        accuracies = report["rotation"]["accuracy"][name] + report["shift"]["accuracy"][name]
        assert all(0.0 <= a <= 1.0 and a * 20 == round(a * 20) for a in accuracies)
        zero = robustness.ROTATIONS.index(0)
        assert report["rotation"]["accuracy"][name][zero] == report["shift"]["accuracy"][name][0]
