"""Renderers are pure functions of the Decision; the JSON report follows its published schema."""

from __future__ import annotations

import datetime as dt
import json
import runpy
from pathlib import Path

import jsonschema
import pytest
from core_helpers import GOOD

from mrm_gate.controls.context import EvaluationOptions
from mrm_gate.decision import Decision, Figure
from mrm_gate.engine import evaluate
from mrm_gate.errors import UserError
from mrm_gate.evidence import load_evidence
from mrm_gate.output import RENDERERS, parse_formats, render
from mrm_gate.policy import load_policy, load_waivers

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def decisions(policy_file, make_evidence, tmp_path) -> dict[str, Decision]:
    pol = load_policy(policy_file)
    w = tmp_path / "w.yaml"
    w.write_text("apiVersion: mrm-gate/v1\nkind: Waivers\nwaivers:\n"
                 "  - {id: W-1, control: MRM-PERF-003, model: credit-pd, reason: accepted,"
                 " approver: cro, expires: 2027-01-01}\n"
                 "  - {id: W-0, control: MRM-PERF-001, model: credit-pd, reason: old,"
                 " approver: cro, expires: 2026-01-01}\n")
    waivers = load_waivers(w, pol)
    opts = EvaluationOptions(now=NOW)
    good = evaluate(pol, load_evidence(str(make_evidence(GOOD))), target="champion",
                    options=opts)
    bad_ev = {**GOOD, "run": {"metrics": {"auc": 0.5, "ks": 0.1}}}
    bad = evaluate(pol, load_evidence(str(make_evidence(bad_ev))), target="champion",
                   waivers=waivers, options=opts)
    bad.outcomes[0].result.figures.append(Figure(title="A plot", data="<svg></svg>"))
    return {"approve": good, "block": bad}


def test_json_report_validates_against_the_published_schema(decisions) -> None:
    schema = json.loads((ROOT / "docs" / "decision.schema.json").read_text())
    for d in decisions.values():
        jsonschema.validate(json.loads(render(d, "json")), schema)
        assert Decision.model_validate_json(render(d, "json")) == d


def test_published_schema_is_up_to_date() -> None:
    gen = runpy.run_path(str(ROOT / "docs" / "generate_decision_schema.py"))
    assert (ROOT / "docs" / "decision.schema.json").read_text() == gen["text"](), \
        "run docs/generate_decision_schema.py"


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_every_renderer_is_pure_and_shows_the_verdict(decisions, fmt) -> None:
    for name, d in decisions.items():
        before = d.model_dump_json()
        out = render(d, fmt)
        assert render(d, fmt) == out  # deterministic
        assert d.model_dump_json() == before  # no mutation
        if fmt not in ("sarif",):
            assert d.verdict.value in out or d.verdict.value.title() in out, (fmt, name)


def test_reports_show_failures_waivers_and_expired_waivers(decisions) -> None:
    d = decisions["block"]
    md, html, text = render(d, "markdown"), render(d, "html"), render(d, "text")
    for out in (md, html, text):
        assert "MRM-PERF-001" in out and "W-1" in out and "W-0" in out
    assert "expired (not applied)" in md and "Expired waiver" in html
    assert "Set the owner tag." not in md  # remediation only for failing controls
    assert "<svg></svg>" in html  # figures are embedded, the report is self-contained
    assert "http" not in html.split("<main>")[0]  # no external CSS/JS


def test_unknown_format_is_an_error() -> None:
    with pytest.raises(UserError, match="unknown output format"):
        parse_formats("text,pdf")
