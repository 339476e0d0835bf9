"""Reconstruct and pose: the decoder redraws the input from one capsule, which sixteen sliders
bend (the paper's Figure 4, live)."""

from __future__ import annotations

import hashlib

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from capsnet.config import NUM_CLASSES
from capsnet.inference import POSE_RANGE, POSE_STEPS, Analysis
from capsnet.page import charts, live_pose
from capsnet.page.display import PLOT_CONFIG, captioned_image
from capsnet.page.resources import ANALYSIS_CACHE, decoder_payload, load_lab

POSE_SLIDER_STEP = 0.01  # finer than Figure 4's 0.05 columns, to follow a change smoothly
POSE_COLUMNS = 4  # sixteen sliders in four rows of four
POSE_IMAGE_HEIGHT = 200  # pixels: as the live reconstruction's canvas in live_pose.css
SERVER_SLIDERS = ("These sliders redraw the reconstruction on the server, when one is "
                  "released: the decoder that redraws it in your browser as you drag has not "
                  "started (it needs JavaScript).")


@st.cache_data(max_entries=ANALYSIS_CACHE, show_spinner=False)
def pose_grid_figure(folder: str, capsules: np.ndarray, digit: int) -> go.Figure:
    """Figure 4 for one capsule: sixteen dimensions swept in one decoder batch."""
    return charts.pose_grid_figure(load_lab(folder).pose_grid(capsules, digit), POSE_STEPS)


def reset_pose(dimensions: int) -> None:
    st.session_state[live_pose.POSE] = [0.0] * dimensions


def _slider_moved(dimension: int) -> None:
    st.session_state[live_pose.POSE][dimension] = st.session_state[f"pose_{dimension}"]


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


def pose_sliders(pose: list[float]) -> None:
    """The server-side sliders, one per capsule dimension; they set the page's `pose`."""
    columns = st.columns(POSE_COLUMNS)
    for dimension, value in enumerate(pose):
        key = f"pose_{dimension}"
        st.session_state[key] = value  # the page's pose, whichever sliders moved it last
        with columns[dimension % POSE_COLUMNS]:
            st.slider(f"Dimension {dimension + 1}", -POSE_RANGE, POSE_RANGE,
                      step=POSE_SLIDER_STEP, format="%+.2f", key=key,
                      on_change=_slider_moved, args=(dimension,))


@st.fragment
def pose_panel(folder: str, image: np.ndarray, capsules: np.ndarray, digit: int) -> None:
    """Input, reconstruction and the sixteen pose sliders; a slider reruns this panel only.

    The sliders and the reconstruction live in the browser (`live_pose`), which redraws as
    a slider moves; until the browser says it has the decoder, sliders on the server do.
    """
    dimensions = capsules.shape[-1]
    pose = np.asarray(live_pose.current_pose(dimensions), dtype="float32")
    lab = load_lab(folder)
    reconstruction = lab.reconstruct(capsules, digit, pose)
    caption = f"Decoded from the {digit} capsule"
    shown, rebuilt = st.columns([1, 4])
    with shown:
        captioned_image("Input", image, "reconstruct_input", POSE_IMAGE_HEIGHT)
    with rebuilt:
        in_browser = live_pose.render(decoder_payload(folder), capsules[digit], digit, caption,
                                      POSE_RANGE, POSE_SLIDER_STEP)
        if not in_browser:
            server, _ = st.columns([1, 3])
            with server:
                captioned_image(caption, reconstruction, "reconstruction", POSE_IMAGE_HEIGHT)
    if not in_browser:
        st.caption(SERVER_SLIDERS)
        pose_sliders(live_pose.current_pose(dimensions))
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


def render(folder: str, analysis: Analysis) -> None:
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
