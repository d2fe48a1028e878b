"""Evaluation of declarative predicates (tiering rules) against evidence. No eval, ever.

Three outcomes, never a silent "false" for a value that is there but cannot be read:

- the condition holds, or does not (`Outcome.ok`);
- the value is **absent** (no such tag/param/metric, or blank text): the condition does not hold
  (`exists: false` is how a policy tests for absence) and `Outcome.absent` says so, so tiering
  can state in the report which rules did not apply for lack of input;
- the value is present but **unreadable** for the operator (`"25,000,000"`, `"inf"`, `true`
  against `gte`): `UnreadableInput` is raised; tiering turns it into a `TierError`, which blocks
  the evaluation. A materiality figure the gate cannot read must not lower the tier.

`matches` uses RE2 (linear time; see `regex.py`), so a tag cannot make a pattern hang the gate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..evidence.model import Evidence
from .model import Predicate
from .regex import search

FIELD_SELECTORS = frozenset(
    {"name", "version", "description", "registered_model_description", "source", "run_id",
     "creator", "stage"}
)
NUMERIC_OPERATORS = frozenset({"gt", "gte", "lt", "lte"})


class UnreadableInput(ValueError):
    """A condition's input is present but not what its operator needs (the gate blocks)."""

    def __init__(self, selector: str, name: str, shape: str, operator: str, expected: Any):
        self.selector, self.name, self.shape = selector, name, shape
        self.operator, self.expected = operator, expected
        super().__init__(
            f"{selector} {name!r} holds {shape}, but `{operator}: {expected!r}` needs a finite "
            "number; write a plain number (digits, optional '.', no thousands separators)"
        )


@dataclass(frozen=True)
class Outcome:
    ok: bool
    why: str
    absent: bool = False


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
    """A finite real number read from `v`, or None (booleans are not numbers)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        try:
            f = float(v)
        except OverflowError:
            return None
    else:
        try:
            f = float(str(v).replace("_", "").strip())
        except (TypeError, ValueError, OverflowError):
            return None
    return f if math.isfinite(f) else None


def value_shape(v: Any) -> str:
    """What kind of value `v` is, without quoting it (evidence is hostile; tags can be long)."""
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number that is not finite"
    text = str(v)
    try:
        f = float(text.replace("_", "").strip())
    except (ValueError, OverflowError):
        f = None
    if f is not None and not math.isfinite(f):
        return f"text of {len(text)} characters that reads as a non-finite number"
    kinds = []
    if any(c.isdigit() for c in text):
        kinds.append("digits")
    if any(c.isalpha() for c in text):
        kinds.append("letters")
    if any(c.isspace() for c in text.strip()):
        kinds.append("spaces")
    others = sorted({c for c in text if not (c.isalnum() or c.isspace())})
    if others:
        shown = [repr(c) if c.isascii() and c.isprintable() else f"U+{ord(c):04X}"
                 for c in others[:6]]
        kinds.append(" ".join(shown) + (" ..." if len(others) > 6 else ""))
    return f"text of {len(text)} characters ({', '.join(kinds) or 'empty'})"


def _same(a: Any, b: Any) -> bool:
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None:
        return na == nb
    if isinstance(b, bool):
        return str(a).strip().lower() == str(b).lower()
    return str(a) == str(b)


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def evaluate(pred: Predicate, evidence: Evidence) -> Outcome:
    """The predicate's outcome; raises UnreadableInput for a value its operator cannot read."""
    (sel, name), (op, expected) = pred.selector, pred.operator
    value = lookup(evidence, sel, name)
    if op == "exists":
        present = not _absent(value)
        return Outcome(present == bool(expected),
                       f"{sel} {name} {'present' if present else 'absent'}")
    if _absent(value):
        return Outcome(False, f"{sel} {name} is absent", absent=True)
    shown = f"{sel} {name}={_brief(value)}"
    if op == "equals":
        ok = _same(value, expected)
    elif op == "not_equals":
        ok = not _same(value, expected)
    elif op == "in":
        ok = any(_same(value, e) for e in expected)
    elif op == "not_in":
        ok = not any(_same(value, e) for e in expected)
    elif op == "matches":
        ok = search(expected, str(value))
    else:
        num = _number(value)
        if num is None:
            raise UnreadableInput(sel, name, value_shape(value), op, expected)
        ok = {"gt": num > expected, "gte": num >= expected, "lt": num < expected,
              "lte": num <= expected}[op]
    return Outcome(ok, f"{shown} {op} {expected!r}: {'yes' if ok else 'no'}")


def holds(pred: Predicate, evidence: Evidence) -> tuple[bool, str]:
    """Whether the predicate holds, and a one-line account of why (for the report)."""
    out = evaluate(pred, evidence)
    return out.ok, out.why
