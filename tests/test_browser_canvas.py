"""The canvas in a real Chromium: all of it at every screen size, no dead zone in any corner,
and the page's own Undo, Redo and Clear, with the mouse and with a finger.

The page hides streamlit-drawable-canvas's toolbar, which lay over the canvas's top right
corner, by reaching into the component's open shadow root (`capsnet/page/canvas_toolbar.js`).
`test_the_canvas_toolbar_is_off_the_drawing` checks what that depends on, and says so, so
that a new version of the component that changes it fails here first.
"""

import numpy as np
import pytest
from page_driver import (
    ANSWER,
    CANVAS,
    CLEAR,
    HEADER,
    MODELS,
    PHONE,
    REDO,
    UNDO,
    answers,
    canvas_pixels,
    clear,
    draw,
    draw_by_touch,
    open_page,
    page_constant,
    polyline,
    wait_for_no_answer,
)
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


SIZE = 280  # the canvas's side in pixels (capsnet.page.inputs.CANVAS_SIZE)
SCREENS = {  # name: Playwright page options, with the sidebar as it opens by default
    "phone 390x844": PHONE,
    "tablet 768x1024": {"viewport": {"width": 768, "height": 1024}, "has_touch": True},
    "tablet 1024x768": {"viewport": {"width": 1024, "height": 768}, "has_touch": True},
    "laptop 1280x800": {"viewport": {"width": 1280, "height": 800}},
    "laptop 1366x768": {"viewport": {"width": 1366, "height": 768}},
    "desktop 1440x900": {"viewport": {"width": 1440, "height": 900}},
    "desktop 1920x1080": {"viewport": {"width": 1920, "height": 1080}},
}
INSET = 8  # pixels inside the canvas's edges where a corner stroke starts
CORNERS = {  # a stroke from 8 pixels inside each corner, across the canvas
    "top left": [(INSET, INSET), (SIZE * 0.7, SIZE * 0.7)],
    "top right": [(SIZE - INSET, INSET), (SIZE * 0.3, SIZE * 0.7)],
    "bottom left": [(INSET, SIZE - INSET), (SIZE * 0.7, SIZE * 0.3)],
    "bottom right": [(SIZE - INSET, SIZE - INSET), (SIZE * 0.3, SIZE * 0.3)],
}
# A 7 whose two strokes start in the top right corner, as many people draw one
SEVEN = [[(SIZE - INSET, INSET), (INSET * 4, INSET)],
         [(SIZE - INSET, INSET), (SIZE * 0.4, SIZE - INSET)]]
# A 4 in two strokes: the bent one (down and across), then the upright
FOUR = [[(150, 40), (80, 170), (205, 170)], [(175, 60), (175, 250)]]
FINGER = 0.016  # seconds between touch events: one a screen frame
CONTROLS = (UNDO, REDO, CLEAR)
GUIDANCE = page_constant("GUIDANCE")


def button(page, name: str):
    return page.get_by_role("button", name=name, exact=True)


def stroke_with(page, corners, touch: bool) -> None:
    if touch:
        draw_by_touch(page, polyline(corners), interval=FINGER)
    else:
        draw(page, polyline(corners))


def press(page, name: str, touch: bool) -> None:
    control = button(page, name)
    expect(control).to_be_enabled()
    control.tap() if touch else control.click()


def wait_for_canvas(page, expected: np.ndarray, timeout: float = 30.0) -> None:
    """Waits until the canvas shows `expected` (within a few pixels' antialiasing)."""
    for _ in range(int(timeout * 10)):
        if np.mean(np.abs(canvas_pixels(page).astype(int) - expected)) < 0.5:
            return
        page.wait_for_timeout(100)
    raise AssertionError("the canvas did not come to show the expected drawing")


@pytest.fixture(scope="module", params=["mouse", "touch"])
def pen_page(request, browser, server):
    """A desktop page drawn on with the mouse, or a phone's drawn on with a finger."""
    touch = request.param == "touch"
    page = open_page(browser, server.url, **(PHONE if touch else {}))
    yield page, touch
    page.close()


@pytest.fixture
def pen(pen_page):
    """`pen_page`, its canvas cleared (whatever the last test left)."""
    clear(pen_page[0])
    return pen_page


@pytest.mark.parametrize("screen", SCREENS)
def test_the_whole_canvas_shows_at_every_screen_size(browser, server, screen):
    page = open_page(browser, server.url, **SCREENS[screen])
    try:
        width = page.viewport_size["width"]
        box = page.locator(CANVAS).bounding_box()
        assert box["width"] == SIZE and box["height"] == SIZE
        assert 0 <= box["x"] and box["x"] + SIZE <= width, f"the canvas lies at {box}"
        # the component's box scrolls what does not fit: all of the canvas must be in view
        shown = page.locator(".dc-scroll").evaluate("box => [box.clientWidth, box.scrollWidth]")
        assert shown[0] >= SIZE and shown[0] >= shown[1], f"{shown[0]} of {SIZE} pixels shown"
        for name in CONTROLS:
            control = button(page, name)
            expect(control).to_be_visible()
            control_box = control.bounding_box()
            assert 0 <= control_box["x"] and control_box["x"] + control_box["width"] <= width
            assert control_box["y"] >= box["y"] + SIZE  # under the canvas, not on it
        # a drawing's answers show on the first screen, beside or under the canvas
        touch = SCREENS[screen].get("has_touch", False)
        (draw_by_touch if touch else draw)(page, polyline(SEVEN[1]))
        answers(page)
        height = page.viewport_size["height"]
        for metric in page.locator(ANSWER).all():
            shown = metric.bounding_box()
            assert 0 <= shown["x"] and shown["x"] + shown["width"] <= width, shown
            assert shown["y"] + shown["height"] <= height, f"an answer ends at {shown}"
    finally:
        page.close()


def test_the_canvas_toolbar_is_off_the_drawing(page_for_toolbar):
    page = page_for_toolbar
    found = page.locator(".st-key-canvas").evaluate("""element => {
        const host = [element, ...element.querySelectorAll('*')].find(e => e.shadowRoot);
        if (!host) return 'no open shadow root';
        const toolbar = host.shadowRoot.querySelector('.dc-toolbar');
        if (!toolbar) return 'no .dc-toolbar';
        return getComputedStyle(toolbar).display;
    }""")
    assert found == "none", (
        f"streamlit-drawable-canvas's toolbar is not hidden ({found}): the component no "
        "longer renders into an open shadow root with a .dc-toolbar, which "
        "capsnet/page/canvas_toolbar.js relies on")
    for hidden in ("Reset canvas & history", "Update the app with this drawing"):
        expect(page.get_by_role("button", name=hidden)).to_have_count(0)


@pytest.fixture
def page_for_toolbar(browser, server):
    page = open_page(browser, server.url)
    yield page
    page.close()


@pytest.mark.parametrize("corner", CORNERS)
def test_a_stroke_from_each_corner_is_drawn_and_read(pen, corner):
    page, touch = pen
    stroke_with(page, CORNERS[corner], touch)
    read = answers(page)
    assert sorted(read) == sorted(MODELS)
    assert canvas_pixels(page).max() > 0


@pytest.mark.parametrize("corner", ["top left", "top right"])
def test_a_stroke_started_under_the_pages_header_is_drawn(pen, corner):
    """Scrolled down to the answers and back up a little, the canvas's top lies under
    Streamlit's header, which stays at the top of the screen: a stroke started there is
    still the canvas's (the header takes only its own buttons' touches and clicks)."""
    page, touch = pen
    screen = page.viewport_size
    if not touch:  # a laptop's window short enough for the page to scroll the canvas up
        page.set_viewport_size({"width": 1280, "height": 560})
    canvas = page.locator(CANVAS)
    canvas.evaluate("canvas => canvas.scrollIntoView({block: 'start'})")
    try:
        header = page.locator(HEADER).bounding_box()
        top = canvas.bounding_box()["y"]
        assert header is not None and top + INSET < header["y"] + header["height"], (
            f"the stroke's start ({top + INSET}) is not under the page's header ({header})")
        stroke_with(page, CORNERS[corner], touch)
        assert sorted(answers(page)) == sorted(MODELS)
        assert canvas_pixels(page).max() > 0
    finally:
        page.set_viewport_size(screen)
        canvas.evaluate("canvas => canvas.scrollIntoView({block: 'center'})")


def test_a_seven_started_in_the_top_right_corner_is_read(pen, trained):
    page, touch = pen
    for corners in SEVEN:
        stroke_with(page, corners, touch)
    read = answers(page)
    if trained:
        assert read == dict.fromkeys(MODELS, "7"), f"drew a 7 from the corner, read {read}"


def test_undo_redo_and_clear_do_what_they_say(pen, trained):
    page, touch = pen
    stroke_with(page, FOUR[0], touch)
    answers(page)
    one_stroke = canvas_pixels(page)
    stroke_with(page, FOUR[1], touch)
    page.wait_for_timeout(500)
    four = answers(page)
    two_strokes = canvas_pixels(page)
    if trained:
        assert four == dict.fromkeys(MODELS, "4"), f"drew a 4, the page read {four}"

    press(page, UNDO, touch)
    wait_for_canvas(page, one_stroke)
    after_undo = answers(page)
    assert sorted(after_undo) == sorted(MODELS)  # the models answer for the stroke left
    press(page, REDO, touch)
    wait_for_canvas(page, two_strokes)
    expect(button(page, REDO)).to_be_disabled()
    assert answers(page) == four

    press(page, CLEAR, touch)
    wait_for_no_answer(page)
    wait_for_canvas(page, np.zeros_like(two_strokes))
    expect(page.get_by_text(GUIDANCE)).to_be_visible()
    press(page, UNDO, touch)  # the drawing comes back
    wait_for_canvas(page, two_strokes)
    assert answers(page) == four


def test_on_a_phone_the_controls_are_on_the_first_screen_with_the_canvas_and_answers(browser,
                                                                                    server):
    phone = open_page(browser, server.url, **PHONE)
    try:
        for corners in FOUR:
            draw_by_touch(phone, polyline(corners), interval=FINGER)
        answers(phone)
        height, width = PHONE["viewport"]["height"], PHONE["viewport"]["width"]
        assert phone.evaluate("window.scrollY") == 0
        canvas = phone.locator(CANVAS).bounding_box()
        first_answer = min(box["y"] for box in
                           (metric.bounding_box() for metric in phone.locator(ANSWER).all()))
        for name in CONTROLS:
            control = button(phone, name)
            expect(control).to_be_visible()
            box = control.bounding_box()
            assert box["y"] >= canvas["y"] + canvas["height"] and box["y"] < first_answer
            assert box["x"] >= 0 and box["x"] + box["width"] <= width
            assert box["y"] + box["height"] <= height, f"{name} ends below the first screen"
            assert box["height"] >= 36, f"{name} is {box['height']} pixels tall, too small"
            opacity = control.evaluate("""element => {
                let total = 1;
                for (let e = element; e; e = e.parentElement)
                    total *= Number(getComputedStyle(e).opacity);
                return total;
            }""")
            assert opacity == 1, f"{name} is drawn at opacity {opacity}"
    finally:
        phone.close()
