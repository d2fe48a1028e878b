"""Report and attestation file names from hostile model names and versions stay inside --output.

The class of attack: a name or version from evidence used as (part of) a path — traversal,
absolute paths, NUL, `..`, very long names, unicode, Windows device names, separators of
either OS. Every writer names its file through `safe_component`; nothing lands outside the
folder, nothing fails with a raw OSError, and two different models never share a name.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml
from ci_fixtures import blocked
from hypothesis import given, settings
from hypothesis import strategies as st

from mrm_gate.attestation import write_attestation
from mrm_gate.cli import run
from mrm_gate.output import report_stem, write_reports
from mrm_gate.output.files import safe_component

# (name, version): each is data a model owner controls
HOSTILE = {
    "traversal version": ("credit-pd", "3/../../../escape/x"),
    "traversal name": ("../../../escape/x", "3"),
    "absolute version": ("credit-pd", "/tmp/escape/x"),
    "absolute name": ("/etc/cron.d/x", None),
    "dot-dot": ("..", ".."),
    "dot": (".", "."),
    "NUL": ("credit\x00pd", "3\x00"),
    "very long": ("m" * 5000, "9" * 5000),
    "unicode": ("模型/ü\u202e", "v\u00e9"),
    "windows reserved": ("CON", "nul"),
    "windows reserved with extension": ("aux.json", "COM1.txt"),
    "windows separators": ("..\\..\\escape", "C:\\x"),
    "windows stream": ("model:stream", "3:$DATA"),
    "leading dash": ("-rf", "--help"),
    "trailing dots and spaces": ("model. . .", "3 "),
    "line breaks": ("m\n::add-mask::x", "3\r\n"),
    "empty": ("", ""),
}
SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d|conin\$|conout\$)$", re.I)


def _hostile(name: str, version: str | None):
    d = blocked()
    return d.model_copy(update={"model": d.model.model_copy(update={"name": name,
                                                                     "version": version})})


def _files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_safe_component_is_one_portable_name(case):
    for text in HOSTILE[case]:
        if text is None:
            continue
        name = safe_component(text)
        assert SAFE.match(name), (case, name)
        assert name not in (".", "..") and not RESERVED.match(name.split(".")[0])
        assert len(name.encode()) <= 80
        assert "/" not in name and "\\" not in name and "\x00" not in name


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_reports_and_attestation_stay_inside_the_output_folder(tmp_path, monkeypatch, case):
    monkeypatch.setenv("MRM_TEST_KEY", "k" * 32)
    out = tmp_path / "deep" / "out"
    decision = _hostile(*HOSTILE[case])
    paths = write_reports(decision, ["json", "markdown", "html", "sarif", "junit", "text"], out)
    paths.append(write_attestation(decision, "env:MRM_TEST_KEY", out))
    root = out.resolve()
    for p in paths:
        assert p.resolve().parent == root, p
    assert _files_under(tmp_path) == {p.resolve() for p in paths}
    assert all(len(p.name.encode()) < 255 for p in paths)


def test_distinct_models_do_not_share_a_stem():
    names = ["credit/pd", "credit_pd", "credit pd", "credit\npd", "CREDIT_PD", "credit_pd_"]
    stems = {report_stem(_hostile(n, "3")) for n in names}
    assert len(stems) == len(names)


def test_plain_names_keep_their_readable_stem():
    assert report_stem(_hostile("credit-pd", "3")) == "credit-pd-v3-00000000"


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text())
def test_safe_component_property(a, b):
    """Any text gives a portable name, and different texts give different names."""
    sa, sb = safe_component(a), safe_component(b)
    assert SAFE.match(sa) and not RESERVED.match(sa.split(".")[0])
    assert len(sa) <= 80
    if a != b:
        assert sa != sb


@pytest.mark.parametrize("version", ["3/../../../escape/x", "/tmp/escape", "..", "x" * 4000])
def test_evaluate_cli_with_hostile_version_writes_inside_output(tmp_path, monkeypatch, version):
    """End to end: an evidence folder whose version is a path; reports and the signed record
    land in --output, under safe names."""
    monkeypatch.setenv("MRM_TEST_KEY", "k" * 32)
    ev = tmp_path / "evidence"
    ev.mkdir()
    (ev / "evidence.yaml").write_text(yaml.safe_dump({
        "model": {"name": "credit-pd", "version": version, "tags": {"owner": "alice"}},
        "run": {"metrics": {"auc": 0.8}}}))
    policy = tmp_path / "policy.yaml"
    policy.write_text("apiVersion: mrm-gate/v1\nkind: Policy\nmetadata: {name: p}\n"
                      "tiering: {default: std}\ntiers:\n  std:\n    controls:\n"
                      "      - {id: P-1, check: performance.threshold, "
                      "params: {metric: auc, min: 0.7}}\n")
    out = tmp_path / "a" / "b" / "out"
    code = run(["evaluate", "--evidence", str(ev), "--policy", str(policy), "--output", str(out),
                "--format", "json,html", "--attest", "env:MRM_TEST_KEY", "-q"])
    assert code in (0, 1)
    written = _files_under(tmp_path) - {ev / "evidence.yaml", policy}
    assert written and all(p.parent == out.resolve() for p in written), written
    assert {p.suffix for p in written} == {".json", ".html"}
    assert any(p.name.endswith(".attestation.json") for p in written)


def test_ci_report_folders_are_safe_and_distinct():
    from mrm_gate.cli.ci import _slug

    labels = ["models/a_b", "models_a/b", "models:/x/../../y", "..", "models/CON"]
    slugs = [_slug(label) for label in labels]
    assert len(set(slugs)) == len(labels)
    assert all(SAFE.match(s) for s in slugs)


def test_a_symlink_planted_at_the_report_name_is_not_followed(tmp_path):
    """A name collision with a planted symlink is refused, not written through."""
    from mrm_gate.errors import UserError

    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "victim.txt"
    target.write_text("precious")
    d = _hostile("credit-pd", "3")
    os.symlink(target, out / f"{report_stem(d)}.json")
    with pytest.raises(UserError, match=r"already exists|outside"):
        write_reports(d, ["json"], out)
    assert target.read_text() == "precious"
