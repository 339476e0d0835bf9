"""The CapsNet's "this does not look like a digit" signal: its rule, its thresholds, the page.

The rule and the threshold search are checked against plain arithmetic and an exhaustive
search; the thresholds file against the weights it names. Whether the signal tells
scribbles from digits depends on trained, calibrated weights, and is checked only with them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest
from test_app import APP, TIMEOUT, inject

from capsnet import checkpoints, nondigits, novelty
from capsnet.inference import Analysis
from capsnet.preprocess import preprocess
from capsnet.samples import load_sample

WARNING = "does not look like a digit to the CapsNet"


def analysis(lengths, image_level: float, reconstruction_level: float) -> Analysis:
    """An analysis with given capsule lengths and flat input and reconstruction images."""
    lengths = np.asarray(lengths, dtype="float32")
    return Analysis(
        image=np.full((28, 28), image_level, "float32"),
        cnn_probabilities=np.full(10, 0.1, "float32"),
        capsnet_lengths=lengths,
        capsules=np.zeros((10, 16), "float32"),
        reconstruction=np.full((28, 28), reconstruction_level, "float32"),
        couplings=np.zeros((3, 1152, 10), "float32"),
    )


def thresholds(min_length: float, max_error: float, sha: str = "0" * 64) -> novelty.Thresholds:
    return novelty.Thresholds(min_length=min_length, max_error=max_error, weights_sha256=sha)


# --- The rule ------------------------------------------------------------------------------


def test_signal_is_the_longest_capsule_and_the_mean_squared_error():
    lengths = np.linspace(0.05, 0.3, 10)
    signal = novelty.assess(analysis(lengths, 0.0, 0.5), thresholds(0.4, 0.3))
    assert signal.length == pytest.approx(0.3)
    assert signal.error == pytest.approx(0.25)  # (0 - 0.5)^2 on every pixel
    assert signal.short and not signal.unlike and signal.fires


@pytest.mark.parametrize(
    ("min_length", "max_error", "short", "unlike"),
    [(0.3, 0.25, False, False),  # on both thresholds: a digit
     (0.31, 0.25, True, False),  # capsule too short
     (0.3, 0.24, False, True),  # reconstruction too far
     (0.31, 0.24, True, True)],
)
def test_either_test_fires_the_signal(min_length, max_error, short, unlike):
    signal = novelty.assess(analysis(np.full(10, 0.3), 0.0, 0.5),
                            thresholds(min_length, max_error))
    assert (signal.short, signal.unlike, signal.fires) == (short, unlike, short or unlike)


def test_vectorised_rule_agrees_with_assess():
    rng = np.random.default_rng(0)
    cases = [(rng.uniform(0, 1, 10), rng.uniform(), rng.uniform()) for _ in range(50)]
    limits = thresholds(0.5, 0.1)
    one_by_one = [novelty.assess(analysis(*case), limits).fires for case in cases]
    measured = np.array([novelty.measure(analysis(*case)) for case in cases])
    np.testing.assert_array_equal(novelty.fires(measured[:, 0], measured[:, 1], 0.5, 0.1),
                                  one_by_one)


# --- Choosing the thresholds ---------------------------------------------------------------


def test_chosen_thresholds_are_the_best_within_the_false_alarm_budget():
    rng = np.random.default_rng(1)
    digit_lengths, digit_errors = rng.uniform(0.3, 1.0, 60), rng.uniform(0.0, 0.1, 60)
    other_lengths, other_errors = rng.uniform(0.1, 0.8, 40), rng.uniform(0.02, 0.2, 40)
    budget = 0.05  # 3 of the 60 digits
    min_length, max_error = novelty.choose_thresholds(digit_lengths, digit_errors,
                                                      other_lengths, other_errors, budget)
    chosen = novelty.fires(digit_lengths, digit_errors, min_length, max_error)
    assert chosen.sum() <= 3
    caught = novelty.fires(other_lengths, other_errors, min_length, max_error).sum()

    # every pair of thresholds placed at the digits' own values, or beyond them all
    best = 0
    for length in np.append(digit_lengths, -np.inf):
        for error in np.append(digit_errors, np.inf):
            if novelty.fires(digit_lengths, digit_errors, length, error).sum() <= 3:
                best = max(best, novelty.fires(other_lengths, other_errors, length, error).sum())
    assert caught == best > 0


def test_well_separated_non_digits_are_all_caught():
    rng = np.random.default_rng(2)
    min_length, max_error = novelty.choose_thresholds(
        rng.uniform(0.8, 1.0, 1000), rng.uniform(0.0, 0.02, 1000),
        rng.uniform(0.1, 0.5, 200), rng.uniform(0.0, 0.02, 200), 0.01)
    assert 0.5 <= min_length <= 0.81
    assert novelty.fires(rng.uniform(0.1, 0.5, 200), np.zeros(200), min_length, max_error).all()


def test_zero_budget_flags_no_digit():
    lengths, errors = np.array([0.5, 0.6, 0.7]), np.array([0.01, 0.03, 0.02])
    min_length, max_error = novelty.choose_thresholds(lengths, errors, [0.1], [0.5], 0.0)
    assert not novelty.fires(lengths, errors, min_length, max_error).any()


def test_budget_out_of_range_is_refused():
    with pytest.raises(ValueError, match="max_false_alarm"):
        novelty.choose_thresholds([0.5], [0.1], [0.1], [0.5], 1.0)


# --- The thresholds file -------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path):
    """A weights folder holding a stand-in CapsNet weights file."""
    weights, _ = checkpoints.paths("capsnet", tmp_path)
    weights.write_bytes(np.random.default_rng(0).bytes(1000))
    return tmp_path


def write(folder, **record) -> None:
    novelty.thresholds_path(folder).write_text(json.dumps(record))


def test_thresholds_are_read_for_the_weights_they_were_calibrated_for(folder):
    weights, _ = checkpoints.paths("capsnet", folder)
    write(folder, min_length=0.4, max_error=0.05, weights_sha256=checkpoints.sha256(weights),
          false_alarm_rate=0.01, detection_rate=0.9)
    assert novelty.load_thresholds(folder) == novelty.Thresholds(
        0.4, 0.05, checkpoints.sha256(weights), false_alarm_rate=0.01, detection_rate=0.9)


def test_thresholds_for_other_weights_are_skipped(folder):
    weights, _ = checkpoints.paths("capsnet", folder)
    write(folder, min_length=0.4, max_error=0.05, weights_sha256=checkpoints.sha256(weights))
    weights.write_bytes(b"retrained" + weights.read_bytes())
    assert novelty.load_thresholds(folder) is None


@pytest.mark.parametrize("content", ["", "{not json", "[]", '{"min_length": 0.4}',
                                     '{"min_length": "short", "max_error": 0.1, '
                                     '"weights_sha256": "x"}'])
def test_unreadable_thresholds_are_skipped(folder, content):
    novelty.thresholds_path(folder).write_text(content)
    assert novelty.load_thresholds(folder) is None


def test_missing_thresholds_or_weights_are_skipped(folder, tmp_path_factory):
    assert novelty.load_thresholds(folder) is None  # no novelty.json
    empty = tmp_path_factory.mktemp("empty")
    write(empty, min_length=0.4, max_error=0.05, weights_sha256="0" * 64)
    assert novelty.load_thresholds(empty) is None  # no weights


def test_saved_thresholds_read_back(folder):
    weights, _ = checkpoints.paths("capsnet", folder)
    saved = thresholds(0.42, 0.031, checkpoints.sha256(weights))
    novelty.save_thresholds(saved, {"test_digits": 10}, novelty.thresholds_path(folder))
    assert novelty.load_thresholds(folder) == saved
    assert json.loads(novelty.thresholds_path(folder).read_text())["test_digits"] == 10


# --- Calibration and the signal with real weights ------------------------------------------


def linked_copy(source, target):
    """A weights folder whose model files are links to those of `source`."""
    target.mkdir(parents=True, exist_ok=True)
    for name in checkpoints.MODEL_NAMES:
        for path in checkpoints.paths(name, source):
            (target / path.name).symlink_to(path.resolve())
    return target


def test_calibration_script_writes_thresholds_for_its_weights(mnist_path, weights_folder,
                                                              tmp_path):
    folder = linked_copy(weights_folder, tmp_path / "weights")
    subprocess.run(
        [sys.executable, "scripts/calibrate_novelty.py", "--data", str(mnist_path),
         "--weights", str(folder), "--limit", "40", "--non-digits", "12",
         "--max-false-alarm", "0.05"],
        check=True, cwd=ROOT, capture_output=True,
    )
    loaded = novelty.load_thresholds(folder)
    assert loaded is not None
    record = json.loads(novelty.thresholds_path(folder).read_text())
    assert record["test_digits"] == 40 and record["max_false_alarm"] == 0.05
    assert record["false_alarm_rate"] <= 0.05 and 0.0 <= record["detection_rate"] <= 1.0
    assert set(record["detection_by_kind"]) <= set(nondigits.KINDS)


def test_signal_fires_for_non_digits_more_than_for_digits(lab, weights_folder):
    calibrated = novelty.load_thresholds(weights_folder)
    if calibrated is None:
        pytest.skip("no novelty.json calibrated for the weights in use")
    sample = load_sample().select("random")
    digits = lab.analyze_batch(sample.images[:200].astype("float32") / 255.0)
    others, _ = nondigits.model_inputs(200, seed=100)  # seeds the calibration did not use
    non_digits = lab.analyze_batch(others)
    digit_rate = np.mean([novelty.assess(a, calibrated).fires for a in digits])
    other_rate = np.mean([novelty.assess(a, calibrated).fires for a in non_digits])
    assert digit_rate <= 0.05
    assert other_rate > digit_rate + 0.2


# --- On the page ---------------------------------------------------------------------------


def page_with(folder, monkeypatch) -> AppTest:
    monkeypatch.setenv("CAPSNET_WEIGHTS", str(folder))
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


def test_page_warns_with_both_numbers_when_the_signal_fires(lab, weights_folder, tmp_path,
                                                            monkeypatch):
    folder = linked_copy(weights_folder, tmp_path / "weights")
    weights, _ = checkpoints.paths("capsnet", folder)
    always = thresholds(2.0, 0.0, checkpoints.sha256(weights))  # lengths are below 1
    novelty.save_thresholds(always, {"false_alarm_rate": 0.01},
                            novelty.thresholds_path(folder))
    image = load_sample().images[0]
    signal = novelty.assess(lab.analyze(preprocess(image, ink="light").image), always)

    at = inject(page_with(folder, monkeypatch), image)
    warnings = [w.value for w in at.warning if WARNING in w.value]
    assert len(warnings) == 1
    assert f"{signal.length:.2f} long" in warnings[0]
    assert f"by {signal.error:.4f}" in warnings[0]
    assert len(at.metric) == 2  # the answers are still shown


def test_page_skips_the_signal_calibrated_for_other_weights(weights_folder, tmp_path,
                                                            monkeypatch):
    folder = linked_copy(weights_folder, tmp_path / "weights")
    novelty.save_thresholds(thresholds(2.0, 0.0, "0" * 64), {},
                            novelty.thresholds_path(folder))
    at = inject(page_with(folder, monkeypatch), load_sample().images[0])
    assert len(at.metric) == 2
    assert not [w for w in at.warning if WARNING in w.value]
    assert not at.error
