"""Two digits at once: the paper's overlapping-digits experiment (Section 6), on the page.

In the "Two digits" mode the reading's columns read two digits drawn over each other (or an
upload, or a test pair made like MultiMNIST's from the committed sample's digits) with the
two-digit models (`capsnet.two_digits`): the drawing becomes a 36x36 input, each model names
two digits, and below, the CapsNet's decoder redraws each digit from its own capsule, in two
colours over the input and each alone (Figure 5), and any class's capsule on request ("is
there a 3 in here?"). A single digit is read as one where the second capsule is short.

The canvas, the upload and the sidebar stay as they are in the one-digit mode, so switching
modes loses nothing. Without two-digit weights the mode says how to train them; the rest of
the page does not need them.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from capsnet import checkpoints
from capsnet.config import NUM_CLASSES, PAIR_IMAGE_SIZE
from capsnet.data import Split
from capsnet.images import load_image
from capsnet.multimnist import make_pairs, place
from capsnet.page import charts, display, inputs, state
from capsnet.page.display import PLOT_CONFIG
from capsnet.page.inputs import PageInput
from capsnet.page.resources import ANALYSIS_CACHE
from capsnet.preprocess import preprocess_pair
from capsnet.samples import Sample
from capsnet.two_digits import (
    ONE_DIGIT_INK,
    ONE_DIGIT_LENGTH,
    TwoDigitAnalysis,
    TwoDigitLab,
    measured_note,
)

MODES = ("One digit", "Two digits")
TWO_DIGITS = MODES[1]
TEST_PAIRS = 200  # test pairs made from the committed sample's digits, in a fixed order
TEST_PAIR_SEED = 0
SCALE = 6  # display pixels per model-input pixel: 36 -> 216
LOADING = "Loading the two-digit models..."
GUIDANCE = ("Draw two digits from 0 to 9 on top of each other on the black square, as in "
            "MultiMNIST, or load a test pair. Both models name the two digits they see.")
SWITCH_HELP = ("The paper's overlapping-digits test (Section 6): draw two digits over each "
               "other, and see which model names both. The sidebar's Read control does the "
               "same.")
AS_PAIR = ("as MultiMNIST would have it: all the ink fitted into a 23×23 box on a 36×36 "
           "canvas, centred by its centre of mass, the strokes brought to MNIST's width.")


def active() -> bool:
    return st.session_state.get("mode") == TWO_DIGITS


def mode_control() -> None:
    """One digit or two at once (the reading follows; the canvas keeps its drawing)."""
    state.mark_mode(st.sidebar.segmented_control(
        "Read", MODES, key="mode", required=True, default=MODES[0], width="stretch",
        help="Two digits: draw two digits over each other; the CapsNet names both and "
             "redraws each one on its own (Sabour et al., Section 6)."))


def mode_button() -> None:
    """The other mode, a button on the page itself: on phones and tablets the sidebar, where
    the "Read" control is, starts closed, and the two-digit mode would go unseen there."""
    two = active()
    st.button("Back to one digit" if two else "Try two digits at once", key="mode_button",
              icon=":material/looks_one:" if two else ":material/filter_2:",
              on_click=_switch_mode, args=(MODES[0] if two else TWO_DIGITS,),
              help=None if two else SWITCH_HELP)


def _switch_mode(mode: str) -> None:
    st.session_state["mode"] = mode  # the sidebar still shows the other: `sidebar_is_stale`


# --- The models and their inputs ---------------------------------------------------------


@st.cache_resource(show_spinner=False)
def load_pair_lab(folder: str) -> TwoDigitLab:
    """Both two-digit models, shared by every session; loaded on the mode's first use."""
    lab = TwoDigitLab.load(folder)
    lab.analyze(np.zeros((PAIR_IMAGE_SIZE, PAIR_IMAGE_SIZE), dtype="float32"))  # warm up
    return lab


def pair_lab_or_note(folder: str) -> TwoDigitLab | None:
    """The two-digit models, or None after saying why they cannot be loaded."""
    try:
        with st.spinner(LOADING):
            return load_pair_lab(folder)
    except checkpoints.WeightsError as error:
        st.info(f"The two-digit models are not in place yet, so this mode can show the model "
                f"input but no answers. {error}", icon=":material/info:")
        return None


@st.cache_data(max_entries=ANALYSIS_CACHE, show_spinner=False)
def analyse_pair(folder: str, image: np.ndarray) -> TwoDigitAnalysis:
    return load_pair_lab(folder).analyze(image)


@st.cache_data(max_entries=ANALYSIS_CACHE, show_spinner=False)
def reconstruct(folder: str, capsules: np.ndarray, digit: int) -> np.ndarray:
    return load_pair_lab(folder).reconstruct(capsules, digit)


@st.cache_resource(show_spinner=False)
def sample_pairs(_sample: Sample, count: int = TEST_PAIRS, seed: int = TEST_PAIR_SEED):
    """MultiMNIST-style pairs of the committed sample's test digits (`make_pairs`)."""
    images = _sample.images.astype("float32")[..., None] / 255.0
    return make_pairs(Split(images, _sample.labels.astype("int64")), count, seed)


def next_test_pair() -> None:
    st.session_state["source"] = "pair"
    st.session_state["pair_index"] = (st.session_state.get("pair_index", -1) + 1) % TEST_PAIRS


@st.cache_data(max_entries=ANALYSIS_CACHE, show_spinner=False)
def upload_pair_input(data: bytes) -> np.ndarray:
    return preprocess_pair(load_image(data, max_bytes=inputs.upload_limit())).image


def pair_input(page_input: PageInput | None, sample: Sample) -> PageInput | None:
    """The page's input as the two-digit mode reads it: the test pair loaded last, unless a
    script injected an image; otherwise the one-digit mode's input, described anew."""
    if st.session_state["source"] == "pair" and st.session_state.get("injected_image") is None:
        index = st.session_state["pair_index"]
        first, second = sample_pairs(sample).labels[index]
        return PageInput(sample_pairs(sample).images[index, ..., 0], "pair",
                         f"Test pair {index + 1} of {TEST_PAIRS}: a {first} and a {second}, "
                         "MNIST test digits each shifted by up to 4 pixels and overlaid, as "
                         "in MultiMNIST.")
    if page_input is None or page_input.origin == "gallery":
        return page_input  # a test digit alone, in the middle of the canvas: already MNIST's
    what = {"upload": "uploaded image", "drawing": "drawing"}.get(page_input.origin, "image")
    return PageInput(page_input.pixels, page_input.origin, f"Your {what} {AS_PAIR}")


def model_input(page_input: PageInput) -> np.ndarray:
    """The `(36, 36)` image the two-digit models see; raises `NotADigit` or `ImageError`."""
    if page_input.origin == "pair":
        return page_input.pixels
    if page_input.origin == "gallery":
        return place(page_input.pixels / 255.0)  # a test digit alone, in the middle
    if page_input.origin == "upload":
        return upload_pair_input(page_input.pixels)
    return preprocess_pair(page_input.pixels, ink="light").image


# --- What the page shows -----------------------------------------------------------------


def enlarged(image: np.ndarray) -> bytes:
    return display.enlarged(image, SCALE)


def input_panel(page_input: PageInput | None) -> np.ndarray | None:
    """What the two-digit models see, enlarged; that image, or None (with guidance)."""
    st.subheader("Model input")
    image = None
    if page_input is None:
        st.info(GUIDANCE, icon=":material/draw:")
    else:
        image = inputs.read_or_explain(page_input, model_input)
    if image is not None:
        st.image(enlarged(image), caption=page_input.description)
    st.button("Load a test pair" if page_input is None or page_input.origin != "pair"
              else "Next test pair", on_click=next_test_pair, icon=":material/layers:",
              help="Two MNIST test digits of different classes, each shifted by up to 4 "
                   "pixels and overlaid, as in MultiMNIST.")
    if page_input is not None and page_input.origin in ("pair", "gallery", "upload"):
        st.button("Back to my drawing", on_click=state.back_to_drawing, icon=":material/undo:")
    return image


def named(answers: np.ndarray, one: bool) -> str:
    return str(answers[0]) if one else f"{answers[0]} and {answers[1]}"


def verdict(analysis: TwoDigitAnalysis) -> None:
    """Each model's two digits, with how sure it is of each."""
    st.subheader("Their answers")
    cnn, capsnet = st.columns(2, wrap=False)
    first, second = analysis.cnn_answers
    cnn.metric("CNN", named(analysis.cnn_answers, analysis.cnn_one_digit),
               help="The two classes with the highest sigmoid scores.")
    cnn.caption(f"Scores {analysis.cnn_scores[first]:.2f} and {analysis.cnn_scores[second]:.2f}"
                ": each is the chance that its digit is present, judged on its own.")
    first, second = analysis.capsnet_answers
    capsnet.metric("CapsNet", named(analysis.capsnet_answers, analysis.one_digit),
                   help="The two classes whose digit capsules are longest.")
    capsnet.caption(f"Capsule lengths {analysis.capsnet_lengths[first]:.2f} and "
                    f"{analysis.capsnet_lengths[second]:.2f}.")
    if analysis.one_digit:
        if analysis.second_length < ONE_DIGIT_LENGTH:
            why = (f"the next longest capsule, the {second}'s, is only "
                   f"{display.under(analysis.second_length, ONE_DIGIT_LENGTH, 2)} long "
                   f"(under {ONE_DIGIT_LENGTH:.1f})")
        else:
            ink = display.under(analysis.second_ink, ONE_DIGIT_INK, 0, percent=True)
            why = (f"redrawn from its own capsule, the {first} covers the ink, and the next "
                   f"longest capsule's digit, a {second}, adds only {ink} "
                   f"of it (under {ONE_DIGIT_INK:.0%})")
        st.info(f"The CapsNet sees one digit, a {first}: {why}.", icon=":material/looks_one:")
    elif analysis.agree:
        st.success(f"Both models read a {first} and a {second}.", icon=":material/check:")
    else:
        st.warning(f"The models disagree: the CNN reads "
                   f"{named(analysis.cnn_answers, analysis.cnn_one_digit)}, the CapsNet "
                   f"{named(analysis.capsnet_answers, analysis.one_digit)}.",
                   icon=":material/warning:")


def separation(folder: str, analysis: TwoDigitAnalysis) -> None:
    """Figure 5: both reconstructions over the input, each alone, and any class's capsule."""
    st.subheader("Each digit redrawn from its own capsule")
    first, second = analysis.capsnet_answers
    together, alone_first, alone_second, asked = st.columns(4)
    together.image(enlarged(display.overlay(analysis.image, analysis.reconstructions)),
                   caption=f"Over the input: the {first} in red, the {second} in green")
    alone_first.image(enlarged(analysis.reconstructions[0]), caption=f"The {first} capsule alone")
    alone_second.image(enlarged(analysis.reconstructions[1]),
                       caption=f"The {second} capsule alone")
    with asked:
        digit = st.selectbox("Is there a ... in here?", range(NUM_CLASSES), key="pair_asked",
                             help="The decoder redraws the capsule of any class, with the "
                                  "others masked out. A short capsule redraws a faint or "
                                  "blurred digit: the CapsNet does not see it.")
        st.image(enlarged(reconstruct(folder, analysis.capsules, digit)),
                 caption=f"The {digit} capsule, {analysis.capsnet_lengths[digit]:.2f} long")
    st.caption("The decoder sees one capsule at a time, so each digit is redrawn on its own "
               "even where the strokes cross: the capsule holds that digit's pose, not the "
               "other's ink. A CNN's scores say which digits are there, with nothing to redraw.")
    cnn, capsnet = st.columns(2)
    cnn.plotly_chart(charts.class_bars(analysis.cnn_scores, analysis.cnn_answers,
                                       "CNN: sigmoid score per class", "score"),
                     key="pair_cnn_bars", config=PLOT_CONFIG)
    capsnet.plotly_chart(charts.class_bars(analysis.capsnet_lengths, analysis.capsnet_answers,
                                           "CapsNet: length of each digit capsule",
                                           "capsule length"),
                         key="pair_capsnet_bars", config=PLOT_CONFIG)


def render(folder: str, page_input: PageInput | None, input_column, verdict_column) -> None:
    """The two-digit reading: the model input and both answers in their columns, then the
    separated digits below."""
    with input_column:
        image = input_panel(page_input)
    with verdict_column:
        lab = pair_lab_or_note(folder)
        analysis = None if image is None or lab is None else analyse_pair(folder, image)
        if analysis is not None:
            verdict(analysis)
            st.caption(measured_note(lab.metrics))
    if analysis is not None:
        separation(folder, analysis)
