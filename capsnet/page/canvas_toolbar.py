"""No toolbar over the drawing: the canvas's own toolbar, taken off by a small component.

streamlit-drawable-canvas draws its toolbar (send, undo, redo, edit, reset) over the top
right corner of the canvas, transparent until a mouse hovers over the canvas. On a touch
screen nothing hovers, so the toolbar stays invisible there, and on every screen it takes
the clicks and touches of a stroke started under it (about 140 by 30 pixels of the canvas).
The component has no option to leave it out, so this one, which shows nothing itself, adds
a style that hides it into the canvas's shadow root. The page's own Undo, Redo and Clear
buttons (`inputs.canvas_controls`) do what the toolbar did. Its JavaScript is
`canvas_toolbar.js` beside this file.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

KEY = "canvas_toolbar_off"  # the component's key; `reading.LAYOUT_STYLE` hides its
# empty box

_component = st.components.v2.component(
    "capsnet.canvas_toolbar_off", html="",
    js=(Path(__file__).parent / "canvas_toolbar.js").read_text(),
)


def hide() -> None:
    """Mounts the component (once per session; later runs leave it in place)."""
    _component(key=KEY)
