"""The GPU training call, rehearsed on the CPU: `scripts/gpu_run.sh --dry-run` runs the very
steps of the GPU call on a stand-in for MNIST, and `scripts/gpu_land.py` joins and checks
what it leaves, as it would after the real call.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from capsnet import checkpoints
from capsnet.paired import mcnemar_p
from capsnet.samples import load_sample

sys.path.insert(0, str(ROOT / "scripts"))
import gpu_land  # noqa: E402
import gpu_multimnist  # noqa: E402
import gpu_train  # noqa: E402

TRAIN_IMAGES = 6300  # more than the 5,000 held out for validation


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    """An MNIST file made of the committed sample's digits, repeated: no download needed."""
    sample = load_sample()
    repeats = -(-TRAIN_IMAGES // len(sample.labels))
    path = tmp_path_factory.mktemp("data") / "mnist.npz"
    np.savez(path, x_train=np.tile(sample.images, (repeats, 1, 1))[:TRAIN_IMAGES],
             y_train=np.tile(sample.labels, repeats)[:TRAIN_IMAGES],
             x_test=sample.images, y_test=sample.labels)
    return path


def gpu_run(tmp_path, data, *args, job=None):
    env = {**os.environ, "OUT": str(tmp_path / "out"), "KERAS_BACKEND": "tensorflow"}
    chosen = ["--job", job] if job else []
    return subprocess.run(["bash", "scripts/gpu_run.sh", *chosen, "--dry-run", "--data",
                           str(data), "--work", str(tmp_path / "work"), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True)


def dry_run_output(tmp_path_factory, stand_in, *args, job=None):
    """A dry run's output folder and its process, which must have succeeded."""
    folder = tmp_path_factory.mktemp(f"gpu-{job or 'mnist'}")
    result = gpu_run(folder, stand_in, *args, job=job)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return folder / "out", result


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory, stand_in):
    return dry_run_output(tmp_path_factory, stand_in)


@pytest.mark.slow
def test_dry_run_trains_measures_and_packs_every_run(dry_run):
    out, result = dry_run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dry_run"] and json.loads(result.stdout.strip().splitlines()[-1]) == summary
    assert list(summary["runs"]) == [run.name for run in gpu_train.RUNS]
    for run in summary["runs"].values():
        assert run["epochs_run"] == 1 and 0.0 <= run["drawn_accuracy"] <= 1.0
        assert set(run["drawn_bands"]) == {"small", "medium", "large"}
    parts = summary["archive"]["parts"]
    assert sorted(path.name for path in out.iterdir()) == sorted(
        [*parts, "summary.json", "train.log"])
    assert all((out / part).stat().st_size <= gpu_train.PART_BYTES for part in parts)
    assert sum((out / part).stat().st_size for part in parts) == summary["archive"]["bytes"]
    assert "val_accuracy" in (out / "train.log").read_text()  # Keras' per-epoch line


@pytest.mark.slow
def test_land_joins_checks_and_unpacks_the_chosen_weights(dry_run, tmp_path):
    out, _ = dry_run
    copy = shutil.copytree(out, tmp_path / "back")
    summary = gpu_land.unpack(copy)
    chosen = summary["chosen_capsnet"]
    capsnets = [name for name, run in summary["runs"].items() if run["model"] == "capsnet"]
    assert chosen == max(capsnets, key=lambda name: summary["runs"][name]["validation_accuracy"])
    with_weights = {name for name, run in summary["runs"].items() if "folder" in run}
    assert with_weights == {chosen, "cnn-drawing"}
    for name in with_weights:  # the weights load, and match the checksum in their metrics
        run = summary["runs"][name]
        _, metrics = checkpoints.load(run["model"], run["folder"])
        assert metrics["weights_sha256"] == run["weights_sha256"]
        assert metrics["train"]["augment"] == run["augment"]


@pytest.mark.slow
def test_land_refuses_a_damaged_part(dry_run, tmp_path):
    out, _ = dry_run
    shutil.copytree(out, tmp_path, dirs_exist_ok=True)
    part = tmp_path / json.loads((out / "summary.json").read_text())["archive"]["parts"][0]
    damaged = bytearray(part.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    part.write_bytes(bytes(damaged))
    with pytest.raises(gpu_land.LandingError, match="SHA-256"):
        gpu_land.unpack(tmp_path)


def test_runs_out_of_time_are_skipped_not_cut(tmp_path, stand_in):
    result = gpu_run(tmp_path, stand_in, "--time-scale", "0.01")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert all(run == {"skipped": "no time left"} for run in summary["runs"].values())
    assert summary["chosen_capsnet"] is None


def test_the_runs_fit_the_gpu_call():
    """Deadlines in order, the last leaving time to pack within a 9-minute call."""
    deadlines = [run.deadline for run in gpu_train.RUNS]
    assert deadlines == sorted(deadlines) and deadlines[-1] <= 9 * 60 - 45
    assert gpu_train.RUNS[0].model == "capsnet" and gpu_train.RUNS[0].augment == "drawing"


MULTIMNIST_SCHEDULE = {"learning_rate": 3e-4, "lr_decay": 0.9}  # not the defaults


@pytest.fixture(scope="module")
def multimnist_dry_run(tmp_path_factory, stand_in):
    return dry_run_output(tmp_path_factory, stand_in,
                          "--lr", str(MULTIMNIST_SCHEDULE["learning_rate"]),
                          "--lr-decay", str(MULTIMNIST_SCHEDULE["lr_decay"]), job="multimnist")


@pytest.mark.slow
def test_multimnist_dry_run_trains_both_models_on_as_many_pairs(multimnist_dry_run):
    out, result = multimnist_dry_run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["job"] == "multimnist" and summary["dry_run"]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == summary
    capsnet, cnn = (summary["runs"][run.name] for run in gpu_multimnist.RUNS)
    assert capsnet["model"] == "multimnist_capsnet" and cnn["model"] == "multimnist_cnn"
    assert capsnet["epochs_run"] == cnn["epochs_run"] == 1
    training_digits = min(gpu_multimnist.DRY_RUN["train"], TRAIN_IMAGES - 5000)  # 5,000 held out
    assert capsnet["pairs_seen"] == cnn["pairs_seen"] == training_digits
    assert len(capsnet["reconstruction_error_per_digit"]) == 2
    parts = summary["archive"]["parts"]
    assert sorted(path.name for path in out.iterdir()) == sorted(
        [*parts, "summary.json", "train.log"])
    assert all((out / part).stat().st_size <= gpu_train.PART_BYTES for part in parts)


@pytest.mark.slow
def test_multimnist_land_checks_loads_and_measures_both_runs(multimnist_dry_run, tmp_path,
                                                             stand_in, capsys):
    out, _ = multimnist_dry_run
    shutil.copytree(out, tmp_path, dirs_exist_ok=True)
    summary = gpu_land.unpack(tmp_path)
    for run in summary["runs"].values():  # float16 weights that match their checksum
        _, metrics = checkpoints.load(run["model"], run["folder"])
        assert metrics["weights_storage"] == "float16"
        assert metrics["weights_sha256"] == run["weights_sha256"]
        # both runs trained on the schedule given to the call, and say so
        assert {key: metrics["train"][key] for key in MULTIMNIST_SCHEDULE} == MULTIMNIST_SCHEDULE
        assert {key: run[key] for key in MULTIMNIST_SCHEDULE} == MULTIMNIST_SCHEDULE
    for path in tmp_path.glob("runs"):
        shutil.rmtree(path)
    assert gpu_land.main([str(tmp_path), "--job", "multimnist", "--data", str(stand_in)]) == 0
    rows = json.loads(capsys.readouterr().out)
    stand_in_test = len(load_sample().labels)
    for run in gpu_multimnist.RUNS:
        assert rows[run.name]["here"]["test_pairs"] == stand_in_test
        assert_compared_with_the_shipped_weights(rows, run.name)


def assert_compared_with_the_shipped_weights(rows: dict, name: str):
    """A run's row compares it with the shipped weights of its model on the same examples:
    what it wins and loses accounts for the difference between the two error counts."""
    run, shipped = rows[name], rows[f"shipped/{rows[name]['model']}"]
    against = run["against_shipped"]
    assert against["test_errors"] == shipped["here"]["test_errors"]
    assert against["wins"] - against["losses"] == (shipped["here"]["test_errors"]
                                                   - run["here"]["test_errors"])
    assert against["mcnemar_p"] == pytest.approx(
        mcnemar_p(against["wins"], against["losses"]), abs=1e-6)


@pytest.mark.slow
def test_land_measures_each_run_beside_the_shipped_weights(dry_run, tmp_path, stand_in, capsys):
    out, _ = dry_run
    back = shutil.copytree(out, tmp_path / "back")
    assert gpu_land.main([str(back), "--data", str(stand_in)]) == 0
    rows = json.loads(capsys.readouterr().out)
    landed = [name for name, row in rows.items() if "here" in row and "gpu" in row]
    assert sorted({rows[name]["model"] for name in landed}) == ["capsnet", "cnn"]
    for name in landed:
        assert 0.0 <= rows[name]["here"]["drawn_accuracy"] <= 1.0
        assert_compared_with_the_shipped_weights(rows, name)


def test_an_unknown_job_is_refused(tmp_path, stand_in):
    result = gpu_run(tmp_path, stand_in, job="imagenet")
    assert result.returncode == 2 and "unknown job" in result.stderr


def test_the_multimnist_runs_fit_the_gpu_call():
    """The CapsNet first, then the CNN; the last deadline leaves time to pack within 9 min."""
    deadlines = [run.deadline for run in gpu_multimnist.RUNS]
    assert deadlines == sorted(deadlines) and deadlines[-1] <= 9 * 60 - 45
    assert [run.model for run in gpu_multimnist.RUNS] == ["multimnist_capsnet", "multimnist_cnn"]


@pytest.mark.slow
def test_multimnist_land_installs_both_runs_where_the_page_reads_them(multimnist_dry_run,
                                                                      tmp_path, stand_in,
                                                                      monkeypatch, capsys):
    """`--install` ships each run's very weights into the weights folder the page and
    `train.py` read (`$CAPSNET_WEIGHTS` here) and records there what it measured."""
    out, _ = multimnist_dry_run
    back = shutil.copytree(out, tmp_path / "back")
    shipped = tmp_path / "weights"
    shipped.mkdir()
    monkeypatch.setenv(checkpoints.WEIGHTS_ENV, str(shipped))
    names = [run.name for run in gpu_multimnist.RUNS]
    before = {path: checkpoints.sha256(path) for path in checkpoints.WEIGHTS_DIR.iterdir()}
    assert gpu_land.main([str(back), "--job", "multimnist", "--data", str(stand_in),
                          "--install", *names]) == 0
    rows = json.loads(capsys.readouterr().out)
    summary = json.loads((out / "summary.json").read_text())
    for name in names:
        run = summary["runs"][name]
        _, metrics = checkpoints.load(run["model"], shipped)
        assert metrics["weights_sha256"] == run["weights_sha256"]
        assert metrics["test_pairs"] == len(load_sample().labels)
        assert metrics["test_error"] == rows[name]["here"]["test_error"]
    assert {path: checkpoints.sha256(path) for path in checkpoints.WEIGHTS_DIR.iterdir()} == before
