"""Reconstruct and pose: the decoder redraws the input from one capsule, which sixteen sliders
bend (the paper's Figure 4, live)."""

from __future__ import annotations

import hashlib

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from capsnet.config import NUM_CLASSES
from capsnet.inference import POSE_RANGE, POSE_STEPS, Analysis
from capsnet.page import charts
from capsnet.page.display import PLOT_CONFIG, captioned_image
from capsnet.page.resources import ANALYSIS_CACHE, load_lab

POSE_SLIDER_STEP = 0.01  # finer than Figure 4's 0.05 columns, to follow a change smoothly
POSE_COLUMNS = 4  # sixteen sliders in four rows of four
POSE_IMAGE_HEIGHT = 200  # pixels: the input and its reconstruction share a row with notes


@st.cache_data(max_entries=ANALYSIS_CACHE, show_spinner=False)
def pose_grid_figure(folder: str, capsules: np.ndarray, digit: int) -> go.Figure:
    """Figure 4 for one capsule: sixteen dimensions swept in one decoder batch."""
    return charts.pose_grid_figure(load_lab(folder).pose_grid(capsules, digit), POSE_STEPS)


def reset_pose(dimensions: int) -> None:
    for dimension in range(dimensions):
        st.session_state[f"pose_{dimension}"] = 0.0


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
