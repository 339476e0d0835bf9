"""Time the page in a real Chromium and watch the server's memory; print a Markdown table.

Two measurements, on the current machine:

1. Start-up: a fresh `streamlit run app.py`, a new browser session, one stroke. The times
   from the process's start to its health check, to the canvas, and to the first answer;
   and from the first stroke to that answer. Repeated `--starts` times; medians are
   reported.
2. Drawing: on the last server, `--drawings` more digits, each a real mouse stroke (the
   digits 0, 1, 2, 3, 4 and 7, varied in size and place), each waited for until the page
   shows its answer, then cleared. For each stroke: the time from the mouse-up to the
   answer and to the canvas's request for a rerun (the canvas's own work in the browser),
   and the script runs it caused, timed from the server's first message of a run to its
   end-of-run message, with the number of elements they sent and whether only a fragment
   ran. The server's resident memory (VmRSS in /proc) after the first answer and
   after the last drawing, and its growth over the last `--window` drawings. The page
   caches up to `ANALYSIS_CACHE` analyses (capsnet/page/resources.py; about 150 kB each),
   so its memory is expected to grow until that many distinct drawings have been seen.

It also counts the answers that name the drawn digit, meaningful only with trained weights.
Needs Linux (/proc), the `playwright` package and a Chromium (`$CHROMIUM`, default
/usr/bin/chromium). Run from the project's root:

    python scripts/benchmark_page.py                      # 3 starts, 200 drawings
    python scripts/benchmark_page.py --starts 1 --drawings 40 --weights path/to/weights
    python scripts/benchmark_page.py --drawings 400 --samples rss.csv  # past the cache's size
"""

from __future__ import annotations

import argparse
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
    DRAWN_DIGITS,
    MODELS,
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
        draw(page, digit_stroke(digit, canvas_size(page)))
        stroke = time.perf_counter()  # the mouse is up: the canvas sends the drawing now
        answers(page)
        answered = time.perf_counter()
        page.runs.wait_after((0, 0))  # the first run and the stroke's are over
    except BaseException:
        server.stop()
        raise
    times = {"health": healthy - server.started, "canvas": shown - server.started,
             "answer": answered - server.started, "stroke": answered - stroke}
    return server, page, times


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
            draw(page, stroke)
            start = time.perf_counter()
            read = answers(page)
            latencies.append(time.perf_counter() - start)
            runs.append(page.runs.wait_after(mark))
            requested.append(page.runs.requests[mark[0]] - start)
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


def run_seconds(runs: list[Run]) -> float:
    """The time the server spent running the script for one stroke."""
    return sum(run.seconds for run in runs)


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
    parser.add_argument("--seed", type=int, default=0,
                        help="seed for the digits' sizes and places (default: 0)")
    args = parser.parse_args()
    if args.starts < 1 or args.drawings < 1 or args.window < 1:
        parser.error("--starts, --drawings and --window must be positive")

    folder = checkpoints.weights_dir(args.weights)
    env = {**os.environ, checkpoints.WEIGHTS_ENV: str(folder)}
    about = machine()
    server = page = None
    with chromium() as browser:
        try:
            starts = []
            for n in range(args.starts):
                if server is not None:
                    page.close()
                    server.stop()
                server, page, times = start_and_answer(browser, env,
                                                       DRAWN_DIGITS[n % len(DRAWN_DIGITS)])
                starts.append(times)
                print(f"start {n + 1}: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()),
                      file=sys.stderr)
            first_rss = server.rss_bytes()
            latencies, requested, runs, rss, correct = drawings(
                page, server, args.drawings, args.seed, args.samples)
        finally:
            if server is not None:
                server.stop()

    window = min(args.window, args.drawings)
    before_window = rss[-window - 1] if window < len(rss) else first_rss
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
        (f"Stroke's end to answer, next {args.drawings} drawings (median / 90th percentile)",
         f"{statistics.median(latencies):.2f} s / {np.percentile(latencies, 90):.2f} s"),
        (f"Stroke's end to the canvas's rerun request, next {args.drawings} drawings (median)",
         f"{statistics.median(requested):.2f} s"),
        (f"Script run per stroke, next {args.drawings} drawings (median / 90th percentile)",
         f"{statistics.median(map(run_seconds, runs)):.3f} s / "
         f"{np.percentile(list(map(run_seconds, runs)), 90):.3f} s"),
        ("Elements a stroke's run sends (median)",
         f"{statistics.median(sum(run.deltas for run in stroke) for stroke in runs):.0f}"),
        ("Strokes that reran one fragment only",
         f"{sum(all(run.fragment for run in stroke) for stroke in runs)} of {len(runs)}"),
        ("Server RSS after the first answer", f"{first_rss / MB:.0f} MB"),
        (f"Server RSS after {args.drawings} more drawings", f"{rss[-1] / MB:.0f} MB"),
        (f"RSS growth over the last {window} drawings",
         f"{(rss[-1] - before_window) / MB:+.1f} MB "
         f"({(rss[-1] - before_window) / window / 1024:+.0f} kB a drawing)"),
        (f"Answers naming the drawn digit, of {args.drawings}",
         ", ".join(f"{model} {correct[model]}" for model in MODELS)),
    ]
    print("| Measure | Value |\n|---|---|")
    for measure, value in rows:
        print(f"| {measure} | {value} |")


if __name__ == "__main__":
    main()
