"""Write docs/decision.schema.json (JSON Schema of the JSON report) from the Decision model.

    .venv/bin/python docs/generate_decision_schema.py

tests/core/test_reports.py checks that the committed file is up to date and that JSON reports
validate against it.
"""

from __future__ import annotations

import json
from pathlib import Path

from mrm_gate.decision import DECISION_SCHEMA_VERSION, Decision

OUT = Path(__file__).with_name("decision.schema.json")


def schema() -> dict:
    s = Decision.model_json_schema()
    s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    s["title"] = f"mrm-gate decision, schema_version {DECISION_SCHEMA_VERSION}"
    return s


def text() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    OUT.write_text(text())
    print(f"wrote {OUT}")
