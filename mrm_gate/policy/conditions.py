"""Evaluation of declarative predicates (tiering rules) against evidence. No eval, ever."""

from __future__ import annotations

import math
import re
from typing import Any

from ..evidence.model import Evidence
from .model import Predicate

FIELD_SELECTORS = frozenset(
    {"name", "version", "description", "registered_model_description", "source", "run_id",
     "creator", "stage"}
)


def lookup(evidence: Evidence, selector: str, name: str) -> Any:
    """The evidence value a selector names, or None when absent."""
    if selector == "tag":
        return evidence.model.tag(name)
    if selector == "param":
        return evidence.run.params.get(name)
    if selector == "metric":
        return evidence.run.metrics.get(name)
    if selector == "run_tag":
        return evidence.run.tags.get(name)
    if selector == "field":
        if name not in FIELD_SELECTORS:
            return None
        return getattr(evidence.model, name)
    raise ValueError(f"unknown selector {selector!r}")


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    try:
        f = float(str(v).replace("_", "").strip())
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _same(a: Any, b: Any) -> bool:
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None:
        return na == nb
    if isinstance(b, bool):
        return str(a).strip().lower() == str(b).lower()
    return str(a) == str(b)


def holds(pred: Predicate, evidence: Evidence) -> tuple[bool, str]:
    """Whether the predicate holds, and a one-line account of why (for the report)."""
    (sel, name), (op, expected) = pred.selector, pred.operator
    value = lookup(evidence, sel, name)
    shown = f"{sel} {name}={value!r}"
    if op == "exists":
        present = value is not None and str(value).strip() != ""
        return present == bool(expected), f"{shown} {'present' if present else 'absent'}"
    if value is None:
        return False, f"{sel} {name} is absent"
    if op == "equals":
        ok = _same(value, expected)
    elif op == "not_equals":
        ok = not _same(value, expected)
    elif op == "in":
        ok = any(_same(value, e) for e in expected)
    elif op == "not_in":
        ok = not any(_same(value, e) for e in expected)
    elif op == "matches":
        ok = re.search(expected, str(value)) is not None
    else:
        num = _number(value)
        if num is None:
            return False, f"{shown} is not a number"
        ok = {"gt": num > expected, "gte": num >= expected, "lt": num < expected,
              "lte": num <= expected}[op]
    return ok, f"{shown} {op} {expected!r}: {'yes' if ok else 'no'}"
