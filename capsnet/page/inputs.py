"""What the models read: the canvas, an uploaded image or a test digit from the gallery.

The canvas keeps its drawing while an upload or a test digit is read; `state.source` says
which of them the page reads, and `current_input` picks it. The page keeps the drawing and
its history itself (`strokes.StrokeHistory`), and its Undo, Redo and Clear buttons under the
canvas step through it. `model_input` turns it into the
28x28 image the models see, with `capsnet.preprocess` for drawings and uploads.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import streamlit as st
from PIL import Image
from streamlit.runtime.uploaded_file_manager import UploadedFile
from streamlit_drawable_canvas import st_canvas

from capsnet.config import NUM_CLASSES
from capsnet.images import MAX_BYTES, ImageError, load_image
from capsnet.page import canvas_toolbar, charts, state
from capsnet.page.display import PLOT_CONFIG
from capsnet.page.resources import ANALYSIS_CACHE, sample_digits
from capsnet.page.strokes import StrokeHistory
from capsnet.preprocess import NotADigit, preprocess
from capsnet.samples import Sample

CANVAS_SIZE = 280  # pixels: ten per MNIST pixel, and room for a fingertip on a phone
INK, PAPER = "#FFFFFF", "#000000"  # MNIST digits are white ink on black
STROKE_DEFAULT = 18  # a marker-like pen; preprocessing brings any width to MNIST's anyway
STROKE_LIMITS = (6, 40)  # thinner is hard to see at 280 pixels; fatter fills the canvas
UPLOAD_TYPES = ("png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff")  # the extensions of
# capsnet.images.FORMATS, the only formats decoded
GALLERY_PAGE = NUM_CLASSES  # thumbnails per page: one of each digit in the random set
GALLERY_COLUMNS = 5  # two rows of five fit the sidebar
THUMBNAIL_SCALE = 2  # 28 -> 56 pixels, enlarged without blurring
GALLERY_KINDS = {"random": "One of each digit", "disagreement": "Where the models disagree"}
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


# --- The canvas and the upload -------------------------------------------------------------


def drawing_canvas(stroke_width: int) -> np.ndarray | None:
    """The drawing canvas and its controls; the RGBA image of the drawing the page is on, or
    None while the canvas is blank."""
    history = state.stroke_history()
    result = st_canvas(
        stroke_width=stroke_width, stroke_color=INK, background_color=PAPER,
        width=CANVAS_SIZE, height=CANVAS_SIZE, drawing_mode="freedraw",
        initial_drawing=history.initial_drawing(),  # changes only when a button redraws it
        update_streamlit=True, return_image_data=True, key="canvas",
        on_change=state.back_to_drawing,  # drawing again returns from a test digit
    )
    canvas_toolbar.hide()
    history.report(result.json_data, result.image_bytes)
    canvas_controls(history)
    return drawing_pixels(history.current.image)


def drawing_pixels(image: bytes | None) -> np.ndarray | None:
    """The canvas's PNG as an RGBA array; None for a blank canvas (or a PNG that will not
    decode, which the canvas never sends)."""
    if image is None:
        return None
    try:
        return np.asarray(Image.open(io.BytesIO(image)).convert("RGBA"))
    except (OSError, ValueError):
        return None


def canvas_controls(history: StrokeHistory) -> None:
    """Undo, Redo and Clear, in a row under the canvas, where a thumb reaches them.

    While a test digit or an upload is read, Undo and Clear go back to the drawing first
    (Clear also empties it), so that undo never steps past what the visitor last did."""
    elsewhere = st.session_state["source"] != "drawing"
    with st.container(horizontal=True, key="canvas_controls"):
        st.button("Undo", key="canvas_undo", icon=":material/undo:", on_click=state.undo_stroke,
                  disabled=not (history.can_undo or elsewhere),
                  help="Remove the last stroke (or go back to your drawing)")
        st.button("Redo", key="canvas_redo", icon=":material/redo:", on_click=state.redo_stroke,
                  disabled=not history.can_redo, help="Put back the stroke last removed")
        st.button("Clear", key="canvas_clear", icon=":material/delete:",
                  on_click=state.clear_drawing, disabled=history.blank and not elsewhere,
                  help="Empty the canvas (Undo brings the drawing back)")


def upload_limit() -> int:
    """The largest upload decoded, in bytes: the server's limit, within `load_image`'s own."""
    return min(MAX_BYTES, int(st.get_option("server.maxUploadSize") * 2**20))


@st.cache_data(max_entries=ANALYSIS_CACHE, show_spinner=False)
def upload_model_input(data: bytes) -> np.ndarray:
    """The model input from an uploaded file's bytes; raises `ImageError` or `NotADigit`."""
    return preprocess(load_image(data, max_bytes=upload_limit())).image


def upload_control() -> UploadedFile | None:
    """A file uploader for a photo or an image of a digit; the file, or None."""
    upload = st.file_uploader(
        "Or upload an image of a digit", type=list(UPLOAD_TYPES), key="upload",
        on_change=state.use_upload,
        help="A photo of a digit on paper, or a drawing: dark ink on light paper or light "
             "ink on a dark sheet. Your drawing stays on the canvas.",
    )
    if upload is not None and st.session_state["source"] != "upload":
        st.button("Read the uploaded image", on_click=state.use_upload,
                  icon=":material/upload:")
    return upload


# --- The gallery of test digits ------------------------------------------------------------


@st.cache_resource
def thumbnail(index: int) -> bytes:
    """A sample digit enlarged without blurring, as PNG, encoded once per process."""
    image = sample_digits().images[index]
    buffer = io.BytesIO()
    Image.fromarray(image.repeat(THUMBNAIL_SCALE, 0).repeat(THUMBNAIL_SCALE, 1)).save(
        buffer, format="PNG")
    return buffer.getvalue()


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
    """Thumbnails of MNIST test digits in the sidebar; a click loads one in place of the
    drawing."""
    marked = state.mark_gallery_digit()
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
                             on_change=state.first_gallery_page, horizontal=True)
    order = gallery_order(sample, kind)
    pages = math.ceil(len(order) / GALLERY_PAGE)
    page = st.session_state["gallery_page"] % pages
    columns = sidebar.columns(GALLERY_COLUMNS)
    for position, index in enumerate(order[page * GALLERY_PAGE:(page + 1) * GALLERY_PAGE]):
        label, number = int(sample.labels[index]), int(sample.test_index[index])
        with columns[position % GALLERY_COLUMNS]:
            st.image(thumbnail(int(index)))
            st.button(
                str(label), key=f"gallery_{index}", on_click=state.load_test_digit,
                args=(int(index),), width="stretch",
                type="primary" if marked == index else "secondary",
                help=f"MNIST test image #{number}, labelled {label}",
            )
    sidebar.button("Other test digits", on_click=state.next_gallery_page,
                   disabled=pages == 1, icon=":material/refresh:")


# --- What the models read ------------------------------------------------------------------


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


def read_or_explain(page_input: PageInput,
                    convert: Callable[[PageInput], np.ndarray]) -> np.ndarray | None:
    """`convert(page_input)`, the model input; or None, after saying on the page why there is
    none (an upload that is not an image, or no digit to read)."""
    try:
        return convert(page_input)
    except ImageError as error:
        st.error(f"The upload cannot be read. {error}", icon=":material/broken_image:")
    except NotADigit as error:
        if page_input.origin == "upload":
            st.warning(f"The upload shows no digit to read. {error}", icon=":material/draw:")
        else:
            st.info(str(error), icon=":material/draw:")
    return None


def input_panel(page_input: PageInput | None) -> np.ndarray | None:
    """What the models see, enlarged; that image, or None (with guidance) if nothing to read."""
    st.subheader("Model input")
    if page_input is None:
        st.info(GUIDANCE, icon=":material/draw:")
        return None
    image = read_or_explain(page_input, model_input)
    if image is not None:
        st.plotly_chart(charts.image_figure(image), key="model_input", config=PLOT_CONFIG)
        st.caption(page_input.description)
    if page_input.origin in ("gallery", "upload"):
        st.button("Back to my drawing", on_click=state.back_to_drawing, icon=":material/undo:")
    return image
