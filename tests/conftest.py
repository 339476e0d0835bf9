"""Shared fixtures. The models run on the TensorFlow backend unless KERAS_BACKEND says otherwise."""

import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MNIST_PATH = Path(os.environ.get("CAPSNET_MNIST", ROOT.parent / "shared" / "data" / "mnist.npz"))


import pytest  # noqa: E402

REQUIRE_BROWSER = "CAPSNET_REQUIRE_BROWSER"  # set (to 1) where skipping the browser is an error


def pytest_collection_modifyitems(config, items):
    """Skips the tests marked `browser` where no Chromium is at $CHROMIUM, with the reason,
    or, where $CAPSNET_REQUIRE_BROWSER is set (as in CI), fails the run before any test."""
    from page_driver import missing_browser

    reason = missing_browser()
    browser_tests = [item for item in items if "browser" in item.keywords]
    if reason is None or not browser_tests:
        return
    if os.environ.get(REQUIRE_BROWSER):
        raise pytest.UsageError(f"{len(browser_tests)} browser tests cannot run: {reason}; "
                                f"${REQUIRE_BROWSER} is set, so they may not be skipped")
    for item in browser_tests:
        item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def lab():
    """Both trained models: from $CAPSNET_WEIGHTS when set, else the shipped weights."""
    from capsnet.inference import Lab

    return Lab.load()


@pytest.fixture(scope="session")
def mnist_path():
    if not MNIST_PATH.is_file():
        pytest.skip(f"the full MNIST file is not at {MNIST_PATH}; set CAPSNET_MNIST")
    return MNIST_PATH


@pytest.fixture(scope="session")
def weights_folder() -> Path:
    """The weights the tests run against: `$CAPSNET_WEIGHTS` if set, else the shipped ones."""
    from capsnet.checkpoints import weights_dir

    return weights_dir()


# --- The page in a real Chromium, shared by the browser tests ---------------------------

TRAINED_ACCURACY = 0.98  # test accuracy above which a model must read clear drawings right


@pytest.fixture(scope="session")
def trained() -> bool:
    """Whether both models in the weights folder are trained (a `WeightsError` if missing)."""
    from capsnet import checkpoints

    return all(checkpoints.read_metrics(name).get("test_accuracy", 0.0) >= TRAINED_ACCURACY
               for name in checkpoints.MODEL_NAMES)


@pytest.fixture(scope="session")
def server(trained):  # `trained` reads the metrics first: missing weights fail at once
    """One `streamlit run app.py` for every browser test."""
    from page_driver import running_server

    with running_server() as running:
        yield running


@pytest.fixture(scope="session")
def browser():
    from page_driver import chromium

    with chromium() as launched:
        yield launched
