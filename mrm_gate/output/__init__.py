"""Renderers: one module per format, each a pure function `render(decision) -> str`.

An unknown format is an error, never a silent fallback.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from ..decision import Decision
from ..errors import UserError

# format -> ("module:function", file extension)
RENDERERS: dict[str, tuple[str, str]] = {
    "text": ("mrm_gate.output.text:render", "txt"),
    "json": ("mrm_gate.output.jsonfmt:render", "json"),
    "markdown": ("mrm_gate.output.markdown:render", "md"),
    "html": ("mrm_gate.output.html:render", "html"),
    "sarif": ("mrm_gate.output.sarif:render", "sarif"),
    "junit": ("mrm_gate.output.junit:render", "junit.xml"),
}


def parse_formats(spec: str) -> list[str]:
    formats = [f.strip().lower() for f in spec.split(",") if f.strip()]
    unknown = [f for f in formats if f not in RENDERERS]
    if unknown:
        raise UserError(f"unknown output format(s) {', '.join(unknown)}; "
                        f"choose from {', '.join(RENDERERS)}")
    if not formats:
        raise UserError("no output format given")
    return list(dict.fromkeys(formats))


def render(decision: Decision, fmt: str) -> str:
    if fmt not in RENDERERS:
        raise UserError(f"unknown output format {fmt!r}; choose from {', '.join(RENDERERS)}")
    target, _ext = RENDERERS[fmt]
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)(decision)


def report_stem(decision: Decision) -> str:
    """A file name stem unique to the decision, so no earlier report is overwritten."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", decision.model.name)
    version = f"-v{decision.model.version}" if decision.model.version else ""
    return f"{name}{version}-{decision.id[:8]}"


def write_reports(decision: Decision, formats: list[str], out_dir: str | Path) -> list[Path]:
    """Render every format first, then write them (no partial output on a render error)."""
    rendered = [(fmt, render(decision, fmt)) for fmt in formats]
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create report folder {out}: {exc.strerror}") from None
    paths = []
    for fmt, text in rendered:
        path = out / f"{report_stem(decision)}.{RENDERERS[fmt][1]}"
        with path.open("x", encoding="utf-8") as fh:  # "x": never overwrite
            fh.write(text)
        paths.append(path)
    return paths
