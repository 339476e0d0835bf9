"""Damaged model files on the page, loading without code execution, and concurrent visitors."""

from __future__ import annotations

import ast
import importlib.util
import json
import shutil
import sys

import numpy as np
import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest
from test_app import APP, TIMEOUT, chart_keys, run

from capsnet import checkpoints
from capsnet.models import build_cnn

SOURCES = [ROOT / "app.py", ROOT / "train.py", *sorted((ROOT / "capsnet").rglob("*.py")),
           *sorted((ROOT / "scripts").glob("*.py"))]


def load_script(name: str):
    """A script in scripts/ as a module, without running its main()."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# --- Damaged model files, as the page shows them -------------------------------------------


def copy_weights(source, target):
    """A copy of a weights folder that a test may damage."""
    target.mkdir()
    for name in checkpoints.MODEL_NAMES:
        for path in checkpoints.paths(name, source):
            shutil.copyfile(path, target / path.name)
    return target


def truncate(folder):
    weights, _ = checkpoints.paths("capsnet", folder)
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 3])


def random_bytes(folder):
    weights, _ = checkpoints.paths("capsnet", folder)
    weights.write_bytes(np.random.default_rng(0).bytes(weights.stat().st_size))


def random_bytes_without_checksum(folder):
    """Damage the checksum cannot catch: the metrics file records none."""
    random_bytes(folder)
    _, metrics = checkpoints.paths("capsnet", folder)
    record = json.loads(metrics.read_text())
    record.pop("weights_sha256", None)
    metrics.write_text(json.dumps(record))


def remove(folder):
    weights, _ = checkpoints.paths("capsnet", folder)
    weights.unlink()


def wrong_architecture(folder):
    """A CNN's weights under the CapsNet's name, with a checksum that matches them."""
    built = build_cnn(seed=0)
    weights, metrics = checkpoints.paths("capsnet", folder)
    weights.unlink()
    built.model.save_weights(weights)
    record = json.loads(metrics.read_text())
    record["weights_sha256"] = checkpoints.sha256(weights)
    metrics.write_text(json.dumps(record))


DAMAGE = {
    "truncated": (truncate, "SHA-256 mismatch"),
    "random bytes": (random_bytes, "SHA-256 mismatch"),
    "random bytes, no checksum": (random_bytes_without_checksum,
                                  "could not be loaded into the capsnet architecture"),
    "missing": (remove, "No capsnet weights at"),
    "wrong architecture": (wrong_architecture,
                           "could not be loaded into the capsnet architecture"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_weights_get_a_clear_message_on_the_page(case, weights_folder, tmp_path,
                                                         monkeypatch):
    damage, message = DAMAGE[case]
    folder = copy_weights(weights_folder, tmp_path / "weights")
    damage(folder)
    monkeypatch.setenv("CAPSNET_WEIGHTS", str(folder))
    at = run(AppTest.from_file(APP, default_timeout=TIMEOUT))  # no exception, no traceback
    assert len(at.error) == 1
    shown = at.error[0].value
    assert shown.startswith("The models could not be loaded.") and message in shown, shown
    weights_name = f"${checkpoints.WEIGHTS_ENV}/capsnet.weights.h5"  # as $CAPSNET_WEIGHTS names it
    assert weights_name in shown, shown
    assert str(tmp_path) not in shown and str(ROOT) not in shown  # never the server's own paths
    assert len(at.metric) == 0 and chart_keys(at) == []


# --- Weights only: nothing loaded can run code ---------------------------------------------


def calls(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def dotted(node) -> str:
    """`np.load` for the call `np.load(...)`; "" for calls of anything but a name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def test_numpy_files_are_loaded_without_pickle():
    loads = [(path.name, call) for path in SOURCES for call in calls(path)
             if dotted(call.func) in ("np.load", "numpy.load")]
    assert loads, "no np.load found: the scan is looking in the wrong place"
    for name, call in loads:
        keywords = {k.arg: k.value for k in call.keywords}
        value = keywords.get("allow_pickle")
        assert isinstance(value, ast.Constant) and value.value is False, (
            f"{name}:{call.lineno} calls np.load without allow_pickle=False")


def test_no_model_deserialisation_or_pickle():
    forbidden = ("load_model", "pickle", "joblib", "torch.load", "dill", "marshal")
    for path in SOURCES:
        tree = ast.parse(path.read_text())
        imported = {alias.name for node in ast.walk(tree)
                    if isinstance(node, (ast.Import, ast.ImportFrom))
                    for alias in node.names}
        modules = {node.module for node in ast.walk(tree)
                   if isinstance(node, ast.ImportFrom) and node.module}
        names = {dotted(call.func) for call in calls(path)}
        for word in forbidden:
            for found in imported | modules | names:
                assert word not in found.split(".") and not found.endswith(word), (
                    f"{path.name} uses {found}")


# --- Many visitors -------------------------------------------------------------------------


def test_concurrent_sessions_get_the_results_of_one_by_one_analysis(lab):
    load_test = load_script("load_test")
    inputs = load_test.drawings(20)
    (result,) = load_test.load_test(lab, sessions=8, analyses=10, inputs=inputs)
    assert result.errors == []
    assert len(result.latencies) == result.analyses == 80
    assert result.mismatches == 0, result.largest_difference


# --- Messages name files as the project does, never by the server's absolute path ----------


def test_files_are_named_relative_to_the_project_or_the_weights_folder(tmp_path, monkeypatch):
    from capsnet.paths import shown, without_paths

    assert shown(ROOT / "capsnet" / "weights" / "cnn.json") == "capsnet/weights/cnn.json"
    monkeypatch.setenv("CAPSNET_WEIGHTS", str(tmp_path / "w"))
    assert shown(tmp_path / "w" / "cnn.json") == "$CAPSNET_WEIGHTS/cnn.json"
    assert shown(tmp_path / "elsewhere" / "cnn.json") == "cnn.json"
    text = (f"Unable to open file (name = '{tmp_path}/w/cnn.weights.h5'), see "
            f"{ROOT}/capsnet/weights/capsnet.json.")
    assert without_paths(text) == ("Unable to open file (name = '$CAPSNET_WEIGHTS/"
                                   "cnn.weights.h5'), see capsnet/weights/capsnet.json.")
