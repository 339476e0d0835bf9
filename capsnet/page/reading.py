"""The page's reading: the canvas, what the models see, both answers and the open view.

All of it depends on the drawing, so it is one fragment: a stroke, an upload, a tab or a
control in a view reruns it alone, not the sidebar or the page's title. The pose and the
bend-the-input panels inside it are fragments of their own, so their sliders rerun only them.

The canvas is 280 pixels wide, and all of it must show: a stroke on a part cut off would be
lost. So the layout follows the width the reading has (a container query, since the sidebar
takes its share on some screens and not on others), not the screen's:
- wide (`WIDE` pixels or more): the canvas, the model input and the answers in three columns;
- middle (a tablet, a small laptop with the sidebar open): the canvas's column at its own
  width and the answers beside it, the model input on a row below;
- narrow (a phone, or a narrow window): one column, in which `LAYOUT_STYLE` puts the
  answers right after the canvas and its buttons, so that both are on the first screen; the
  upload and the model input follow.
"""

from __future__ import annotations

import streamlit as st

from capsnet import novelty
from capsnet.inference import Analysis
from capsnet.page import canvas_toolbar, inputs, pair_reading, state, views
from capsnet.page.resources import (
    analyse,
    lab_or_stop,
    novelty_thresholds,
    start_loading,
)
from capsnet.samples import Sample

COLUMNS = (1.1, 1, 1.2)  # the canvas, the model input and the answers, on a wide screen
WIDE = 880  # pixels of reading width from which the first of three columns holds the canvas
NARROW = 560  # pixels of reading width below which the reading is one column
CANVAS_COLUMN = "18.5rem"  # the canvas's 280 pixels, its outline and room to spare
NARROW_SCREEN = 640  # pixels: Streamlit stacks columns on screens this narrow or narrower
NARROW_SCREEN_TOP = "4rem"  # the page starts just below Streamlit's header (3.75rem), not a
# header's height lower, so that the answers fit on a phone's first screen under the canvas
HEADER = '[data-testid="stHeader"]'
READING = ".st-key-reading"
READING_ROW = f'{READING} [data-testid="stHorizontalBlock"]:has(.st-key-drawing)'
COLUMN = f"{READING_ROW} > .stColumn"
# Narrow, the canvas's column gives up its own box ("display: contents"), so that its two
# parts, the drawing and the upload, become items of the row beside the other two columns;
# "order" then lines them up: the drawing, the answers, the upload, the model input.
LAYOUT_STYLE = f"""<style>
.st-key-{canvas_toolbar.KEY} {{ display: none; }}
/* Streamlit's header stays at the top of the screen while the page scrolls under it: over
   the canvas, it would take every touch and click on the canvas's top 60 pixels, and the
   stroke would be lost. Only its own buttons take them, and the canvas shows through. */
{HEADER}, {HEADER} [data-testid="stToolbar"] {{ pointer-events: none; background: transparent; }}
{HEADER} :is(button, a) {{ pointer-events: auto; }}
{HEADER} button {{ background-color: rgb(0 0 0 / 0.85); }}  /* legible over the (dark) page */
{READING} {{ container-type: inline-size; }}
@media (max-width: {NARROW_SCREEN}px) {{
  [data-testid="stMainBlockContainer"] {{ padding-top: {NARROW_SCREEN_TOP}; }}
}}
@container (max-width: {NARROW - 0.02}px) {{
  {READING_ROW} {{ flex-direction: row; flex-wrap: wrap; }}
  {COLUMN} {{ flex: 1 0 100% !important; width: 100% !important; min-width: 0; }}
  {COLUMN}:nth-child(1),
  {COLUMN}:nth-child(1) > .stVerticalBlock {{ display: contents; }}
  {READING_ROW} [data-testid="stLayoutWrapper"]:has(> .st-key-drawing) {{ order: 1; }}
  {COLUMN}:nth-child(3) {{ order: 2; }}
  {READING_ROW} [data-testid="stLayoutWrapper"]:has(> .st-key-uploading) {{ order: 3; }}
  {COLUMN}:nth-child(2) {{ order: 4; }}
}}
@container (min-width: {NARROW}px) and (max-width: {WIDE - 0.02}px) {{
  {READING_ROW} {{ flex-wrap: wrap; }}
  {COLUMN}:nth-child(1) {{ flex: 0 0 {CANVAS_COLUMN} !important;
                          width: {CANVAS_COLUMN} !important; }}
  {COLUMN}:nth-child(3) {{ flex: 1 1 0 !important; width: auto !important; min-width: 0;
                          order: 2; }}
  /* the two answers' own columns would not shrink below 128 pixels each, and would push
     the answers under the canvas where the reading is 560 to 600 pixels wide */
  {COLUMN}:nth-child(3) .stColumn {{ min-width: 0 !important; }}
  {COLUMN}:nth-child(2) {{ flex: 1 0 100% !important; width: 100% !important; order: 3; }}
}}
</style>"""


def verdict(analysis: Analysis) -> None:
    """Each model's answer and confidence in words, and whether they agree."""
    st.subheader("Their answers")
    cnn, capsnet = st.columns(2, wrap=False)  # side by side on a phone too
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


def style() -> None:
    """The reading's layout at each width (see the module's docstring)."""
    st.html(LAYOUT_STYLE)


@st.fragment
def render(folder: str, sample: Sample, stroke_width: int) -> None:
    """The canvas, the upload, the model input, both answers and the views below them."""
    if state.sidebar_is_stale():
        st.rerun()  # the sidebar marks the test digit read, or the mode: a full run redraws it
    two_digits = pair_reading.active()
    with st.container(key="reading"):
        draw_column, input_column, verdict_column = st.columns(COLUMNS, gap="medium")
        with draw_column:
            with st.container(key="drawing"):
                st.subheader("Draw two digits, one over the other" if two_digits
                             else "Draw a digit")
                drawing = inputs.drawing_canvas(stroke_width)
                start_loading(folder)  # now that the canvas is on its way (see start_loading)
            uploading = st.container(key="uploading")
            with uploading:
                upload = inputs.upload_control()
                pair_reading.mode_button()
        page_input = inputs.current_input(drawing, sample, upload)
        if two_digits:  # the same canvas and upload, read by the two-digit models
            pair_reading.render(folder, pair_reading.pair_input(page_input, sample),
                                input_column, verdict_column)
            return
        if page_input is not None and page_input.origin in ("gallery", "upload"):
            shown = "test digit" if page_input.origin == "gallery" else "uploaded image"
            uploading.caption(f"The models are reading the {shown} on the right, not your "
                              "drawing; draw a stroke to switch back.")
        with input_column:
            image = inputs.input_panel(page_input)
        with verdict_column:
            lab_or_stop(folder)  # a spinner here while the models load
            analysis = None if image is None else analyse(folder, image)
            if analysis is not None:
                verdict(analysis)
                novelty_note(folder, analysis)
    views.render(folder, analysis)
