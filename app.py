"""CapsNet lab: draw a digit and watch a CNN and a Capsule Network read it.

Run it with `streamlit run app.py`. This file is the page only: it lays out widgets and
calls into `capsnet/`, which holds the models, the preprocessing and the charts.

Session state the page reads, so that a script or a test can drive it (set a key, rerun):
    injected_image: an image analysed in place of the canvas and the gallery, and
        preprocessed like a drawing: greyscale `(H, W)` or RGB/RGBA `(H, W, 3|4)`, uint8 or
        floats in [0, 1]. Absent or None: the page reads the gallery pick or the canvas.
    source: "drawing" or "gallery": which of the two is analysed when nothing is injected.
    gallery_index: position, in the committed MNIST sample, of the test digit loaded.
    view: the label of the open tab; only the open view runs.
    recon_digit: the class whose capsule the decoder reconstructs (reset to the CapsNet's
        answer whenever the input changes).
    pose_0 ... pose_15: the pose sliders, the change added to each capsule dimension.
"""

from __future__ import annotations

import gc
import hashlib
import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image
from streamlit_drawable_canvas import st_canvas

from capsnet import charts, checkpoints
from capsnet.config import IMAGE_SIZE, NUM_CLASSES
from capsnet.inference import POSE_RANGE, POSE_STEPS, Analysis, Lab
from capsnet.preprocess import NotADigit, preprocess
from capsnet.samples import Sample, load_sample

CANVAS_SIZE = 280  # pixels: ten per MNIST pixel, and room for a fingertip on a phone
INK, PAPER = "#FFFFFF", "#000000"  # MNIST digits are white ink on black
STROKE_DEFAULT = 18  # a marker-like pen; preprocessing brings any width to MNIST's anyway
STROKE_LIMITS = (6, 40)  # thinner is hard to see at 280 pixels; fatter fills the canvas
POSE_SLIDER_STEP = 0.01  # finer than Figure 4's 0.05 columns, to follow a change smoothly
POSE_COLUMNS = 4  # sixteen sliders in four rows of four
POSE_IMAGE_HEIGHT = 200  # pixels: the input and its reconstruction share a row with notes
GALLERY_PAGE = NUM_CLASSES  # thumbnails per page: one of each digit in the random set
GALLERY_COLUMNS = 5  # two rows of five fit the sidebar
THUMBNAIL_SCALE = 2  # 28 -> 56 pixels, enlarged without blurring
GALLERY_KINDS = {"random": "One of each digit", "disagreement": "Where the models disagree"}
ANALYSIS_CACHE = 256  # inputs remembered per process; each is about 150 kB (mostly couplings)
PLOT_CONFIG = {"displayModeBar": False}  # the charts need no zoom or export buttons
GUIDANCE = (
    "Draw a digit from 0 to 9 on the black square, or load a real MNIST test digit from "
    "the sidebar. Both models answer as you draw; there is no button to press."
)


@dataclass(frozen=True)
class PageInput:
    """The image the page analyses and where it came from.

    Attributes:
        pixels: the image as given: a canvas or injected array, or a uint8 MNIST digit.
        origin: "injected", "gallery" or "drawing".
        description: one sentence for the reader on what the models are looking at.
    """

    pixels: np.ndarray
    origin: str
    description: str


# --- Models and data, loaded once per process ----------------------------------------------


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


@st.cache_resource
def sample_digits() -> Sample:
    """The committed MNIST test digits; shared and never modified."""
    return load_sample()


@st.cache_resource
def thumbnail(index: int) -> bytes:
    """A sample digit enlarged without blurring, as PNG, encoded once per process."""
    image = sample_digits().images[index]
    buffer = io.BytesIO()
    Image.fromarray(image.repeat(THUMBNAIL_SCALE, 0).repeat(THUMBNAIL_SCALE, 1)).save(
        buffer, format="PNG")
    return buffer.getvalue()


@st.cache_data(max_entries=ANALYSIS_CACHE, show_spinner=False)
def analyse(folder: str, image: np.ndarray) -> Analysis:
    """Both models on one 28x28 input, remembered so that reruns cost nothing."""
    return load_lab(folder).analyze(image)


@st.cache_data(max_entries=ANALYSIS_CACHE, show_spinner=False)
def pose_grid_figure(folder: str, capsules: np.ndarray, digit: int) -> go.Figure:
    """Figure 4 for one capsule: sixteen dimensions swept in one decoder batch."""
    return charts.pose_grid_figure(load_lab(folder).pose_grid(capsules, digit), POSE_STEPS)


def lab_or_stop() -> str:
    """The weights folder, once its models load; otherwise an explanation, and the page stops."""
    folder = str(checkpoints.weights_dir())
    try:
        load_lab(folder)
    except checkpoints.WeightsError as error:
        st.error(f"The models could not be loaded. {error}", icon=":material/error:")
        st.stop()
    return folder


# --- Session state: UI state only, initialised once -------------------------------------


def init_state() -> None:
    defaults = {"source": "drawing", "gallery_index": None, "gallery_page": 0,
                "recon_for": None}
    for key, value in defaults.items():
        if key not in st.session_state:
            st.session_state[key] = value


def load_test_digit(index: int) -> None:
    st.session_state["source"] = "gallery"
    st.session_state["gallery_index"] = index


def back_to_drawing() -> None:
    st.session_state["source"] = "drawing"


def next_gallery_page() -> None:
    st.session_state["gallery_page"] += 1


def first_gallery_page() -> None:
    st.session_state["gallery_page"] = 0


def reset_pose(dimensions: int) -> None:
    for dimension in range(dimensions):
        st.session_state[f"pose_{dimension}"] = 0.0


# --- Sidebar controls ----------------------------------------------------------------------


def stroke_width_control() -> int:
    return st.sidebar.slider(
        "Pen width", *STROKE_LIMITS, STROKE_DEFAULT, key="stroke_width",
        help="Any width works: the drawing is brought to MNIST's stroke width before the "
             "models see it.",
    )


def gallery_order(sample: Sample, kind: str) -> np.ndarray:
    """Sample positions of one kind, interleaved by class so each page runs through 0 to 9."""
    indices = np.flatnonzero(sample.kind == kind)
    labels = sample.labels[indices]
    rank = np.zeros(len(indices), dtype="int64")  # the k-th 0, the k-th 1, ... share rank k
    for label in np.unique(labels):
        members = labels == label
        rank[members] = np.arange(members.sum())
    return indices[np.lexsort((labels, rank))]


def gallery_controls(sample: Sample) -> None:
    """Thumbnails of MNIST test digits; a click loads one in place of the drawing."""
    sidebar = st.sidebar
    sidebar.subheader("MNIST test digits")
    sidebar.caption("Real digits from the test set, which neither model trained on. "
                    "Click a digit's label to load it; your drawing stays on the canvas.")
    kinds = [kind for kind in GALLERY_KINDS if np.any(sample.kind == kind)]
    if not kinds:
        return
    kind = kinds[0]
    if len(kinds) > 1:
        kind = sidebar.radio("Show", kinds, format_func=GALLERY_KINDS.get, key="gallery_kind",
                             on_change=first_gallery_page, horizontal=True)
    order = gallery_order(sample, kind)
    pages = math.ceil(len(order) / GALLERY_PAGE)
    page = st.session_state["gallery_page"] % pages
    active = (st.session_state["source"] == "gallery"
              and st.session_state.get("injected_image") is None)
    columns = sidebar.columns(GALLERY_COLUMNS)
    for position, index in enumerate(order[page * GALLERY_PAGE:(page + 1) * GALLERY_PAGE]):
        label, number = int(sample.labels[index]), int(sample.test_index[index])
        with columns[position % GALLERY_COLUMNS]:
            st.image(thumbnail(int(index)))
            st.button(
                str(label), key=f"gallery_{index}", on_click=load_test_digit,
                args=(int(index),), width="stretch",
                type="primary" if active and st.session_state["gallery_index"] == index
                else "secondary",
                help=f"MNIST test image #{number}, labelled {label}",
            )
    sidebar.button("Other test digits", on_click=next_gallery_page, disabled=pages == 1,
                   icon=":material/refresh:")


def model_facts(folder: str) -> None:
    """What each model scored on MNIST's test set, from its metrics file."""
    metrics = load_lab(folder).metrics
    with st.sidebar.expander("About the models"):
        for name, title in (("cnn", "CNN"), ("capsnet", "CapsNet")):
            record = metrics.get(name, {})
            facts = []
            if "test_accuracy" in record:
                facts.append(f"{100 * record['test_accuracy']:.2f}% right on MNIST's "
                             "10,000 test digits")
            if "parameters" in record:
                facts.append(f"{record['parameters']:,} parameters")
            st.markdown(f"**{title}**: " + ("; ".join(facts) or "no test results recorded"))


# --- Input ---------------------------------------------------------------------------------


def drawing_canvas(stroke_width: int) -> np.ndarray | None:
    """The drawing canvas; its RGBA image, or None before the first stroke."""
    result = st_canvas(
        stroke_width=stroke_width, stroke_color=INK, background_color=PAPER,
        width=CANVAS_SIZE, height=CANVAS_SIZE, drawing_mode="freedraw",
        update_streamlit=True, return_image_data=True, key="canvas",
        on_change=back_to_drawing,  # drawing again returns from a test digit to the drawing
    )
    return result.image_data


def current_input(drawing: np.ndarray | None, sample: Sample) -> PageInput | None:
    """The image to analyse: an injected one, else a loaded test digit, else the drawing."""
    injected = st.session_state.get("injected_image")
    if injected is not None:
        return PageInput(np.asarray(injected), "injected",
                         "An image set by a script, preprocessed like a drawing.")
    index = st.session_state["gallery_index"]
    if st.session_state["source"] == "gallery" and index is not None:
        label, number = int(sample.labels[index]), int(sample.test_index[index])
        return PageInput(sample.images[index], "gallery",
                         f"MNIST test image #{number}, labelled {label}. It is already "
                         "28×28 and MNIST-style, so the models see it as it is.")
    if drawing is None:
        return None
    return PageInput(drawing, "drawing",
                     "Your drawing as MNIST would have it: cropped, scaled into a 20×20 box, "
                     "centred by its centre of mass, its stroke brought to MNIST's width.")


def model_input(page_input: PageInput) -> np.ndarray:
    """The `(28, 28)` float image the models see; raises `NotADigit` for a blank drawing."""
    if page_input.origin == "gallery":
        return page_input.pixels.astype("float32") / 255.0
    return preprocess(page_input.pixels).image


def input_panel(folder: str, page_input: PageInput | None) -> Analysis | None:
    """What the models see, enlarged; the analysis, or None (with guidance) if nothing to read."""
    st.subheader("Model input")
    if page_input is None:
        st.info(GUIDANCE, icon=":material/draw:")
        return None
    try:
        image = model_input(page_input)
    except NotADigit as error:
        st.info(str(error), icon=":material/draw:")
        return None
    st.plotly_chart(charts.image_figure(image), key="model_input", config=PLOT_CONFIG)
    st.caption(page_input.description)
    if page_input.origin == "gallery":
        st.button("Back to my drawing", on_click=back_to_drawing, icon=":material/undo:")
    return analyse(folder, image)


def verdict(analysis: Analysis) -> None:
    """Each model's answer and confidence in words, and whether they agree."""
    st.subheader("Their answers")
    cnn, capsnet = st.columns(2)
    probability = float(analysis.cnn_probabilities[analysis.cnn_label])
    length = float(analysis.capsnet_lengths[analysis.capsnet_label])
    cnn.metric("CNN", str(analysis.cnn_label),
               help="The class with the highest softmax probability.")
    cnn.caption(f"{probability:.0%} probability: the ten probabilities share one unit.")
    capsnet.metric("CapsNet", str(analysis.capsnet_label),
                   help="The class whose digit capsule is longest.")
    capsnet.caption(f"Capsule length {length:.2f}: how sure it is that this digit is present, "
                    "judged for each digit on its own.")
    if analysis.agree:
        st.success(f"Both models read a {analysis.cnn_label}.", icon=":material/check:")
    else:
        st.warning(f"The models disagree: the CNN reads a {analysis.cnn_label}, the CapsNet "
                   f"a {analysis.capsnet_label}.", icon=":material/warning:")


# --- Views: one function each; only the open tab's runs ----------------------------------


def view_compare(folder: str, analysis: Analysis) -> None:
    cnn, capsnet = st.columns(2)
    cnn.plotly_chart(
        charts.class_bars(analysis.cnn_probabilities, analysis.cnn_label,
                          "CNN: softmax probability per class", "probability"),
        key="cnn_bars", config=PLOT_CONFIG)
    capsnet.plotly_chart(
        charts.class_bars(analysis.capsnet_lengths, analysis.capsnet_label,
                          "CapsNet: length of each digit capsule", "capsule length"),
        key="capsnet_bars", config=PLOT_CONFIG)
    st.caption(
        "The CNN's softmax makes the classes compete for one unit of probability. Each "
        "capsule's length is its own estimate that its digit is present, so the lengths need "
        "not add up to one: two overlapping digits can both be long, and a scribble can leave "
        "every capsule short."
    )


def reconstruction_class_control(analysis: Analysis) -> int:
    """Which capsule to decode; it follows the CapsNet's answer each time the input changes."""
    signature = hashlib.sha1(analysis.image.tobytes()).hexdigest()
    if st.session_state["recon_for"] != signature or "recon_digit" not in st.session_state:
        st.session_state["recon_for"] = signature
        st.session_state["recon_digit"] = analysis.capsnet_label
    return st.selectbox(
        "Reconstruct from the capsule of digit", range(NUM_CLASSES), key="recon_digit",
        format_func=lambda digit: (f"{digit} (the CapsNet's answer)"
                                   if digit == analysis.capsnet_label else str(digit)),
        help="The decoder sees only this capsule's 16 numbers; the other nine are masked to "
             "zero. Pick another digit to see your drawing as that digit.",
    )


def pose_sliders(dimensions: int) -> np.ndarray:
    """One slider per capsule dimension; the change to add to each."""
    columns = st.columns(POSE_COLUMNS)
    pose = np.zeros(dimensions, dtype="float32")
    for dimension in range(dimensions):
        key = f"pose_{dimension}"
        if key not in st.session_state:
            st.session_state[key] = 0.0
        with columns[dimension % POSE_COLUMNS]:
            pose[dimension] = st.slider(f"Dimension {dimension + 1}", -POSE_RANGE, POSE_RANGE,
                                        step=POSE_SLIDER_STEP, format="%+.2f", key=key)
    return pose


@st.fragment
def pose_panel(folder: str, image: np.ndarray, capsules: np.ndarray, digit: int) -> None:
    """Input, reconstruction and the sixteen pose sliders; a slider reruns this panel only."""
    dimensions = capsules.shape[-1]
    shown, rebuilt, notes = st.columns([1, 1, 2])
    pose = pose_sliders(dimensions)  # below the images: the columns above are filled next
    reconstruction = load_lab(folder).reconstruct(capsules, digit, pose)
    with shown:
        st.caption("Input")
        st.plotly_chart(charts.image_figure(image, POSE_IMAGE_HEIGHT), key="reconstruct_input",
                        config=PLOT_CONFIG)
    with rebuilt:
        st.caption(f"Decoded from the {digit} capsule")
        st.plotly_chart(charts.image_figure(reconstruction, POSE_IMAGE_HEIGHT),
                        key="reconstruction", config=PLOT_CONFIG)
    with notes:
        error = float(np.mean(np.square(image - reconstruction)))
        st.markdown(
            f"The decoder redraws the digit from the {dimensions} numbers of the {digit} "
            f"capsule (length {np.linalg.norm(capsules[digit]):.2f}). Move a slider to add to "
            "one of them. Sabour et al. found dimensions that control stroke thickness, "
            "width, skew and local parts of a digit. A CNN has nothing like this to move: "
            "its answer is one number per class."
        )
        st.caption(f"Mean squared difference from the input: {error:.4f}")
        st.button("Reset pose", on_click=reset_pose, args=(dimensions,),
                  icon=":material/restart_alt:")


def view_reconstruct(folder: str, analysis: Analysis) -> None:
    digit = reconstruction_class_control(analysis)
    pose_panel(folder, analysis.image, analysis.capsules, digit)
    with st.expander("All sixteen dimensions at once (the paper's Figure 4)"):
        st.caption(
            f"Row d adds {POSE_STEPS[0]:+.2f} to {POSE_STEPS[-1]:+.2f}, in steps of "
            f"{POSE_STEPS[1] - POSE_STEPS[0]:.2f}, to dimension d of the {digit} capsule "
            "alone; the middle column is the unchanged capsule."
        )
        st.plotly_chart(pose_grid_figure(folder, analysis.capsules, digit), key="pose_grid",
                        config=PLOT_CONFIG)


VIEWS: dict[str, Callable[[str, Analysis], None]] = {
    "Compare the models": view_compare,
    "Reconstruct and pose": view_reconstruct,
}


def views(folder: str, analysis: Analysis | None) -> None:
    """The tabs; only the open one runs, so a view costs nothing while it is closed.

    The tabs stay on the page while there is nothing to read, so the open one stays open.
    """
    tabs = st.tabs(list(VIEWS), key="view", on_change="rerun")
    for tab, view in zip(tabs, VIEWS.values(), strict=True):
        if tab.open:
            with tab:
                if analysis is None:
                    st.caption("This view fills in once there is a digit to read.")
                else:
                    view(folder, analysis)


def main() -> None:
    st.set_page_config(page_title="CapsNet lab", page_icon=":material/draw:", layout="wide")
    init_state()
    folder = lab_or_stop()
    sample = sample_digits()
    stroke_width = stroke_width_control()
    gallery_controls(sample)
    model_facts(folder)

    st.title("CapsNet lab")
    st.caption("Draw a digit and watch a CNN and a Capsule Network (Sabour, Frosst and Hinton, "
               "2017) read it. The CapsNet answers with a 16-number capsule per digit; "
               "the decoder turns a capsule back into an image.")
    draw_column, input_column, verdict_column = st.columns([1.1, 1, 1.2], gap="medium")
    with draw_column:
        st.subheader("Draw a digit")
        drawing = drawing_canvas(stroke_width)
        st.caption("Undo, redo and clear are in the canvas's toolbar.")
    page_input = current_input(drawing, sample)
    if page_input is not None and page_input.origin == "gallery":
        draw_column.caption("The models are reading the test digit on the right, not your "
                            "drawing; draw a stroke to switch back.")
    with input_column:
        analysis = input_panel(folder, page_input)
    if analysis is not None:
        with verdict_column:
            verdict(analysis)
    views(folder, analysis)


if __name__ == "__main__":
    main()
