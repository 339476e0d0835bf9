"""CapsNet lab: draw a digit and watch a CNN and a Capsule Network read it.

Run it with `streamlit run app.py`. This file is the page only: it lays out widgets and
calls into `capsnet/`, which holds the models, the preprocessing and the charts.

Session state the page reads, so that a script or a test can drive it (set a key, rerun):
    injected_image: an image analysed in place of the canvas, the upload and the gallery,
        and preprocessed like a drawing (light ink): greyscale `(H, W)` or RGB/RGBA
        `(H, W, 3|4)`, uint8 or floats in [0, 1]. Absent or None: the page reads the upload,
        the gallery pick or the canvas, as `source` says.
    source: "drawing", "upload" or "gallery": which is analysed when nothing is injected.
        Uploading a file chooses "upload", a test digit "gallery", a stroke on the canvas
        "drawing"; the canvas keeps its drawing meanwhile.
    upload: the file uploader's file (a Streamlit `UploadedFile`, or None).
    gallery_index: position, in the committed MNIST sample, of the test digit loaded.
    view: the label of the open tab; only the open view runs.
    recon_digit: the class whose capsule the decoder reconstructs (reset to the CapsNet's
        answer whenever the input changes).
    pose_0 ... pose_15: the pose sliders, the change added to each capsule dimension.
    routing_reduce: "mean" or "max": how the routing view sums up the 32 types at a place.
    play_rotation, play_shift_x, play_shift_y, play_scale, play_shear, play_stroke: the
        transformation sliders of the "Bend the input" view.
    disagreement_kind: "capsnet", "cnn" or "neither": which model is right among the
        disagreements listed.
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
from streamlit.runtime.uploaded_file_manager import UploadedFile
from streamlit_drawable_canvas import st_canvas

from capsnet import charts, checkpoints, novelty, robustness, routing, transforms
from capsnet.benchmark import median_seconds
from capsnet.config import IMAGE_SIZE, NUM_CLASSES
from capsnet.images import MAX_BYTES, ImageError, load_image
from capsnet.inference import POSE_RANGE, POSE_STEPS, Analysis, Lab
from capsnet.preprocess import NotADigit, preprocess
from capsnet.samples import Sample, load_sample

CANVAS_SIZE = 280  # pixels: ten per MNIST pixel, and room for a fingertip on a phone
INK, PAPER = "#FFFFFF", "#000000"  # MNIST digits are white ink on black
STROKE_DEFAULT = 18  # a marker-like pen; preprocessing brings any width to MNIST's anyway
STROKE_LIMITS = (6, 40)  # thinner is hard to see at 280 pixels; fatter fills the canvas
UPLOAD_TYPES = ("png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff")  # the extensions of
# capsnet.images.FORMATS, the only formats decoded
POSE_SLIDER_STEP = 0.01  # finer than Figure 4's 0.05 columns, to follow a change smoothly
POSE_COLUMNS = 4  # sixteen sliders in four rows of four
POSE_IMAGE_HEIGHT = 200  # pixels: the input and its reconstruction share a row with notes
GALLERY_PAGE = NUM_CLASSES  # thumbnails per page: one of each digit in the random set
GALLERY_COLUMNS = 5  # two rows of five fit the sidebar
THUMBNAIL_SCALE = 2  # 28 -> 56 pixels, enlarged without blurring
GALLERY_KINDS = {"random": "One of each digit", "disagreement": "Where the models disagree"}
ANALYSIS_CACHE = 32  # inputs remembered per process (each about 150 kB, mostly couplings):
# enough for reruns and going back and forth; small, so memory levels off after a few drawings
PLOT_CONFIG = {"displayModeBar": False}  # the charts need no zoom or export buttons
AS_MNIST = ("as MNIST would have it: cropped, scaled into a 20×20 box, centred by its centre "
            "of mass, its stroke brought to MNIST's width.")
GUIDANCE = (
    "Draw a digit from 0 to 9 on the black square, or load a real MNIST test digit from "
    "the sidebar. Both models answer as you draw; there is no button to press."
)


@dataclass(frozen=True)
class PageInput:
    """The image the page analyses and where it came from.

    Attributes:
        pixels: the image as given: a canvas or injected array, a uint8 MNIST digit, or
            the bytes of an uploaded file.
        origin: "injected", "upload", "gallery" or "drawing".
        description: one sentence for the reader on what the models are looking at.
    """

    pixels: np.ndarray | bytes
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


@st.cache_resource(show_spinner=False)
def novelty_thresholds(folder: str) -> novelty.Thresholds | None:
    """The not-a-digit signal's thresholds for these weights; None skips the signal."""
    return novelty.load_thresholds(folder)


def upload_limit() -> int:
    """The largest upload decoded, in bytes: the server's limit, within `load_image`'s own."""
    return min(MAX_BYTES, int(st.get_option("server.maxUploadSize") * 2**20))


@st.cache_data(max_entries=ANALYSIS_CACHE, show_spinner=False)
def upload_model_input(data: bytes) -> np.ndarray:
    """The model input from an uploaded file's bytes; raises `ImageError` or `NotADigit`."""
    return preprocess(load_image(data, max_bytes=upload_limit())).image


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


def use_upload() -> None:
    """A new file read at once; with the file removed, back to the drawing."""
    if st.session_state.get("upload") is not None:
        st.session_state["source"] = "upload"
    elif st.session_state["source"] == "upload":
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


def upload_control() -> UploadedFile | None:
    """A file uploader for a photo or an image of a digit; the file, or None."""
    upload = st.file_uploader(
        "Or upload an image of a digit", type=list(UPLOAD_TYPES), key="upload",
        on_change=use_upload,
        help="A photo of a digit on paper, or a drawing: dark ink on light paper or light "
             "ink on a dark sheet. Your drawing stays on the canvas.",
    )
    if upload is not None and st.session_state["source"] != "upload":
        st.button("Read the uploaded image", on_click=use_upload, icon=":material/upload:")
    return upload


def current_input(drawing: np.ndarray | None, sample: Sample,
                  upload: UploadedFile | None = None) -> PageInput | None:
    """The image to analyse: an injected one, else the one chosen of the uploaded file, the
    loaded test digit and the drawing."""
    injected = st.session_state.get("injected_image")
    if injected is not None:
        return PageInput(np.asarray(injected), "injected",
                         "An image set by a script, preprocessed like a drawing.")
    if st.session_state["source"] == "upload" and upload is not None:
        return PageInput(upload.getvalue(), "upload",
                         f"Your uploaded image {AS_MNIST}")
    index = st.session_state["gallery_index"]
    if st.session_state["source"] == "gallery" and index is not None:
        label, number = int(sample.labels[index]), int(sample.test_index[index])
        return PageInput(sample.images[index], "gallery",
                         f"MNIST test image #{number}, labelled {label}. It is already "
                         "28×28 and MNIST-style, so the models see it as it is.")
    if drawing is None:
        return None
    return PageInput(drawing, "drawing",
                     f"Your drawing {AS_MNIST}")


def captioned_image(caption: str, image: np.ndarray, key: str, height: int) -> None:
    """A 28x28 image enlarged as a heatmap, under a caption."""
    st.caption(caption)
    st.plotly_chart(charts.image_figure(image, height), key=key, config=PLOT_CONFIG)


def model_input(page_input: PageInput) -> np.ndarray:
    """The `(28, 28)` float image the models see.

    Raises:
        NotADigit: there is no digit to read (a blank canvas, a dot, a painted canvas...).
        ImageError: an uploaded file is not an image that may be decoded.
    """
    if page_input.origin == "gallery":
        return page_input.pixels.astype("float32") / 255.0
    if page_input.origin == "upload":
        return upload_model_input(page_input.pixels)
    return preprocess(page_input.pixels, ink="light").image  # the canvas's ink is white


def input_panel(folder: str, page_input: PageInput | None) -> Analysis | None:
    """What the models see, enlarged; the analysis, or None (with guidance) if nothing to read."""
    st.subheader("Model input")
    if page_input is None:
        st.info(GUIDANCE, icon=":material/draw:")
        return None
    image = None
    try:
        image = model_input(page_input)
    except ImageError as error:
        st.error(f"The upload cannot be read. {error}", icon=":material/broken_image:")
    except NotADigit as error:
        if page_input.origin == "upload":
            st.warning(f"The upload shows no digit to read. {error}", icon=":material/draw:")
        else:
            st.info(str(error), icon=":material/draw:")
    if image is not None:
        st.plotly_chart(charts.image_figure(image), key="model_input", config=PLOT_CONFIG)
        st.caption(page_input.description)
    if page_input.origin in ("gallery", "upload"):
        st.button("Back to my drawing", on_click=back_to_drawing, icon=":material/undo:")
    return None if image is None else analyse(folder, image)


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


def novelty_note(folder: str, analysis: Analysis) -> None:
    """The CapsNet's own warning when the input looks like no digit (see capsnet.novelty)."""
    thresholds = novelty_thresholds(folder)
    if thresholds is None:  # not calibrated for these weights: no signal
        return
    signal = novelty.assess(analysis, thresholds)
    if not signal.fires:
        return
    st.warning(
        "This does not look like a digit to the CapsNet: its longest capsule is "
        f"{signal.length:.2f} long (digits: {thresholds.min_length:.2f} or more), and the "
        f"decoder's reconstruction differs from the input by {signal.error:.4f} (mean "
        f"squared; digits: {thresholds.max_error:.4f} or less).", icon=":material/help:")
    if thresholds.false_alarm_rate is not None:
        st.caption(f"The two limits were set on MNIST's test digits, of which "
                   f"{thresholds.false_alarm_rate:.1%} fall outside them.")


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
        captioned_image("Input", image, "reconstruct_input", POSE_IMAGE_HEIGHT)
    with rebuilt:
        captioned_image(f"Decoded from the {digit} capsule", reconstruction, "reconstruction",
                        POSE_IMAGE_HEIGHT)
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


# --- Views: routing, transformations, robustness, disagreements, the models' report -------

ROUTING_REDUCTIONS = {"mean": "the mean of its 32 types", "max": "the largest of its 32 types"}
RECEPTIVE_FIELD = 17  # input pixels a grid position sees: Conv1 9x9, then PrimaryCaps 9x9 /2
TRANSFORM_DEFAULTS = {"play_rotation": 0.0, "play_shift_x": 0, "play_shift_y": 0,
                      "play_scale": 1.0, "play_shear": 0.0, "play_stroke": 0}
TRANSFORM_STEP = 0.05  # slider step of scale and shear
PLAY_IMAGE_HEIGHT = 220  # pixels: the bent input and its reconstruction side by side
DISAGREEMENT_CATEGORIES = {
    "capsnet": "The CapsNet is right",
    "cnn": "The CNN is right",
    "neither": "Both are wrong",
}
DISAGREEMENTS_SHOWN = 12  # entries of one category on the page at once
DISAGREEMENT_COLUMNS = 4
DISAGREEMENT_SCALE = 3  # 28 -> 84 pixels per image, enlarged without blurring
LOSS_NAMES = {"cnn": "cross-entropy", "capsnet": "margin + reconstruction"}
LATENCY_REPEATS = 5  # timed runs after a warm-up; the median is shown
MNIST_TEST_IMAGES = 10_000


def view_routing(folder: str, analysis: Analysis) -> None:
    digit, couplings = analysis.capsnet_label, analysis.couplings
    routings, primaries = couplings.shape[0], couplings.shape[1]
    st.markdown(
        f"Each of the {primaries:,} primary capsules ({routing.TYPES} types at each place "
        f"of a {routing.GRID}×{routing.GRID} grid) splits its vote among the ten digit "
        "capsules by its coupling coefficients. The paper claims that routing by agreement "
        "sends each vote to the digit capsule whose output agrees with it, so the couplings "
        "sharpen from one iteration to the next. Shown: the coupling to the winning "
        f"**{digit}** capsule. Iteration 1 is 0.1 everywhere by construction: the routing "
        "logits start at zero, and a softmax of zeros splits evenly."
    )
    entropy = routing.mean_entropy(couplings)
    share = routing.mean_coupling(couplings, digit)
    for t, column in enumerate(st.columns(routings)):
        column.metric(f"Iteration {t + 1}: coupling entropy", f"{entropy[t]:.2f} bits",
                      help="The entropy of each primary capsule's ten couplings, averaged "
                           "over all of them.")
        column.caption(f"Mean coupling to the {digit} capsule: {share[t]:.3f}")
    st.caption(f"An even split is log2(10) = {np.log2(NUM_CLASSES):.2f} bits; 0 bits would "
               "mean every capsule sends its whole vote to one digit.")
    reduce = st.radio("At each grid place, show", list(ROUTING_REDUCTIONS), key="routing_reduce",
                      format_func=ROUTING_REDUCTIONS.get, horizontal=True)
    st.plotly_chart(
        charts.routing_maps_figure(routing.position_maps(couplings, digit, reduce), digit,
                                   f"{reduce} coupling"),
        key="routing_maps", config=PLOT_CONFIG)
    st.caption(f"Grid place (row r, column c) sees the {RECEPTIVE_FIELD}×{RECEPTIVE_FIELD} "
               "input pixels whose top left corner is at (2r, 2c).")
    st.plotly_chart(charts.routing_types_figure(routing.type_profile(couplings, digit), digit),
                    key="routing_types", config=PLOT_CONFIG)
    st.plotly_chart(charts.type_maps_figure(routing.on_grid(couplings, digit)[-1], digit,
                                            routings),
                    key="routing_type_maps", config=PLOT_CONFIG)
    st.caption("Each small map is one capsule type over the grid, at the last iteration: the "
               "types that detect parts of this digit vote for it where those parts are.")


def reset_transform() -> None:
    for key, value in TRANSFORM_DEFAULTS.items():
        st.session_state[key] = value


def transform_controls() -> transforms.Transform:
    """Sliders for each change; the transform they set."""
    for key, value in TRANSFORM_DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = value
    limit, shift = transforms.ROTATION_LIMIT, transforms.SHIFT_LIMIT
    left, right = st.columns(2)
    rotation = left.slider("Rotate (degrees, counter-clockwise)", -limit, limit, step=1.0,
                           format="%+.0f°", key="play_rotation")
    shift_x = left.slider("Shift right (pixels)", -shift, shift, step=1, format="%+d",
                          key="play_shift_x")
    shift_y = left.slider("Shift down (pixels)", -shift, shift, step=1, format="%+d",
                          key="play_shift_y")
    scale = right.slider("Scale", *transforms.SCALE_RANGE, step=TRANSFORM_STEP,
                         format="%.2f×", key="play_scale")
    shear = right.slider("Shear (positive leans the top right)", -transforms.SHEAR_LIMIT,
                         transforms.SHEAR_LIMIT, step=TRANSFORM_STEP, format="%+.2f",
                         key="play_shear")
    stroke = right.slider("Stroke width (pixels added)", -transforms.STROKE_LIMIT,
                          transforms.STROKE_LIMIT, step=1, format="%+d", key="play_stroke")
    return transforms.Transform(rotation=rotation, shift_x=shift_x, shift_y=shift_y,
                                scale=scale, shear=shear, stroke=stroke)


@st.fragment
def transform_panel(folder: str, image: np.ndarray) -> None:
    """The sliders, the bent input, its reconstruction and both answers; reruns alone."""
    transform = transform_controls()
    st.button("Undo all changes", on_click=reset_transform, icon=":material/restart_alt:")
    bent = transforms.apply(image, transform)
    result = analyse(folder, bent)
    shown, rebuilt, answers = st.columns([1, 1, 1.4])
    with shown:
        captioned_image("What the models now see", bent, "play_input", PLAY_IMAGE_HEIGHT)
    with rebuilt:
        captioned_image(f"Decoded from the {result.capsnet_label} capsule",
                        result.reconstruction, "play_reconstruction", PLAY_IMAGE_HEIGHT)
    with answers:
        cnn, capsnet = st.columns(2)
        cnn.metric("CNN reads", str(result.cnn_label))
        cnn.caption(f"{result.cnn_probabilities[result.cnn_label]:.0%} probability")
        capsnet.metric("CapsNet reads", str(result.capsnet_label))
        capsnet.caption(f"capsule length {result.capsnet_lengths[result.capsnet_label]:.2f}")
        st.caption("A CapsNet's pose dimensions should follow such changes, so the decoder "
                   "redraws the bent digit; a CNN has only its answer to give.")


@st.cache_data(max_entries=ANALYSIS_CACHE, show_spinner="Sweeping rotations and shifts...")
def sweep_scores(folder: str, image: np.ndarray) -> dict[str, np.ndarray]:
    """Both models' scores for every class under each swept rotation and shift.

    Returns:
        `{"rotation_cnn", "rotation_capsnet"}`: `(angles, 10)`; `{"shift_cnn",
        "shift_capsnet"}`: `(2, offsets, 10)`, horizontal shifts first, then vertical.
    """
    lab = load_lab(folder)
    scores = {}
    rotated = lab.analyze_batch(transforms.rotation_sweep(image))
    shifted = lab.analyze_batch(transforms.shift_sweep(image).reshape(-1, *image.shape))
    for kind, results in (("rotation", rotated), ("shift", shifted)):
        scores[f"{kind}_cnn"] = np.stack([r.cnn_probabilities for r in results])
        scores[f"{kind}_capsnet"] = np.stack([r.capsnet_lengths for r in results])
    for name in ("cnn", "capsnet"):
        scores[f"shift_{name}"] = scores[f"shift_{name}"].reshape(2, -1, NUM_CLASSES)
    return scores


def tracked_classes(analysis: Analysis) -> tuple[dict[str, int], str]:
    """The class whose score each model's sweep follows, and a sentence saying why."""
    index = st.session_state["gallery_index"]
    if (st.session_state.get("injected_image") is None
            and st.session_state["source"] == "gallery" and index is not None):
        label = int(sample_digits().labels[index])
        return {"cnn": label, "capsnet": label}, f"its true class, the label {label}"
    if analysis.agree:
        return ({"cnn": analysis.cnn_label, "capsnet": analysis.capsnet_label},
                f"the class both models give the unchanged input, {analysis.cnn_label}")
    return ({"cnn": analysis.cnn_label, "capsnet": analysis.capsnet_label},
            f"its own answer for the unchanged input (the CNN's {analysis.cnn_label}, the "
            f"CapsNet's {analysis.capsnet_label}), as the models disagree")


def steadiness(title: str, scores: dict[str, np.ndarray], target: int) -> str:
    """In words: over which stretch of each sweep a model's answer stays `target`."""
    stretches = [
        transforms.steady_range(amounts, values.argmax(axis=-1) == target)
        for amounts, values in ((transforms.SWEEP_ROTATIONS, scores["rotation"]),
                                (transforms.SWEEP_SHIFTS, scores["shift"][0]),
                                (transforms.SWEEP_SHIFTS, scores["shift"][1]))
    ]
    if stretches[0] is None:
        return f"The {title} does not answer {target} even for the unchanged input."
    (low, high), across, down = stretches
    return (f"The {title} answers {target} from {low:+g}° to {high:+g}°, from "
            f"{across[0]:+g} to {across[1]:+g} pixels across and from {down[0]:+g} to "
            f"{down[1]:+g} pixels down.")


def sweep_panel(folder: str, analysis: Analysis) -> None:
    targets, why = tracked_classes(analysis)
    scores = sweep_scores(folder, analysis.image)
    names = {"cnn": "CNN probability", "capsnet": "CapsNet length"}
    angles, offsets = transforms.SWEEP_ROTATIONS, transforms.SWEEP_SHIFTS
    st.markdown("**Sweeps.** Each model's confidence (the CNN's probability, the CapsNet's "
                f"capsule length) in {why}, as the unchanged input is rotated or shifted "
                "further than the sliders go. Each sweep is one batch through both models.")
    rotation, shift = st.columns(2)
    rotation.plotly_chart(charts.lines_figure(
        angles, [{"name": names[m], "model": m, "y": scores[f"rotation_{m}"][:, targets[m]]}
                 for m in names],
        "Confidence under rotation", "rotation (degrees)", "confidence"),
        key="sweep_rotation", config=PLOT_CONFIG)
    lines = [{"name": f"{names[m]}, {direction}", "model": m, "dash": dash,
              "y": scores[f"shift_{m}"][axis, :, targets[m]]}
             for m in names
             for axis, direction, dash in ((0, "to the right", "solid"), (1, "down", "dot"))]
    shift.plotly_chart(charts.lines_figure(
        offsets, lines, "Confidence under shifts", "shift (pixels)", "confidence"),
        key="sweep_shift", config=PLOT_CONFIG)
    st.caption(" ".join(
        steadiness(charts.MODEL_TITLES[m], {"rotation": scores[f"rotation_{m}"],
                                            "shift": scores[f"shift_{m}"]}, targets[m])
        for m in names))


def view_transform(folder: str, analysis: Analysis) -> None:
    st.markdown(
        "Rotate, shift, scale, shear, thicken or thin the 28×28 image the models read, and "
        "watch both answers and the CapsNet's reconstruction follow. The paper claims "
        "capsules cope better with changes of viewpoint than a CNN (Section 5.2: 79% against "
        "66% on affNIST, for models that saw only shifted MNIST). Training here saw shifts "
        "of up to 2 pixels and nothing else."
    )
    transform_panel(folder, analysis.image)
    sweep_panel(folder, analysis)


def weights_sha256(folder: str, name: str) -> str:
    """The SHA-256 of the loaded weights: from the metrics file, else of the file itself."""
    recorded = load_lab(folder).metrics.get(name, {}).get("weights_sha256")
    return recorded or checkpoints.sha256(checkpoints.paths(name, folder)[0])


def view_robustness(folder: str, analysis: Analysis) -> None:
    st.markdown(
        "Both models on all of MNIST's test digits, rotated or shifted: the paper's claim "
        "that capsules generalise better to transformations they did not train on, "
        "measured offline on the whole test set rather than on the digit above."
    )
    command = "`python scripts/robustness.py --data path/to/mnist.npz`"
    try:
        report = robustness.load_report()
    except robustness.ReportError as error:
        st.warning(f"{error} Measure it again with {command}.", icon=":material/warning:")
        return
    if report is None:
        st.info(f"No robustness report has been measured yet. Measure it with {command}.",
                icon=":material/info:")
        return
    stale = robustness.stale_models(report, {name: weights_sha256(folder, name)
                                             for name in checkpoints.MODEL_NAMES})
    if stale:
        titles = " and ".join(charts.MODEL_TITLES[name] for name in stale)
        st.warning(f"This report was measured with other {titles} weights than the page's "
                   f"models; measure it again with {command}.", icon=":material/warning:")
    panels = (("rotation", "degrees", "Test accuracy under rotation", "rotation (degrees)"),
              ("shift", "pixels", "Test accuracy under shifts", "shift (pixels)"))
    for column, (kind, axis, title, x_title) in zip(st.columns(2), panels, strict=True):
        column.plotly_chart(charts.lines_figure(
            report[kind][axis],
            [{"name": charts.MODEL_TITLES[m], "model": m, "y": values}
             for m, values in report[kind]["accuracy"].items()],
            title, x_title, "accuracy"),
            key=f"robustness_{kind}", config=PLOT_CONFIG)
    images = int(report["images"])
    part = "" if images == MNIST_TEST_IMAGES else (
        f" Only the first {images:,} test digits were measured, not all "
        f"{MNIST_TEST_IMAGES:,}.")
    st.caption(
        f"{images:,} test digits. Rotations turn each digit about its centre of mass. Shifts "
        f"move each digit {report['shift'].get('directions', '')}. Training used shifts of up "
        f"to 2 pixels.{part}")


@st.cache_data(show_spinner="Finding the test digits the models read differently...")
def disagreements(folder: str) -> dict[str, np.ndarray | str | int]:
    """Sample digits on which the loaded models' answers differ, with the reconstructions.

    The candidates are the sample's "disagreement" digits where it has them (found with the
    weights that made the sample), else its random digits; both models answer them again.
    """
    sample = sample_digits()
    kind = "disagreement" if np.any(sample.kind == "disagreement") else "random"
    candidates = np.flatnonzero(sample.kind == kind)
    lab = load_lab(folder)
    cnn, capsnet, rebuilt = [], [], []
    for start in range(0, len(candidates), NUM_CLASSES ** 2):  # batches of 100 digits
        chunk = sample.images[candidates[start:start + NUM_CLASSES ** 2]]
        for result in lab.analyze_batch(chunk.astype("float32") / 255.0):
            cnn.append(result.cnn_label)
            capsnet.append(result.capsnet_label)
            rebuilt.append(result.reconstruction)
    cnn, capsnet = np.array(cnn, dtype="int64"), np.array(capsnet, dtype="int64")
    keep = cnn != capsnet
    return {"kind": kind, "candidates": len(candidates), "index": candidates[keep],
            "cnn": cnn[keep], "capsnet": capsnet[keep],
            "reconstruction": np.asarray(rebuilt, dtype="float32").reshape(
                -1, IMAGE_SIZE, IMAGE_SIZE)[keep]}


def disagreement_picture(digit: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
    """A test digit and its reconstruction side by side, enlarged, as uint8."""
    pair = charts.stitch(np.stack([digit.astype("float32") / 255.0, reconstruction])[None])
    pixels = np.round(np.clip(pair, 0.0, 1.0) * 255).astype("uint8")
    return pixels.repeat(DISAGREEMENT_SCALE, 0).repeat(DISAGREEMENT_SCALE, 1)


def view_disagreements(folder: str, analysis: Analysis) -> None:
    st.markdown(
        "MNIST test digits that one model reads right and the other wrong, with the "
        "CapsNet's reconstruction beside each (decoded from the capsule it chose). The paper "
        "argues that a wrong capsule shows itself in a poor reconstruction. Click a digit's "
        "button to load it into the page."
    )
    found = disagreements(folder)
    sample = sample_digits()
    labels = sample.labels[found["index"]]
    if found["kind"] == "random":
        st.caption(f"The committed sample has no list of disagreements yet (`scripts/"
                   f"make_sample.py` adds one from both trained models), so these come from "
                   f"its {found['candidates']} random test digits.")
    elif len(found["index"]) != found["candidates"]:
        st.caption(f"Of the {found['candidates']} sample digits the models disagreed on when "
                   f"the sample was made, the models loaded now disagree on "
                   f"{len(found['index'])}.")
    if len(found["index"]) == 0:
        st.info(f"The two models agree on all {found['candidates']} of these test digits.",
                icon=":material/check:")
        return
    category = np.where(found["capsnet"] == labels, "capsnet",
                        np.where(found["cnn"] == labels, "cnn", "neither"))
    counts = {key: int((category == key).sum()) for key in DISAGREEMENT_CATEGORIES}
    choice = st.radio("Show", [key for key in DISAGREEMENT_CATEGORIES if counts[key]],
                      key="disagreement_kind", horizontal=True,
                      format_func=lambda key: f"{DISAGREEMENT_CATEGORIES[key]} ({counts[key]})")
    chosen = np.flatnonzero(category == choice)
    if len(chosen) > DISAGREEMENTS_SHOWN:
        st.caption(f"The first {DISAGREEMENTS_SHOWN} of {len(chosen)}.")
    columns = st.columns(DISAGREEMENT_COLUMNS)
    for position, entry in enumerate(chosen[:DISAGREEMENTS_SHOWN]):
        index = int(found["index"][entry])
        with columns[position % DISAGREEMENT_COLUMNS]:
            st.image(disagreement_picture(sample.images[index], found["reconstruction"][entry]))
            st.caption(f"Label **{labels[entry]}**: CNN {found['cnn'][entry]}, CapsNet "
                       f"{found['capsnet'][entry]}")
            st.button(f"Load #{sample.test_index[index]}", key=f"disagreement_{index}",
                      on_click=load_test_digit, args=(index,), icon=":material/upload:")


@st.cache_resource(show_spinner="Timing the models on this server...")
def latency(folder: str) -> dict[str, float]:
    """Median seconds, on this server, of the page's two model calls for one image."""
    lab = load_lab(folder)
    image = sample_digits().images[0].astype("float32") / 255.0
    result = lab.analyze(image)
    return {
        "analysis": median_seconds(lambda: lab.analyze(image), LATENCY_REPEATS),
        "reconstruction": median_seconds(
            lambda: lab.reconstruct(result.capsules, result.capsnet_label), LATENCY_REPEATS),
    }


def report_cell(record: dict, name: str) -> str:
    """One fact from a metrics file, in words, or a dash where it was not recorded."""
    value = {**record, **checkpoints.training_totals(record)}.get(name)
    if value is None:
        return "—"
    if name == "test_accuracy":
        errors = record.get("test_errors")
        images = record.get("test_images", MNIST_TEST_IMAGES)
        suffix = f" ({errors} errors in {images:,})" if errors is not None else ""
        return f"{100 * value:.2f}%{suffix}"
    if name == "training_seconds":
        return f"{value / 60:.0f} min"
    if name == "parameters":
        return f"{value:,}"
    return str(value)


def drawn_cell(record: dict, band: str | None = None) -> str:
    """Accuracy on the drawn-digit yardstick (overall, or one size band), or a dash."""
    report = record.get("drawn") or {}
    group = report.get("per_band", {}).get(band) if band else report
    if not group or group.get("accuracy") is None:
        return "—"
    errors = round(group["count"] * (1 - group["accuracy"]))
    return f"{100 * group['accuracy']:.2f}% ({errors} errors in {group['count']:,})"


def recipe_cell(record: dict) -> str:
    """The training augmentation and the time per epoch, from a metrics file."""
    train = record.get("train") or {}
    if not train:
        return "—"
    shift = f"shifts of up to {train.get('max_shift', 2)} px"
    recipe = (f"drawing style ({100 * train['drawing']['rate']:.0f}% of images), then {shift}"
              if train.get("augment") == "drawing" and train.get("drawing") else shift)
    seconds = sorted(entry["seconds"] for entry in (record.get("history") or [])[1:])
    if seconds:
        recipe += f"; {seconds[len(seconds) // 2]:.1f} s per epoch"
    return recipe


def view_model_report(folder: str, analysis: Analysis) -> None:
    metrics = load_lab(folder).metrics
    st.markdown(
        "The two models as trained, from their metrics files. The paper reports 0.25% test "
        "error for this CapsNet (Table 1: three routing iterations, with the reconstruction "
        "loss) against 0.39% for a baseline CNN of 35.4M parameters."
    )
    rows = {"Parameters": "parameters", "MNIST test accuracy": "test_accuracy",
            "Epochs": "epochs_run", "Training time": "training_seconds",
            "Trained on": "device", "Backend": "backend"}
    table = ["| | CNN | CapsNet |", "|---|---:|---:|"]
    records = [metrics.get(name, {}) for name in ("cnn", "capsnet")]
    for title, field in rows.items():
        cells = [report_cell(record, field) for record in records]
        table.append(f"| {title} | {cells[0]} | {cells[1]} |")
    for title, band in (("Drawn digits", None), ("… drawn small", "small"),
                        ("… medium", "medium"), ("… large", "large")):
        cells = [drawn_cell(record, band) for record in records]
        table.append(f"| {title} | {cells[0]} | {cells[1]} |")
    cells = [recipe_cell(record) for record in records]
    table.append(f"| Training augmentation | {cells[0]} | {cells[1]} |")
    st.markdown("\n".join(table))
    st.caption(
        "Drawn digits: 2,100 synthetic canvas drawings (`capsnet/assets/drawn.npz`, made by "
        "`scripts/make_drawn.py` from hand-written stroke shapes, not MNIST, and never "
        "trained on): many pens, slants and ways of writing each digit, a third each drawn "
        "small (20–35% of the canvas high), medium and large, read through the page's own "
        "preprocessing. The drawing style makes MNIST digits look like canvas drawings in "
        "training: a little smaller or larger, narrower or wider, bent, with bolder or "
        "thinner and flatter strokes; no rotations.")
    times = latency(folder)
    st.caption(
        f"On this server, one image takes {times['analysis'] * 1e3:.0f} ms through both "
        f"models (with the CapsNet's routing and reconstruction) and a pose-slider "
        f"reconstruction {times['reconstruction'] * 1e3:.1f} ms: medians of "
        f"{LATENCY_REPEATS} runs. `python -m capsnet benchmark` times more.")
    columns = st.columns(2)
    for column, name in zip(columns, ("cnn", "capsnet"), strict=True):
        matrix = metrics.get(name, {}).get("confusion_matrix")
        title = charts.MODEL_TITLES[name]
        if matrix is None:
            column.caption(f"No confusion matrix recorded for the {title}.")
        else:
            column.plotly_chart(
                charts.confusion_figure(matrix, f"{title}: test digits by true digit and "
                                                "answer"),
                key=f"confusion_{name}", config=PLOT_CONFIG)
    st.caption("Coloured: the mistakes. The diagonal, the digits read right, is left dark.")
    histories = {name: metrics.get(name, {}).get("history") or [] for name in ("cnn", "capsnet")}
    if not any(histories.values()):
        st.caption("No training history recorded.")
        return
    accuracy, loss = [], []
    for name, history in histories.items():
        # A run continued from earlier weights numbers its epochs after theirs.
        before = (metrics.get(name, {}).get("init") or {}).get("epochs_run") or 0
        epochs = [before + entry["epoch"] for entry in history]
        title = charts.MODEL_TITLES[name]
        for field, words, dash in (("accuracy", "training", "dot"),
                                   ("val_accuracy", "validation", "solid")):
            if history and all(field in entry for entry in history):
                accuracy.append({"name": f"{title}, {words}", "model": name, "dash": dash,
                                 "x": epochs, "y": [entry[field] for entry in history]})
        if history and all("loss" in entry for entry in history):
            loss.append({"name": f"{title} ({LOSS_NAMES[name]})", "model": name, "x": epochs,
                         "y": [entry["loss"] for entry in history]})
    left, right = st.columns(2)
    left.plotly_chart(charts.lines_figure(None, accuracy, "Accuracy per epoch", "epoch",
                                          "accuracy", y_range=None),
                      key="training_accuracy", config=PLOT_CONFIG)
    right.plotly_chart(charts.lines_figure(None, loss, "Training loss per epoch", "epoch",
                                           "loss", y_range=None),
                       key="training_loss", config=PLOT_CONFIG)
    st.caption("Training accuracy is measured on shifted images while the weights change; "
               "validation accuracy on 5,000 held-out training images after each epoch. The "
               "two losses are different functions: compare their shapes, not their values.")


VIEWS: dict[str, Callable[[str, Analysis], None]] = {
    "Compare the models": view_compare,
    "Reconstruct and pose": view_reconstruct,
    "Routing by agreement": view_routing,
    "Bend the input": view_transform,
    "Robustness": view_robustness,
    "Where they disagree": view_disagreements,
    "Model report": view_model_report,
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
        upload = upload_control()
    page_input = current_input(drawing, sample, upload)
    if page_input is not None and page_input.origin in ("gallery", "upload"):
        shown = "test digit" if page_input.origin == "gallery" else "uploaded image"
        draw_column.caption(f"The models are reading the {shown} on the right, not your "
                            "drawing; draw a stroke to switch back.")
    with input_column:
        analysis = input_panel(folder, page_input)
    if analysis is not None:
        with verdict_column:
            verdict(analysis)
            novelty_note(folder, analysis)
    views(folder, analysis)


if __name__ == "__main__":
    main()
