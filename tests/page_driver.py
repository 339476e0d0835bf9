"""Drives the page in a real Chromium: start `streamlit run app.py`, draw strokes, read answers.

Shared by `tests/test_browser.py` and `scripts/benchmark_page.py`. Playwright drives the
system's Chromium (`$CHROMIUM`, else /usr/bin/chromium); it needs no browser download.

The canvas (streamlit-drawable-canvas) is a Streamlit custom component whose Fabric.js
canvases sit in a shadow root; Playwright's CSS selectors pierce it. The canvas sends its
image to the server once per finished stroke, so one stroke is one rerun of the page.
"""

from __future__ import annotations

import ast
import base64
import importlib.util
import io
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
INPUTS = ROOT / "capsnet" / "page" / "inputs.py"  # the page's canvas, pens and guidance
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))


def missing_browser() -> str | None:
    """Why the browser tests cannot run here (no Playwright, no Chromium), or None."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -r requirements-dev.txt)"
    if not CHROMIUM.is_file():
        return f"no Chromium at {CHROMIUM} (set $CHROMIUM to another)"
    return None
CHROMIUM_ARGS = (
    "--no-sandbox",  # containers and CI runners rarely allow Chromium's user namespaces
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
VIEWPORT = {"width": 1400, "height": 1000}  # wide enough for the page's three columns
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3,
         "has_touch": True, "is_mobile": True}  # a phone held upright (an iPhone 14's screen)
SERVER_TIMEOUT = 240.0  # seconds to health: importing TensorFlow is slow on a busy CPU
LOAD_TIMEOUT = 240.0  # seconds to the canvas: the first visit loads and warms both models
ANSWER_TIMEOUT = 90.0  # seconds from a stroke (or a click) to the page's new state
STEP = 4.0  # canvas pixels between mouse events, so that a stroke is a smooth freehand path

ANSWER = '[data-testid="stMetric"]'  # the page shows each model's answer as an st.metric
MODELS = ("CNN", "CapsNet")  # the answers' labels
CANVAS = "canvas.upper-canvas"  # Fabric.js's event layer, where the mouse draws
HEADER = '[data-testid="stHeader"]'  # Streamlit's header, fixed at the top of the screen
CLEAR = "Clear"  # the page's button under the canvas (UNDO and REDO beside it)
UNDO, REDO = "Undo", "Redo"
ERROR = '[data-testid="stAlertContentError"], [data-testid="stException"]'  # st.error, a crash


def page_constant(name: str, source: Path = INPUTS):
    """A literal module-level constant of the page, read from its source.

    Importing the module would register the canvas component, which needs a running page.
    """
    for node in ast.parse(source.read_text()).body:
        if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == name for target in node.targets):
            return ast.literal_eval(node.value)
    raise LookupError(f"{source.relative_to(ROOT)} defines no constant {name}")


# --- Digits as single freehand strokes, in canvas pixels ----------------------------------


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float,
         points: int = 40) -> list[tuple[float, float]]:
    """Points along an ellipse from angle `start` to `end` (degrees; 0 is right, 90 is down)."""
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in np.linspace(start, end, points)]


def _shapes(size: float) -> dict[int, list[tuple[float, float]]]:
    """Corner points of each digit, drawn as one stroke on a `size`-pixel square."""
    s = size / 280  # the shapes were laid out on the page's 280-pixel canvas
    shapes = {
        0: _arc(140, 140, 60, 95, -90, 270, 64),
        1: [(145, 40), (135, 240)],
        2: _arc(140, 95, 55, 50, -160, 20) + [(85, 235), (205, 235)],
        3: _arc(140, 95, 50, 50, -150, 90) + _arc(140, 190, 50, 50, -90, 150),
        4: [(175, 240), (175, 40), (75, 170), (215, 170)],
        7: [(80, 50), (200, 50), (115, 240)],
    }
    return {digit: [(x * s, y * s) for x, y in corners] for digit, corners in shapes.items()}


DRAWN_DIGITS = tuple(_shapes(280))  # the digits `digit_stroke` can draw


def digit_stroke(digit: int, size: float, scale: float = 1.0, shift: tuple[float, float] = (0, 0),
                 step: float = STEP) -> list[tuple[float, float]]:
    """A digit as one freehand stroke: canvas points at most `step` pixels apart.

    Args:
        digit: one of `DRAWN_DIGITS`.
        size: the canvas's side in pixels.
        scale: the digit's size relative to its usual height of five-sevenths of the canvas.
        shift: `(dx, dy)` in pixels from the centre of the canvas.
        step: the longest distance between two points of the stroke.
    """
    corners = _shapes(size)[digit]
    centre = size / 2
    corners = [(centre + scale * (x - centre) + shift[0], centre + scale * (y - centre) + shift[1])
               for x, y in corners]
    return polyline(corners, step)


def polyline(corners: list[tuple[float, float]], step: float = STEP) -> list[tuple[float, float]]:
    """A freehand stroke through `corners`: points at most `step` pixels apart."""
    stroke = [corners[0]]
    for (x0, y0), (x1, y1) in pairwise(corners):
        parts = max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / step))
        stroke += [(x0 + (x1 - x0) * k / parts, y0 + (y1 - y0) * k / parts)
                   for k in range(1, parts + 1)]
    return stroke


# --- The server ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    """A `streamlit run app.py` process on a local port; its output goes to a log file."""

    process: subprocess.Popen
    url: str
    log: Path
    started: float  # time.perf_counter() just before the process started

    @classmethod
    def start(cls, port: int | None = None, env: dict | None = None) -> Server:
        port = port or free_port()
        log = Path(tempfile.mkstemp(prefix="streamlit-", suffix=".log")[1])
        command = [
            sys.executable, "-m", "streamlit", "run", str(APP),
            "--server.headless", "true", "--server.port", str(port),
            "--server.address", "127.0.0.1",
            # The page under test must not reload modules while files change around it
            # (and a virtualenv inside the project is far too big to watch).
            "--server.fileWatcherType", "none",
        ]
        started = time.perf_counter()
        with log.open("wb") as output:
            process = subprocess.Popen(command, cwd=ROOT, env=env or dict(os.environ),
                                       stdout=output, stderr=subprocess.STDOUT)
        return cls(process, f"http://127.0.0.1:{port}", log, started)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def wait_until_healthy(self, timeout: float = SERVER_TIMEOUT) -> None:
        """Waits for `/_stcore/health` to answer ok; raises with the server's log otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {self.process.returncode}:\n"
                                   + self.log_tail())
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=5) as reply:
                    if reply.read().strip() == b"ok":
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.25)
        raise TimeoutError(f"streamlit was not healthy after {timeout:.0f} s:\n"
                           + self.log_tail())

    def rss_bytes(self) -> int:
        """The server's resident memory, from /proc (Linux)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024  # the kernel reports kB
        raise RuntimeError(f"no VmRSS for process {self.process.pid}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.unlink(missing_ok=True)


@contextmanager
def running_server(env: dict | None = None) -> Iterator[Server]:
    """A healthy page server, stopped on the way out (also when the body fails)."""
    server = Server.start(env=env)
    try:
        server.wait_until_healthy()
        yield server
    finally:
        server.stop()


# --- Script runs, as the browser sees them ----------------------------------------------


@dataclass
class Run:
    """One script run of the server, as the browser's websocket shows it.

    Attributes:
        started: `time.perf_counter()` when the run's first message (`new_session`) came.
        finished: when its `script_finished` message came; None while it runs.
        status: how it ended, in Streamlit's words (`FINISHED_SUCCESSFULLY`,
            `FINISHED_FRAGMENT_RUN_SUCCESSFULLY`, `FINISHED_EARLY_FOR_RERUN`, ...).
        deltas: the page elements (and containers) the run sent.
        received: the bytes of the run's messages.
        first_frame, last_frame: the positions of the run's first and last message among
            the frames the page received (for `Runs.browser_seconds`).
    """

    started: float
    finished: float | None = None
    status: str | None = None
    deltas: int = 0
    received: int = 0
    first_frame: int = 0  # the websocket frames received before the run's first...
    last_frame: int | None = None  # ...and before its last
    browser: float | None = None  # seconds, as the browser saw it (`Runs.time_in_browser`)

    @property
    def seconds(self) -> float:
        return self.finished - self.started

    @property
    def fragment(self) -> bool:
        """Whether the run was one fragment's alone, not the whole script's."""
        return self.status == "FINISHED_FRAGMENT_RUN_SUCCESSFULLY"


class Runs:
    """The script runs of one page, and the reruns the page asked for.

    Streamlit's browser client sends a `BackMsg` with `rerun_script` for each run it asks
    for (the first load, a widget change); the server begins every run, a fragment's too,
    with a `new_session` `ForwardMsg` and ends it with `script_finished`, and the `delta`
    messages between them are what the run drew. Playwright reports the frames while a call
    into it waits, so `wait_after` polls with `page.wait_for_timeout`.
    """

    def __init__(self, page):
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self._back, self._forward = BackMsg, ForwardMsg
        self._status = ForwardMsg.ScriptFinishedStatus.Name
        self.page = page
        self.requests: list[float] = []  # when each rerun was asked for
        self.request_frames: list[int] = []  # and the frames the page had sent before it
        self.runs: list[Run] = []
        self._frames_sent = self._frames_received = 0
        page.add_init_script(SOCKET_CLOCK)
        page.on("websocket", self._attach)

    def _attach(self, websocket) -> None:
        websocket.on("framesent", self._sent)
        websocket.on("framereceived", self._received)

    def _sent(self, payload) -> None:
        self._frames_sent += 1
        if isinstance(payload, bytes) and (
                self._back.FromString(payload).WhichOneof("type") == "rerun_script"):
            self.requests.append(time.perf_counter())
            self.request_frames.append(self._frames_sent - 1)

    def _received(self, payload) -> None:
        self._frames_received += 1
        if isinstance(payload, str):
            return
        kind = self._forward.FromString(payload).WhichOneof("type")
        if kind == "new_session":
            self.runs.append(Run(time.perf_counter(), first_frame=self._frames_received - 1))
        if self.runs and self.runs[-1].finished is None:
            self.runs[-1].received += len(payload)
            if kind == "delta":
                self.runs[-1].deltas += 1
            elif kind == "script_finished":
                message = self._forward.FromString(payload)
                self.runs[-1].finished = time.perf_counter()
                self.runs[-1].last_frame = self._frames_received - 1
                self.runs[-1].status = self._status(message.script_finished)

    def clock(self) -> dict[str, list[float]]:
        """When the page sent and received each websocket frame, in its own clock (ms)."""
        return self.page.evaluate("() => window.socketClock")

    def time_in_browser(self, runs: list[Run]) -> list[Run]:
        """Sets each finished run's `browser` seconds: from its first message's arrival to
        its last's, timed in the page. Playwright reports frames to Python late, while a
        call into it waits, so `Run.seconds` is longer by the driver's own delays."""
        received = self.clock()["received"]
        for run in runs:
            if run.last_frame is not None:
                run.browser = (received[run.last_frame] - received[run.first_frame]) / 1000
        return runs

    def mark(self) -> tuple[int, int]:
        """A mark to pass to `wait_after`: the reruns asked for and the runs begun so far."""
        return len(self.requests), len(self.runs)

    def idle(self) -> bool:
        """Whether every rerun asked for has run: the last run began after the last request
        and is over."""
        return bool(self.runs) and self.runs[-1].finished is not None and (
            not self.requests or self.runs[-1].started >= self.requests[-1])

    def settle(self, timeout: float = ANSWER_TIMEOUT) -> None:
        """Waits until every rerun asked for has run."""
        deadline = time.monotonic() + timeout
        while not self.idle():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the page was still running a script after {timeout:.0f} s")
            self.page.wait_for_timeout(50)

    def wait_after(self, mark: tuple[int, int], timeout: float = ANSWER_TIMEOUT,
                   settle: float = 0.3) -> list[Run]:
        """The runs begun after `mark`, once a rerun was asked for after it and the page is
        idle; `settle` seconds more without a new run make sure that none follows at once (one
        a fragment's own `st.rerun` starts, say).
        """
        requests, runs = mark
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.page.wait_for_timeout(50)
            if len(self.requests) > requests and len(self.runs) > runs and self.idle():
                count = len(self.runs)
                self.page.wait_for_timeout(settle * 1000)
                if len(self.runs) == count and self.idle():
                    return self.runs[runs:]
        raise TimeoutError(f"the page was still running a script after {timeout:.0f} s")


# In the page, before its own scripts: the time (performance.now(), ms) of every websocket
# frame sent and received, in order, as `window.socketClock`.
SOCKET_CLOCK = """(() => {
    const clock = window.socketClock = {sent: [], received: []};
    const Native = window.WebSocket;
    window.WebSocket = class extends Native {
        constructor(...args) {
            super(...args);
            this.addEventListener("message", () => clock.received.push(performance.now()));
        }
        send(data) {
            clock.sent.push(performance.now());
            return super.send(data);
        }
    };
})();"""


# --- The browser -----------------------------------------------------------------------


@contextmanager
def chromium() -> Iterator:
    """A headless Chromium under Playwright, closed on the way out."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                             args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, url: str, timeout: float = LOAD_TIMEOUT, watch: bool = False,
              init_script: str | None = None, **options):
    """A new page (a new Streamlit session) on the app, once its canvas is shown.

    Args:
        watch: also time the page's script runs from its first request on; the `Runs` are
            the page's `runs` attribute.
        init_script: JavaScript run in the page before any of the page's own.
        options: Playwright's page options (`viewport`, `has_touch`, `is_mobile`, ...); the
            viewport is `VIEWPORT` unless given.

    Raises:
        RuntimeError: the page showed an error (say, missing weights) instead of the canvas.
    """
    page = browser.new_page(**{"viewport": VIEWPORT, **options})
    if watch:
        page.runs = Runs(page)
    if init_script:
        page.add_init_script(init_script)
    page.goto(url, timeout=timeout * 1000)
    canvas = page.locator(CANVAS)
    canvas.or_(page.locator(ERROR)).first.wait_for(timeout=timeout * 1000)
    if not canvas.count():
        message = " ".join(page.locator(ERROR).all_inner_texts())
        page.close()
        raise RuntimeError(f"the page shows an error instead of the canvas: {message}")
    return page


def draw(page, stroke: list[tuple[float, float]]) -> None:
    """One freehand stroke with the mouse, in canvas pixels."""
    box = page.locator(CANVAS).bounding_box()
    left, top = box["x"], box["y"]
    page.mouse.move(left + stroke[0][0], top + stroke[0][1])
    page.mouse.down()
    for x, y in stroke[1:]:
        page.mouse.move(left + x, top + y)
    page.mouse.up()


def draw_by_touch(page, stroke: list[tuple[float, float]], interval: float = 0.0) -> None:
    """One freehand stroke with a finger, in canvas pixels: touch events, as a phone sends
    them (the page needs `has_touch`; the canvas must be on the screen).

    Args:
        interval: seconds between two touch events (a phone sends one a screen frame,
            about 0.016 s); 0 sends them as fast as the browser takes them.
    """
    box = page.locator(CANVAS).bounding_box()
    points = [{"x": box["x"] + x, "y": box["y"] + y} for x, y in stroke]
    touch = page.context.new_cdp_session(page)
    try:
        touch.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": points[:1]})
        for point in points[1:]:
            if interval:
                time.sleep(interval)
            touch.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
        touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    finally:
        touch.detach()


def canvas_pixels(page) -> np.ndarray:
    """What the canvas shows, as a `(height, width)` array of its red channel in [0, 255]:
    the strokes Fabric.js has drawn (its lower canvas, above the one the paper is on), not
    a stroke in progress."""
    url = page.locator("canvas.dc-canvas.lower-canvas").evaluate("canvas => canvas.toDataURL()")
    data = base64.b64decode(url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))[..., 0]


def canvas_size(page) -> float:
    return page.locator(CANVAS).bounding_box()["width"]


def show_canvas(page) -> None:
    """Scrolls the canvas to the middle of the screen, clear of Streamlit's fixed header.

    Playwright's `scroll_into_view_if_needed` may leave the canvas's top edge under the
    header, where the sidebar's button lies over the canvas's top left corner
    (`tests/test_browser_canvas.py` draws under the header on purpose)."""
    canvas = page.locator(CANVAS)
    canvas.evaluate("canvas => canvas.scrollIntoView({block: 'center'})")
    header = page.locator(HEADER).bounding_box()
    top = canvas.bounding_box()["y"]
    assert header is None or top >= header["y"] + header["height"], (
        f"the canvas's top ({top}) is under the page's header ({header})")


def answers(page, timeout: float = ANSWER_TIMEOUT) -> dict[str, str]:
    """Each model's answer as the page shows it, `{"CNN": "7", "CapsNet": "7"}`.

    Waits for both answers to be shown; call `wait_for_no_answer` (or `clear`) before a
    stroke so that what this returns is the stroke's answer, not the one before.
    """
    shown = page.locator(ANSWER)
    shown.nth(len(MODELS) - 1).wait_for(state="visible", timeout=timeout * 1000)
    read = {}
    for metric in shown.all():
        label = metric.locator('[data-testid="stMetricLabel"]').inner_text().strip()
        read[label] = metric.locator('[data-testid="stMetricValue"]').inner_text().strip()
    return read


def wait_for_no_answer(page, timeout: float = ANSWER_TIMEOUT) -> None:
    page.locator(ANSWER).first.wait_for(state="detached", timeout=timeout * 1000)


def clear(page, timeout: float = ANSWER_TIMEOUT) -> None:
    """Clears the canvas with the page's button and waits until no answer is shown (a blank
    canvas, whose Clear is off, is left as it is)."""
    button = page.get_by_role("button", name=CLEAR, exact=True)
    if button.is_disabled():
        return
    button.click()
    wait_for_no_answer(page, timeout)


def heatmap(page, key: str, timeout: float = ANSWER_TIMEOUT) -> np.ndarray:
    """The image of a keyed `charts.image_figure` chart, as plotly holds it in the browser."""
    chart = page.locator(f".st-key-{key} .js-plotly-plot")
    chart.wait_for(timeout=timeout * 1000)
    # While Streamlit re-renders a chart, its element is there before plotly has drawn
    # into it; poll until the data is in place.
    z = None
    for _ in range(int(timeout * 10)):
        z = chart.evaluate("element => (element.data && element.data.length)"
                           " ? element.data[0].z : null")
        if z is not None:
            break
        page.wait_for_timeout(100)
    if z is None:
        raise AssertionError(f"the {key!r} chart held no image after {timeout} s")
    if isinstance(z, dict):  # plotly's typed-array form: {"dtype", "bdata", "shape"}
        values = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"])
        shape = [int(n) for n in str(z.get("shape", values.size)).split(",")]
        return values.reshape(shape)
    return np.asarray(z, dtype="float32")
