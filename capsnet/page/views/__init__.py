"""The tabs below the answers, one module each; only the open one runs.

Each view module has one entry, `render(folder, analysis)`: the weights folder the page's
models come from, and both models' reading of what the page reads.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from capsnet.inference import Analysis
from capsnet.page.views import (
    bend,
    compare,
    disagreements,
    pose,
    report,
    robustness,
    routing,
)

VIEWS: dict[str, Callable[[str, Analysis], None]] = {
    "Compare the models": compare.render,
    "Reconstruct and pose": pose.render,
    "Routing by agreement": routing.render,
    "Bend the input": bend.render,
    "Robustness": robustness.render,
    "Where they disagree": disagreements.render,
    "Model report": report.render,
}


def render(folder: str, analysis: Analysis | None) -> None:
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
