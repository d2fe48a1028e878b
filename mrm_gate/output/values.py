"""Formatting of measured values and thresholds, shared by the renderers."""

from __future__ import annotations

import math
from typing import Any


def fmt_value(v: Any, depth: int = 0) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        return f"{v:.4g}"
    if isinstance(v, dict):
        if depth > 1:
            return "{…}"
        return ", ".join(f"{k}={fmt_value(x, depth + 1)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        if not v:
            return "none"
        shown = [fmt_value(x, depth + 1) for x in v[:8]]
        return ", ".join(shown) + (f", … (+{len(v) - 8})" if len(v) > 8 else "")
    return str(v)


def table_rows(value: Any) -> tuple[list[str], list[list[str]]] | None:
    """A details value as a table (header, rows) when it is a list of mappings."""
    if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
        header: list[str] = []
        for r in value:
            for k in r:
                if k not in header:
                    header.append(k)
        return header, [[fmt_value(r.get(k)) for k in header] for r in value]
    if isinstance(value, dict) and value and all(isinstance(r, dict) for r in value.values()):
        header = ["name"]
        for r in value.values():
            for k in r:
                if k not in header:
                    header.append(k)
        return header, [[str(name)] + [fmt_value(r.get(k)) for k in header[1:]]
                        for name, r in value.items()]
    return None
