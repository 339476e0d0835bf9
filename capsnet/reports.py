"""Measured reports stored as JSON beside the code (robustness, routing iterations)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from capsnet.paths import shown, without_paths


def load(path: str | os.PathLike, check: Callable[[dict], None],
         error: type[Exception], what: str) -> dict | None:
    """The report at `path`, or None where there is none.

    Args:
        check: raises ValueError, KeyError or TypeError where the report's layout is wrong.
        error: the exception raised, with a message naming `what`, for an unreadable file
            or a wrong layout.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        report = json.loads(path.read_text())
        check(report)
    except (OSError, ValueError, KeyError, TypeError) as problem:
        raise error(f"The {what} {shown(path)} is unreadable: "
                    f"{without_paths(str(problem))}") from problem
    return report
