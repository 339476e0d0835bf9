"""CapsNet lab: draw a digit and watch a CNN and a Capsule Network read it.

Run it with `streamlit run app.py`. This file sets the page up and calls its parts in order;
they live in `capsnet/page/` (the session state a script or a test may set is described in
`capsnet/page/state.py`).
"""

from __future__ import annotations

import streamlit as st

from capsnet.page import reading, resources, sidebar, state

INTRODUCTION = ("Draw a digit and watch a CNN and a Capsule Network (Sabour, Frosst and Hinton, "
                "2017) read it. The CapsNet answers with a 16-number capsule per digit; the "
                "decoder turns a capsule back into an image.")


def main() -> None:
    st.set_page_config(page_title="CapsNet lab", page_icon=":material/draw:", layout="wide")
    state.init_state()
    folder = resources.weights_folder()
    sample = resources.sample_digits()
    stroke_width = sidebar.controls(sample)

    st.title("CapsNet lab")
    st.caption(INTRODUCTION)
    reading.style()
    reading.render(folder, sample, stroke_width)  # reruns alone on a stroke
    sidebar.model_facts(folder)


if __name__ == "__main__":
    main()
