"""The drawing the page keeps: the canvas's strokes, their history, and undo, redo and clear.

The canvas (streamlit-drawable-canvas) reports its whole drawing after every stroke: its
Fabric.js JSON (`json_data`, one object per stroke) and a PNG of what it shows. The page
keeps each reported drawing as a step of its own history, so that its own Undo, Redo and
Clear buttons (beside the canvas, where a finger finds them) can step through it, and the
models read the step the page is on, at once, from the image stored with it.

To show a step, the page hands its strokes back to the canvas as `initial_drawing`. The
canvas redraws itself whenever `initial_drawing` changes, and only then, so the page passes
the same drawing on every run until a button changes it, with a `revision` number that makes
each redraw a new value (an undo can lead back to strokes the page passed before). After a
redraw the canvas reports the drawing it now shows. Until then the component still holds
its older report, which is not a stroke of the visitor's and is not recorded: `report`
passes over it, and over the echo of any redraw asked for, until the canvas reports a
drawing that is none of these.

Nothing here imports Streamlit, so the history is tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_STEPS = 100  # drawings kept for undo; each is a PNG of a few kilobytes and the strokes


def strokes_of(json_data: Any) -> list[dict] | None:
    """The strokes of a canvas report: its objects that draw something.

    Returns None for a report that is no drawing at all (not a dict, or its objects not a
    list), and leaves out objects that are not dicts or hold no points (a path of no
    commands), which draw nothing and could not be undone as a stroke.
    """
    if not isinstance(json_data, dict):
        return None
    objects = json_data.get("objects", [])
    if not isinstance(objects, list):
        return None
    return [stroke for stroke in objects if isinstance(stroke, dict) and _draws(stroke)]


def outline(strokes: list[dict]) -> tuple:
    """What makes two reports the same drawing: each stroke's kind, place, pen and points,
    to a tenth of a pixel. The canvas's echo of strokes handed back to it may differ from
    them in the last digits of a coordinate, or in properties it fills in itself."""
    return tuple(
        (str(stroke.get("type", "")).lower(), _rounded(stroke.get("left")),
         _rounded(stroke.get("top")), _rounded(stroke.get("strokeWidth")),
         _rounded(stroke.get("path")))
        for stroke in strokes)


def _rounded(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return round(float(value), 1)
    if isinstance(value, (list, tuple)):
        return tuple(_rounded(item) for item in value)
    return str(value)


def _draws(stroke: dict) -> bool:
    if stroke.get("type", "").lower() != "path":
        return True  # another shape: the page draws only paths, but keeps what it is given
    path = stroke.get("path")
    return isinstance(path, list) and len(path) > 0


@dataclass
class Step:
    """One drawing of the history: its strokes, and the PNG the canvas showed (None: blank)."""

    strokes: list[dict]
    image: bytes | None


@dataclass
class StrokeHistory:
    """The page's drawing and the steps before and after it.

    Attributes:
        steps: every drawing kept, the blank canvas first.
        position: the step shown and read.
        revision: counts the redraws the page asked of the canvas.
        shown: the strokes the canvas was last asked to show (its `initial_drawing`).
        passed_over: reports that are not the visitor's: the one the component held when
            the page last redrew the canvas, and the redraws asked for since.
    """

    steps: list[Step] = field(default_factory=lambda: [Step([], None)])
    position: int = 0
    revision: int = 0
    shown: list[dict] = field(default_factory=list)
    passed_over: list[tuple] = field(default_factory=list)  # `outline`s
    reported: tuple | None = None  # the `outline` of the last report taken in

    @property
    def current(self) -> Step:
        return self.steps[self.position]

    @property
    def can_undo(self) -> bool:
        return self.position > 0

    @property
    def can_redo(self) -> bool:
        return self.position < len(self.steps) - 1

    @property
    def blank(self) -> bool:
        return not self.current.strokes

    def initial_drawing(self) -> dict:
        """What the canvas is asked to show: the same value until a button changes it."""
        return {"objects": self.shown, "revision": self.revision}

    def report(self, json_data: Any, image: bytes | None) -> bool:
        """Takes in what the canvas reports; True if it is a new drawing, now the current step.

        A report without an image is the component's default (it has sent nothing yet), and
        one without a drawing is damaged; neither changes anything.
        """
        strokes = strokes_of(json_data)
        if strokes is None or image is None:
            return False
        drawing = outline(strokes)
        if drawing == self.reported:
            return False  # the same report as before: a rerun for another reason
        self.reported = drawing
        if drawing in self.passed_over:
            return False  # the canvas has not redrawn yet, or redrew a step since left
        self.passed_over = []
        if drawing == outline(self.current.strokes):
            return False  # the canvas's echo of the step the page is on
        del self.steps[self.position + 1:]  # a new stroke ends what could be redone
        strokes = self._shared(strokes)
        self.steps.append(Step(strokes, image if strokes else None))  # blank: the guidance
        if len(self.steps) > MAX_STEPS:
            del self.steps[0]
        self.position = len(self.steps) - 1
        return True

    def _shared(self, strokes: list[dict]) -> list[dict]:
        """`strokes`, with each stroke the current step already holds taken from it, so that
        the steps share their strokes (every report decodes all of them anew) and the
        history grows by one stroke a step, not by the whole drawing."""
        held = self.current.strokes
        return [held[index] if index < len(held) and outline([held[index]]) == outline([stroke])
                else stroke for index, stroke in enumerate(strokes)]

    def undo(self) -> None:
        if self.can_undo:
            self._go(self.position - 1)

    def redo(self) -> None:
        if self.can_redo:
            self._go(self.position + 1)

    def clear(self) -> None:
        """Empties the canvas, as a step of its own, so that undo brings the drawing back."""
        if self.blank:
            return
        del self.steps[self.position + 1:]
        self.steps.append(Step([], None))
        self._go(len(self.steps) - 1)

    def _go(self, position: int) -> None:
        if self.reported is not None:
            self.passed_over.append(self.reported)  # the component holds it until it redraws
        self.passed_over.append(outline(self.shown))
        self.position = position
        self.shown = self.current.strokes
        self.passed_over.append(outline(self.shown))  # the redraw's echo: no stroke either
        self.revision += 1
