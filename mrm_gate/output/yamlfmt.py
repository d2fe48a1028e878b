"""YAML format: the model card template (`card init --out card.yaml`)."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..card import CardPlan


def _comment(line: str) -> str:
    """One YAML comment line: a line break in a name cannot end the comment."""
    return "# " + " ".join(line.splitlines())


def card(plan: CardPlan, model_name: str | None = None, today: dt.date | None = None) -> str:
    """Guidance as comments, then one empty string per required section (keys JSON-quoted, so
    any section name is a valid, literal YAML key)."""
    from ..card import guidance

    today = today or dt.date.today()
    out = [_comment(line) for line in guidance(plan, today)]
    if model_name:
        out.append(_comment(f"Model: {model_name}"))
    out += [f"{json.dumps(s.name)}: \"\"" for s in plan.sections]
    return "\n".join(out) + "\n"
