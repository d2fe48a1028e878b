"""JSON report: the Decision itself, schema documented in docs/decision-schema.md."""

from __future__ import annotations

from ..decision import Decision


def render(decision: Decision) -> str:
    return decision.model_dump_json(indent=2) + "\n"
