"""How messages name files: relative to the project, never by the server's absolute path.

A message about a missing or damaged file reaches visitors of the page, so it names the file
as the project's own layout does (`capsnet/weights/multimnist_cnn.json`), or, for a folder
given by `$CAPSNET_WEIGHTS` outside the project, as `$CAPSNET_WEIGHTS/multimnist_cnn.json`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]  # the checkout: capsnet/ and train.py
WEIGHTS_ENV = "CAPSNET_WEIGHTS"  # environment variable naming another weights folder
_ABSOLUTE = re.compile(r"(?<![\w.])/(?:[\w.\-+~]+/)*[\w.\-+~]+")  # a POSIX path from the root


def shown(path: str | os.PathLike) -> str:
    """A file's name for a message: relative to the project where it lies inside it, else
    to `$CAPSNET_WEIGHTS`, else its own name alone."""
    real = Path(path).absolute().resolve()
    bases = [(PROJECT, "")]
    if os.environ.get(WEIGHTS_ENV):
        bases.append((Path(os.environ[WEIGHTS_ENV]).absolute().resolve(), f"${WEIGHTS_ENV}/"))
    for base, prefix in bases:
        if real.is_relative_to(base):
            return prefix + real.relative_to(base).as_posix()
    return real.name


def without_paths(text: str) -> str:
    """`text` with every absolute path in it replaced as `shown` names it (for the messages
    of errors raised by libraries, which name the files they opened)."""
    return _ABSOLUTE.sub(lambda match: shown(match.group(0)), text)
