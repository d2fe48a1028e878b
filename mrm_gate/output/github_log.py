"""What reaches a GitHub Actions runner's log: workflow commands we build, and nothing else.

The runner reads every line a step writes to stdout **and** stderr (a line ends at `\\n`, `\\r`
or `\\r\\n`) and runs it as a workflow command when, after leading whitespace, it starts with
`::name ...::` (`::add-mask::`, `::stop-commands::`, `::error::`, ...), or when it contains the
legacy form `##[name ...]` anywhere. A model name with a line break, printed verbatim in a
report, is therefore a command injection: it can mask text, stop command processing (hiding
every later annotation) or forge annotations.

So in the GitHub channel:

- a workflow command is built by `github.command` (message and properties escaped as the
  runner unescapes them) and emitted with `emit_command`, the only way a line may start with
  `::`;
- everything else is plain text, and `plain_log` neutralises it line by line: a line that would
  start a command gets its first `:` written `%3A`, and `##[` is written `##%5B` (the escapes
  the runner itself uses, so the log still reads);
- `guard_output()` wraps `sys.stdout` and `sys.stderr` for the whole run, so text printed by any
  code (the evaluation's terminal report, an error message, a library's warning) goes through
  `plain_log` too. Output written below Python (a subprocess, a C library) is not covered.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from collections.abc import Iterator
from typing import IO

_LINE_END = re.compile(r"\r\n|\r|\n")
# `::` after optional leading whitespace: the runner's TrimStart() + StartsWith("::").
_V2_START = re.compile(r"^(\s*):")
# A workflow command we built: `::name` then optional ` props`, then `::`, then the data.
_COMMAND_HEAD = re.compile(r"^::([A-Za-z][A-Za-z0-9_-]*)(?: ([^:\r\n]*))?::")


class WorkflowCommand(str):
    """A workflow command line built by `github.command` (escaped there): the only text that
    `emit_command` prints as a command. Concatenating it gives a plain `str` again."""


# Commands the CI driver writes by hand around each model (`::group::mrm-gate evaluate <label>`);
# their data part is escaped by `command_line`.
HAND_BUILT = ("::group::mrm-gate ", "::endgroup::")


def is_trusted_command(line: object) -> bool:
    return isinstance(line, WorkflowCommand) or (
        isinstance(line, str) and line.startswith(HAND_BUILT))


def plain_log(text: str) -> str:
    """`text` (any number of lines) such that no line of it is a workflow command."""
    lines = _LINE_END.split(text)
    ends = _LINE_END.findall(text)
    out = []
    for i, line in enumerate(lines):
        line = line.replace("##[", "##%5B")
        if line.lstrip().startswith("::"):
            line = _V2_START.sub(r"\1%3A", line, count=1)
        out.append(line + (ends[i] if i < len(ends) else ""))
    return "".join(out)


def command_line(line: str) -> str:
    """A workflow command we built, made safe to print as one line.

    `github.command` already escapes its message and properties; a line built by hand
    (`::group::evaluate <folder>`) may hold a line break from data, so the data part is escaped
    the same way. Anything that is not `::name[ props]::data` is printed as plain text."""
    from .github import escape_data

    m = _COMMAND_HEAD.match(line)
    if not m:
        return plain_log(line)
    data = line[m.end():]
    if "\r" in data or "\n" in data:
        data = escape_data(data)
    return m.group(0) + data


class CommandGuard(io.TextIOBase):
    """A text stream that passes lines through `plain_log` before they reach `stream`.

    Lines are held until they end (a command can only be recognised on a whole line), and
    written on `flush_pending`, on `close`, or when they grow past `MAX_PENDING` characters
    (then the rest of that line cannot start a command: it is not at the start of a line).
    """

    MAX_PENDING = 65536

    def __init__(self, stream: IO[str]) -> None:
        super().__init__()
        self.stream = stream
        self._pending = ""
        self._mid_line = False  # part of the current line was already written

    # io.TextIOBase API used by print(), click.echo and rich
    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.stream, "errors", None)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, s: str) -> int:
        text = self._pending + s
        last = max(text.rfind("\n"), text.rfind("\r"))
        if last >= 0 and not (text[last] == "\r" and last == len(text) - 1):
            complete, self._pending = text[:last + 1], text[last + 1:]
            self._write(complete)
            self._mid_line = False
        else:
            self._pending = text
        if len(self._pending) > self.MAX_PENDING:
            self._write(self._pending)
            self._pending, self._mid_line = "", True
        return len(s)

    def _write(self, text: str) -> None:
        if self._mid_line:  # continues a line already started: only `##[` can matter
            head, sep, rest = text.partition("\n")
            self.stream.write(head.replace("##[", "##%5B") + sep + plain_log(rest))
        else:
            self.stream.write(plain_log(text))

    def flush_pending(self) -> None:
        """Write a held partial line and end it, so that what follows starts a line."""
        if self._pending:
            self._write(self._pending + "\n")
            self._pending = ""
        elif self._mid_line:
            self.stream.write("\n")
        self._mid_line = False

    def flush(self) -> None:
        self.stream.flush()

    def command(self, line: str) -> None:
        """Write one workflow command we built, on a line of its own."""
        self.flush_pending()
        self.stream.write(command_line(line) + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.flush_pending()
        self.flush()


def emit_command(line: str) -> None:
    """Print a workflow command we built (through the guard when one is installed)."""
    out = sys.stdout
    if isinstance(out, CommandGuard):
        out.command(line)
    else:
        out.write(command_line(line) + "\n")
        out.flush()


def emit_text(text: str) -> None:
    """Print plain text (lines from evidence or decisions): never a workflow command."""
    out = sys.stdout
    out.write(plain_log(text) + ("" if text.endswith("\n") else "\n"))
    out.flush()


@contextlib.contextmanager
def guard_output() -> Iterator[None]:
    """Route `sys.stdout` and `sys.stderr` through a `CommandGuard` while the block runs."""
    old_out, old_err = sys.stdout, sys.stderr
    out, err = CommandGuard(old_out), CommandGuard(old_err)
    sys.stdout, sys.stderr = out, err
    try:
        yield
    finally:
        sys.stdout, sys.stderr = old_out, old_err
        for guard in (out, err):
            with contextlib.suppress(Exception):
                guard.close()
