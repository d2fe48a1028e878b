"""JUnit XML format, for CI test reporters (GitHub test-reporter actions, GitLab, Jenkins): a
decision, and the results of `mrm-gate policy test`.

Every text and attribute goes through `escape.xml_clean` (characters XML 1.0 forbids, e.g. a
control character in a check message or a test case name, would make the file malformed);
ElementTree escapes `<`, `&` and quotes.

Decisions: one `<testsuite>` per model, one `<testcase>` per control. A control that FAILed is a
`<failure>`, one that could not be evaluated (ERROR) an `<error>`: reporters show them apart, and an
error is never a pass. SKIPPED controls are `<skipped>`; a WAIVED control counts as passed and its
waiver (who accepted the risk, why, until when) is in `<system-out>`. The severity is the failure's
`type`, so a reporter can tell a blocking failure from a warning.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..decision import ControlOutcome, Decision, Status
from .escape import xml_clean as _clean
from .sarif import evidence_path, model_label
from .values import fmt_value

if TYPE_CHECKING:
    from ..policy_tests import CaseResult, SuiteResult

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


def _time(seconds: float) -> str:
    return f"{max(seconds, 0.0):.3f}"


def _details(decision: Decision, o: ControlOutcome) -> str:
    r = o.result
    lines = [f"{o.control_id} ({o.check}), severity {o.severity.value}: {r.message}"]
    if r.measured is not None:
        lines.append(f"measured: {fmt_value(r.measured)}")
    if r.threshold is not None:
        lines.append(f"threshold: {fmt_value(r.threshold)}")
    if o.policy_file:
        lines.append(f"policy: {o.policy_file}" + (f":{o.policy_line}" if o.policy_line else ""))
    ev = evidence_path(decision, o) or r.evidence_file
    if ev:
        lines.append(f"evidence: {ev}")
    if o.remediation:
        lines.append(f"remediation: {o.remediation}")
    if o.refs:
        lines.append(f"refs: {', '.join(o.refs)}")
    lines += [f"note: {n}" for n in r.notes]
    for w in o.expired_waivers:
        lines.append(f"expired waiver {w.id} (expired {w.expires}) was not applied")
    return "\n".join(lines)


def _testcase(decision: Decision, o: ControlOutcome) -> ET.Element:
    case = ET.Element("testcase", {
        "name": _clean(f"{o.control_id} {o.check}".strip()),
        "classname": _clean(f"mrm-gate.{model_label(decision)}"),
        "time": _time(o.duration_s),
    })
    details = _clean(_details(decision, o))
    attrs = {"message": _clean(o.result.message), "type": f"{o.status.value}/{o.severity.value}"}
    if o.status == Status.FAIL:
        ET.SubElement(case, "failure", attrs).text = details
    elif o.status == Status.ERROR:
        ET.SubElement(case, "error", attrs).text = details
    elif o.status == Status.SKIPPED:
        ET.SubElement(case, "skipped", {"message": _clean(o.result.message)})
    out = details
    if o.status == Status.WAIVED and o.waiver is not None:
        w = o.waiver
        out = _clean(f"WAIVED by {w.id}: approver {w.approver}, expires {w.expires}, "
                     f"reason: {w.reason}" + (f" (waivers file {w.source})" if w.source else "")
                     + "\n" + details)
    ET.SubElement(case, "system-out").text = out
    return case


def _testsuite(decision: Decision) -> ET.Element:
    counts = decision.counts()
    suite = ET.Element("testsuite", {
        "name": _clean(model_label(decision)),
        "tests": str(len(decision.outcomes)),
        "failures": str(counts[Status.FAIL.value]),
        "errors": str(counts[Status.ERROR.value]),
        "skipped": str(counts[Status.SKIPPED.value]),
        "time": _time(decision.duration_s),
        "timestamp": decision.created_at.isoformat(timespec="seconds"),
        "id": decision.id,
    })
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("verdict", decision.verdict.value),
        ("tier", decision.tier.tier),
        ("target", decision.target),
        ("policy", decision.policy.name),
        ("policy.version", decision.policy.version),
        ("policy.sha256", decision.policy.sha256),
        ("evidence.sha256", decision.evidence_sha256),
        ("model.uri", decision.model.uri),
        ("tool.version", decision.tool_version),
    ):
        if value is not None:
            ET.SubElement(props, "property", {"name": name, "value": _clean(value)})
    for o in decision.outcomes:
        suite.append(_testcase(decision, o))
    reasons = "\n".join([f"verdict: {decision.verdict.value}", *decision.reasons,
                         *decision.notes])
    ET.SubElement(suite, "system-out").text = _clean(reasons)
    return suite


def render_many(decisions: Iterable[Decision]) -> str:
    """One `<testsuites>` document holding a testsuite per decision."""
    decisions = list(decisions)
    root = ET.Element("testsuites", {
        "name": "mrm-gate",
        "tests": str(sum(len(d.outcomes) for d in decisions)),
        "failures": str(sum(d.counts()[Status.FAIL.value] for d in decisions)),
        "errors": str(sum(d.counts()[Status.ERROR.value] for d in decisions)),
        "time": _time(sum(d.duration_s for d in decisions)),
    })
    for d in decisions:
        root.append(_testsuite(d))
    return _document(root)


def _document(root: ET.Element) -> str:
    ET.indent(root)
    return XML_DECLARATION + ET.tostring(root, encoding="unicode") + "\n"


def decision(d: Decision) -> str:
    """The `junit` output format: JUnit XML for one decision."""
    return render_many([d])


render = decision  # the name every format module had before the family grew


def policy_tests(suite: SuiteResult) -> str:
    """`policy test --format junit`: one testsuite per (test file, policy), one testcase per
    case; a failing case is a `<failure>` with expected vs actual."""
    from ._shared import yaml_block

    root = ET.Element("testsuites", name="mrm-gate policy tests",
                      tests=str(len(suite.results)), failures=str(suite.counts()[1]),
                      time=_time(suite.duration_s))
    groups: dict[tuple[str, str], list[CaseResult]] = {}
    for r in suite.results:
        groups.setdefault((r.file, r.policy), []).append(r)
    for (file, policy), rs in groups.items():
        ts = ET.SubElement(root, "testsuite", name=_clean(f"{Path(file).name} [{policy}]"),
                           tests=str(len(rs)), failures=str(sum(not r.ok for r in rs)),
                           errors="0", skipped="0", time=_time(sum(r.duration_s for r in rs)))
        for r in rs:
            tc = ET.SubElement(ts, "testcase", name=_clean(r.case),
                               classname=_clean(f"{rs[0].policy_name}.{Path(file).stem}"),
                               time=_time(r.duration_s))
            if not r.ok:
                fail = ET.SubElement(tc, "failure", message=_clean(r.problems[0]),
                                     type="PolicyTestFailure")
                fail.text = _clean("\n".join([*r.problems, "", "expected:",
                                              *yaml_block(r.expected), "actual:",
                                              *yaml_block(r.actual)]))
    return _document(root)
