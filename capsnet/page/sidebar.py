"""The sidebar: the pen, the gallery of test digits and what the models scored."""

from __future__ import annotations

import streamlit as st

from capsnet.page import inputs, pair_reading
from capsnet.page.resources import load_lab
from capsnet.samples import Sample


def stroke_width_control() -> int:
    return st.sidebar.slider(
        "Pen width", *inputs.STROKE_LIMITS, inputs.STROKE_DEFAULT, key="stroke_width",
        help="Any width works: the drawing is brought to MNIST's stroke width before the "
             "models see it.",
    )


def controls(sample: Sample) -> int:
    """One digit or two, the pen width and the gallery; the pen width."""
    pair_reading.mode_control()
    stroke_width = stroke_width_control()
    inputs.gallery_controls(sample)
    return stroke_width


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
