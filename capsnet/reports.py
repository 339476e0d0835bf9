"""Measured reports stored as JSON beside the code (robustness, routing iterations)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the project: reports are named from here


def shown_path(path: str | os.PathLike) -> str:
    """A file's name for a message a visitor may read: relative to the project where it lies
    inside it (`capsnet/assets/routing.json`), else the file's name alone, never the server's
    folders."""
    path = Path(path).resolve()
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return path.name


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
        raise error(f"The {what} {shown_path(path)} is unreadable: {problem}") from problem
    return report
