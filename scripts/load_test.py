"""Many visitors at once: concurrent sessions analysing drawings through one shared `Lab`.

The page loads one `Lab` per process (`st.cache_resource`) and every visitor's session calls it
from its own thread. This runs `--sessions` threads at once, each analysing `--analyses`
drawings the way the page does for a new drawing (`preprocess`, then `lab.analyze`; the page's
own cache of analyses is bypassed, so every call computes). The drawings are committed MNIST
test digits drawn into canvas-sized images, white ink on a clear sheet, as the canvas hands
them over.

It checks that no call fails and that every result is the one the same drawing gives when
analysed alone (capsule lengths, capsules, reconstruction and CNN probabilities within
1e-6), and reports the analyses per second, each call's latency (waiting for the shared
models included: the `Lab` runs one call at a time) and the process's resident memory
(VmRSS) before and after each round. Run from the project's root:

    python scripts/load_test.py                          # 20 sessions x 50 analyses
    python scripts/load_test.py --sessions 40 --analyses 25 --rounds 3

Prints a Markdown table, one row per round; exits with status 1 on any error or mismatch.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from capsnet import checkpoints  # noqa: E402
from capsnet.benchmark import canvas_drawing  # noqa: E402
from capsnet.inference import Analysis, Lab  # noqa: E402
from capsnet.preprocess import preprocess  # noqa: E402
from capsnet.samples import load_sample  # noqa: E402
from capsnet.training import cpu_model  # noqa: E402

SESSIONS = 20  # visitors drawing at the same moment
ANALYSES = 50  # drawings each: 20 x 50 = 1,000 analyses per round
DRAWINGS = 100  # distinct drawings, shared out so that sessions overlap on some
TOLERANCE = 1e-6  # the largest difference from the one-by-one result that counts as identical
FIELDS = ("cnn_probabilities", "capsnet_lengths", "capsules", "reconstruction")


@dataclass
class Round:
    """What one round of concurrent sessions measured."""

    sessions: int
    analyses: int
    errors: list[str] = field(default_factory=list)
    mismatches: int = 0
    largest_difference: float = 0.0
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    rss_before: float | None = None
    rss_after: float | None = None


def rss_mebibytes() -> float | None:
    """This process's resident memory (VmRSS in /proc/self/status), in MiB; None elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024  # the line reads "VmRSS:   123456 kB"
    except (OSError, ValueError, IndexError):
        pass
    return None


def drawings(count: int = DRAWINGS) -> list[np.ndarray]:
    """Canvas-sized RGBA drawings of committed MNIST test digits."""
    sample = load_sample()
    return [canvas_drawing(sample.images[i % len(sample)]) for i in range(count)]


def analyse(lab: Lab, drawing: np.ndarray) -> Analysis:
    """What the page does with a new drawing, its cache aside."""
    return lab.analyze(preprocess(drawing, ink="light").image)


def difference(a: Analysis, b: Analysis) -> float:
    return max(float(np.max(np.abs(getattr(a, name) - getattr(b, name)))) for name in FIELDS)


def run_round(lab: Lab, inputs: list[np.ndarray], expected: list[Analysis], sessions: int,
              analyses: int) -> Round:
    """`sessions` threads at once, each analysing `analyses` of the inputs in its own order."""
    result = Round(sessions, sessions * analyses)
    lock = threading.Lock()
    start = threading.Barrier(sessions)

    def session(number: int) -> None:
        order = [(number * analyses + step) % len(inputs) for step in range(analyses)]
        start.wait()  # every session begins at the same moment
        for index in order:
            began = time.perf_counter()
            try:
                got = analyse(lab, inputs[index])
            except Exception as error:  # any failure is counted and reported, not raised
                with lock:
                    result.errors.append(f"{type(error).__name__}: {error}")
                continue
            seconds = time.perf_counter() - began
            gap = difference(got, expected[index])
            with lock:
                result.latencies.append(seconds)
                result.largest_difference = max(result.largest_difference, gap)
                result.mismatches += gap > TOLERANCE

    result.rss_before = rss_mebibytes()
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=sessions) as pool:
        for future in [pool.submit(session, number) for number in range(sessions)]:
            future.result()
    result.seconds = time.perf_counter() - began
    result.rss_after = rss_mebibytes()
    return result


def load_test(lab: Lab, sessions: int = SESSIONS, analyses: int = ANALYSES, rounds: int = 1,
              inputs: list[np.ndarray] | None = None) -> list[Round]:
    """Analyses the inputs one by one, then in `rounds` rounds of concurrent sessions."""
    inputs = drawings() if inputs is None else inputs
    analyse(lab, inputs[0])  # warm-up: TensorFlow builds its functions on the first call
    expected = [analyse(lab, drawing) for drawing in inputs]
    return [run_round(lab, inputs, expected, sessions, analyses) for _ in range(rounds)]


def _milliseconds(values: list[float], quantile: float) -> str:
    if not values:
        return "-"
    return f"{1e3 * float(np.quantile(values, quantile)):.0f}"


def _mebibytes(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.0f}"


def table(results: list[Round]) -> str:
    """The rounds as a Markdown table."""
    lines = ["| Round | Sessions | Analyses | Errors | Mismatches | Analyses/s "
             "| Median latency (ms) | p95 latency (ms) | RSS before (MiB) | RSS after (MiB) "
             "| Growth (MiB) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for number, result in enumerate(results, start=1):
        growth = (None if result.rss_before is None or result.rss_after is None
                  else result.rss_after - result.rss_before)
        lines.append(
            f"| {number} | {result.sessions} | {result.analyses} | {len(result.errors)} "
            f"| {result.mismatches} | {len(result.latencies) / result.seconds:.1f} "
            f"| {_milliseconds(result.latencies, 0.5)} "
            f"| {_milliseconds(result.latencies, 0.95)} | {_mebibytes(result.rss_before)} "
            f"| {_mebibytes(result.rss_after)} "
            f"| {'unknown' if growth is None else f'{growth:+.0f}'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=SESSIONS,
                        help=f"concurrent sessions, one thread each (default: {SESSIONS})")
    parser.add_argument("--analyses", type=int, default=ANALYSES,
                        help=f"analyses per session and round (default: {ANALYSES})")
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds of concurrent sessions; memory is read before and after "
                             "each (default: 1)")
    parser.add_argument("--weights", type=Path, default=None,
                        help=checkpoints.WEIGHTS_HELP)
    args = parser.parse_args()
    for name in ("sessions", "analyses", "rounds"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name} must be positive. Received: {getattr(args, name)}")

    try:
        lab = Lab.load(args.weights)
    except checkpoints.WeightsError as error:
        parser.exit(2, f"error: {error}\n")
    started = time.perf_counter()
    results = load_test(lab, args.sessions, args.analyses, args.rounds)
    seconds = time.perf_counter() - started

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"CPU: {cpu_model()}, {cores} cores; Python {platform.python_version()}; weights: "
          f"{checkpoints.weights_dir(args.weights)}; {seconds:.0f} s in all.")
    print(f"A result is identical when within {TOLERANCE:g} of the same drawing's result "
          "analysed alone; the largest difference seen: "
          f"{max(r.largest_difference for r in results):.1e}.")
    print()
    print(table(results))
    failures = [error for result in results for error in result.errors]
    for error in sorted(set(failures))[:5]:
        print(f"error: {error}", file=sys.stderr)
    if failures or any(result.mismatches for result in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
