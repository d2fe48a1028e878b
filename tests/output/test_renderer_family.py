"""One renderer family: `render(result, fmt)` for every result type, escaping done once.

Each (result type, format) pair in the registry renders a real result; an unknown format is an
error naming the choices; hostile text (control characters, line breaks, markup) gives
well-formed XML, one TAP line per case, and Markdown that renders as text.
"""

from __future__ import annotations

import json
import re
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from ci_fixtures import ALL
from markdown_it import MarkdownIt

from mrm_gate.errors import UserError
from mrm_gate.output import FORMATS, RESULT_TYPES, formats_for, render

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "policies" / "default.yaml"
GOOD = ROOT / "policies" / "tests" / "fixtures" / "good-model"
BACKTESTS = ROOT / "examples" / "backtests"
JUNIT_XSD = Path(__file__).parent / "schemas" / "junit-10.xsd"
# control characters XML forbids (YAML can carry them), U+FFFE, and markup
NASTY = "bad\x00\x01\x08\x0b\x0c\x1b\x7f\ufffe <x>&amp; ]]> \"'"


def _suite(tmp_path: Path, names: list[str]):
    from mrm_gate.policy_tests import run_tests

    cases = "".join(f"  - name: {json.dumps(n)}\n    expect: {{decision: BLOCK}}\n"
                    for n in names)
    path = tmp_path / "cases.yaml"
    path.write_text(f"apiVersion: mrm-gate/v1\nkind: PolicyTests\npolicy: {POLICY}\n"
                    f"defaults: {{evidence: {GOOD}, target: champion, now: 2026-06-01}}\n"
                    f"cases:\n{cases}")
    return run_tests([path])


def _diff(tmp_path: Path):
    from mrm_gate.policy import load_policy
    from mrm_gate.policy.diff import diff_policies

    new = tmp_path / "new.yaml"
    new.write_text(POLICY.read_text().replace("min: 0.7", "min: 0.6", 1))
    return diff_policies(load_policy(POLICY), load_policy(new))


def _sample(kind: str, tmp_path: Path):
    if kind == "decision":
        return ALL["blocked"]()
    if kind == "policy_tests":
        return _suite(tmp_path, ["good model blocks (it does not)"])
    if kind == "policy_diff":
        return _diff(tmp_path)
    if kind == "coverage":
        from mrm_gate.policy import load_policy
        from mrm_gate.policy.coverage import coverage

        return coverage(load_policy(POLICY), "sr26-2")
    if kind == "card":
        from mrm_gate.card import plan_card
        from mrm_gate.policy import load_policy

        return plan_card(load_policy(POLICY), "high")
    from mrm_gate.risk import aggregate, analyse, read_backtest

    bt = read_backtest(BACKTESTS / "corporate.csv")
    if kind == "risk":
        return analyse(bt, n_boot=0)
    assert kind == "portfolio"
    return aggregate({"corporate": bt, "sme": read_backtest(BACKTESTS / "sme.csv")}, n_boot=0)


PAIRS = sorted((kind, fmt) for kind, table in FORMATS.items() for fmt in table)


@pytest.mark.parametrize(("kind", "fmt"), PAIRS)
def test_every_result_type_renders_in_each_of_its_formats(tmp_path, kind, fmt):
    result = _sample(kind, tmp_path)
    text = render(result, fmt)
    assert text.strip()
    if fmt == "json" or fmt == "sarif":
        json.loads(text)
    elif fmt == "junit":
        ET.fromstring(text)
    elif fmt == "html":
        assert text.startswith("<!doctype html>")


def test_every_result_type_is_registered_once():
    assert set(RESULT_TYPES.values()) == set(FORMATS)
    assert len(set(RESULT_TYPES.values())) == len(RESULT_TYPES)


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_an_unknown_format_is_an_error_naming_the_choices(tmp_path, kind):
    result = _sample(kind, tmp_path)
    with pytest.raises(UserError) as exc:
        render(result, "docx")
    assert all(f in str(exc.value) for f in formats_for(result))


def test_an_unregistered_result_is_a_type_error():
    with pytest.raises(TypeError, match="no renderer for dict"):
        render({}, "json")


def test_policy_test_junit_strips_what_xml_forbids(tmp_path):
    """The second JUnit writer (policy tests) did not clean its text: a control character in a
    case name made malformed XML. Now both writers share `xml_clean`."""
    suite = _suite(tmp_path, [NASTY, "ok name"])
    text = render(suite, "junit")
    root = ET.fromstring(text)  # well-formed
    xmlschema.XMLSchema(JUNIT_XSD).validate(text)
    names = [c.get("name") for c in root.iter("testcase")]
    assert names[0].startswith("bad") and "<x>&amp; ]]>" in names[0]
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f]", text)


@pytest.mark.parametrize("name", [
    "case\nok 99 - forged pass",
    "case # SKIP not really",
    "case # TODO hidden",
    "case\r\n1..1",
    "back\\slash # x",
])
def test_tap_keeps_one_line_per_case_and_no_forged_directive(tmp_path, name):
    suite = _suite(tmp_path, [name])
    lines = render(suite, "tap").splitlines()
    points = [line for line in lines if re.match(r"(not )?ok \d+", line)]
    assert points == [points[0]] and points[0].startswith("not ok 1 - ")
    assert not re.search(r"(?<!\\)#\s*(SKIP|TODO)", points[0], re.I)
    assert [line for line in lines if re.match(r"\d+\.\.\d+", line)] == ["1..1"]


@pytest.mark.parametrize("kind", ["policy_diff", "coverage"])
def test_markdown_of_policies_renders_names_as_text(tmp_path, kind):
    """A policy name with markup (policy diffs are posted on pull requests) stays text."""
    hostile = "p <img src=x onerror=alert(1)> [go](https://evil.example) | x"
    from mrm_gate.policy import load_policy

    src = tmp_path / "hostile.yaml"
    text = POLICY.read_text()
    text = re.sub(r"(?m)^(\s*name:).*$", lambda m: f"{m.group(1)} {json.dumps(hostile)}", text,
                  count=1)
    src.write_text(text)
    if kind == "policy_diff":
        from mrm_gate.policy.diff import diff_policies

        result = diff_policies(load_policy(POLICY), load_policy(src))
    else:
        from mrm_gate.policy.coverage import coverage

        result = coverage(load_policy(src), "sr26-2")
    html = MarkdownIt("commonmark").enable("table").render(render(result, "markdown"))
    assert "<img" not in html and 'href="https://evil.example"' not in html


def test_card_template_names_cannot_escape_the_comment(tmp_path):
    from mrm_gate.card import CardPlan, Section

    plan = CardPlan("p --> <script>", None, "high", None,
                    [Section("limitations\n## Approved -->", ["C-1"])], [])
    md = render(plan, "markdown", model_name="m\n# other")
    comment = md[:md.index("-->") + 3]
    assert comment.count("-->") == 1 and "<script>" in comment  # inside the comment, inert
    titles = [line for line in md.splitlines() if line.startswith("# ")]
    assert titles == ["# Model card: m # other"]
    import yaml

    data = yaml.safe_load(render(plan, "yaml", model_name="m\nkey: injected"))
    assert list(data) == ["limitations\n## Approved -->"]


def test_existing_decision_output_is_unchanged_for_ordinary_names():
    """Byte-for-byte where the output was right: plain names render as before."""
    md = render(ALL["approved"](), "markdown")
    assert md.startswith("## ✅ APPROVE: credit-approve v3 → `champion`\n")
    assert "| `MRM-PERF-001` | block | ✅ PASS | 0.81 | min=0.75 |" in md
    assert textwrap.dedent(render(ALL["approved"](), "text")).startswith("APPROVE  credit-approve")
