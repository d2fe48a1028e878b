"""Escaping for every output format, done once here (every value from evidence is hostile).

- XML (JUnit): characters XML 1.0 cannot carry even escaped (control characters, lone
  surrogates, U+FFFE/U+FFFF) are replaced; ElementTree escapes `<`, `&` and quotes itself.
- Markdown (reports, job summary, PR comment, policy diff/coverage): text that renders as
  itself, never as markup: no link, image, raw HTML, emphasis, code span or table cell break
  from data, and no @-mention (a PR comment would notify whoever a model name names).
- HTML: `html.escape` (quotes included) is re-exported so renderers import one module.
"""

from __future__ import annotations

import re
from html import escape as html_escape

__all__ = ["html_escape", "md_cell", "md_code", "md_text", "xml_clean"]

# Characters XML 1.0 cannot carry even escaped; a check message could contain any of them.
_INVALID_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_clean(text: object) -> str:
    """`text` with every character XML 1.0 forbids replaced by U+FFFD."""
    return _INVALID_XML.sub("\ufffd", str(text))


# Inline Markdown (CommonMark + GFM on GitHub) that data could start: emphasis, code spans, table
# cells, strikethrough, math; a link or image needs `](` or `][` (reference definitions need a
# line of their own, which inline text never gets); `<` only opens HTML before a letter, `/`,
# `!` or `?`, and `&` only makes an entity before a letter or `#`. Other punctuation is left as
# is, so ordinary names and messages (`auc 0.61 < min 0.7`, `[1.8, 10.4]`) read the same.
_MD_SPECIAL = re.compile(r"([\\`*_|~$]|\](?=[(\[]))")
_HTML_OPEN = re.compile(r"<(?=[A-Za-z/!?])")
_ENTITY = re.compile(r"&(?=[A-Za-z#])")
_MENTION = re.compile(r"(?<![A-Za-z0-9_`])@(?=[A-Za-z0-9])")
_LINE_BREAK = re.compile(r"\r\n|[\r\n\u2028\u2029\x0b\x0c\x85]")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


def md_text(text: object, *, newlines: str = " ") -> str:
    """Markdown that renders exactly as `text` (inline: line breaks become `newlines`).

    Backslash-escapes the punctuation that starts inline markup, writes a `<` that would open a
    tag and an `&` that would start an entity as entities (no raw HTML, no entity tricks), and
    breaks `@name` mentions with a zero-width space (as Dependabot does).
    """
    s = _CONTROL.sub("\ufffd", str(text))
    s = _ENTITY.sub("&amp;", s)
    s = _HTML_OPEN.sub("&lt;", s)
    s = _MD_SPECIAL.sub(r"\\\1", s)
    s = _MENTION.sub("@&#8203;", s)
    return _LINE_BREAK.sub(newlines, s)


def md_cell(text: object) -> str:
    """`md_text` for a table cell: one line."""
    return md_text(text, newlines=" ")


def md_code(text: object) -> str:
    """An inline code span holding `text` literally, safe in a table cell.

    The fence is longer than any run of backticks inside; `|` is escaped (GFM splits table
    cells before it parses code spans); line breaks become spaces.
    """
    s = _LINE_BREAK.sub(" ", _CONTROL.sub("\ufffd", str(text))).replace("|", "\\|")
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or not s.strip() else ""
    return f"{fence}{pad}{s}{pad}{fence}"


# C0 and C1 control characters except tab and newline: ANSI/OSC escape sequences from data must
# not reach a terminal (they can clear the screen, retitle the window or forge a hyperlink).
_TERMINAL_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _visible(m: re.Match[str]) -> str:
    ch = m.group(0)
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch)
    if named:
        return named
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"


def plain_line(text: object) -> str:
    """`text` on one line for a terminal or log: line breaks and control characters shown as
    escapes (`\\n`, `\\x1b`), so a model name cannot add lines or drive the terminal."""
    return re.sub(r"[\n\r\t]|" + _TERMINAL_CONTROL.pattern, _visible, str(text))


def plain_text(text: object) -> str:
    """`text` for a terminal or log, newlines kept, other control characters shown as escapes."""
    return _TERMINAL_CONTROL.sub(_visible, str(text))
