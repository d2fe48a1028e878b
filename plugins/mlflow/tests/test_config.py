"""Configuration: validated at start-up, every problem named with file:line, server refuses."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from mrm_gate_mlflow.config import load_config

from mrm_gate.errors import UserError

from .conftest import DATA, MLFLOW, free_port, gate_config


def _write(tmp_path, cfg: dict):
    p = tmp_path / "gate.yaml"
    p.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return p


def test_valid_config_loads_and_resolves_relative_paths(tmp_path):
    (tmp_path / "policy.yaml").write_text((DATA / "policy.yaml").read_text())
    cfg = load_config(_write(tmp_path, {**gate_config(tmp_path), "policy": "policy.yaml",
                                        "decision_log": "log/decisions.jsonl"}))
    assert cfg.path(cfg.policy) == tmp_path / "policy.yaml"
    assert cfg.decision_log_path == tmp_path / "log" / "decisions.jsonl"
    assert cfg.reports_path == tmp_path / "log" / "reports"


@pytest.mark.parametrize("override,messages", [
    ({"mdoe": "evaluate"}, ["unknown key 'mdoe'", "did you mean 'mode'"]),
    ({"mode": "enforce"}, ["mode"]),
    ({"policy": "missing.yaml"}, ["policy cannot be loaded", "missing.yaml"]),
    ({"mode": "attestation"}, ["needs attestation.keys"]),
    ({"attestation": {"keys": ["env:NO_SUCH_KEY_VAR"]}}, ["NO_SUCH_KEY_VAR is not set"]),
    ({"attestation": {"keys": [], "max_age": "soon"}, "mode": "attestation"},
     ["invalid duration 'soon'"]),
    ({"break_glass": {"users": ["alice"]}}, ["need an authenticated identity"]),
    ({"owner_tags": ["mrm.decision"]}, ["owner_tags", "gate does not write"]),
    ({"owner_tags": ["mrm.*"]}, ["owner_tags"]),
    ({"owner_tags": ["risk_tier"]}, ["owner_tags"]),
])
def test_invalid_configs_name_every_problem(tmp_path, override, messages):
    cfg = {**gate_config(tmp_path), **override}
    with pytest.raises(UserError) as info:
        load_config(_write(tmp_path, cfg))
    text = str(info.value)
    assert "gate.yaml" in text
    for m in messages:
        assert m in text


def test_broken_policy_is_reported_with_its_location(tmp_path):
    bad = tmp_path / "bad-policy.yaml"
    bad.write_text("apiVersion: mrm-gate/v1\nkind: Policy\nmetadata: {name: x}\n"
                   "tiering: {default: low}\ntiers:\n  low:\n    controls:\n"
                   "      - {id: MRM-X-1, check: no.such_check}\n")
    with pytest.raises(UserError, match="policy cannot be loaded") as info:
        load_config(_write(tmp_path, {**gate_config(tmp_path), "policy": str(bad)}))
    assert "bad-policy.yaml" in str(info.value)


def test_missing_env_variable_explains_what_to_set(monkeypatch):
    monkeypatch.delenv("MRM_GATE_MLFLOW_CONFIG", raising=False)
    with pytest.raises(UserError, match="MRM_GATE_MLFLOW_CONFIG"):
        load_config()


@pytest.mark.parametrize("key,reserved", [
    ("mrm.decision", True), ("mrm.decision_id", True), ("mrm.policy_sha256", True),
    ("mrm.evaluated_at", True), ("mrm.tier", True), ("mrm.break_glass_reason", True),
    ("mrm.report", True), ("mrm.gate.mode", True), ("mrm.anything_new", True),
    ("mrm.risk_tier", False), ("mrm.exposure", False), ("mrm.purpose", False),
    ("mrm.validation_date", False), ("mrm.gate.attestation", False), ("owner", False),
    ("mrmx.decision", False),
])
def test_reserved_tag_set(tmp_path, key, reserved):
    cfg = load_config(_write(tmp_path, gate_config(tmp_path)))
    assert cfg.is_reserved_tag(key) is reserved


def test_owner_allow_list_is_configurable(tmp_path):
    cfg = load_config(_write(tmp_path, {**gate_config(tmp_path),
                                        "owner_tags": ["mrm.risk_tier", "mrm.team_*"]}))
    assert not cfg.is_reserved_tag("mrm.team_name")
    assert cfg.is_reserved_tag("mrm.exposure")


def test_mlflow_server_refuses_to_start_with_a_bad_config(tmp_path):
    """The `mlflow server` command itself stops with one clear error (no worker restart loop)."""
    cfg = _write(tmp_path, {**gate_config(tmp_path), "mode": "attestation"})
    proc = subprocess.run(
        [MLFLOW, "server", "--app-name", "mrm-gate", "--backend-store-uri",
         f"sqlite:///{tmp_path}/db.sqlite", "--host", "127.0.0.1", "--port", str(free_port()),
         "--workers", "1"],
        env={**_env(), "MRM_GATE_MLFLOW_CONFIG": str(cfg)}, capture_output=True, text=True,
        timeout=120, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "the MLflow gate cannot start" in proc.stderr
    assert "needs attestation.keys" in proc.stderr
    assert "Traceback" not in proc.stderr


def _env():
    import os

    return {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


REFERENCE_POLICIES = sorted((DATA.parents[3] / "policies").glob("*.yaml"))


@pytest.mark.parametrize("policy", REFERENCE_POLICIES, ids=lambda p: p.name)
def test_owners_may_set_every_tag_a_reference_policy_asks_for(tmp_path, policy):
    """Every `mrm.` key a shipped policy names (tiering inputs, required tags, a fund tag)
    is an owner declaration, and the default configuration lets owners write it."""
    import re

    from mrm_gate.evidence.model import GATE_TAG_PREFIXES
    from mrm_gate.policy import load_policy

    cfg = load_config(_write(tmp_path, {**gate_config(tmp_path), "policy": str(policy)}))
    text = "\n".join(Path(f).read_text() for f in load_policy(policy).files)  # extends chain
    named = set(re.findall(r"\bmrm\.[a-z][a-z0-9_]*\b", text))
    named = {k for k in named if not k.startswith(GATE_TAG_PREFIXES)}
    assert named, policy
    assert [k for k in sorted(named) if cfg.is_reserved_tag(k)] == []
    assert cfg.is_reserved_tag("mrm.decision") and cfg.is_reserved_tag("mrm.something_else")


def test_default_policy_owner_tags_include_monitoring_and_fund(tmp_path):
    policy = REFERENCE_POLICIES[[p.name for p in REFERENCE_POLICIES].index("default.yaml")]
    cfg = load_config(_write(tmp_path, {**gate_config(tmp_path), "policy": str(policy)}))
    for key in ("mrm.monitoring", "mrm.model_risk_fund", "mrm.exposure", "mrm.purpose"):
        assert not cfg.is_reserved_tag(key), key


def test_explicit_owner_tags_replace_the_derived_ones(tmp_path):
    policy = DATA.parents[3] / "policies" / "default.yaml"
    cfg = load_config(_write(tmp_path, {**gate_config(tmp_path), "policy": str(policy),
                                        "owner_tags": ["mrm.risk_tier"]}))
    assert cfg.is_reserved_tag("mrm.monitoring")


def test_a_config_with_several_problems_lists_them_all(tmp_path):
    cfg = {**gate_config(tmp_path), "mdoe": "evaluate", "mode": "attestation",
           "policy": "missing.yaml", "owner_tags": ["mrm.decision"],
           "break_glass": {"users": ["alice"]}, "attestation": {"max_age": "soon"}}
    with pytest.raises(UserError) as info:
        load_config(_write(tmp_path, cfg))
    text = str(info.value)
    for expected in ("unknown key 'mdoe'", "owner_tags", "policy cannot be loaded",
                     "needs attestation.keys", "invalid duration 'soon'",
                     "need an authenticated identity"):
        assert expected in text, (expected, text)
    assert len(info.value.items) >= 6
