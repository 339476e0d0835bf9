"""Time the page in a real Chromium and watch the server's memory; print a Markdown table.

Four measurements, on the current machine:

1. Start-up: a fresh `streamlit run app.py`, a new browser session, one stroke. The times
   from the process's start to its health check, to the canvas, and to the first answer;
   and from the first stroke to that answer. Then the first switch to two digits, with
   that digit still on the canvas: the time from the click on "Try two digits at once" to
   the mode's heading and to its reading of the drawing; then back to one digit. Repeated
   `--starts` times; medians are reported.
2. Drawing: on the last server, `--drawings` more digits, each a real mouse stroke (the
   digits 0, 1, 2, 3, 4 and 7, varied in size and place), each waited for until the page
   shows its answer, then cleared. For each stroke, timed in the page with the browser's
   own clock (Playwright tells Python of page events late, while a call into it waits): the
   time from the mouse-up to both answers on screen and to the canvas's request for a rerun
   going out (the canvas's own work in the browser), and the script runs it caused, from
   the arrival of a run's first message to that of its end-of-run message, with the number
   of elements they sent and whether only a fragment ran. The server's resident memory
   (VmRSS in /proc) after the first answer and after the last drawing, and its growth over
   the last `--window` drawings. The page
   caches up to `ANALYSIS_CACHE` analyses (capsnet/page/resources.py; about 150 kB each),
   so its memory is expected to grow until that many distinct drawings have been seen.

3. Pose sliders: on the last drawing, the "Reconstruct and pose" tab, whose sliders and
   reconstruction run in the browser, then `--drags` mouse drags of the sixteen sliders in
   turn, each over the slider's whole range (from the middle to the right end, the left end
   and halfway back: 112 mouse events, each moving the slider one step, sent as fast as
   Chromium takes them, which is one per animation frame). The
   slider's changes and the reconstructions drawn per second of a drag, the time from each
   input event to its redrawn canvas (timed in the page, from the event's time stamp to the
   end of the animation frame that drew it), the reruns asked for during drags, and the
   script run each release causes.
4. Many visitors: `--sessions` browser sessions (one Chromium, a browser context each, on
   Playwright's async API) drawing `--session-drawings` digits each, all at once, against the
   same server. Errors (a page showing an exception or error, or no answer within
   `ANSWER_TIMEOUT`), the time from each mouse-up to its answer across all sessions, and the
   server's memory before and after.

It also counts the answers that name the drawn digit, meaningful only with trained weights.
Needs Linux (/proc), the `playwright` package and a Chromium (`$CHROMIUM`, default
/usr/bin/chromium). Run from the project's root:

    python scripts/benchmark_page.py                      # 3 starts, 200 drawings, 16 + 10x10
    python scripts/benchmark_page.py --quick              # a minute or two: 1 start, 10 drawings
    python scripts/benchmark_page.py --starts 1 --drawings 40 --weights path/to/weights
    python scripts/benchmark_page.py --drags 0 --sessions 0  # starts and drawings only
    python scripts/benchmark_page.py --drawings 400 --samples rss.csv  # past the cache's size
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import importlib.metadata
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the browser driver shared with the browser tests

from page_driver import (  # noqa: E402
    ANSWER,
    ANSWER_TIMEOUT,
    CANVAS,
    CHROMIUM,
    CHROMIUM_ARGS,
    CLEAR,
    DRAWN_DIGITS,
    ERROR,
    LOAD_TIMEOUT,
    MODELS,
    VIEWPORT,
    Run,
    Server,
    answers,
    canvas_size,
    chromium,
    clear,
    digit_stroke,
    draw,
    open_page,
)

from capsnet import checkpoints  # noqa: E402

STARTS = 3
DRAWINGS = 200
WINDOW = 100
DRAGS = 16  # pose-slider drags, one per slider
SESSIONS = 10  # concurrent browser sessions
SESSION_DRAWINGS = 10  # digits each concurrent session draws
QUICK = {"starts": 1, "drawings": 10, "window": 10, "drags": 3, "sessions": 3,
         "session_drawings": 3}  # --quick: a minute or two, to see that it all works
RECONSTRUCT_VIEW = "Reconstruct and pose"  # the tab with the pose sliders
POSE_DIMENSIONS = 16  # pose sliders, one per capsule dimension
LIVE_POSE = ".st-key-live_pose .live-pose"  # the pose sliders and their reconstruction
# The open tab's note on a blank canvas, shown last: the page's first run is over.
EMPTY_VIEW = "This view fills in once there is a digit to read."
SWITCH, BACK = "Try two digits at once", "Back to one digit"  # the page's mode button
PAIR_HEADING = "Draw two digits, one over the other"  # the two-digit mode's heading
PAIR_READ = "Each digit redrawn from its own capsule"  # under the two-digit answers
SCALES = (0.75, 1.0)  # digit height relative to the usual five-sevenths of the canvas
SHIFT = 0.1  # largest move of a digit from the centre, as a fraction of the canvas
MB = 1024 * 1024


def start_and_answer(browser, env: dict, digit: int) -> tuple[Server, object, dict[str, float]]:
    """A fresh server, a session and one stroke; the server, the page and the times (s)."""
    server = Server.start(env=env)
    try:
        server.wait_until_healthy()
        healthy = time.perf_counter()
        page = open_page(browser, server.url, watch=True)
        shown = time.perf_counter()
        page.evaluate(WATCH_ANSWER, [ANSWER, len(MODELS), LOAD_TIMEOUT * 1000])
        draw(page, digit_stroke(digit, canvas_size(page)))
        answers(page, timeout=LOAD_TIMEOUT)
        answered = time.perf_counter()
        stroke = page.evaluate("() => window.answered") / 1000  # timed in the page
        page.runs.wait_after((0, 0))  # the first run and the stroke's are over
    except BaseException:
        server.stop()
        raise
    times = {"health": healthy - server.started, "canvas": shown - server.started,
             "answer": answered - server.started, "stroke": stroke}
    return server, page, times


def switch_to_two_digits(page) -> dict[str, float]:
    """The first switch to two digits on a fresh server, right after the first answer, with
    the first digit still on the canvas: seconds from the click on the page's button to the
    mode's heading and to the two-digit reading of the drawing; then back to one digit."""
    mark = page.runs.mark()
    clicked = time.perf_counter()
    page.get_by_role("button", name=SWITCH).click()
    page.get_by_text(PAIR_HEADING).wait_for(timeout=LOAD_TIMEOUT * 1000)
    heading = time.perf_counter()
    page.get_by_text(PAIR_READ).wait_for(timeout=LOAD_TIMEOUT * 1000)
    read = time.perf_counter()
    page.runs.wait_after(mark)
    mark = page.runs.mark()
    page.get_by_role("button", name=BACK).click()
    answers(page)
    page.runs.wait_after(mark)
    return {"switch heading": heading - clicked, "switch reading": read - clicked}


# In the page: the milliseconds from the next mouse-up to both answers on screen, timed in the
# browser itself (polled every animation frame), so that the driver's own delays are not in it.
WATCH_ANSWER = """([selector, count, timeout]) => {
    let lifted = window.lifted = null;
    document.addEventListener("mouseup", () => { lifted = window.lifted = performance.now(); },
                              {capture: true, once: true});
    window.answered = new Promise((resolve, reject) => {
        const giveUp = setTimeout(() => reject(new Error("no answer")), timeout);
        const poll = () => {
            const shown = [...document.querySelectorAll(selector)]
                .filter((element) => element.checkVisibility());
            if (lifted !== null && shown.length >= count) {
                clearTimeout(giveUp);
                resolve(performance.now() - lifted);
            } else {
                requestAnimationFrame(poll);
            }
        };
        requestAnimationFrame(poll);
    });
}"""


def drawings(page, server: Server, count: int, seed: int,
             samples: Path | None = None) -> tuple[list[float], list[float], list[list[Run]],
                                                   list[int], dict[str, int]]:
    """`count` varied digits: stroke-to-answer and stroke-to-request seconds, each stroke's
    script runs, RSS after each, correct answers.

    With `samples`, each drawing is also written there as a CSV row, flushed as it happens.
    """
    rng = random.Random(seed)
    size = canvas_size(page)
    latencies, requested, runs, rss, correct = [], [], [], [], dict.fromkeys(MODELS, 0)
    with open(samples or os.devnull, "w", newline="") as file:
        log = csv.writer(file)
        log.writerow(["drawing", "digit", "seconds", "request_seconds", "run_seconds",
                      "run_elements", "fragment_run", "rss_bytes", *MODELS])
        for n in range(count):
            digit = DRAWN_DIGITS[n % len(DRAWN_DIGITS)]
            stroke = digit_stroke(digit, size, scale=rng.uniform(*SCALES),
                                  shift=(rng.uniform(-SHIFT, SHIFT) * size,
                                         rng.uniform(-SHIFT, SHIFT) * size))
            mark = page.runs.mark()
            clear(page)
            page.runs.wait_after(mark)  # the clearing run is over: the stroke's runs alone
            mark = page.runs.mark()
            page.evaluate(WATCH_ANSWER, [ANSWER, len(MODELS), ANSWER_TIMEOUT * 1000])
            draw(page, stroke)
            read = answers(page)
            latencies.append(page.evaluate("() => window.answered") / 1000)
            runs.append(page.runs.time_in_browser(page.runs.wait_after(mark)))
            sent = page.runs.clock()["sent"][page.runs.request_frames[mark[0]]]
            requested.append((sent - page.evaluate("() => window.lifted")) / 1000)
            rss.append(server.rss_bytes())
            for model in MODELS:
                correct[model] += read.get(model) == str(digit)
            log.writerow([n + 1, digit, f"{latencies[-1]:.3f}", f"{requested[-1]:.3f}",
                          f"{run_seconds(runs[-1]):.3f}",
                          sum(run.deltas for run in runs[-1]),
                          int(all(run.fragment for run in runs[-1])), rss[-1],
                          *(read.get(model) for model in MODELS)])
            file.flush()
    return latencies, requested, runs, rss, correct


DRAG_LEGS = (0.5, -0.5, 0.25)  # a drag goes from the middle to the right end, the left end
# and halfway back to the right (as fractions of the slider's width from its middle): it
# ends on a new value, so that its release sends one
STATS = "panel => ({inputs: panel.stats.inputs, frames: panel.stats.frames})"


def pose_drags(page, count: int) -> tuple[list[float], list[float], list[float], list[int],
                                          list[list[Run]]]:
    """`count` mouse drags of the pose sliders in turn, each over the slider's whole range.

    Returns:
        The slider's changes of value per second during each drag (its input events), and
        the reconstructions drawn per second (at most one per animation frame); the
        milliseconds from each input event to its redrawn canvas (every frame of every
        drag); the reruns the page asked for during each drag (before its release); and
        each release's script runs.
    """
    mark = page.runs.mark()
    page.get_by_role("tab", name=RECONSTRUCT_VIEW).click()
    page.locator(LIVE_POSE).wait_for(timeout=ANSWER_TIMEOUT * 1000)
    page.runs.wait_after(mark)
    panel = page.locator(LIVE_POSE)
    changes, rates, latencies, during, releases = [], [], [], [], []
    for n in range(count):
        slider = page.locator(f"{LIVE_POSE} input[type=range]").nth(n % POSE_DIMENSIONS)
        slider.scroll_into_view_if_needed()
        box = slider.bounding_box()
        middle, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        span, step = (float(slider.get_attribute("max")) - float(slider.get_attribute("min")),
                      float(slider.get_attribute("step")))
        panel.evaluate("panel => panel.stats.latencies.splice(0)")  # the page keeps the last 1000
        before = panel.evaluate(STATS)
        mark = page.runs.mark()
        page.mouse.move(middle, y)
        page.mouse.down()
        began, x = time.perf_counter(), middle
        for leg in DRAG_LEGS:
            end = middle + leg * box["width"]
            steps = round(abs(end - x) / box["width"] * span / step)
            page.mouse.move(end, y, steps=steps)
            x = end
        seconds = time.perf_counter() - began
        during.append(page.runs.mark()[0] - mark[0])
        page.mouse.up()
        releases.append(page.runs.time_in_browser(page.runs.wait_after(mark)))
        after = panel.evaluate(STATS)
        changes.append((after["inputs"] - before["inputs"]) / seconds)
        rates.append((after["frames"] - before["frames"]) / seconds)
        latencies += panel.evaluate("panel => panel.stats.latencies.splice(0)")  # taken
    return changes, rates, latencies, during, releases


async def session(browser, url: str, count: int, number: int,
                  seed: int) -> tuple[list[float], int, int]:
    """One visitor's session drawing `count` digits (the digits in turn from the `number`th):
    mouse-up-to-answer seconds, the drawings after which the page showed an error or an
    exception, and those with no answer within `ANSWER_TIMEOUT` (all of them if the session
    failed to open).
    """
    rng = random.Random(seed)
    latencies, shown, missing = [], 0, 0
    context = await browser.new_context(viewport=VIEWPORT)
    try:
        page = await context.new_page()
        await page.goto(url, timeout=LOAD_TIMEOUT * 1000)
        await page.locator(CANVAS).wait_for(timeout=LOAD_TIMEOUT * 1000)
        # A stroke drawn while the first run still renders the canvas can be lost: a visitor
        # would draw again, the benchmark would count an error.
        await page.get_by_text(EMPTY_VIEW).filter(visible=True).first.wait_for(
            timeout=LOAD_TIMEOUT * 1000)
        box = await page.locator(CANVAS).bounding_box()
        for n in range(count):
            digit = DRAWN_DIGITS[(number + n) % len(DRAWN_DIGITS)]
            try:
                if n:
                    await page.get_by_role("button", name=CLEAR, exact=True).click()
                    await page.locator(ANSWER).first.wait_for(state="detached",
                                                              timeout=ANSWER_TIMEOUT * 1000)
                stroke = digit_stroke(digit, box["width"], scale=rng.uniform(*SCALES),
                                      shift=(rng.uniform(-SHIFT, SHIFT) * box["width"],
                                             rng.uniform(-SHIFT, SHIFT) * box["width"]))
                await page.evaluate(WATCH_ANSWER, [ANSWER, len(MODELS), ANSWER_TIMEOUT * 1000])
                await page.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
                await page.mouse.down()
                for x, y in stroke[1:]:
                    await page.mouse.move(box["x"] + x, box["y"] + y)
                await page.mouse.up()
                await page.locator(ANSWER).nth(len(MODELS) - 1).wait_for(
                    state="visible", timeout=ANSWER_TIMEOUT * 1000)
                latencies.append(await page.evaluate("() => window.answered") / 1000)
                shown += await page.locator(ERROR).count() > 0
            except Exception as error:  # a timeout: no answer came
                print(f"session {number}, drawing {n + 1} (a {digit}): {error}", file=sys.stderr)
                missing += 1
    except Exception as error:  # the page did not open
        print(f"session {number}: {error}", file=sys.stderr)
        missing = count - len(latencies)
    finally:
        await context.close()
    return latencies, shown, missing


async def sessions(url: str, count: int, drawings_each: int,
                   seed: int) -> tuple[list[float], int, int, float]:
    """`count` sessions on one Chromium drawing at once: all their mouse-up-to-answer seconds,
    the drawings that showed an error and those that got no answer, and the wall time."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM),
                                                   args=list(CHROMIUM_ARGS))
        try:
            began = time.perf_counter()
            results = await asyncio.gather(*(session(browser, url, drawings_each, n + 1,
                                                     seed + n + 1) for n in range(count)))
            wall = time.perf_counter() - began
        finally:
            await browser.close()
    latencies = [seconds for result in results for seconds in result[0]]
    return latencies, sum(r[1] for r in results), sum(r[2] for r in results), wall


def spread(values: list[float], percentile: int = 90, unit: str = "s", digits: int = 2,
           scale: float | None = None) -> str:
    """`median / pth percentile` of `values` times `scale` (by default, seconds shown in
    `unit`), for the table."""
    if not values:
        return "none"
    if scale is None:
        scale = 1000 if unit == "ms" else 1
    return (f"{scale * statistics.median(values):.{digits}f} {unit} / "
            f"{scale * np.percentile(values, percentile):.{digits}f} {unit}")


def run_seconds(runs: list[Run]) -> float:
    """The time the server spent running the script for one stroke, as the browser saw it."""
    return sum(run.seconds if run.browser is None else run.browser for run in runs)


def machine() -> str:
    model = next((line.split(":", 1)[1].strip()
                  for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    versions = (f"Python {platform.python_version()}, "
                f"Streamlit {importlib.metadata.version('streamlit')}")
    return f"{os.cpu_count()} CPU cores ({model}), load average {load} at the start; {versions}"


def accuracy(folder: Path) -> str:
    facts = []
    for name in checkpoints.MODEL_NAMES:
        value = checkpoints.read_metrics(name, folder).get("test_accuracy")
        facts.append(f"{name} {'untrained' if value is None else f'{100 * value:.2f}%'}")
    return f"`{folder}` ({', '.join(facts)} on MNIST's test set)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=STARTS,
                        help=f"fresh servers timed to their first answer (default: {STARTS})")
    parser.add_argument("--drawings", type=int, default=DRAWINGS,
                        help=f"drawings after the first answer, for memory (default: {DRAWINGS})")
    parser.add_argument("--window", type=int, default=WINDOW,
                        help=f"memory growth is reported over this many last drawings "
                             f"(default: {WINDOW})")
    parser.add_argument("--weights", type=Path, default=None,
                        help=checkpoints.WEIGHTS_HELP)
    parser.add_argument("--samples", type=Path, default=None,
                        help="also write each drawing's time, RSS and answers to this CSV file")
    parser.add_argument("--drags", type=int, default=DRAGS,
                        help=f"pose-slider drags, each over a slider's range; 0 skips them "
                             f"(default: {DRAGS})")
    parser.add_argument("--sessions", type=int, default=SESSIONS,
                        help=f"browser sessions drawing at once at the end; 0 skips them "
                             f"(default: {SESSIONS})")
    parser.add_argument("--session-drawings", type=int, default=SESSION_DRAWINGS,
                        help=f"digits each concurrent session draws (default: {SESSION_DRAWINGS})")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed for the digits' sizes and places (default: 0)")
    parser.add_argument("--quick", action="store_true",
                        help="a short run to see that everything works, by default "
                             + ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in QUICK.items()))
    if parser.parse_known_args()[0].quick:  # the quick sizes, unless given on their own
        parser.set_defaults(**QUICK)
    args = parser.parse_args()
    if args.starts < 1 or args.drawings < 1 or args.window < 1 or args.session_drawings < 1:
        parser.error("--starts, --drawings, --window and --session-drawings must be positive")
    if args.drags < 0 or args.sessions < 0:
        parser.error("--drags and --sessions cannot be negative")

    folder = checkpoints.weights_dir(args.weights)
    env = {**os.environ, checkpoints.WEIGHTS_ENV: str(folder)}
    about = machine()
    server = page = None
    began = time.perf_counter()
    try:
        with chromium() as browser:
            starts = []
            for n in range(args.starts):
                if server is not None:
                    page.close()
                    server.stop()
                server, page, times = start_and_answer(browser, env,
                                                       DRAWN_DIGITS[n % len(DRAWN_DIGITS)])
                first_rss = server.rss_bytes()
                times |= switch_to_two_digits(page)
                starts.append(times)
                print(f"start {n + 1}: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()),
                      file=sys.stderr)
            switched_rss = server.rss_bytes()
            latencies, requested, runs, rss, correct = drawings(
                page, server, args.drawings, args.seed, args.samples)
            print(f"{args.drawings} drawings: median {statistics.median(latencies):.2f} s",
                  file=sys.stderr)
            if args.drags:
                changes, rates, frame_ms, during, releases = pose_drags(page, args.drags)
                print(f"{args.drags} pose drags: median {statistics.median(rates):.0f} "
                      "reconstructions/s", file=sys.stderr)
            page.close()
        if args.sessions:  # the sync API's browser is closed: its event loop is gone
            before_sessions = server.rss_bytes()
            together, shown, missing, together_wall = asyncio.run(
                sessions(server.url, args.sessions, args.session_drawings, args.seed))
            after_sessions = server.rss_bytes()
    finally:
        if server is not None:
            server.stop()
    print(f"the benchmark took {time.perf_counter() - began:.0f} s", file=sys.stderr)

    window = min(args.window, args.drawings)
    before_window = rss[-window - 1] if window < len(rss) else switched_rss
    median = {key: statistics.median(times[key] for times in starts) for key in starts[0]}
    repeats = f"median of {args.starts}" if args.starts > 1 else "one start"
    rows = [
        ("Machine", about),
        ("Weights", accuracy(folder)),
        (f"Process start to health check ({repeats})", f"{median['health']:.1f} s"),
        (f"Process start to canvas shown ({repeats})", f"{median['canvas']:.1f} s"),
        (f"Process start to first answer after a stroke ({repeats})",
         f"{median['answer']:.1f} s"),
        (f"First stroke's end (mouse up) to its answer ({repeats})",
         f"{median['stroke']:.2f} s"),
        (f"First switch to two digits, just after that answer: click to the mode's heading "
         f"/ to the two-digit reading ({repeats})",
         f"{median['switch heading']:.1f} s / {median['switch reading']:.1f} s"),
        (f"Stroke's end to answer, next {args.drawings} drawings (median / 90th percentile)",
         spread(latencies)),
        (f"Stroke's end to the canvas's rerun request, next {args.drawings} drawings (median)",
         f"{statistics.median(requested):.2f} s"),
        (f"Script run per stroke, next {args.drawings} drawings (median / 90th percentile)",
         spread(list(map(run_seconds, runs)), unit="ms", digits=0)),
        ("Elements a stroke's run sends (median)",
         f"{statistics.median(sum(run.deltas for run in stroke) for stroke in runs):.0f}"),
        ("Strokes that reran one fragment only",
         f"{sum(all(run.fragment for run in stroke) for stroke in runs)} of {len(runs)}"),
        ("Server RSS after the first answer / after the switch to two digits and back",
         f"{first_rss / MB:.0f} MB / {switched_rss / MB:.0f} MB"),
        (f"Server RSS after {args.drawings} more drawings", f"{rss[-1] / MB:.0f} MB"),
        (f"RSS growth over the last {window} drawings",
         f"{(rss[-1] - before_window) / MB:+.1f} MB "
         f"({(rss[-1] - before_window) / window / 1024:+.0f} kB a drawing)"),
        (f"Answers naming the drawn digit, of {args.drawings}",
         ", ".join(f"{model} {correct[model]}" for model in MODELS)),
    ]
    if args.drags:
        rows += [
            (f"Pose slider drags: changes of value per second, {args.drags} drags "
             "(median / 10th percentile)", spread(changes, percentile=10, unit="/s", digits=0)),
            (f"Pose slider drags: reconstructions drawn per second, {args.drags} drags "
             "(median / 10th percentile)", spread(rates, percentile=10, unit="/s", digits=0)),
            (f"Pose slider input event to redrawn canvas, {len(frame_ms)} frames "
             "(median / 90th percentile)", spread(frame_ms, unit="ms", digits=1, scale=1)),
            ("Reruns asked for during the drags, before release", f"{sum(during)}"),
            (f"Script run per pose-slider release, {args.drags} releases "
             "(median / 90th percentile)",
             spread(list(map(run_seconds, releases)), unit="ms", digits=0)),
            ("Releases that reran one fragment only",
             f"{sum(all(run.fragment for run in release) for release in releases)} of "
             f"{len(releases)}"),
        ]
    if args.sessions:
        total = args.sessions * args.session_drawings
        rows += [
            (f"{args.sessions} sessions drawing {args.session_drawings} digits each at once: "
             "errors (an error or exception shown / no answer)",
             f"{shown + missing} of {total} ({shown} / {missing})"),
            (f"{args.sessions} sessions at once: stroke's end to answer "
             "(median / 95th percentile)", spread(together, percentile=95)),
            (f"{args.sessions} sessions at once: wall time for all {total} drawings",
             f"{together_wall:.0f} s"),
            (f"Server RSS before / after the {args.sessions} sessions",
             f"{before_sessions / MB:.0f} MB / {after_sessions / MB:.0f} MB"),
        ]
    print("| Measure | Value |\n|---|---|")
    for measure, value in rows:
        print(f"| {measure} | {value} |")


if __name__ == "__main__":
    main()
