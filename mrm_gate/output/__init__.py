"""Renderers: one module per format, one pure function per result type, one dispatch.

`render(result, fmt)` renders any result the gate produces — a `Decision`, a policy-test
`SuiteResult`, a `PolicyDiff`, a `CoverageReport`, a gap-risk `GapRiskReport` or
`PortfolioRisk`, a model-card `CardPlan` — in any format that result type offers. The format
modules (`text`, `jsonfmt`, `markdown`, `html`, `junit`, `tap`, `sarif`, `yamlfmt`) hold one
function per result type, named after it (`markdown.policy_diff`, `junit.policy_tests`, ...);
computation stays in its own module (the policy diff, coverage and risk modules compute, these
render). Escaping is done once, in `escape.py`. An unknown format is an error, never a silent
fallback. Modules are imported only when a format is rendered, so `mrm-gate --help` stays light.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from ..errors import UserError
from .files import ensure_folder, inside, safe_component, write_new_file

__all__ = ["FORMATS", "RENDERERS", "RESULT_TYPES", "formats_for", "parse_formats", "render",
           "report_stem", "write_new_file", "write_reports"]

# Result types, by "module.Class" (no import needed to dispatch) -> result kind.
RESULT_TYPES: dict[str, str] = {
    "mrm_gate.decision.Decision": "decision",
    "mrm_gate.policy_tests.SuiteResult": "policy_tests",
    "mrm_gate.policy.diff.PolicyDiff": "policy_diff",
    "mrm_gate.policy.coverage.CoverageReport": "coverage",
    "mrm_gate.risk._analysis.GapRiskReport": "risk",
    "mrm_gate.risk._aggregate.PortfolioRisk": "portfolio",
    "mrm_gate.card.CardPlan": "card",
}

_M = "mrm_gate.output."
# result kind -> format -> "module:function" (the function takes the result, plus options).
FORMATS: dict[str, dict[str, str]] = {
    "decision": {"text": _M + "text:decision", "json": _M + "jsonfmt:decision",
                 "markdown": _M + "markdown:decision", "html": _M + "html:decision",
                 "sarif": _M + "sarif:decision", "junit": _M + "junit:decision"},
    "policy_tests": {"tap": _M + "tap:policy_tests", "junit": _M + "junit:policy_tests",
                     "json": _M + "jsonfmt:policy_tests"},
    "policy_diff": {"text": _M + "text:policy_diff", "markdown": _M + "markdown:policy_diff",
                    "json": _M + "jsonfmt:policy_diff"},
    "coverage": {"text": _M + "text:coverage", "markdown": _M + "markdown:coverage",
                 "json": _M + "jsonfmt:coverage"},
    "risk": {"text": _M + "text:risk", "json": _M + "jsonfmt:risk", "html": _M + "html:risk"},
    "portfolio": {"text": _M + "text:portfolio", "json": _M + "jsonfmt:portfolio",
                  "html": _M + "html:portfolio"},
    "card": {"markdown": _M + "markdown:card", "yaml": _M + "yamlfmt:card"},
}

# Decision formats -> ("module:function", report file extension), for `evaluate --format`.
EXTENSIONS = {"text": "txt", "json": "json", "markdown": "md", "html": "html", "sarif": "sarif",
              "junit": "junit.xml"}
RENDERERS: dict[str, tuple[str, str]] = {
    fmt: (target, EXTENSIONS[fmt]) for fmt, target in FORMATS["decision"].items()}


def result_kind(result: Any) -> str:
    """The kind of `result` (its class or a base class is registered), else a TypeError."""
    for cls in type(result).__mro__:
        kind = RESULT_TYPES.get(f"{cls.__module__}.{cls.__qualname__}")
        if kind:
            return kind
    raise TypeError(f"no renderer for {type(result).__name__}")


def formats_for(result_or_kind: Any) -> list[str]:
    kind = result_or_kind if isinstance(result_or_kind, str) else result_kind(result_or_kind)
    return list(FORMATS[kind])


def render(result: Any, fmt: str, **options: Any) -> str:
    """`result` rendered in `fmt`; an unknown format is a UserError naming the choices."""
    kind = result_kind(result)
    table = FORMATS[kind]
    if fmt not in table:
        raise UserError(f"unknown output format {fmt!r} for a {kind.replace('_', ' ')}; "
                        f"choose from {', '.join(table)}")
    module, func = table[fmt].split(":")
    return getattr(importlib.import_module(module), func)(result, **options)


def parse_formats(spec: str) -> list[str]:
    formats = [f.strip().lower() for f in spec.split(",") if f.strip()]
    unknown = [f for f in formats if f not in RENDERERS]
    if unknown:
        raise UserError(f"unknown output format(s) {', '.join(unknown)}; "
                        f"choose from {', '.join(RENDERERS)}")
    if not formats:
        raise UserError("no output format given")
    return list(dict.fromkeys(formats))


def report_stem(decision: Any) -> str:
    """A file name stem unique to the decision, so no earlier report is overwritten.

    Every part comes through `safe_component`: a model name or version from evidence is data,
    never a path (`3/../../x` gives `3_.._.._x-<hash>`, not a folder outside --output).
    """
    version = decision.model.version
    version_part = f"-v{safe_component(version)}" if version else ""
    return (f"{safe_component(decision.model.name, fallback='model')}{version_part}"
            f"-{safe_component(str(decision.id)[:8], fallback='decision')}")


def write_reports(decision: Any, formats: list[str], out_dir: str | Path) -> list[Path]:
    """Render every format first, then write them (no partial output on a render error).

    Each file is created inside `out_dir` (checked after resolving symlinks) and never
    replaces an existing one.
    """
    rendered = [(fmt, render(decision, fmt)) for fmt in formats]
    out = ensure_folder(out_dir)
    stem = report_stem(decision)
    return [write_new_file(inside(out, f"{stem}.{RENDERERS[fmt][1]}"), text)
            for fmt, text in rendered]
