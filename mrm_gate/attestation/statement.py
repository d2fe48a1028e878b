"""The in-toto Statement v1 of a model-risk decision, and its strict reading.

Statement (the DSSE payload, canonical JSON)::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": "models:/credit/3", "digest": {"sha256": "<model dir digest>"}},
                 {"name": "models:/credit/3#evidence", "digest": {"sha256": "<evidence>"}}],
     "predicateType": "https://mrm-gate.dev/attestation/model-risk-decision/v1",
     "predicate": {...}}

The model subject is present when the model directory was digested (`digest.py`); the evidence
subject (the gate's `Evidence.content_sha256()`) always is. The predicate is described by
`model-risk-decision.predicate.schema.json` (published in docs/ and shipped in the package).
"""

from __future__ import annotations

import re
from typing import Any

from .keys import AttestationError

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://mrm-gate.dev/attestation/model-risk-decision/v1"
EVIDENCE_SUFFIX = "#evidence"
SCHEMA_FILE = "model-risk-decision.predicate.schema.json"
_HEX = {"sha256": 64, "sha384": 96, "sha512": 128}
_HEX_RE = re.compile(r"[0-9a-f]+")
VERDICTS = ("APPROVE", "CONDITIONAL", "BLOCK")


def model_uri(model: dict[str, Any]) -> str:
    """The subject name of a model: `models:/NAME/VERSION` (the registry URI a deploy pipeline
    knows, whatever the evidence was read from), else the evidence URI."""
    if model.get("version") is not None or not model.get("uri"):
        return f"models:/{model.get('name')}/{model.get('version')}"
    return str(model["uri"])


def subjects_for(record: dict[str, Any]) -> list[dict[str, Any]]:
    model = record.get("model") if isinstance(record.get("model"), dict) else {}
    out = []
    if model.get("sha256"):
        out.append({"name": model_uri(model), "digest": {"sha256": model["sha256"]}})
    if record.get("evidence_sha256"):
        out.append({"name": model_uri(model) + EVIDENCE_SUFFIX,
                    "digest": {"sha256": record["evidence_sha256"]}})
    return out


def statement_for(record: dict[str, Any]) -> dict[str, Any]:
    """The Statement of a decision record (`record_for`); `type`/`subject` keys are views."""
    predicate = {k: v for k, v in record.items() if k not in ("type", "subject", "warnings")}
    return {"_type": STATEMENT_TYPE, "subject": subjects_for(record),
            "predicateType": PREDICATE_TYPE, "predicate": predicate}


def _fail(why: str) -> AttestationError:
    return AttestationError(f"attestation statement is invalid: {why}")


def _check_subjects(subjects: Any) -> None:
    if not isinstance(subjects, list) or not subjects:
        raise _fail("it names no subject")
    for i, s in enumerate(subjects):
        if not isinstance(s, dict) or not isinstance(s.get("digest"), dict) or not s["digest"]:
            raise _fail(f"subject {i} has no digest")
        if "name" in s and not isinstance(s["name"], str):
            raise _fail(f"subject {i} has a name that is not a string")
        for alg, value in s["digest"].items():
            want = _HEX.get(alg)
            if want is not None and not (isinstance(value, str) and len(value) == want
                                         and _HEX_RE.fullmatch(value)):
                raise _fail(f"subject {i} digest {alg[:20]} is not {want} lower-case hex "
                            "digits")


def _check_predicate(p: Any) -> None:
    if not isinstance(p, dict):
        raise _fail("predicate is not an object")
    model = p.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("name"), str):
        raise _fail("predicate.model.name is missing")
    if p.get("verdict") not in VERDICTS:
        raise _fail(f"predicate.verdict is not one of {', '.join(VERDICTS)}")
    for field in ("decision_id", "evidence_sha256", "decided_at"):
        if not isinstance(p.get(field), str):
            raise _fail(f"predicate.{field} is missing or not a string")
    if not isinstance(p.get("policy"), dict):
        raise _fail("predicate.policy is missing")
    for field in ("failing_controls", "waived_controls"):
        value = p.get(field, [])
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise _fail(f"predicate.{field} is not a list of control ids")


def record_from_statement(statement: Any) -> dict[str, Any]:
    """The decision record of a verified Statement; AttestationError if it is not ours."""
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise _fail(f"_type is not {STATEMENT_TYPE}")
    extra = sorted(set(statement) - {"_type", "subject", "predicateType", "predicate"})
    if extra:
        raise _fail(f"unexpected field {extra[0][:40]!r}")
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise AttestationError(
            f"attestation is a {str(statement.get('predicateType'))[:80]!r} statement, not a "
            f"model-risk decision ({PREDICATE_TYPE})")
    _check_subjects(statement.get("subject"))
    predicate = statement.get("predicate")
    _check_predicate(predicate)
    evidence = [s for s in statement["subject"]
                if s["digest"].get("sha256") == predicate["evidence_sha256"]]
    if not evidence:
        raise _fail("no subject carries the predicate's evidence_sha256")
    model_sha = predicate["model"].get("sha256")
    if model_sha is not None and not any(s["digest"].get("sha256") == model_sha
                                         for s in statement["subject"]):
        raise _fail("no subject carries the predicate's model.sha256")
    return {"type": PREDICATE_TYPE, **predicate, "subject": statement["subject"]}
