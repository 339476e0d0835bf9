"""`python -m capsnet predict`, run as a person runs it, against the in-process `Lab`.

Also: no line of TensorFlow's native start-up notes reaches the command lines' stderr, on
any CPU (`capsnet.quiet`).
"""

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from capsnet import checkpoints
from capsnet.preprocess import preprocess
from capsnet.samples import load_sample

ROOT = Path(__file__).resolve().parent.parent  # where `python -m capsnet` finds the package
CANVAS = 280  # the page's canvas side

# What TensorFlow's native code writes to stderr as it loads, whatever the CPU: absl's
# note from before its logging starts, glog-style lines ("I0000 00:00:1795687881.691652
# 2706 port.cc:153] oneDNN custom operations are on. ..."), the older dated prefix, and
# the oneDNN and CPU-feature notes however they are prefixed. Written independently of
# `capsnet.quiet.STARTUP_NOISE`, which these tests check.
TF_LOG = re.compile(r"WARNING: All log messages before absl::InitializeLog"
                    r"|[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ "
                    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] "
                    r"|.*(?:oneDNN|cpu_feature_guard|TensorFlow binary is optimized"
                    r"|To enable the following instructions)")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "capsnet", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def tf_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if TF_LOG.match(line)]


def own_lines(stderr: str) -> list[str]:
    """What the program itself wrote to stderr, whatever TensorFlow added on this CPU."""
    return [line for line in stderr.splitlines() if not TF_LOG.match(line)]


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
def missing(files, tmp_path_factory):
    """`predict` with a weights folder that holds nothing."""
    return run_cli("predict", str(files["canvas.png"]), "--weights",
                   str(tmp_path_factory.mktemp("no-weights")))


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
    lines = own_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: The capsnet weights file")
    assert ("damaged" if checksum else "could not be loaded") in lines[0]
    assert "Traceback" not in result.stderr


def test_missing_weights_exit_2(missing):
    assert missing.returncode == 2
    assert missing.stdout == ""
    lines = own_lines(missing.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: No cnn metrics file")
    assert "python train.py train" in lines[0] and "Traceback" not in missing.stderr


def test_no_tensorflow_start_up_line_reaches_stderr(predicted, missing):
    result, records = predicted
    assert len(records) == 4  # the images were read: TensorFlow ran, not just loaded
    assert tf_lines(result.stderr) == []
    assert tf_lines(missing.stderr) == []
    assert missing.stderr.count("\n") == 1  # the README's one-line error, and nothing else


def test_train_py_missing_weights_is_one_line(mnist_path, tmp_path):
    result = subprocess.run([sys.executable, "train.py", "evaluate", "--model", "cnn", "--data",
                             str(mnist_path), "--weights", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: No cnn metrics file")
    assert result.stderr.count("\n") == 1 and tf_lines(result.stderr) == []


# `capsnet.quiet` itself, in a child process whose file descriptor 2 the test reads.

ONEDNN = ("I0000 00:00:1795687881.691652    2706 port.cc:153] oneDNN custom operations are on. "
          "You may see slightly different numerical results due to floating-point round-off "
          "errors from different computation orders. To turn them off, set the environment "
          "variable `TF_ENABLE_ONEDNN_OPTS=0`.")


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_filtered_stderr_drops_start_up_notes_and_keeps_the_rest():
    result = run_python(f"""
        import os, sys
        from capsnet.quiet import filtered_stderr
        print("before", file=sys.stderr)
        with filtered_stderr():
            os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called "
                        b"are written to STDERR\\n")
            os.write(2, {ONEDNN!r}.encode() + b"\\n")
            os.write(2, b"a genuine native message\\n")
            print("a genuine Python message", file=sys.stderr)
            os.write(2, b"E0000 00:00:1795687881.7 2706 loader.cc:12] a genuine native error\\n")
        print("after", file=sys.stderr)
        print("stdout untouched")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "stdout untouched\n"
    assert result.stderr.splitlines() == [
        "before", "a genuine native message", "a genuine Python message",
        "E0000 00:00:1795687881.7 2706 loader.cc:12] a genuine native error", "after"]


def test_filtered_stderr_keeps_an_import_error_and_its_traceback():
    result = run_python("""
        from capsnet.quiet import filtered_stderr
        with filtered_stderr():
            import capsnet_no_such_backend
    """)
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert result.stderr.rstrip().endswith(
        "ModuleNotFoundError: No module named 'capsnet_no_such_backend'")


def test_filtered_stderr_passes_on_a_native_crash_message():
    # A library that writes its reason and then aborts, as TensorFlow does on a CPU it
    # was not built for: the reason still reaches stderr.
    result = run_python(f"""
        import os
        from capsnet.quiet import filtered_stderr
        with filtered_stderr():
            os.write(2, {ONEDNN!r}.encode() + b"\\n")
            os.write(2, b"F0000 00:00:1795687881.7 2706 cpu_check.cc:9] built for AVX\\n")
            os.abort()
    """)
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        "F0000 00:00:1795687881.7 2706 cpu_check.cc:9] built for AVX"]


@pytest.mark.parametrize("line, noise", [
    ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
     True),
    (ONEDNN, True),
    ("I0000 00:00:1795687881.728519    2706 cpu_feature_guard.cc:227] This TensorFlow binary "
     "is optimized to use available CPU instructions in performance-critical operations.", True),
    ("To enable the following instructions: AVX2 AVX512F AVX512_VNNI AVX512_BF16 FMA, in other "
     "operations, rebuild TensorFlow with the appropriate compiler flags.", True),
    ("2024-03-01 10:00:00.123456: I tensorflow/core/util/port.cc:113] oneDNN custom operations "
     "are on. You may see slightly different numerical results.", True),
    ("E0000 00:00:1731.5 12 cuda_dnn.cc:8310] Unable to register cuDNN factory: Attempting to "
     "register factory for plugin cuDNN when one has already been registered", True),
    ("W0000 00:00:1731.5 12 computation_placer.cc:177] computation placer already registered. "
     "Please check linkage and avoid linking the same target more than once.", True),
    ("2024-03-01 10:00:00.1: W tensorflow/compiler/tf2tensorrt/utils/py_utils.cc:38] TF-TRT "
     "Warning: Could not find TensorRT", True),
    ("error: No cnn metrics file at /tmp/cnn.json.", False),
    ("Traceback (most recent call last):", False),
    ("E0000 00:00:1731.5 12 loader.cc:12] could not load libtensorflow_framework.so.2", False),
    ("ImportError: oneDNN custom operations are on", False),  # not TensorFlow's own line
])
def test_startup_noise_patterns(line, noise):
    from capsnet.quiet import is_startup_noise

    assert is_startup_noise(line) is noise
    assert is_startup_noise(line + "\n") is noise
