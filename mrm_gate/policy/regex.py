"""Regular expressions from policies and evidence, matched in linear time (RE2).

Python's `re` backtracks: `matches: '^(a+)+$'` against a tag of 40 `a`s and one `b` runs for
minutes, so a policy (or a tag crafted against a policy) could hang the gate. RE2 guarantees
time linear in the input and refuses what it cannot do in linear time (backreferences,
lookaround); such a pattern is a policy error at load time, never a slow match at evaluation.
Every regex compiled from policy or evidence data goes through `compile_pattern`.

RE2 syntax is Python's for everything common (classes, `(?i)`, `(?P<name>...)`, `\\d`, `\\b`);
`\\Z` is written `\\z`.
"""

from __future__ import annotations

import functools
from typing import Any

MAX_PATTERN_CHARS = 10_000


class PatternError(ValueError):
    """A pattern RE2 cannot compile; the message says why and what to do."""


def _options() -> Any:
    import re2

    opts = re2.Options()
    opts.log_errors = False  # RE2 would print its parse error to stderr
    return opts


@functools.lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> Any:
    """The compiled RE2 pattern, or PatternError naming the construct RE2 refused."""
    import re2

    if not isinstance(pattern, str):
        raise PatternError(f"a regular expression must be text, got {type(pattern).__name__}")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternError(f"regular expression of {len(pattern)} characters is longer than "
                           f"{MAX_PATTERN_CHARS}")
    try:
        return re2.compile(pattern, _options())
    except re2.error as exc:
        why = exc.args[0] if exc.args else exc
        if isinstance(why, bytes):
            why = why.decode("utf-8", "replace")
        hint = ""
        if "perl operator" in str(why) or "escape sequence: \\" in str(why):
            hint = (" (RE2 matches in linear time and has no backreferences or lookaround; "
                    "rewrite the pattern without them)")
        raise PatternError(f"invalid regular expression {pattern!r}: {why}{hint}") from None
    except UnicodeEncodeError:
        raise PatternError(f"regular expression {pattern!r} is not valid Unicode") from None


def search(pattern: str, text: str) -> bool:
    """Whether `pattern` matches anywhere in `text` (linear time in len(text))."""
    compiled = compile_pattern(pattern)
    safe = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates -> '?'
    return compiled.search(safe) is not None
