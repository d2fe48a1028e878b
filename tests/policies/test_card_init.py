"""`mrm-gate card init`: a template with exactly the sections the tier's controls demand, that
fails the gate until it is filled in."""

from __future__ import annotations

import datetime as dt

import pytest
from policy_helpers import GOOD, POLICIES

from mrm_gate.card import plan_card, render_markdown, render_yaml
from mrm_gate.cli import run
from mrm_gate.controls.context import EvaluationOptions
from mrm_gate.engine import evaluate
from mrm_gate.evidence.card import normalise_section, parse_card
from mrm_gate.policy import load_policy
from mrm_gate.policy_tests import build_evidence

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(("policy", "tier", "sections"), [
    ("default.yaml", "low", []),
    ("default.yaml", "medium", ["intended use", "limitations"]),
    ("default.yaml", "high", ["intended use", "training data", "performance", "limitations",
                              "fairness considerations"]),
    ("sr26-2.yaml", "medium", ["intended use", "limitations", "methodology", "assumptions"]),
    ("eu-ai-act-high-risk.yaml", "critical",
     ["intended use", "training data", "performance", "limitations",
      "fairness considerations", "design choices", "human oversight", "risk management",
      "post-market monitoring"]),
    ("example-credit.yaml", "high", ["intended use", "training data", "performance",
                                     "limitations"]),
])
def test_sections_are_exactly_those_required(policy, tier, sections):
    plan = plan_card(load_policy(POLICIES / policy), tier)
    assert plan.section_names == sections


def test_other_documentation_items_are_listed_once():
    plan = plan_card(load_policy(POLICIES / "default.yaml"), "high")
    assert "tag `owner` (MRM-DOC-001)" in plan.other_items
    assert "tag `mrm.monitoring` (MRM-OPS-001)" in plan.other_items
    assert len(plan.other_items) == len(set(plan.other_items))


def _card_decision(policy_name: str, tier: str, card_text: str, fmt: str):
    policy = load_policy(POLICIES / policy_name)
    sections = parse_card(card_text, "model_card.md" if fmt == "markdown" else "card.yaml")
    evidence = build_evidence(str(GOOD), {"model": {"tags": {"mrm.risk_tier": tier}}}, POLICIES)
    evidence.model_card = sections  # the card under test replaces the fixture's
    return evaluate(policy, evidence, target="staging",
                    options=EvaluationOptions(now=NOW, trust_model_code=True))


@pytest.mark.parametrize("fmt", ["markdown", "yaml"])
@pytest.mark.parametrize(("policy_name", "tier"), [("default.yaml", "high"),
                                                   ("iso-42001.yaml", "high")])
def test_unfilled_template_fails_and_filled_template_passes(policy_name, tier, fmt):
    plan = plan_card(load_policy(POLICIES / policy_name), tier)
    render = render_markdown if fmt == "markdown" else render_yaml
    template = render(plan, "retail-pd", today=dt.date(2026, 6, 1))
    card_controls = {c for s in plan.sections for c in s.controls}

    empty = _card_decision(policy_name, tier, template, fmt)
    failing = {o.control_id for o in empty.outcomes if o.status.value == "FAIL"}
    assert failing == card_controls

    if fmt == "markdown":
        filled = template
        for s in plan.sections:
            heading = f"## {s.name[:1].upper()}{s.name[1:]}\n"
            filled = filled.replace(heading, heading + f"What we know about {s.name}.\n")
    else:
        filled = template.replace(': ""', ': "filled in"')
    parsed = parse_card(filled, "model_card.md" if fmt == "markdown" else "card.yaml")
    assert set(parsed) >= {normalise_section(s) for s in plan.section_names}
    full = _card_decision(policy_name, tier, filled, fmt)
    assert full.verdict.value == "APPROVE", [o.result.message for o in full.failing()]


def test_cli_writes_a_new_file_and_never_overwrites(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    policy = str(POLICIES / "sr26-2.yaml")
    assert run(["card", "init", "--tier", "medium", "--policy", policy]) == 0
    out = capsys.readouterr().out
    assert "wrote model_card.md: 4 section(s)" in out
    text = (tmp_path / "model_card.md").read_text()
    assert text.count("\n## ") == 4 and "## Methodology\n" in text
    (tmp_path / "model_card.md").write_text("my own card\n")
    assert run(["card", "init", "--tier", "high", "--policy", policy]) == 2
    assert "never overwrites" in capsys.readouterr().err
    assert (tmp_path / "model_card.md").read_text() == "my own card\n"


def test_cli_yaml_stdout_and_default_policy(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run(["card", "init", "--tier", "high"]) == 2
    assert "no policy given" in capsys.readouterr().err
    monkeypatch.setenv("MRM_GATE_POLICY", str(POLICIES / "default.yaml"))
    assert run(["card", "init", "--tier", "medium", "--out", "card.yaml"]) == 0
    capsys.readouterr()
    assert parse_card((tmp_path / "card.yaml").read_text(), "card.yaml") == {
        "intended_use": "", "limitations": ""}
    assert run(["card", "init", "--tier", "medium", "--out", "-"]) == 0
    assert "## Intended use" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["--tier", "extreme"], "tier 'extreme' does not exist"),
    (["--tier", "low"], "requires no model card sections"),
])
def test_cli_errors(args, message, capsys):
    assert run(["card", "init", "--policy", str(POLICIES / "default.yaml"), *args]) == 2
    assert message in capsys.readouterr().err
