"""What every session shares: both models, loaded once per process, and the committed sample.

Loading the models takes seconds (TensorFlow's import, two models built and warmed: about 5 s
on two CPU cores, more on a busy machine). The page's first request starts loading them on a
thread of their own (`start_loading`) as soon as it has sent the canvas, so that the canvas and
the page's text are drawn meanwhile; the answers' place shows a spinner until they are ready
(`lab_or_stop`).
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Callable

import numpy as np
import streamlit as st

from capsnet import checkpoints, novelty
from capsnet.config import IMAGE_SIZE
from capsnet.inference import Analysis, Lab
from capsnet.page.live_pose import DecoderPayload
from capsnet.samples import Sample, load_sample

ANALYSIS_CACHE = 32  # inputs remembered per process (each about 150 kB, mostly couplings):
# enough for reruns and going back and forth; small, so memory levels off after a few drawings
LOADING = "Loading the CNN and the CapsNet..."


def weights_folder() -> str:
    """The folder the page loads its weights from (`$CAPSNET_WEIGHTS`, else the shipped ones)."""
    return str(checkpoints.weights_dir())


@st.cache_resource(show_spinner=False)
def load_lab(folder: str) -> Lab:
    """Both models from a weights folder, shared by every session (the Lab is thread-safe).

    Each model path runs once here, on a blank image, so that TensorFlow builds its
    functions now rather than on a visitor's first stroke (which would then take seconds).
    """
    keep_keras_session()  # before any model is built: a run may end while this one loads
    lab = Lab.load(folder)
    warm_up = lab.analyze(np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype="float32"))
    lab.reconstruct(warm_up.capsules, 0)
    lab.pose_grid(warm_up.capsules, 0)
    gc.freeze()  # see keep_keras_session
    return lab


def _skip_keras_reset(free_memory: bool = True) -> None:
    """Stands in for `keras.backend.clear_session` in the page's process (see below)."""


def keep_keras_session() -> None:
    """Stops the resets after every run that would make each model call slow again.

    After each run Streamlit calls `keras.backend.clear_session()`, meant for scripts that
    build models as they run. That empties TensorFlow's kernel cache, so the next call of a
    loaded model instantiates its compiled function again: on two CPU cores an analysis
    goes from 15 to 70-110 ms and a reconstruction from 2 to 15 ms; and a reset while the
    models are being built on the loading thread would pull Keras's state from under them.
    This page builds no models while it runs, so the reset has nothing to free;
    `keras.utils.clear_session` is left as it is. The garbage collections after each run
    scan TensorFlow's 350,000 long-lived objects, some 200 ms each on two cores; `load_lab`
    sets those aside with `gc.freeze` once the models are loaded.
    """
    import keras  # here, not at the top: the page draws its canvas before TensorFlow loads

    keras.backend.clear_session = _skip_keras_reset


def _load_in_background(folder: str) -> None:
    try:
        load_lab(folder)
    except Exception:
        # Nothing is cached then, so the page's own call loads again and shows the error.
        pass


@st.cache_resource(show_spinner=False)
def _loading(folder: str) -> threading.Thread:
    """The thread loading the models from `folder`: started once per process and folder."""
    thread = threading.Thread(target=_load_in_background, args=(folder,), daemon=True,
                              name="capsnet-models")
    thread.start()
    return thread


def start_loading(folder: str) -> None:
    """Starts loading the models on their own thread, unless that has begun already.

    The first run calls this just after it has sent the canvas: importing TensorFlow holds
    Python's interpreter lock for long stretches, and started any earlier it slows the run
    that draws the canvas (on two cores: canvas shown 5.0 s after start, median of 5, against
    3.8 s once the canvas goes first; first answer 9.7 s against 8.6 s)."""
    _loading(folder)


def lab_or_stop(folder: str) -> Lab:
    """The models, once loaded (a spinner meanwhile); otherwise an explanation, and the page
    stops."""
    waiting = st.spinner(LOADING) if _loading(folder).is_alive() else contextlib.nullcontext()
    try:
        with waiting:
            return load_lab(folder)
    except checkpoints.WeightsError as error:
        st.error(f"The models could not be loaded. {error}", icon=":material/error:")
        st.stop()


def weights_sha256(folder: str, name: str) -> str:
    """The SHA-256 of the loaded weights: from the metrics file, else of the file itself."""
    recorded = load_lab(folder).metrics.get(name, {}).get("weights_sha256")
    return recorded or checkpoints.sha256(checkpoints.paths(name, folder)[0])


def report_or_note(load: Callable[[], dict | None], error: type[Exception], what: str,
                   command: str) -> dict | None:
    """A measured report from `load`, or None after saying on the page why there is none:
    it is unreadable (`error`), or it has not been measured yet."""
    try:
        report = load()
    except error as problem:
        st.warning(f"{problem} Measure it again with {command}.", icon=":material/warning:")
        return None
    if report is None:
        st.info(f"No {what} has been measured yet. Measure it with {command}.",
                icon=":material/info:")
    return report


@st.cache_resource(show_spinner=False)
def decoder_payload(folder: str) -> DecoderPayload:
    """The CapsNet decoder's weights as the page's browsers get them, encoded once."""
    return DecoderPayload.from_layers(load_lab(folder).decoder_layers())


@st.cache_resource
def sample_digits() -> Sample:
    """The committed MNIST test digits; shared and never modified."""
    return load_sample()


@st.cache_data(max_entries=ANALYSIS_CACHE, show_spinner=False)
def analyse(folder: str, image: np.ndarray, routings: int | None = None) -> Analysis:
    """Both models on one 28x28 input, remembered so that reruns cost nothing (the CapsNet
    with `routings` iterations; by default as trained)."""
    return load_lab(folder).analyze(image, routings)


@st.cache_resource(show_spinner=False)
def novelty_thresholds(folder: str) -> novelty.Thresholds | None:
    """The not-a-digit signal's thresholds for these weights; None skips the signal."""
    return novelty.load_thresholds(folder)
