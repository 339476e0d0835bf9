"""Where they disagree: test digits that one model reads right and the other wrong, with the
CapsNet's reconstruction of each; a button loads one into the page."""

from __future__ import annotations

import numpy as np
import streamlit as st

from capsnet.config import IMAGE_SIZE, NUM_CLASSES
from capsnet.inference import Analysis
from capsnet.page import charts, state
from capsnet.page.resources import load_lab, sample_digits

DISAGREEMENT_CATEGORIES = {
    "capsnet": "The CapsNet is right",
    "cnn": "The CNN is right",
    "neither": "Both are wrong",
}
DISAGREEMENTS_SHOWN = 12  # entries of one category on the page at once
DISAGREEMENT_COLUMNS = 4
DISAGREEMENT_SCALE = 3  # 28 -> 84 pixels per image, enlarged without blurring


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


def render(folder: str, analysis: Analysis) -> None:
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
                      on_click=state.load_test_digit, args=(index,), icon=":material/upload:")

