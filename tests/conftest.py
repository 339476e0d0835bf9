"""Shared fixtures. The models run on the TensorFlow backend unless KERAS_BACKEND says otherwise."""

import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MNIST_PATH = Path(os.environ.get("CAPSNET_MNIST", ROOT.parent / "shared" / "data" / "mnist.npz"))
