"""Keep TensorFlow's native start-up lines off stderr, and nothing else.

When TensorFlow's shared libraries load (on `import keras` with the TensorFlow backend),
their C++ code writes notes straight to file descriptor 2, before absl logging starts:

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:... port.cc:153] oneDNN custom operations are on. You may see slightly ...
    I0000 00:00:... cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use ...

No environment variable silences these while keeping oneDNN on: `TF_CPP_MIN_LOG_LEVEL`
(even 3), `GLOG_minloglevel`, `ABSL_MIN_LOG_LEVEL`, `TF_CPP_MAX_VLOG_LEVEL` and
`ABSL_STDERRTHRESHOLD` leave the oneDNN notice (measured with TensorFlow 2.21), and only
`TF_ENABLE_ONEDNN_OPTS=0` drops it, by turning oneDNN off. So `filtered_stderr` sends
file descriptor 2 through a filter while the libraries load: the lines that match
`STARTUP_NOISE` are dropped, every other line (an import error, a traceback, the
program's own messages) reaches the real stderr unchanged and in order.

The filter runs in a small child process rather than a thread: a native crash during the
import (say TensorFlow's fatal "compiled to use AVX instructions" message followed by
abort()) would kill a thread before it passed the message on, while the child still
reads the message and forwards it when the pipe closes.

Usage, at a command line's start, before anything else imports Keras:

    keras = quiet.import_keras()

This module imports neither Keras nor TensorFlow itself, so the JAX backend
(KERAS_BACKEND=jax) loads as it always does.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from types import ModuleType

# Each alternative is one kind of line that TensorFlow (or XLA) writes while it loads,
# after a log prefix (absl's since TensorFlow 2.16, the older one before) or alone.
STARTUP_NOISE = re.compile(
    r"^(?:[IWEF]\d{4} [\d:.]+\s+\d+ [\w./-]+:\d+\] "  # absl: I0000 00:00:17... 2706 port.cc:153]
    r"|\d{4}-\d\d-\d\d [\d:.]+: [IWEF] [\w./-]+:\d+\] )?(?:"  # older: 2024-... I tensorflow/...]
    r"WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|oneDNN custom operations are on"
    r"|This TensorFlow binary is optimized to use available CPU instructions"
    r"|To enable the following instructions: .* rebuild TensorFlow"
    r"|Unable to register cu(?:DNN|FFT|BLAS) factory"
    r"|computation placer already registered"
    r"|TF-TRT Warning: Could not find TensorRT"
    r"|Could not find cuda drivers on your machine, GPU will not be used"
    r")"
)

# The child's program: copy stdin to stdout line by line, without the lines that match.
_FILTER = """\
import re, sys
noise = re.compile(sys.argv[1])
out = sys.stdout.buffer
for line in sys.stdin.buffer:
    if not noise.match(line.decode("utf-8", "replace")):
        out.write(line)
        out.flush()
"""
_FILTER_WAIT_S = 10  # for the child to pass on what is left once the block has ended


def is_startup_noise(line: str) -> bool:
    """Whether a stderr line is one of TensorFlow's native start-up notes."""
    return STARTUP_NOISE.match(line) is not None


@contextlib.contextmanager
def filtered_stderr(noise: re.Pattern[str] = STARTUP_NOISE) -> Iterator[None]:
    """Within the block, drop the lines written to file descriptor 2 that match `noise`.

    Everything else written to file descriptor 2 in the block, by Python or by native
    code, reaches the real stderr, in order, by the time the block ends. Where the
    filter cannot be set up (no file descriptor 2, no way to start a process) the block
    runs with stderr untouched.
    """
    real, child = _start_filter(noise)
    if child is None:
        yield
        return
    try:
        yield
    finally:
        _flush_stderr()
        os.dup2(real, 2)  # closes the pipe's last write end: the child reads to its end
        os.close(real)
        try:
            child.wait(timeout=_FILTER_WAIT_S)
        except subprocess.TimeoutExpired:  # a process started in the block holds the pipe
            pass


def _start_filter(noise: re.Pattern[str]) -> tuple[int, subprocess.Popen | None]:
    """Point file descriptor 2 at a filter process; (a copy of the real fd 2, the filter)."""
    _flush_stderr()
    try:
        real = os.dup(2)
    except OSError:  # no stderr to filter
        return -1, None
    read_end, write_end = os.pipe()
    try:
        child = subprocess.Popen([sys.executable, "-I", "-S", "-c", _FILTER, noise.pattern],
                                 stdin=read_end, stdout=real, stderr=real)
    except OSError:
        os.close(write_end)
        os.close(real)
        return -1, None
    finally:
        os.close(read_end)
    os.dup2(write_end, 2)
    os.close(write_end)
    return real, child


def _flush_stderr() -> None:
    if sys.stderr is not None:
        sys.stderr.flush()


def import_keras() -> ModuleType:
    """Import Keras, and with it the backend's libraries, without their start-up notes.

    Also turns TensorFlow's own INFO and WARNING logs off for the rest of the run
    (TF_CPP_MIN_LOG_LEVEL=2, unless already set): errors still show.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "keras" in sys.modules:  # already loaded: its libraries have said what they say
        return sys.modules["keras"]
    with filtered_stderr():
        return importlib.import_module("keras")
