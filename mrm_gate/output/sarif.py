"""SARIF 2.1.0 report, for GitHub code scanning and any other SARIF viewer.

One rule per control (id, description, help with the remediation, regulatory refs as tags) and one
result per control that failed, errored or was waived, located at the control's line in the policy
file. A waived failure is a result with an accepted external suppression (the risk acceptance),
so viewers show it as dismissed rather than dropping it.

Code scanning accepts one run per tool in a file, so several decisions (one per model, as the
GitHub Action produces) go into a single run whose results name their model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from ..decision import ControlOutcome, Decision, Severity, Status
from .values import fmt_value

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_NAME = "mrm-gate"
TOOL_URI = "https://pypi.org/project/mrm-gate/"

LEVEL = {Severity.BLOCK: "error", Severity.WARN: "warning", Severity.INFO: "note"}
REPORTED = (Status.FAIL, Status.ERROR, Status.WAIVED)


def repo_path(path: str | None, root: str | Path | None = None) -> str | None:
    """`path` as a POSIX path relative to `root` when it lies inside it, else as given.

    Reports name files the way the policy was loaded (often absolute in CI); code scanning and
    workflow annotations need paths relative to the repository checkout.
    """
    if not path:
        return None
    p = Path(path)
    if root is not None and p.is_absolute():
        try:
            p = p.resolve().relative_to(Path(root).resolve())
        except ValueError:
            return p.as_posix()
    return PurePosixPath(p.as_posix()).as_posix().removeprefix("./")


def _uri(path: str) -> str:
    """An artifactLocation URI: relative paths percent-encoded, absolute ones as file URIs."""
    p = Path(path)
    if p.is_absolute():
        return p.as_uri()
    return quote(path, safe="/-._~")


def evidence_path(decision: Decision, outcome: ControlOutcome) -> str | None:
    """The file behind a measured value, as a path, when the evidence came from a folder.

    For MLflow evidence the file is a run artifact, not a file in the repository, so there is no
    path to point at (the message names the artifact instead).
    """
    name = outcome.result.evidence_file
    if not name or decision.model.source_kind != "local" or not decision.model.uri:
        return None
    if Path(name).is_absolute():
        return name
    return str(Path(decision.model.uri) / name)


def model_label(decision: Decision) -> str:
    m = decision.model
    return m.name + (f" v{m.version}" if m.version else "")


def outcome_message(decision: Decision, o: ControlOutcome) -> str:
    """One line that says which model, which control, what was measured against what."""
    r = o.result
    text = f"{model_label(decision)}: {o.control_id} {o.status.value}: {r.message}"
    numbers = []
    if r.measured is not None:
        numbers.append(f"measured {fmt_value(r.measured)}")
    if r.threshold is not None:
        numbers.append(f"threshold {fmt_value(r.threshold)}")
    if numbers:
        text += f" ({'; '.join(numbers)})"
    if r.evidence_file and decision.model.source_kind != "local":
        text += f" [evidence: run artifact {r.evidence_file}]"
    if o.waiver is not None:
        w = o.waiver
        text += (f" [waived by {w.id}, approver {w.approver}, expires {w.expires}: "
                 f"{w.reason}]")
    return text


def _rule(o: ControlOutcome) -> dict[str, Any]:
    description = o.description or f"{o.control_id} ({o.check})"
    help_lines = [description]
    if o.remediation:
        help_lines.append(f"Remediation: {o.remediation}")
    if o.refs:
        help_lines.append(f"References: {', '.join(o.refs)}")
    md_lines = [f"**{o.control_id}** — {description}", "", f"Check: `{o.check}`"]
    if o.remediation:
        md_lines += ["", f"**Remediation:** {o.remediation}"]
    if o.refs:
        md_lines += ["", "**References:** " + ", ".join(f"`{r}`" for r in o.refs)]
    return {
        "id": o.control_id,
        "name": o.check or o.control_id,
        "shortDescription": {"text": description.splitlines()[0][:1000]},
        "fullDescription": {"text": description},
        "help": {"text": "\n".join(help_lines), "markdown": "\n".join(md_lines)},
        "defaultConfiguration": {"level": LEVEL[o.severity]},
        "properties": {
            "tags": ["model-risk", *o.refs],
            "check": o.check,
            "severity": o.severity.value,
        },
    }


def _location(path: str, line: int | None, root: str | Path | None) -> dict[str, Any]:
    rel = repo_path(path, root) or path
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(rel)}}
    if line is not None and line >= 1:
        physical["region"] = {"startLine": line}
    return {"physicalLocation": physical}


def _fingerprint(decision: Decision, o: ControlOutcome) -> str:
    """Stable across runs for the same model and control, so code scanning tracks one alert."""
    key = f"{decision.model.name}\0{o.control_id}".encode()
    return hashlib.sha256(key).hexdigest()[:32]


def policy_location(decision: Decision, o: ControlOutcome) -> tuple[str, int] | None:
    """Where to point for an outcome: the control's line in the policy file.

    A precondition failure (evidence unreadable, tier unresolvable) has no control line; the
    policy file's first line stands in, and when even that is unknown, a local evidence folder's
    `evidence.yaml`.
    """
    if o.policy_file:
        return o.policy_file, o.policy_line or 1
    if decision.policy.path:
        return decision.policy.path, 1
    if decision.model.source_kind == "local" and decision.model.uri:
        return str(Path(decision.model.uri) / "evidence.yaml"), 1
    return None


def _result(decision: Decision, o: ControlOutcome, rule_index: int,
            root: str | Path | None) -> dict[str, Any]:
    where = policy_location(decision, o)
    locations = [_location(where[0], where[1], root)] if where else []
    ev = evidence_path(decision, o)
    related = []
    if ev:
        rel = _location(ev, None, root)
        rel["id"] = 1
        rel["message"] = {"text": f"evidence for {o.control_id}"}
        related.append(rel)
    level = LEVEL[o.severity]
    result: dict[str, Any] = {
        "ruleId": o.control_id,
        "ruleIndex": rule_index,
        "level": level if o.status != Status.WAIVED else "note",
        "kind": "fail",
        "message": {"text": outcome_message(decision, o)},
        "locations": locations,
        "partialFingerprints": {"mrmGateModelControl/v1": _fingerprint(decision, o)},
        "properties": {
            "model": decision.model.name,
            "modelVersion": decision.model.version,
            "status": o.status.value,
            "severity": o.severity.value,
            "verdict": decision.verdict.value,
            "decisionId": decision.id,
            "measured": fmt_value(o.result.measured),
            "threshold": fmt_value(o.result.threshold),
        },
    }
    if related:
        result["relatedLocations"] = related
    if o.waiver is not None:
        w = o.waiver
        result["suppressions"] = [{
            "kind": "external",
            "status": "accepted",
            "justification": f"waiver {w.id} approved by {w.approver} until {w.expires}: "
                             f"{w.reason}",
        }]
    return result


def sarif_log(decisions: Sequence[Decision], *, root: str | Path | None = None) -> dict[str, Any]:
    """The SARIF log (as a dict) for one or more decisions, all in one run."""
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results: list[dict[str, Any]] = []
    for decision in decisions:
        for o in decision.outcomes:
            if o.control_id not in index:
                index[o.control_id] = len(rules)
                rules.append(_rule(o))
            if o.status in REPORTED:
                results.append(_result(decision, o, index[o.control_id], root))
    version = decisions[0].tool_version if decisions else None
    driver: dict[str, Any] = {"name": TOOL_NAME, "informationUri": TOOL_URI, "rules": rules}
    if version:
        driver["version"] = version
        driver["semanticVersion"] = version
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "columnKind": "unicodeCodePoints",
        "results": results,
        "invocations": [{
            "executionSuccessful": True,
            "properties": {"decisions": [_decision_summary(d) for d in decisions]},
        }],
    }
    return {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}


def _decision_summary(d: Decision) -> dict[str, Any]:
    return {"id": d.id, "model": d.model.name, "version": d.model.version,
            "verdict": d.verdict.value, "tier": d.tier.tier, "target": d.target,
            "policy": d.policy.name, "policySha256": d.policy.sha256}


def render_many(decisions: Iterable[Decision], *, root: str | Path | None = None) -> str:
    return json.dumps(sarif_log(list(decisions), root=root), indent=2, ensure_ascii=False) + "\n"


def render(decision: Decision) -> str:
    """The `sarif` output format: SARIF 2.1.0 JSON for one decision."""
    return render_many([decision])


decision = render  # the registry's name: one function per result type in every format module
