"""The page's session state: UI state only, initialised once, and the callbacks that change it.

Session state the page reads, so that a script or a test can drive it (set a key, rerun):
    injected_image: an image analysed in place of the canvas, the upload and the gallery,
        and preprocessed like a drawing (light ink): greyscale `(H, W)` or RGB/RGBA
        `(H, W, 3|4)`, uint8 or floats in [0, 1]. Absent or None: the page reads the upload,
        the gallery pick or the canvas, as `source` says.
    mode: "One digit" or "Two digits": which models read the input (`pair_reading.py`); the
        sidebar's "Read" control and the page's mode button set it.
    source: "drawing", "upload", "gallery" or "pair": which is analysed when nothing is
        injected. Uploading a file chooses "upload", a test digit "gallery", a test pair of
        the two-digit mode "pair", a stroke on the canvas "drawing"; the canvas keeps its
        drawing meanwhile.
    strokes: the drawing and its history (`strokes.StrokeHistory`): every drawing the canvas
        reported, the one the page is on, and the strokes the canvas was last asked to show.
        The page reads the image of the step it is on; Undo, Redo and Clear move through it.
    upload: the file uploader's file (a Streamlit `UploadedFile`, or None).
    gallery_index: position, in the committed MNIST sample, of the test digit loaded.
    pair_index: which test pair of the two-digit mode is loaded (`pair_reading.sample_pairs`).
    pair_asked: the class whose capsule the two-digit mode redraws on request.
    view: the label of the open tab; only the open view runs.
    recon_digit: the class whose capsule the decoder reconstructs (reset to the CapsNet's
        answer whenever the input changes).
    pose: the change added to each dimension of the decoded capsule, 16 floats, whichever
        sliders set it (the browser's, or the server's pose_0 ... pose_15 where the
        browser's decoder has not started; see `live_pose.py`).
    routing_reduce: "mean" or "max": how the routing view sums up the 32 types at a place.
    play_rotation, play_shift_x, play_shift_y, play_scale, play_shear, play_stroke: the
        transformation sliders of the "Bend the input" view.
    disagreement_kind: "capsnet", "cnn" or "neither": which model is right among the
        disagreements listed.

The page also keeps, for itself: `gallery_page` (which thumbnails the sidebar shows),
`gallery_marked` (the test digit the sidebar last marked as the one read), `mode_marked` (the
mode its "Read" control last showed), `recon_for` (the
input `recon_digit` was chosen for), `live_pose_decoder` and `live_pose_releases` (what the
browser's pose panel has reported) and the widgets' own keys.
"""

from __future__ import annotations

import streamlit as st

from capsnet.page.strokes import StrokeHistory

STROKES = "strokes"  # session key: the drawing and its history
DEFAULTS = {"source": "drawing", "gallery_index": None, "gallery_page": 0, "recon_for": None}


def init_state() -> None:
    for key, value in DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = value


def stroke_history() -> StrokeHistory:
    """The session's drawing and its history, a blank canvas at first (or after damage)."""
    if not isinstance(st.session_state.get(STROKES), StrokeHistory):
        st.session_state[STROKES] = StrokeHistory()
    return st.session_state[STROKES]


def undo_stroke() -> None:
    """The last stroke removed; while a test digit or an upload is read, back to the
    drawing instead, as it was."""
    if st.session_state["source"] != "drawing":
        back_to_drawing()
        return
    stroke_history().undo()


def redo_stroke() -> None:
    back_to_drawing()
    stroke_history().redo()


def clear_drawing() -> None:
    back_to_drawing()
    stroke_history().clear()


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


def gallery_digit_read() -> int | None:
    """The sample position of the test digit the page reads, or None (it reads another input)."""
    if st.session_state["source"] == "gallery" and st.session_state.get("injected_image") is None:
        return st.session_state["gallery_index"]
    return None


def mark_gallery_digit() -> int | None:
    """Records which test digit the sidebar marks as read, now that it draws the mark."""
    st.session_state["gallery_marked"] = gallery_digit_read()
    return st.session_state["gallery_marked"]


def mark_mode(mode: str) -> str:
    """Records which mode the sidebar's "Read" control shows, now that it draws it."""
    st.session_state["mode_marked"] = mode
    return mode


def sidebar_is_stale() -> bool:
    """Whether the sidebar marks another test digit than the one read (or none, or one too
    many), or shows another mode than the page's: a change inside a fragment (a stroke after
    a test digit, a test digit loaded from a view, the page's mode button) that only a full
    run redraws."""
    mode = st.session_state.get("mode")
    return (st.session_state.get("gallery_marked") != gallery_digit_read()
            or st.session_state.get("mode_marked", mode) != mode)
