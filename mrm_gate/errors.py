"""Error types.

User errors (a bad policy, a bad flag, missing evidence) are distinct from internal errors, so the
CLI can map them to exit code 2 versus 3 and never show a traceback for the former (sqlfluff's
split between user and internal errors). Control failures are not exceptions at all: they are
`CheckResult`s with status FAIL or ERROR.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ErrorItem:
    """One problem found in a user-supplied file, with where it is and what to do."""

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    path: str | None = None  # dotted field path, e.g. tiers.high.controls[2].params.min
    hint: str | None = None

    def render(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        text = f"{where}{self.path + ': ' if self.path else ''}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class MrmGateError(Exception):
    """Base class of every error the CLI reports without a traceback."""

    exit_code = 2


@dataclass
class UserError(MrmGateError):
    """A problem the user can fix: bad policy, bad waiver, bad flag, missing file."""

    message: str
    items: list[ErrorItem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        if not self.items:
            return self.message
        return self.message + "\n" + "\n".join("  " + item.render() for item in self.items)


class PolicyError(UserError):
    """The policy (or a waivers file) is unreadable or invalid."""


class EvidenceError(UserError):
    """Evidence could not be collected: unreachable server, missing model, unreadable artifact.

    The engine turns this into a BLOCK (fail closed) when it happens during evaluation.
    """


class CheckError(Exception):
    """Raised inside a check for a condition that makes the control ERROR (not FAIL).

    The message is shown to the user as the control's message, so it must say what was wrong
    and what to do.
    """
