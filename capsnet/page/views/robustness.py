"""Robustness: both models' accuracy on the whole MNIST test set under rotations and shifts,
from the report `scripts/robustness.py` measures (`capsnet/assets/robustness.json`)."""

from __future__ import annotations

import streamlit as st

from capsnet import checkpoints, robustness
from capsnet.config import MNIST_TEST_IMAGES
from capsnet.inference import Analysis
from capsnet.page import charts
from capsnet.page.display import PLOT_CONFIG
from capsnet.page.resources import report_or_note, weights_sha256


def render(folder: str, analysis: Analysis) -> None:
    st.markdown(
        "Both models on all of MNIST's test digits, rotated or shifted: the paper's claim "
        "that capsules generalise better to transformations they did not train on, "
        "measured offline on the whole test set rather than on the digit above."
    )
    command = "`python scripts/robustness.py --data path/to/mnist.npz`"
    report = report_or_note(robustness.load_report, robustness.ReportError,
                            "robustness report", command)
    if report is None:
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

