"""`python -m capsnet predict`, run as a person runs it, against the in-process `Lab`."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from capsnet import checkpoints
from capsnet.preprocess import preprocess
from capsnet.samples import load_sample

ROOT = Path(__file__).resolve().parent.parent  # where `python -m capsnet` finds the package
CANVAS = 280  # the page's canvas side


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "capsnet", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """(a) a canvas PNG, (b) a photo-like JPEG of the same digit, (c) text, (d) nothing."""
    folder = tmp_path_factory.mktemp("images")
    big = np.asarray(Image.fromarray(load_sample().images[0]).resize((CANVAS, CANVAS)))
    canvas = np.full((CANVAS, CANVAS, 4), 255, dtype="uint8")
    canvas[..., 3] = big  # white ink whose alpha is the ink level, on a transparent sheet
    paths = {name: folder / name for name in ("canvas.png", "photo.jpg", "notes.png",
                                              "empty.png")}
    Image.fromarray(canvas, mode="RGBA").save(paths["canvas.png"])
    Image.fromarray(255 - big).convert("RGB").save(paths["photo.jpg"], quality=90)
    paths["notes.png"].write_text("a shopping list, not a picture\n")
    paths["empty.png"].write_bytes(b"")
    return paths


@pytest.fixture(scope="module")
def predicted(files):
    result = run_cli("predict", *(str(path) for path in files.values()))
    records = [json.loads(line) for line in result.stdout.splitlines()]
    return result, {record["file"]: record for record in records}


@pytest.mark.parametrize("name", ["canvas.png", "photo.jpg"])
def test_predict_prints_both_models_readings(files, predicted, lab, name):
    _, records = predicted
    record = records[str(files[name])]
    assert set(record) == {"file", "cnn", "capsnet"}
    assert set(record["cnn"]) == {"label", "probabilities"}
    assert set(record["capsnet"]) == {"label", "lengths"}
    probabilities = record["cnn"]["probabilities"]
    lengths = record["capsnet"]["lengths"]
    for scores in (probabilities, lengths):
        assert len(scores) == 10 and all(isinstance(value, float) for value in scores)
    assert record["cnn"]["label"] == int(np.argmax(probabilities))
    assert record["capsnet"]["label"] == int(np.argmax(lengths))
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-4)
    assert all(0.0 <= length < 1.0 for length in lengths)

    # The same file through the one preprocessing function and the models, in process.
    with Image.open(files[name]) as image:
        expected = lab.analyze(preprocess(image).image)
    assert record["cnn"]["label"] == expected.cnn_label
    assert record["capsnet"]["label"] == expected.capsnet_label
    np.testing.assert_allclose(probabilities, expected.cnn_probabilities, atol=1e-5)
    np.testing.assert_allclose(lengths, expected.capsnet_lengths, rtol=1e-4, atol=1e-6)


def test_predict_reports_each_bad_file_and_fails_at_the_end(files, predicted):
    result, records = predicted
    assert result.returncode == 1
    assert list(records) == [str(path) for path in files.values()]  # in order, none skipped
    assert records[str(files["notes.png"])] == {
        "file": str(files["notes.png"]),
        "error": "This file is not an image in a format read here "
                 "(PNG, JPEG, GIF, BMP, WebP or TIFF).",
    }
    assert records[str(files["empty.png"])] == {
        "file": str(files["empty.png"]), "error": "The file is empty: it holds no image."}


@pytest.mark.parametrize("checksum", [True, False], ids=["checksum", "no-checksum"])
def test_damaged_weights_exit_2_with_one_line(files, tmp_path, checksum):
    folder = tmp_path / "weights"
    shutil.copytree(checkpoints.weights_dir(), folder)
    weights_path, metrics_path = checkpoints.paths("capsnet", folder)
    with open(weights_path, "r+b") as file:
        file.truncate(weights_path.stat().st_size // 2)
    if not checksum:  # without one, the damage is found when the file is loaded
        metrics = json.loads(metrics_path.read_text())
        del metrics["weights_sha256"]
        metrics_path.write_text(json.dumps(metrics))
    result = run_cli("predict", str(files["canvas.png"]), "--weights", str(folder))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: The capsnet weights file")
    assert ("damaged" if checksum else "could not be loaded") in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_missing_weights_exit_2(files, tmp_path):
    result = run_cli("predict", str(files["canvas.png"]), "--weights", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith("error: No cnn metrics file")
    assert "python train.py train" in result.stderr and "Traceback" not in result.stderr
