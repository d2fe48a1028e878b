"""Clause catalogues and `refs` validation: a ref to a clause that does not exist is an error."""

from __future__ import annotations

import textwrap

import pytest

from mrm_gate.errors import PolicyError
from mrm_gate.policy import load_policy
from mrm_gate.policy.refs import (
    _frameworks_for,
    canonical_clause,
    check_ref,
    frameworks,
    get_framework,
    resolve_ref,
)

EXPECTED_FRAMEWORKS = {"sr26-2", "sr11-7", "eu-ai-act", "nist-ai-rmf", "iso-42001"}


def test_every_catalogue_loads_with_titles():
    fws = frameworks()
    assert set(fws) >= EXPECTED_FRAMEWORKS
    for fw in fws.values():
        assert fw.clauses, fw.id
        for clause in fw.clauses.values():
            assert clause.title.strip() and len(clause.title) < 120, clause.ref


@pytest.mark.parametrize("ref", [
    # the refs the example policy (owned by the demo) uses must exist
    "sr26-2:documentation", "sr26-2:performance", "sr26-2:ongoing-monitoring",
    "sr26-2:validation", "sr26-2:governance", "eu-ai-act:art-11",
    # the articles, annexes and functions the issue names
    "eu-ai-act:art-9", "eu-ai-act:art-10", "eu-ai-act:art-12", "eu-ai-act:art-13",
    "eu-ai-act:art-14", "eu-ai-act:art-15", "eu-ai-act:annex-iv", "eu-ai-act:annex-iii.5b",
    "nist-ai-rmf:govern-1.1", "nist-ai-rmf:map-1.1", "nist-ai-rmf:measure-2.11",
    "nist-ai-rmf:manage-4.3", "iso-42001:a.6.2.4", "iso-42001:a.10.4",
    "sr11-7:sec-5.outcomes-analysis",
])
def test_known_refs_are_valid(ref):
    assert check_ref(ref) is None


@pytest.mark.parametrize(("ref", "expected"), [
    ("nocolon", "must be 'framework:clause'"),
    ("eu-ai-act:", "must be 'framework:clause'"),
    ("eu-ai:art-11", "did you mean 'eu-ai-act:art-11'?"),
    ("acme:policy-7", "MRM_GATE_FRAMEWORKS_PATH"),
    ("eu-ai-act:Art. 10(2)(f)", "did you mean 'eu-ai-act:art-10.2.f'"),
    ("eu-ai-act:article 13", "did you mean 'eu-ai-act:art-13'"),
    ("eu-ai-act:art-99", "EU AI Act has no clause 'art-99'"),
    ("nist-ai-rmf:MEASURE 2.11", "did you mean 'nist-ai-rmf:measure-2.11'"),
    ("iso-42001:A.6.2.4", "did you mean 'iso-42001:a.6.2.4'"),
    ("sr26-2:validaton", "did you mean 'sr26-2:validation'"),
])
def test_invalid_refs_are_explained_with_a_suggestion(ref, expected):
    problem = check_ref(ref)
    assert problem is not None and expected in problem


def test_clause_hierarchy_follows_the_numbering():
    eu, nist, iso = (get_framework(f) for f in ("eu-ai-act", "nist-ai-rmf", "iso-42001"))
    assert eu.clauses["art-10.2.f"].parent == "art-10.2"
    assert eu.clauses["art-13.3.b.ii"].parent == "art-13.3.b"
    assert eu.clauses["art-10"].parent is None
    assert nist.clauses["measure-2.11"].parent == "measure-2"
    assert nist.clauses["measure-2"].parent == "measure"
    assert iso.clauses["a.6.2.4"].parent == "a.6.2"
    assert "art-10.2.f" in eu.descendants("art-10")


def test_nist_catalogue_has_every_subcategory():
    nist = get_framework("nist-ai-rmf")
    leaves = [c for c in nist.clauses if nist.is_leaf(c)]
    by_function = {f: sum(1 for c in leaves if c.startswith(f + "-"))
                   for f in ("govern", "map", "measure", "manage")}
    assert by_function == {"govern": 19, "map": 18, "measure": 22, "manage": 13}


def test_sr26_2_names_the_sr11_7_sections_it_replaced():
    sr26 = get_framework("sr26-2")
    assert sr26.supersedes_framework == "sr11-7"
    replaced = {ref for c in sr26.clauses.values() for ref in c.supersedes}
    sr11 = get_framework("sr11-7")
    leaves = {c.ref for c in sr11.clauses.values() if sr11.is_leaf(c.id)}
    assert leaves <= replaced, sorted(leaves - replaced)
    assert resolve_ref("sr26-2:validation").supersedes


def test_unknown_framework_lookup_suggests():
    with pytest.raises(Exception, match="did you mean 'nist-ai-rmf'"):
        get_framework("nist")


@pytest.mark.parametrize(("text", "canonical"), [
    ("Art. 9", "art-9"), ("Article 10(2)(f)", "art-10.2.f"), ("Annex IV", "annex-iv"),
    ("GOVERN 1.6", "govern-1.6"), ("A.7.4", "a.7.4"),
])
def test_canonical_clause(text, canonical):
    assert canonical_clause(text) == canonical


def test_policy_with_bad_refs_lists_each_with_its_line(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text(textwrap.dedent("""\
        apiVersion: mrm-gate/v1
        kind: Policy
        metadata: {name: t}
        tiering: {default: low}
        tiers:
          low:
            controls:
              - id: MRM-DOC-001
                check: metadata.required
                params: {tags: [owner]}
                refs:
                  - eu-ai-act:art-10
                  - eu-ai-act:art-100
                  - nist:govern-1.1
        """))
    with pytest.raises(PolicyError) as err:
        load_policy(p)
    text = str(err.value)
    assert f"{p}:13:" in text and "art-100" in text
    assert f"{p}:14:" in text and "did you mean 'nist-ai-rmf:govern-1.1'" in text
    assert "(2 problem(s))" in text  # the valid ref art-10 is not one of them


def test_own_catalogues_from_the_environment(tmp_path, monkeypatch):
    (tmp_path / "acme-mrm.yaml").write_text(textwrap.dedent("""\
        id: acme-mrm
        title: ACME model risk standard
        clauses:
          - {id: s-1, title: Ownership}
          - {id: s-1.1, title: Named owner}
        """))
    monkeypatch.setenv("MRM_GATE_FRAMEWORKS_PATH", str(tmp_path))
    assert check_ref("acme-mrm:s-1.1") is None
    assert "no clause 's-2'" in check_ref("acme-mrm:s-2")
    assert get_framework("acme-mrm").clauses["s-1.1"].parent == "s-1"


@pytest.mark.parametrize(("content", "message"), [
    ("id: other\ntitle: x\nclauses: [{id: a, title: b}]\n", "must be named other.yaml"),
    ("id: bad\ntitle: x\nclauses: [{id: a, title: b}, {id: a, title: c}]\n", "repeats"),
    ("id: bad\ntitle: x\nclauses: [{id: a, title: b, supersedes: [sr11-7:nope]}]\n",
     "supersedes"),
    ("id: bad\ntitle: x\nclauses: [{id: A B, title: b}]\n", "invalid"),
])
def test_broken_catalogue_is_a_named_error(tmp_path, content, message):
    (tmp_path / "bad.yaml").write_text(content)
    from mrm_gate.policy.refs import CATALOGUE_DIR

    with pytest.raises(Exception, match=message):
        _frameworks_for((CATALOGUE_DIR, tmp_path))
