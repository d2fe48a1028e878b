"""Built-in checks, as (params, evidence, expected status, message fragment) cases."""

from __future__ import annotations

import datetime as dt

import pytest

from mrm_gate.controls.context import CheckContext, EvaluationOptions
from mrm_gate.controls.registry import default_registry
from mrm_gate.decision import Status
from mrm_gate.errors import CheckError
from mrm_gate.evidence.model import Evidence

NOW = dt.datetime(2026, 11, 21, tzinfo=dt.timezone.utc)
CARD = "# Card\n## Intended use\nScoring.\n## Limitations\n\n## Training data\nUCI.\n"


def evidence(tags=None, metrics=None, card=None, creator="alice", rm_tags=None, **model):
    return Evidence.model_validate({
        "model": {"name": "m", "version": "1", "tags": tags or {}, "creator": creator,
                  "registered_model_tags": rm_tags or {}, **model},
        "run": {"metrics": metrics or {}, "params": {"seed": "1"}},
        "model_card": card,
    })


CASES = [
    ("metadata.required", {"tags": ["owner"]}, evidence({"owner": "a"}), "PASS", "present"),
    ("metadata.required", {"tags": ["owner"]}, evidence(rm_tags={"owner": "a"}), "PASS", ""),
    ("metadata.required", {"tags": ["owner", "use"]}, evidence({"owner": "a"}), "FAIL",
     "tag use"),
    ("metadata.required", {"fields": ["description"]}, evidence(description="x"), "PASS", ""),
    ("metadata.required", {"fields": ["description"]}, evidence(), "FAIL", "field description"),
    ("metadata.required", {"min_description_chars": 10}, evidence(description="short"), "FAIL",
     "at least 10"),
    ("metadata.required", {"run_params": ["seed", "lr"]}, evidence(), "FAIL", "run param lr"),
    ("metadata.required", {"card_sections": ["Intended use", "training data"]},
     evidence(card={"Intended use": "x", "Training data": "y"}), "PASS", ""),
    ("metadata.required", {"card_sections": ["limitations"]},
     evidence(card={"Limitations": " "}), "FAIL", "section limitations"),
    ("metadata.required", {"card_sections": ["limitations"]}, evidence(), "FAIL",
     "none found"),
    ("performance.threshold", {"metric": "auc", "min": 0.7}, evidence(metrics={"auc": 0.7}),
     "PASS", "within"),
    ("performance.threshold", {"metric": "auc", "min": 0.7}, evidence(metrics={"auc": 0.69}),
     "FAIL", "< min"),
    ("performance.threshold", {"metric": "psi", "max": 0.1}, evidence(metrics={"psi": 0.2}),
     "FAIL", "> max"),
    ("performance.threshold", {"metric": "auc", "min": 0.7}, evidence(metrics={"acc": 0.9}),
     "ERROR", "missing"),
    ("performance.threshold", {"metric": "auc", "min": 0.7},
     evidence(metrics={"auc": float("nan")}), "ERROR", "NaN"),
    ("governance.independent_validation", {}, evidence({"owner": "a", "validator": "b"}),
     "PASS", "independent"),
    ("governance.independent_validation", {}, evidence({"owner": "a"}), "FAIL",
     "no validator"),
    ("governance.independent_validation", {}, evidence({"owner": "A", "validator": "a "}),
     "FAIL", "model owner"),
    ("governance.independent_validation", {}, evidence({"owner": "x", "validator": "alice"}),
     "FAIL", "created this version"),
    ("governance.review_age", {"max_age_days": 365},
     evidence({"validation_date": "2026-01-10"}), "PASS", "days old"),
    ("governance.review_age", {"max_age_days": 180},
     evidence({"validation_date": "2026-01-10"}), "FAIL", "> 180"),
    ("governance.review_age", {"max_age_days": 180}, evidence(), "FAIL", "no validation date"),
    ("governance.review_age", {"max_age_days": 180},
     evidence({"validation_date": "last year"}), "ERROR", "not an ISO date"),
    ("governance.review_age", {"max_age_days": 180},
     evidence({"validation_date": "2027-01-01"}), "FAIL", "future"),
    ("governance.approvals", {"min_approvers": 2}, evidence({"approvers": "c, d"}), "PASS",
     "c, d"),
    ("governance.approvals", {"min_approvers": 2}, evidence({"approvers": "c,c"}), "FAIL",
     "1 approver"),
    ("governance.approvals", {"min_approvers": 2},
     evidence({"approvers": "c, alice", "owner": "alice"}), "FAIL", "(owner)"),
    ("governance.approvals", {"min_approvers": 1, "allowed": ["cro"]},
     evidence({"approvers": "bob"}), "FAIL", "not an allowed approver"),
]


@pytest.mark.parametrize("name,params,ev,status,fragment", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_builtin_check(name, params, ev, status, fragment) -> None:
    chk = default_registry().get(name)
    ctx = CheckContext(evidence=ev, options=EvaluationOptions(now=NOW))
    p = chk.params.model_validate(params)
    try:
        result = chk(p, ctx)
    except CheckError as exc:  # the engine turns these into ERROR
        assert status == "ERROR" and fragment in str(exc)
        return
    assert result.status == Status(status), result.message
    assert fragment in result.message


def test_model_card_from_markdown_file(tmp_path) -> None:
    from mrm_gate.evidence.local import LocalFolderStore

    (tmp_path / "card.md").write_text(CARD)
    ev = Evidence.model_validate({"model": {"name": "m"}, "model_card_file": "card.md"})
    ev.attach_files(LocalFolderStore(tmp_path))
    chk = default_registry().get("metadata.required")
    res = chk(chk.params.model_validate({"card_sections": ["intended use", "limitations"]}),
              CheckContext(evidence=ev))
    assert res.status == Status.FAIL and res.measured == {"missing": ["model card section "
                                                                      "limitations"]}
    assert res.evidence_file == "card.md"


def test_every_builtin_check_is_documented() -> None:
    reg = default_registry()
    for name in ["metadata.required", "performance.threshold", "performance.no_regression",
                 "governance.independent_validation", "governance.review_age",
                 "governance.approvals"]:
        chk = reg.get(name)
        assert chk.summary and "Passing" in chk.doc and "Failing" in chk.doc, name


def test_unknown_and_broken_checks_have_named_errors() -> None:
    from importlib.metadata import EntryPoint

    from mrm_gate.controls.registry import CheckRegistry
    from mrm_gate.errors import UserError

    reg = CheckRegistry()
    with pytest.raises(UserError, match=r"did you mean 'performance\.threshold'"):
        reg.get("performance.treshold")
    reg._eps()["acme.broken"] = EntryPoint("acme.broken", "acme_missing_pkg.mod:check",
                                           "mrm_gate.checks")
    with pytest.raises(UserError, match="could not be loaded"):
        reg.get("acme.broken")
