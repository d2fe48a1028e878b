"""Policy tests as data: cases of (evidence fixture -> expected decision and failing controls).

Like `conftest verify` or `opa test`, but for model risk policies: a policy change is tested
the way code is. A test file (`kind: PolicyTests`) names one or more policies and lists cases;
each case gives evidence (a local evidence folder, or the `evidence.yaml` content inline), an
optional `patch` deep-merged into it (so a failing case reads as "the good model, minus its
owner"), the target, the evaluation clock, and what must come out:

    apiVersion: mrm-gate/v1
    kind: PolicyTests
    policies: [../default.yaml]          # relative to this file
    defaults:
      evidence: fixtures/good-model      # folder with evidence.yaml, or an inline mapping
      target: champion
      now: 2026-06-01                    # review ages are computed against this date
    cases:
      - name: documented low-tier model is approved
        patch: {model: {tags: {mrm.risk_tier: low}}}
        expect: {decision: APPROVE, tier: low}
      - name: no owner blocks
        patch: {model: {tags: {owner: null}}}       # null removes a key
        expect: {decision: BLOCK, failing: [MRM-DOC-001]}

Checks that load the model (explainability.shap) need `trust_model_code: true`, in
`defaults` or per case, exactly as `mrm-gate evaluate` needs --trust-model-code.

A case may list `policies: [...]` (some of the file's) to run only against those, e.g. when
a framework policy adds a control the case would also fail.

`failing` is the exact set of controls that FAILed or ERRORed without a waiver; `passing` (a
subset that must PASS) and `waived` are optional. Evidence that cannot be read gives the same
fail-closed BLOCK as `mrm-gate evaluate` (control MRM-GATE-EVIDENCE), so that can be tested too.

Run them with `mrm-gate policy test [PATHS...] [--format tap|junit|json] [-k TEXT]
[--require-coverage]`: exit 1 on any failing case; TAP shows expected vs actual and the
differences for each failure; `--require-coverage` also fails when a control of a tested
policy has no passing or no failing case.
"""

from __future__ import annotations

import copy
import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .decision import Decision, Status, Verdict
from .errors import EvidenceError, PolicyError, UserError
from .evidence.source import EvidenceSource, SubjectRef

TEST_KIND = "PolicyTests"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Expectation(_Strict):
    decision: Verdict
    tier: str | None = None
    failing: list[str] | None = Field(
        default=None, description="exact set of unwaived FAIL/ERROR controls (None: unchecked)")
    passing: list[str] = Field(default_factory=list, description="controls that must PASS")
    waived: list[str] | None = None

    @field_validator("decision", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @model_validator(mode="after")
    def _approve_has_no_failures(self) -> Expectation:
        if self.decision == Verdict.APPROVE and self.failing is None:
            self.failing = []
        return self


Clock = dt.date | dt.datetime


class CaseDefaults(_Strict):
    evidence: str | dict[str, Any] | None = None
    patch: dict[str, Any] | None = None
    target: str | None = None
    now: Clock | None = None
    waivers: str | None = None
    trust_model_code: bool | None = Field(
        default=None, description="let checks load the fixture's model (as "
        "--trust-model-code does); only for fixtures you built")


class Case(CaseDefaults):
    name: str = Field(min_length=1)
    description: str | None = None
    policies: list[str] | None = Field(
        default=None, description="run only against these of the file's policies")
    expect: Expectation


class TestFile(_Strict):
    apiVersion: Literal["mrm-gate/v1"]
    kind: Literal["PolicyTests"]
    metadata: dict[str, Any] = Field(default_factory=dict)
    policy: str | None = None
    policies: list[str] = Field(default_factory=list)
    defaults: CaseDefaults = Field(default_factory=CaseDefaults)
    cases: list[Case] = Field(min_length=1)

    @model_validator(mode="after")
    def _some_policy(self) -> TestFile:
        if self.policy:
            self.policies = [self.policy, *self.policies]
            self.policy = None
        if not self.policies:
            raise ValueError("name the policy under test: 'policy: path' or 'policies: [...]'")
        return self


@dataclass
class CaseResult:
    """The outcome of one case against one policy."""

    file: str
    policy: str  # policy file as named in the test file
    policy_name: str
    case: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    expected: dict[str, Any] = field(default_factory=dict)
    actual: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    duration_s: float = 0.0
    statuses: dict[str, Status] = field(default_factory=dict)  # control id -> status

    @property
    def title(self) -> str:
        return f"{self.policy_name} :: {self.case}"


@dataclass
class ControlCoverage:
    policy: str
    control: str
    passing_cases: list[str] = field(default_factory=list)
    failing_cases: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return bool(self.passing_cases and self.failing_cases)


@dataclass
class SuiteResult:
    results: list[CaseResult]
    coverage: dict[str, list[ControlCoverage]]  # policy path -> per control
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def counts(self) -> tuple[int, int]:
        passed = sum(r.ok for r in self.results)
        return passed, len(self.results) - passed

    def coverage_gaps(self) -> list[ControlCoverage]:
        return [c for covs in self.coverage.values() for c in covs if not c.complete]


# --------------------------------------------------------------------------- loading


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Test files: files named directly, and the `*.yaml`/`*.yml` files at the top of folders."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
            if not found:
                raise UserError(f"no policy test files (*.yaml) in {p}")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise UserError(f"policy test path {p} does not exist")
    return out


def load_test_file(path: Path) -> TestFile:
    from .yamlsafe import load_yaml, pydantic_items

    loc = load_yaml(path, "policy test")
    data = loc.data
    if not isinstance(data, dict) or data.get("kind") != TEST_KIND:
        raise PolicyError(f"{path} is not a policy test file: expected a mapping with "
                          f"apiVersion: mrm-gate/v1 and kind: {TEST_KIND}")
    try:
        return TestFile.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(f"policy test file {path} is invalid", pydantic_items(exc, loc)) from None


def deep_merge(base: Any, patch: Any) -> Any:
    """`patch` merged into `base`: mappings recursively, anything else replaced; None deletes."""
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def combine_patches(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """One patch doing `first` then `second` (a None in either still means "remove")."""
    out = copy.deepcopy(first)
    for key, value in second.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = combine_patches(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def build_evidence(spec: str | dict[str, Any] | None, patch: dict[str, Any] | None,
                   base_dir: Path):
    """Evidence from a folder (relative to `base_dir`) or inline data, with `patch` applied.

    Files named by inline evidence are looked up relative to `base_dir`.
    """
    from .evidence.local import EVIDENCE_FILE, LocalFolderStore
    from .evidence.model import Evidence
    from .yamlsafe import Located, load_yaml, pydantic_items

    if spec is None:
        raise EvidenceError("the case gives no evidence (set 'evidence' in the case or in "
                            "'defaults')")
    if isinstance(spec, str):
        root = (base_dir / spec).resolve()
        file = root / EVIDENCE_FILE
        if not file.is_file():
            raise EvidenceError(f"evidence folder {root} has no {EVIDENCE_FILE}")
        loc = load_yaml(file, "evidence")
        data, where = loc.data, loc
    else:
        root, data, where = base_dir.resolve(), spec, Located(spec, str(base_dir))
    if not isinstance(data, dict):
        raise EvidenceError(f"evidence in {where.file} must be a mapping with a 'model' key")
    if patch:
        data = deep_merge(data, patch)
    data = {"source_kind": "local", "uri": str(root), **data}
    try:
        ev = Evidence.model_validate(data)
    except ValidationError as exc:
        raise EvidenceError(f"evidence for the case is invalid ({where.file})",
                            pydantic_items(exc, Located(data, where.file))) from None
    return ev.attach_files(LocalFolderStore(root))


def _clock(value: Clock | None) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    return dt.datetime(value.year, value.month, value.day, 12, tzinfo=dt.timezone.utc)


# --------------------------------------------------------------------------- running


def _failing(decision: Decision) -> list[str]:
    return sorted({o.control_id for o in decision.outcomes
                   if o.status in (Status.FAIL, Status.ERROR)})


def _describe(decision: Decision, control: str) -> str:
    for o in decision.outcomes:
        if o.control_id == control:
            return f"{o.status.value}: {o.result.message}"
    return "did not run (not in this tier, or applies_to excludes the target)"


def compare(expect: Expectation, decision: Decision) -> list[str]:
    """Readable differences between what the case expects and what the gate decided."""
    problems: list[str] = []
    if decision.verdict != expect.decision:
        problems.append(f"decision: expected {expect.decision.value}, got "
                        f"{decision.verdict.value}")
    if expect.tier is not None and decision.tier.tier != expect.tier:
        problems.append(f"tier: expected {expect.tier}, got {decision.tier.tier} "
                        f"({decision.tier.explanation})")
    failing = set(_failing(decision))
    if expect.failing is not None:
        for cid in sorted(set(expect.failing) - failing):
            problems.append(f"expected to fail but did not: {cid} ({_describe(decision, cid)})")
        for cid in sorted(failing - set(expect.failing)):
            problems.append(f"failed unexpectedly: {cid} ({_describe(decision, cid)})")
    for cid in expect.passing:
        status = next((o.status for o in decision.outcomes if o.control_id == cid), None)
        if status != Status.PASS:
            problems.append(f"expected to pass: {cid} ({_describe(decision, cid)})")
    if expect.waived is not None:
        waived = {o.control_id for o in decision.outcomes if o.status == Status.WAIVED}
        for cid in sorted(set(expect.waived) ^ waived):
            which = "expected waived but was not" if cid in expect.waived else "waived unexpectedly"
            problems.append(f"{which}: {cid} ({_describe(decision, cid)})")
    return problems


def _expected_summary(expect: Expectation) -> dict[str, Any]:
    out: dict[str, Any] = {"decision": expect.decision.value}
    if expect.tier:
        out["tier"] = expect.tier
    if expect.failing is not None:
        out["failing"] = sorted(expect.failing)
    if expect.passing:
        out["passing"] = sorted(expect.passing)
    if expect.waived is not None:
        out["waived"] = sorted(expect.waived)
    return out


def _actual_summary(decision: Decision) -> dict[str, Any]:
    return {"decision": decision.verdict.value, "tier": decision.tier.tier,
            "failing": _failing(decision),
            "waived": sorted(o.control_id for o in decision.outcomes
                             if o.status == Status.WAIVED)}


class _PolicyCache:
    def __init__(self) -> None:
        self._policies: dict[Path, Any] = {}

    def get(self, path: Path):
        from .policy.loader import load_policy

        key = path.resolve()
        if key not in self._policies:
            self._policies[key] = load_policy(path)
        return self._policies[key]


def run_case(case: Case, defaults: CaseDefaults, policy, policy_label: str, file: Path,
             waivers_cache: dict[Path, list]) -> CaseResult:
    """Evaluate one case against one loaded policy and compare with its expectation."""
    from .controls.context import EvaluationOptions
    from .gate import GateRequest, run_gate
    from .policy.loader import load_waivers

    started = time.perf_counter()
    base_dir = file.parent
    spec = case.evidence if case.evidence is not None else defaults.evidence
    patch = combine_patches(defaults.patch or {}, case.patch or {})
    target = case.target if case.target is not None else defaults.target
    now = _clock(case.now or defaults.now)
    waivers_name = case.waivers or defaults.waivers
    result = CaseResult(file=str(file), policy=policy_label, policy_name=policy.metadata.name,
                        case=case.name, ok=False, expected=_expected_summary(case.expect))
    waivers = []
    if waivers_name:
        wpath = (base_dir / waivers_name).resolve()
        if wpath not in waivers_cache:
            waivers_cache[wpath] = load_waivers(wpath, policy)
        waivers = waivers_cache[wpath]
    trust = case.trust_model_code if case.trust_model_code is not None else bool(
        defaults.trust_model_code)
    options = EvaluationOptions(seed=0, now=now, trust_model_code=trust)
    request = GateRequest(subject=str(spec) if isinstance(spec, str) else "inline evidence",
                          policy=policy, waivers=waivers, waivers_file=waivers_name,
                          target=target, options=options)
    decision = run_gate(request, CaseSource(spec, patch, base_dir))
    result.actual = _actual_summary(decision)
    result.statuses = {o.control_id: o.status for o in decision.outcomes}
    result.problems = compare(case.expect, decision)
    result.ok = not result.problems
    result.duration_s = time.perf_counter() - started
    return result


class CaseSource(EvidenceSource):
    """A policy-test case's evidence (a fixture folder or inline data, plus its patch), built
    when the gate asks for it, so a case whose evidence cannot be built blocks exactly as
    `mrm-gate evaluate` does (control MRM-GATE-EVIDENCE)."""

    name = "policy-test-case"

    def __init__(self, spec: Any, patch: dict[str, Any] | None, base_dir: Path) -> None:
        super().__init__()
        self.spec, self.patch, self.base_dir = spec, patch, base_dir

    @classmethod
    def claims(cls, subject: str) -> bool:
        return False

    def describe(self, subject: str) -> SubjectRef:
        return SubjectRef(name=subject, source_kind="local")

    def load(self, subject: str):
        return build_evidence(self.spec, self.patch, self.base_dir)


def run_tests(paths: Iterable[str | Path], *, select: str | None = None) -> SuiteResult:
    """Run every case of every test file under `paths`; `select` keeps cases whose title
    contains it. Raises UserError for an unreadable test file or policy."""
    started = time.perf_counter()
    cache = _PolicyCache()
    results: list[CaseResult] = []
    policies_seen: dict[str, Any] = {}
    for file in discover(paths):
        spec = load_test_file(file)
        waivers_cache: dict[Path, list] = {}
        for label in spec.policies:
            ppath = file.parent / label
            if not ppath.is_file():
                raise PolicyError(f"{file}: policy {label!r} not found (looked for {ppath})")
            policy = cache.get(ppath)
            policies_seen[str(ppath.resolve())] = policy
            for case in spec.cases:
                if case.policies is not None and label not in case.policies:
                    continue
                title = f"{policy.metadata.name} :: {case.name}"
                if select and select.lower() not in title.lower():
                    continue
                results.append(run_case(case, spec.defaults, policy, label, file, waivers_cache))
    coverage = control_coverage(results, policies_seen)
    return SuiteResult(results, coverage, time.perf_counter() - started)


def control_coverage(results: list[CaseResult], policies: dict[str, Any]
                     ) -> dict[str, list[ControlCoverage]]:
    """For each policy, which passing test cases saw each control PASS and FAIL/ERROR."""
    out: dict[str, list[ControlCoverage]] = {}
    by_name = {}
    for path, policy in policies.items():
        covs = [ControlCoverage(path, cid) for cid in sorted(policy.control_ids())]
        out[path] = covs
        by_name[path] = {c.control: c for c in covs}
    for r in results:
        if not r.ok:
            continue
        path = str((Path(r.file).parent / r.policy).resolve())
        index = by_name.get(path, {})
        expected_failing = set(r.expected.get("failing", []))
        for cid, status in r.statuses.items():
            cov = index.get(cid)
            if cov is None:
                continue
            if status == Status.PASS:
                cov.passing_cases.append(r.case)
            elif status in (Status.FAIL, Status.ERROR) and cid in expected_failing:
                cov.failing_cases.append(r.case)
    return out


# --------------------------------------------------------------------------- reporting
# Rendered by `mrm_gate.output` (`tap.policy_tests`, `junit.policy_tests`,
# `jsonfmt.policy_tests`): `render(suite, fmt)`. These names stay for callers of this module.


def render_tap(suite: SuiteResult, *, show_coverage: bool = True) -> str:
    from .output.tap import policy_tests

    return policy_tests(suite, show_coverage=show_coverage)


def render_junit(suite: SuiteResult) -> str:
    from .output import render

    return render(suite, "junit")


def render_json(suite: SuiteResult) -> str:
    from .output import render

    return render(suite, "json")


RENDERERS = {"tap": render_tap, "junit": render_junit, "json": render_json}
