"""The training command line: a tiny run writes weights and metrics; evaluate prints JSON."""

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT


def run(*args, env=None):
    return subprocess.run([sys.executable, "train.py", *args], cwd=ROOT, capture_output=True,
                          text=True, env=env)


def test_train_then_evaluate(tmp_path, mnist_path):
    out = tmp_path / "run"
    unset = {key: value for key, value in os.environ.items() if key != "TF_ENABLE_ONEDNN_OPTS"}
    result = run("train", "--model", "cnn", "--data", str(mnist_path), "--limit", "200",
                 "--validation-size", "100", "--epochs", "1", "--out", str(out), "--verbose", "0",
                 env=unset)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "cnn.json").read_text())
    assert metrics["onednn"] is True  # train.py turns oneDNN on where nothing says otherwise
    assert metrics["test_images"] == 10000
    assert metrics["epochs_run"] == 1 and metrics["train_images"] == 200
    assert (out / "cnn.weights.h5").is_file()

    result = run("evaluate", "--model", "cnn", "--data", str(mnist_path), "--weights", str(out))
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed == {"cnn": {"test_accuracy": metrics["test_accuracy"],
                               "test_errors": metrics["test_errors"]}}


@pytest.mark.parametrize("value, recorded", [("1", True), ("TRUE", True), ("0", False),
                                             ("false", False), (None, None)])
def test_onednn_setting_reads_the_variable_tensorflow_reads(monkeypatch, value, recorded):
    from capsnet.training import onednn_setting

    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    if value is not None:
        monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", value)
    assert onednn_setting() is recorded


def test_benchmark_header_says_whether_onednn_was_on(monkeypatch):
    import keras

    from capsnet.benchmark import _header

    expected = {"0": "oneDNN off", "1": "oneDNN on"}
    for value, words in expected.items():
        monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", value)
        first = _header("Weights: shipped.", 5, 3)[0]
        if keras.backend.backend() == "tensorflow":
            assert words in first and expected[str(1 - int(value))] not in first
        else:
            assert "oneDNN" not in first


def test_missing_data_is_a_clear_error(tmp_path):
    result = run("evaluate", "--data", str(tmp_path / "absent.npz"))
    assert result.returncode == 2
    assert "error: No MNIST file" in result.stderr and "Traceback" not in result.stderr


def test_help_documents_every_flag():
    result = run("train", "--help")
    for flag in ("--epochs", "--batch-size", "--lr", "--lr-decay", "--lr-decay-every",
                 "--max-shift", "--ema", "--freeze", "--precision", "--resume", "--time-limit",
                 "--seed", "--out", "--data", "--model", "--init"):
        assert flag in result.stdout


def test_evaluate_record_completes_the_metrics_file(tmp_path, mnist_path):
    from capsnet import checkpoints
    from capsnet.models import build_cnn

    built = build_cnn(seed=0)
    checkpoints.save("cnn", built.model, built.config, {"model": "cnn"}, tmp_path)
    result = run("evaluate", "--model", "cnn", "--data", str(mnist_path), "--weights",
                 str(tmp_path), "--record")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)["cnn"]
    metrics = checkpoints.read_metrics("cnn", tmp_path)
    assert metrics["test_errors"] == printed["test_errors"]
    assert sum(map(sum, metrics["confusion_matrix"])) == 10000
    checkpoints.load("cnn", tmp_path)  # the checksum still matches the weights


def test_init_continues_from_saved_weights(tmp_path, mnist_path):
    import numpy as np

    from capsnet import checkpoints
    from capsnet.models import build_cnn

    start = build_cnn(seed=0)  # the run's own initialisation would use --seed 1
    checkpoints.save("cnn", start.model, start.config, {"model": "cnn"}, tmp_path / "start")
    # With a learning rate of 0 the trainable weights stay where they started.
    result = run("train", "--model", "cnn", "--data", str(mnist_path), "--limit", "200",
                 "--validation-size", "100", "--epochs", "1", "--lr", "0", "--init",
                 str(tmp_path / "start"), "--out", str(tmp_path / "run"), "--verbose", "0")
    assert result.returncode == 0, result.stderr
    trained, metrics = checkpoints.load("cnn", tmp_path / "run")
    assert metrics["init"]["weights_sha256"] == checkpoints.sha256(
        tmp_path / "start" / "cnn.weights.h5")
    for before, after in zip(start.model.trainable_weights, trained.model.trainable_weights,
                             strict=True):
        np.testing.assert_array_equal(after.numpy(), before.numpy())


def test_epoch_seconds_is_the_median_without_the_compiling_first_epoch():
    from capsnet import checkpoints

    history = [{"seconds": 11.0}, {"seconds": 2.0}, {"seconds": 3.0}, {"seconds": 2.5}]
    assert checkpoints.epoch_seconds({"history": history}) == 2.5
    assert checkpoints.epoch_seconds({"history": history[:1]}) is None
    assert checkpoints.epoch_seconds({}) is None


def test_benchmark_times_two_digits_and_reads_its_pair_drawing(tmp_path):
    """The two-digit rows: the page's step with the shipped two-digit weights (whose pair
    drawing the CapsNet reads as its two digits), and pairs per second for both trainers;
    without two-digit weights the page row is left out and the training rows stay."""
    import numpy as np

    from capsnet import benchmark
    from capsnet.samples import load_sample
    from capsnet.two_digits import TwoDigitLab

    sample = load_sample()
    first, second = next((i, j) for i in range(len(sample.labels))
                         for j in range(i + 1, len(sample.labels))
                         if sample.labels[i] != sample.labels[j])
    drawing = benchmark.pair_drawing(sample.images[first], sample.images[second])
    assert drawing.shape == (benchmark.CANVAS, benchmark.CANVAS, 4)
    reading = TwoDigitLab.load().analyze_drawing(drawing)
    assert set(reading.capsnet_answers) == {sample.labels[first], sample.labels[second]}

    images = (sample.images[:benchmark.BATCH].astype("float32") / 255.0)[..., None]
    one_hot = np.eye(10, dtype="float32")[sample.labels[:benchmark.BATCH]]
    for folder, page_row in ((None, True), (tmp_path, False)):
        rows = dict(benchmark.two_digit_rows(folder, sample.images[:2], images, one_hot,
                                             repeats=1, train_steps=1))
        page = [title for title in rows if title.startswith("Page, two digits")]
        assert len(page) == page_row
        for title in page:  # "12.3 ms", or "1.23 s" on a slow machine
            number, unit = rows[title].split()
            assert unit in ("ms", "s") and float(number) > 0
        for model in ("CNN", "CapsNet"):
            value = rows[f"Two-digit {model} training, batches of {benchmark.BATCH} pairs"]
            assert value.endswith(" pairs/s") and float(value.split()[0]) > 0
