"""Property test of the evidence reader (Hypothesis): whatever an evidence folder holds,

- loading it raises nothing but a UserError (EvidenceError is one), never a crash;
- every file it names either is refused (EvidenceError / CheckError) or resolves inside the
  folder, however the path is written (`..`, absolute, `file://`, a symlink out of the folder,
  a symlinked subfolder), and no message quotes the file outside;
- `performance.threshold` and `performance.no_regression` pass only on finite real numbers
  (no inf, NaN, MLflow's float-max infinity, boolean or string).

Kept under the test-time budget (a few seconds): one folder per example, no network.
"""

from __future__ import annotations

import json
import math
import shutil
import string
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mrm_gate.controls.context import CheckContext, EvaluationOptions
from mrm_gate.decision import Status
from mrm_gate.engine import evaluate
from mrm_gate.errors import CheckError, EvidenceError, UserError
from mrm_gate.evidence.card import load_model_card
from mrm_gate.evidence.datasets import load_dataset
from mrm_gate.evidence.local import load_local_evidence
from mrm_gate.policy import load_policy

SECRET = "FUZZSECRET-51c0"
POLICY = """
apiVersion: mrm-gate/v1
kind: Policy
metadata: {name: fuzz}
tiering: {default: t}
tiers:
  t:
    controls:
      - {id: MRM-P-MIN, check: performance.threshold, params: {metric: auc, min: 0.5}}
      - {id: MRM-P-MAX, check: performance.threshold, params: {metric: auc, max: 0.5}}
      - {id: MRM-P-REG, check: performance.no_regression, params: {metric: auc, tolerance: 0.1}}
"""
THRESHOLDS = ("MRM-P-MIN", "MRM-P-MAX")
PLACEHOLDER = "@@AUC@@"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A folder outside every evidence folder (the secret) and the policy."""
    base = tmp_path_factory.mktemp("fuzz")
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text(f"{SECRET},score\n1,0.9\n")
    (outside / "evidence.yaml").write_text(
        f"model: {{name: {SECRET}}}\nrun: {{metrics: {{auc: 0.9}}}}\n")
    policy = base / "policy.yaml"
    policy.write_text(POLICY)
    return {"outside": outside, "policy": load_policy(policy)}


def _paths(outside: Path):
    secret = outside / "secret.csv"
    named = st.sampled_from([
        "data.csv", "sub/data.csv", "sub/../data.csv", "./data.csv", "link.csv",
        "linkdir/secret.csv", "sub", ".", "", "../outside/secret.csv",
        "../../outside/secret.csv", f"../{outside.name}/secret.csv", str(secret),
        secret.as_uri(), "file://localhost" + str(secret), f"sub/../../{outside.name}/secret.csv",
        "C:/secret.csv", "~/secret.csv", "runs:/other/secret.csv", "s3://b/secret.csv",
        "a\\..\\..\\secret.csv", "loop", "data.csv/", "evidence.yaml",
        json.dumps({"uri": str(secret)}), json.dumps({"uri": "data.csv"}),
    ])
    return st.one_of(named, st.text(alphabet=string.printable, max_size=24))


METRIC_RAW = st.sampled_from([
    ".inf", "-.inf", "+.inf", ".nan", ".NaN", "1e400", "1.0e+400", "-1.0e+400",
    "1.7976931348623157e+308", "-1.7976931348623157e+308", "true", "false", "yes", "'0.9'",
    '"0.9"', "null", "~", "[0.9]", "{v: 0.9}", "0.9", "0.1", "1", "0", "-3", "1_000",
    "0x10", "1" + "0" * 400, "'Infinity'", "2026-01-01",
])
METRIC_VALUE = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
    st.integers(min_value=-(10**400), max_value=10**400), st.text(max_size=8),
    st.lists(st.floats(allow_nan=False), max_size=2),
)


@st.composite
def evidence_docs(draw, outside: Path) -> tuple[str, dict]:
    """evidence.yaml text: a structured document (dumped) with raw YAML metric scalars mixed in,
    or random text."""
    if draw(st.integers(0, 9)) == 9:  # (Hypothesis favours small integers: 9 stays rare)
        return draw(st.text(max_size=80)), {}
    path = _paths(outside)
    doc: dict = {"model": {"name": draw(st.text(min_size=1, max_size=12)),
                           "version": draw(st.sampled_from(["1", "2", None]))}}
    run: dict = {"metrics": draw(st.dictionaries(st.sampled_from(["ks", "gini"]), METRIC_VALUE,
                                                 max_size=2))}
    if draw(st.booleans()):
        run["datasets"] = [{"name": "v", "context": "validation", "source": draw(path)}]
    doc["run"] = run
    if draw(st.booleans()):
        doc["datasets"] = {"validation": {"path": draw(path)}}
    if draw(st.booleans()):
        doc["backtest"] = {"path": draw(path)}
    if draw(st.booleans()):
        doc["model_card_file"] = draw(path)
    if draw(st.booleans()):
        doc["baselines"] = {"champion": {"version": "9", "metrics": {"auc": draw(METRIC_VALUE)}}}
    if draw(st.integers(0, 7)) == 7:  # a wrong type somewhere
        doc[draw(st.sampled_from(["extra", "datasets", "backtest", "run", "model"]))] = draw(
            st.one_of(st.text(max_size=5), st.integers(), st.lists(st.integers(), max_size=2)))
    if isinstance(doc.get("run"), dict):
        # the metric as a Python value, or as raw YAML typed by an owner (`.inf`, `1e400`, ...)
        raw = draw(st.one_of(st.none(), METRIC_RAW))
        doc["run"]["metrics"]["auc"] = PLACEHOLDER if raw is not None else draw(METRIC_VALUE)
        return yaml.safe_dump(doc, allow_unicode=True).replace(f"'{PLACEHOLDER}'", raw or ""), doc
    text = yaml.safe_dump(doc, allow_unicode=True)
    return text, doc


def _folder(outside: Path, text: str) -> Path:
    root = Path(tempfile.mkdtemp(prefix="mrm-fuzz-"))
    (root / "sub").mkdir()
    (root / "data.csv").write_text("score,target\n0.9,1\n0.1,0\n")
    (root / "sub" / "data.csv").write_text("score,target\n0.8,1\n")
    (root / "link.csv").symlink_to(outside / "secret.csv")
    (root / "linkdir").symlink_to(outside, target_is_directory=True)
    (root / "loop").symlink_to(root / "loop")
    (root / "evidence.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    return root


def _inside(path: Path, root: Path) -> bool:
    real, top = path.resolve(), root.resolve()
    return real == top or top in real.parents


def _passes_only_on_finite(value) -> bool:
    return (not isinstance(value, bool) and isinstance(value, float) and math.isfinite(value)
            and abs(value) < sys.float_info.max)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_evidence_reader_holds_under_random_evidence(world, data) -> None:
    outside = world["outside"]
    text, _ = data.draw(evidence_docs(outside))
    root = _folder(outside, text)
    try:
        try:
            ev = load_local_evidence(root)
        except UserError as exc:  # EvidenceError included: the one allowed failure
            assert SECRET not in str(exc)
            event("evidence refused")
            return
        event("evidence loaded")
        # every file it names is refused or inside the folder
        named = [ev.model_card_file, ev.backtest.path if ev.backtest else None,
                 *(d.path for d in ev.datasets.values()), *(d.source for d in ev.run.datasets)]
        for p in filter(None, named):
            try:
                got = ev.open_file(p, "fuzz")
            except EvidenceError as exc:
                assert SECRET not in str(exc)
                event("a named file refused")
                continue
            assert _inside(got, root), (p, got)
            event("a named file read (inside)")
        ctx = CheckContext(evidence=ev, options=EvaluationOptions())
        try:
            ds = load_dataset(ctx, "validation")
            assert SECRET not in " ".join(ds.columns)
        except (CheckError, EvidenceError) as exc:
            assert SECRET not in str(exc)
        try:
            load_model_card(ev)
        except UserError as exc:
            assert SECRET not in str(exc)
        # no threshold passes on a value that is not a finite real number
        decision = evaluate(world["policy"], ev, target="champion")
        for o in decision.outcomes:
            event(f"{o.control_id} {o.status.value}")
            if o.control_id in THRESHOLDS and o.status == Status.PASS:
                assert _passes_only_on_finite(ev.run.metrics.get("auc")), ev.run.metrics
            if o.control_id == "MRM-P-REG" and o.status == Status.PASS and ev.baselines:
                assert _passes_only_on_finite(ev.baselines["champion"].metrics.get("auc"))
                assert _passes_only_on_finite(ev.run.metrics.get("auc"))
            assert SECRET not in o.result.message
    finally:
        shutil.rmtree(root, ignore_errors=True)
