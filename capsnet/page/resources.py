"""What every session shares: both models, loaded once per process, the committed sample, and
the cached results that cost a model call."""

from __future__ import annotations

import gc

import keras
import numpy as np
import streamlit as st

from capsnet import checkpoints, novelty
from capsnet.config import IMAGE_SIZE
from capsnet.inference import Analysis, Lab
from capsnet.samples import Sample, load_sample

ANALYSIS_CACHE = 32  # inputs remembered per process (each about 150 kB, mostly couplings):
# enough for reruns and going back and forth; small, so memory levels off after a few drawings


@st.cache_resource(show_spinner="Loading the CNN and the CapsNet...")
def load_lab(folder: str) -> Lab:
    """Both models from a weights folder, shared by every session (the Lab is thread-safe).

    Each model path runs once here, on a blank image, so that TensorFlow builds its
    functions now rather than on a visitor's first stroke (which would then take seconds).
    """
    lab = Lab.load(folder)
    warm_up = lab.analyze(np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype="float32"))
    lab.reconstruct(warm_up.capsules, 0)
    lab.pose_grid(warm_up.capsules, 0)
    keep_models_warm()
    return lab


def _skip_keras_reset(free_memory: bool = True) -> None:
    """Stands in for `keras.backend.clear_session` in the page's process (see below)."""


def keep_models_warm() -> None:
    """Stops the resets after every run that would make each model call slow again.

    After each run Streamlit calls `keras.backend.clear_session()`, meant for scripts that
    build models as they run. That empties TensorFlow's kernel cache, so the next call of a
    loaded model instantiates its compiled function again: on two CPU cores an analysis
    goes from 15 to 70-110 ms and a reconstruction from 2 to 15 ms. This page builds no
    models while it runs, so the reset has nothing to free; `keras.utils.clear_session`
    is left as it is. The garbage collections after each run scan TensorFlow's 350,000
    long-lived objects, some 200 ms each on two cores; `gc.freeze` sets those aside.
    """
    keras.backend.clear_session = _skip_keras_reset
    gc.freeze()


def lab_or_stop() -> str:
    """The weights folder, once its models load; otherwise an explanation, and the page stops."""
    folder = str(checkpoints.weights_dir())
    try:
        load_lab(folder)
    except checkpoints.WeightsError as error:
        st.error(f"The models could not be loaded. {error}", icon=":material/error:")
        st.stop()
    return folder


@st.cache_resource
def sample_digits() -> Sample:
    """The committed MNIST test digits; shared and never modified."""
    return load_sample()


@st.cache_data(max_entries=ANALYSIS_CACHE, show_spinner=False)
def analyse(folder: str, image: np.ndarray) -> Analysis:
    """Both models on one 28x28 input, remembered so that reruns cost nothing."""
    return load_lab(folder).analyze(image)


@st.cache_resource(show_spinner=False)
def novelty_thresholds(folder: str) -> novelty.Thresholds | None:
    """The not-a-digit signal's thresholds for these weights; None skips the signal."""
    return novelty.load_thresholds(folder)
