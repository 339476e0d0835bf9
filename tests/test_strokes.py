"""The drawing's history (`capsnet.page.strokes`), driven as the canvas and the buttons drive it.

A "canvas" here is what streamlit-drawable-canvas reports: Fabric.js JSON with one path
object per stroke, and a PNG. The fake canvas below holds a report until it is asked to
redraw, as the component does, so that the history is checked against the protocol: after
Undo, Redo or Clear the component still reports its older drawing once or more, then the
step redrawn, and neither is a stroke of the visitor's.
"""

import copy

import pytest

from capsnet.page.strokes import MAX_STEPS, StrokeHistory, outline, strokes_of


def stroke(x: float, points: int = 3, width: int = 18) -> dict:
    path = [["M", x, 10.0], *(["L", x, 10.0 + 5 * i] for i in range(1, points))]
    return {"type": "path", "left": x - 9, "top": 1.0, "strokeWidth": width, "path": path}


def png(name: str) -> bytes:
    return f"png of {name}".encode()


class FakeCanvas:
    """What the component holds and reports: its strokes, and a PNG once it has sent."""

    def __init__(self):
        self.strokes, self.image, self.loaded = [], None, None
        self.drawn = 0  # strokes drawn so far: no two strokes of a hand are the same

    def draw(self, name: str) -> None:
        self.drawn += 1
        self.strokes = [*self.strokes, stroke(10.0 * self.drawn)]
        self.image = png(name)

    def render(self, history: StrokeHistory) -> bool:
        """A run of the page: the canvas gets `initial_drawing` and reports what it holds
        (its older drawing, when it has only now been asked to redraw)."""
        drawing = history.initial_drawing()
        reported = history.report({"objects": copy.deepcopy(self.strokes)}, self.image)
        if drawing != self.loaded:
            if self.loaded is not None:  # the component redraws on a changed value only
                self.strokes = copy.deepcopy(drawing["objects"])
                # Fabric.js fills in a property of its own, and rounds a coordinate
                for item in self.strokes:
                    item["shadow"] = None
                    item["left"] += 1e-9
                self.image = png(f"redrawn {len(self.strokes)}")
            self.loaded = drawing
        return reported

    def echo(self, history: StrokeHistory) -> bool:
        """The run the component's report of its redraw starts."""
        return history.report({"objects": copy.deepcopy(self.strokes)}, self.image)


@pytest.fixture
def page():
    history, canvas = StrokeHistory(), FakeCanvas()
    canvas.render(history)
    return history, canvas


def draw(page, name: str) -> None:
    history, canvas = page
    canvas.draw(name)
    assert canvas.render(history), f"the stroke {name} was not recorded"


def press(page, action: str) -> None:
    """A button pressed, then the runs it starts: the button's, and the canvas's echo."""
    history, canvas = page
    getattr(history, action)()
    assert not canvas.render(history)  # the component still reports its older drawing
    assert not canvas.echo(history)  # its report of the redraw is the step, not a stroke


def test_a_blank_canvas_is_the_first_step(page):
    history, _ = page
    assert history.blank and not history.can_undo and not history.can_redo
    assert history.current.image is None
    assert history.initial_drawing() == {"objects": [], "revision": 0}


def test_each_stroke_is_a_step_with_its_image(page):
    history, _ = page
    draw(page, "first")
    draw(page, "second")
    assert history.position == 2 and len(history.current.strokes) == 2
    assert history.current.image == png("second")
    assert history.initial_drawing()["objects"] == []  # no redraw asked: the canvas has it


def test_undo_of_a_two_stroke_four_leaves_one_stroke(page):
    history, canvas = page
    draw(page, "the bent stroke")
    draw(page, "the upright")
    press(page, "undo")
    assert len(history.current.strokes) == 1 and history.current.image == png("the bent stroke")
    assert history.can_redo and canvas.strokes[0]["left"] == pytest.approx(1.0)
    assert history.initial_drawing()["objects"] == history.current.strokes


def test_redo_puts_the_stroke_back_and_a_new_stroke_ends_redo(page):
    history, _ = page
    draw(page, "a")
    draw(page, "b")
    press(page, "undo")
    press(page, "redo")
    assert len(history.current.strokes) == 2 and history.current.image == png("b")
    assert not history.can_redo
    press(page, "undo")
    draw(page, "c")
    assert not history.can_redo and len(history.steps) == 3
    assert history.current.image == png("c")


def test_clear_empties_the_canvas_and_undo_brings_the_drawing_back(page):
    history, canvas = page
    draw(page, "a")
    press(page, "clear")
    assert history.blank and history.current.image is None and canvas.strokes == []
    press(page, "undo")
    assert len(history.current.strokes) == 1 and history.current.image == png("a")


def test_undo_twice_before_the_canvas_redraws_records_no_stroke(page):
    history, canvas = page
    for name in "abc":
        draw(page, name)
    history.undo()
    history.undo()  # a double tap: the canvas reports nothing in between
    assert not canvas.render(history)
    assert not canvas.echo(history)
    assert history.position == 1 and len(history.steps) == 4
    # the component's report of the first redraw, arriving late, is no stroke either
    late = {"objects": [stroke(10.0), stroke(20.0)]}
    assert not history.report(late, png("late"))
    assert history.position == 1


def test_the_same_report_twice_is_one_step(page):
    history, canvas = page
    draw(page, "a")
    assert not canvas.echo(history)
    assert len(history.steps) == 2


@pytest.mark.parametrize(
    "json_data",
    [None, "not a drawing", {"objects": "nope"}, {"objects": []}, {},
     {"objects": [{"type": "path", "path": []}]}, {"objects": [{"type": "path"}]},
     {"objects": [7, None]}],
    ids=["none", "text", "objects not a list", "no objects", "no objects key",
         "a stroke of no points", "a stroke without a path", "not objects"],
)
def test_bad_reports_record_nothing(page, json_data):
    history, _ = page
    draw(page, "a")
    before = (len(history.steps), history.position, history.current)
    history.report(json_data, png("bad"))
    # a report that draws nothing is no stroke; on a blank canvas it would be the blank step
    assert len(history.steps) in (before[0], before[0] + 1)
    if strokes_of(json_data) is None:
        assert (len(history.steps), history.position, history.current) == before
    else:
        assert history.current.strokes == [] and history.current.image is None


def test_a_stroke_of_no_points_is_left_out():
    assert strokes_of({"objects": [stroke(5.0), {"type": "path", "path": []}]}) == [stroke(5.0)]


def test_a_report_without_an_image_is_the_components_default(page):
    history, _ = page
    assert not history.report({"objects": [stroke(5.0)]}, None)
    assert history.blank


def test_the_outline_ignores_what_fabric_fills_in_and_sees_a_moved_point():
    a = [stroke(5.0)]
    filled = copy.deepcopy(a)
    filled[0]["shadow"], filled[0]["left"] = None, filled[0]["left"] + 1e-6
    assert outline(filled) == outline(a)
    moved = copy.deepcopy(a)
    moved[0]["path"][1][2] += 0.5
    assert outline(moved) != outline(a)


def test_the_steps_share_their_strokes(page):
    history, _ = page
    for name in "abc":
        draw(page, name)
    first, second, third = (step.strokes for step in history.steps[1:])
    assert second[0] is first[0] and third[0] is first[0] and third[1] is second[1]


def test_the_history_keeps_at_most_its_limit(page):
    history, _ = page
    for index in range(MAX_STEPS + 5):
        draw(page, str(index))
    assert len(history.steps) == MAX_STEPS and history.position == MAX_STEPS - 1
    assert history.current.image == png(str(MAX_STEPS + 4))
