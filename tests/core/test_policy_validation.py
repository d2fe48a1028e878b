"""Every bad policy gets a clear, located error; good policies load and resolve correctly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from core_helpers import write

from mrm_gate.cli import run
from mrm_gate.errors import PolicyError, UserError
from mrm_gate.policy import load_policy
from mrm_gate.yamlsafe import MAX_BYTES

CASES = sorted((Path(__file__).parent / "bad_policies").glob("*.yaml"))


def expectations(path: Path) -> tuple[list[str], int | None]:
    text = path.read_text()
    subs = re.findall(r"^# expect: (.*)$", text, re.M)
    line = re.search(r"^# expect-line: (\d+)$", text, re.M)
    return subs, int(line.group(1)) if line else None


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_bad_policy_is_reported_with_location(case: Path, capsys) -> None:
    subs, line = expectations(case)
    assert subs, f"{case.name} has no '# expect:' line"
    with pytest.raises(UserError) as info:
        load_policy(case)
    message = str(info.value)
    for sub in subs:
        assert sub in message, f"{sub!r} not in:\n{message}"
    if line is not None:
        assert f"{case}:{line}:" in message or f"{case}:{line}" in message, message
    # The CLI says the same without a traceback, exit code 2.
    assert run(["policy", "validate", str(case)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert subs[0] in err


def test_every_error_is_reported_not_just_the_first(tmp_path: Path) -> None:
    p = write(tmp_path / "p.yaml", """
        apiVersion: mrm-gate/v1
        kind: Policy
        metadata: {name: x}
        tiering: {default: low}
        tiers:
          low:
            controls:
              - {id: MRM-A-001, check: performance.treshold, params: {metric: auc, min: 1}}
              - {id: MRM-A-002, check: performance.threshold, params: {metric: auc, min: x}}
              - {id: MRM-A-003, check: metadata.required, params: {tagz: [owner]}}
    """)
    with pytest.raises(PolicyError) as info:
        load_policy(p)
    assert len(info.value.items) == 3
    lines = sorted(item.line for item in info.value.items)
    assert lines == [8, 9, 10]


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        levels.append(f"{cur}: &{cur} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, "
                      f"*{prev}, *{prev}, *{prev}, *{prev}]")
    p = tmp_path / "bomb.yaml"
    p.write_text("\n".join(levels))
    with pytest.raises(UserError, match="alias bomb"):
        load_policy(p)


def test_size_limit(tmp_path: Path) -> None:
    p = tmp_path / "big.yaml"
    p.write_text("# " + "x" * (MAX_BYTES + 10))
    with pytest.raises(UserError, match="limit"):
        load_policy(p)


def test_unsafe_yaml_tag_is_not_constructed(tmp_path: Path) -> None:
    p = tmp_path / "evil.yaml"
    p.write_text("apiVersion: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(UserError):
        load_policy(p)


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        load_policy(tmp_path / "nope.yaml")


def test_tier_inheritance_and_override(policy_file: Path) -> None:
    pol = load_policy(policy_file)
    assert pol.tier_names == ["low", "high", "critical"]
    assert [c.id for c in pol.effective["low"]] == ["MRM-DOC-001"]
    crit = [c.id for c in pol.effective["critical"]]
    assert crit[:2] == ["MRM-DOC-001", "MRM-PERF-001"] and crit[-1] == "MRM-GOV-003"
    # applies_to filters by target; no target means every control runs
    assert "MRM-PERF-002" in [c.id for c in pol.controls_for("high", "champion")]
    assert "MRM-PERF-002" not in [c.id for c in pol.controls_for("high", "staging")]
    assert "MRM-PERF-002" in [c.id for c in pol.controls_for("high", None)]


def test_override_by_id_and_disable(tmp_path: Path) -> None:
    p = write(tmp_path / "p.yaml", """
        apiVersion: mrm-gate/v1
        kind: Policy
        metadata: {name: x}
        tiering: {default: low}
        tiers:
          low:
            controls:
              - {id: MRM-A-001, check: performance.threshold, params: {metric: auc, min: 0.6}}
              - {id: MRM-A-002, check: metadata.required, params: {tags: [owner]}}
          high:
            extends: low
            controls:
              - {id: MRM-A-001, check: performance.threshold, params: {metric: auc, min: 0.8}}
              - {id: MRM-A-002, enabled: false}
    """)
    pol = load_policy(p)
    high = pol.effective["high"]
    assert [c.id for c in high] == ["MRM-A-001"]
    assert high[0].params.min == 0.8
    assert pol.effective["low"][0].params.min == 0.6


def test_policy_extends_another_file(tmp_path: Path, policy_file: Path) -> None:
    child = write(tmp_path / "child.yaml", """
        apiVersion: mrm-gate/v1
        kind: Policy
        metadata: {name: child}
        extends: policy.yaml
        tiers:
          high:
            controls:
              - id: MRM-PERF-001
                check: performance.threshold
                params: {metric: auc, min: 0.75}
                refs: ["sr26-2:performance"]
    """)
    pol = load_policy(child)
    assert pol.metadata.name == "child"
    assert pol.files == [str(child), str(policy_file)]
    perf = next(c for c in pol.effective["critical"] if c.id == "MRM-PERF-001")
    assert perf.params.min == 0.75 and perf.file == str(child)
    assert pol.tiering.default == "high"


def test_policy_hash_changes_with_content(tmp_path: Path, policy_file: Path) -> None:
    a = load_policy(policy_file).sha256
    policy_file.write_text(policy_file.read_text().replace("min: 0.7", "min: 0.71"))
    assert load_policy(policy_file).sha256 != a


def test_waivers_and_validate_cli(tmp_path: Path, policy_file: Path, capsys) -> None:
    assert run(["policy", "validate", str(policy_file)]) == 0
    assert "ok:" in capsys.readouterr().out


def test_schema_includes_check_params(capsys) -> None:
    import json

    assert run(["policy", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    control = schema["$defs"]["Control"]
    assert "performance.threshold" in control["properties"]["check"]["anyOf"][0]["enum"]
    branch = next(b for b in control["allOf"]
                  if b["if"]["properties"]["check"]["const"] == "performance.threshold")
    assert "metric" in branch["then"]["properties"]["params"]["properties"]
    # the schema is a valid JSON Schema that accepts a real policy and rejects a bad one
    import jsonschema
    import yaml

    jsonschema.Draft202012Validator.check_schema(schema)
    v = jsonschema.Draft202012Validator(schema)
    good = yaml.safe_load((Path(__file__).parents[2] / "policies/example-credit.yaml").read_text())
    assert not list(v.iter_errors(good))
    good["tiers"]["low"]["controls"][0]["params"] = {"tagz": ["x"]}
    assert list(v.iter_errors(good))


def test_explain_lists_controls_and_why(policy_file: Path, capsys) -> None:
    assert run(["policy", "explain", str(policy_file), "--tier", "high", "--stage",
                "staging"]) == 0
    out = capsys.readouterr().out
    assert "MRM-PERF-002" in out and "excludes" in out and "inherited" in out
    assert run(["policy", "explain", str(policy_file), "--tier", "nope"]) == 2
