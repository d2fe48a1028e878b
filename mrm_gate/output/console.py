"""The one place the CLI builds a rich Console (tables, the terminal report, progress bars).

On a terminal rich measures the window. Without one (CI logs, pipes, `> file`) rich would fall
back to 80 columns and fold every table into an unreadable column of fragments, so the width is
`COLUMNS` when set (as rich and most tools read it), else `WIDE` — log viewers scroll sideways,
they do not re-wrap. `NO_COLOR`/`FORCE_COLOR` keep working (rich reads them).
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any

WIDE = 200


def width_for(stream: IO[str] | None, environ: dict[str, str] | None = None) -> int | None:
    """The width to lay out for `stream`: `COLUMNS` if set to a positive number, else None
    (let rich measure) on a terminal, else `WIDE`."""
    env = os.environ if environ is None else environ
    columns = (env.get("COLUMNS") or "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        tty = bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError, OSError):
        tty = False
    return None if tty else WIDE


def make_console(*, stderr: bool = False, file: IO[str] | None = None, width: int | None = None,
                 **kwargs: Any) -> Any:
    """A rich Console for the CLI: stdout (or stderr, or `file`), at `width` when given, else
    the width `width_for` picks. A `file` other than stdout/stderr gets no colour."""
    from rich.console import Console

    stream = file if file is not None else (sys.stderr if stderr else sys.stdout)
    if width is None:
        width = width_for(stream)
    if file is not None:
        kwargs.setdefault("no_color", True)
        kwargs.setdefault("force_terminal", False)
        return Console(file=file, width=width, **kwargs)
    return Console(stderr=stderr, width=width, **kwargs)
