"""The evidence boundary: numbers that are not measurements, paths that leave the evidence,
and messages that would quote a file. Each attack is tested as a class (parametrised).

1. A metric (run, baseline, tag read as a number) that is not a finite real number makes the
   control that reads it ERROR, never PASS; the evidence still loads and other controls report.
2. Every file the gate opens resolves (after symlinks) inside the evidence folder or the run's
   downloaded artifacts; anything else is an error naming the field, not the file's content.
3. Parser errors (CSV, Parquet, YAML, numbers in a backtest) never quote the file.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
from pathlib import Path

import pytest
import yaml
from core_helpers import GOOD, write

from mrm_gate.controls.context import CheckContext, EvaluationOptions
from mrm_gate.decision import CheckResult, Status, Verdict
from mrm_gate.engine import evaluate
from mrm_gate.errors import CheckError, EvidenceError, UserError
from mrm_gate.evidence import load_evidence
from mrm_gate.evidence.card import load_model_card
from mrm_gate.evidence.datasets import load_dataset
from mrm_gate.evidence.mlflow_source import CachedRunArtifacts
from mrm_gate.evidence.model import Evidence
from mrm_gate.policy import load_policy

NOW = dt.datetime(2026, 11, 21, tzinfo=dt.timezone.utc)
SECRET = "TOPSECRET-7f3a9c"  # content of files outside the evidence; must never be shown
GOOD_YAML = yaml.safe_dump(GOOD)


def evidence_text(auc: str = "0.81", ks: str = "0.42", extra: str = "") -> str:
    """evidence.yaml with raw YAML scalars for the metrics (as an owner would type them)."""
    return (f"model: {{name: credit-pd, version: '3', tags: {{owner: alice}}}}\n"
            f"run:\n  metrics:\n    auc: {auc}\n    ks: {ks}\n    brier: 0.05\n{extra}")


def folder(tmp_path: Path, text: str, files: dict[str, str] | None = None,
           name: str = "ev") -> Path:
    root = tmp_path / name
    write(root / "evidence.yaml", text)
    for rel, body in (files or {}).items():
        write(root / rel, body)
    return root


def decide(policy: Path, ev: Evidence, target: str = "champion", baseline=None):
    return evaluate(load_policy(policy), ev, target=target, baseline=baseline,
                    options=EvaluationOptions(now=NOW))


def statuses(decision) -> dict[str, str]:
    return {o.control_id: o.status.value for o in decision.outcomes}


# ----------------------------------------------------------------- 1. measurements

# raw YAML for a metric value -> what the message must say about it
NOT_MEASUREMENTS = {
    "inf": (".inf", "infinite"),
    "+inf": ("+.inf", "infinite"),
    "overflow 1.0e+400": ("1.0e+400", "infinite"),
    "1e400 (a string to YAML 1.1)": ("1e400", "1.0e+5"),
    "-inf": ("-.inf", "-inf"),
    "nan": (".nan", "NaN"),
    "NaN spelled YAML": (".NaN", "NaN"),
    "boolean true": ("true", "boolean"),
    "boolean yes (YAML 1.1 reads true)": ("True", "boolean"),
    "quoted number": ('"0.9"', "string '0.9'"),
    "single-quoted number": ("'0.95'", "string"),
    "word": ("high", "string"),
    "null": ("null", "empty"),
    "list": ("[0.9]", "list"),
    "mapping": ("{value: 0.9}", "dict"),
    "integer beyond float range": ("1" + "0" * 400, "too large"),
    "MLflow SQL's infinity": ("1.7976931348623157e+308", "largest float"),
    "MLflow SQL's -infinity": ("-1.7976931348623157e+308", "largest float"),
}


@pytest.mark.parametrize(("raw", "said"), NOT_MEASUREMENTS.values(), ids=NOT_MEASUREMENTS.keys())
def test_a_metric_that_is_not_a_finite_number_errors_its_control(tmp_path, policy_file, raw,
                                                                 said) -> None:
    ev = load_evidence(str(folder(tmp_path, evidence_text(auc=raw))))  # still loads
    d = decide(policy_file, ev)
    got = statuses(d)
    assert got["MRM-PERF-001"] == "ERROR" and d.verdict == Verdict.BLOCK
    msg = next(o for o in d.outcomes if o.control_id == "MRM-PERF-001").result.message
    assert "'auc'" in msg and said in msg and "finite" in msg and "log" in msg
    # the other controls still report: one bad metric is not an unreadable evidence folder
    assert got["MRM-DOC-001"] == "PASS" and got["MRM-PERF-003"] == "PASS"


@pytest.mark.parametrize("raw", ["-.inf", ".nan", "true"])
def test_a_bad_metric_of_a_warn_control_is_conditional(tmp_path, policy_file, raw) -> None:
    d = decide(policy_file, load_evidence(str(folder(tmp_path, evidence_text(ks=raw)))))
    assert statuses(d)["MRM-PERF-003"] == "ERROR" and d.verdict == Verdict.CONDITIONAL


@pytest.mark.parametrize(("raw", "said"), NOT_MEASUREMENTS.values(), ids=NOT_MEASUREMENTS.keys())
def test_a_baseline_metric_that_is_not_a_number_errors(tmp_path, policy_file, raw, said) -> None:
    extra = f"baselines:\n  champion:\n    version: '2'\n    metrics: {{auc: {raw}}}\n"
    d = decide(policy_file, load_evidence(str(folder(tmp_path, evidence_text(extra=extra)))))
    reg = next(o for o in d.outcomes if o.control_id == "MRM-PERF-002")
    assert reg.status == Status.ERROR and "baseline" in reg.result.message and said in \
        reg.result.message
    assert d.verdict == Verdict.BLOCK


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, True, "0.9",
                                   sys.float_info.max, -sys.float_info.max])
def test_the_champions_run_metric_from_the_registry_is_checked_too(tmp_path, policy_file,
                                                                   value) -> None:
    champion = Evidence.model_validate({"model": {"name": "credit-pd", "version": "2"},
                                        "run": {"metrics": {"auc": value}}})
    d = decide(policy_file, load_evidence(str(folder(tmp_path, evidence_text()))),
               baseline=lambda alias=None, version=None: champion)
    assert statuses(d)["MRM-PERF-002"] == "ERROR" and d.verdict == Verdict.BLOCK


def test_numbers_and_their_hash_are_unchanged_for_valid_evidence(tmp_path) -> None:
    as_int = load_evidence(str(folder(tmp_path, evidence_text(auc="1"), name="a")))
    as_float = load_evidence(str(folder(tmp_path, evidence_text(auc="1.0"), name="b")))
    assert as_int.run.metrics["auc"] == 1.0 and isinstance(as_int.run.metrics["auc"], float)
    assert as_int.content_sha256() == as_float.content_sha256()
    hashes = {load_evidence(str(folder(tmp_path, evidence_text(auc=raw), name=f"h{i}")))
              .content_sha256() for i, raw in enumerate([".inf", ".nan", "null", "'inf'"])}
    assert len(hashes) == 4, "distinct bad values do not hash alike"


@pytest.fixture
def mlflow_store(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    exp = client.create_experiment("e", artifact_location=(tmp_path / "artifacts").as_uri())
    client.create_registered_model("credit-pd")
    return uri, client, exp


def _version(client, exp, metrics: dict) -> tuple[str, str]:
    run = client.create_run(exp)
    rid = run.info.run_id
    for k, v in metrics.items():
        client.log_metric(rid, k, v)
    client.set_terminated(rid)
    mv = client.create_model_version("credit-pd", f"runs:/{rid}/model", run_id=rid)
    client.set_model_version_tag("credit-pd", mv.version, "owner", "alice")
    return rid, str(mv.version)


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_an_infinite_metric_logged_to_mlflow_errors(mlflow_store, policy_file, value) -> None:
    """A SQL store keeps inf as +-1.797e308 (a finite float that passes `min: 0.7` if read
    naively); the gate reads it as the infinity it stands for."""
    uri, client, exp = mlflow_store
    _, version = _version(client, exp, {"auc": value, "ks": 0.4, "brier": 0.05})
    ev = load_evidence(f"models:/credit-pd/{version}", tracking_uri=uri)
    d = decide(policy_file, ev, target="staging")
    assert statuses(d)["MRM-PERF-001"] == "ERROR" and d.verdict == Verdict.BLOCK


# ----------------------------------------------------------------- engine guard


@pytest.mark.parametrize("measured", [
    math.inf, -math.inf, math.nan, {"auc": math.inf}, {"groups": {"a": {"rate": math.nan}}},
    {"values": [0.1, -math.inf]}, [{"x": 1.0}, (2.0, math.nan)],
], ids=["inf", "-inf", "nan", "dict", "nested dict", "list in dict", "tuple in list"])
def test_a_pass_on_a_non_finite_measurement_is_an_error(tmp_path, monkeypatch, measured) -> None:
    import mrm_gate.controls.registry as registry_mod
    from mrm_gate.controls._util import Params
    from mrm_gate.controls.registry import CheckRegistry, check

    @check("test.passes", params=Params, summary="passes with what it was given")
    def passes(params, ctx) -> CheckResult:
        return CheckResult(status=Status.PASS, message="ok", measured=measured)

    @check("test.fails", params=Params, summary="fails with what it was given")
    def fails(params, ctx) -> CheckResult:
        return CheckResult(status=Status.FAIL, message="bad", measured=measured)

    monkeypatch.setattr(registry_mod, "_default",
                        CheckRegistry({"test.passes": passes, "test.fails": fails}))
    p = write(tmp_path / "p.yaml", """
        apiVersion: mrm-gate/v1
        kind: Policy
        metadata: {name: guard}
        tiering: {default: t}
        tiers:
          t:
            controls:
              - {id: MRM-T-001, check: test.passes}
              - {id: MRM-T-002, check: test.fails, severity: warn}
    """)
    d = decide(p, load_evidence(str(folder(tmp_path, GOOD_YAML))))
    assert [o.status for o in d.outcomes] == [Status.ERROR, Status.FAIL]
    assert "non-finite" in d.outcomes[0].result.message and d.verdict == Verdict.BLOCK


# ----------------------------------------------------------------- gap-risk numbers


def _backtest_csv(n: int = 24, bad_cell: str | None = None) -> str:
    rows = ["period,expected_loss,margin,realised_loss"]
    for i in range(1, n + 1):
        realised = 95 + (i * 7) % 13
        rows.append(f"{i},100,10,{bad_cell if bad_cell and i == 5 else realised}")
    return "\n".join(rows) + "\n"


FUND_POLICY = """
apiVersion: mrm-gate/v1
kind: Policy
metadata: {name: fund}
tiering: {default: t}
tiers:
  t:
    controls:
      - id: MRM-GAP-002
        check: gap_risk.expected_loss
        params: {relative_to: fund, fund_tag: mrm.model_risk_fund, max: 0.5, n_boot: 0,
                 plots: false}
"""


@pytest.mark.parametrize("fund", ["inf", "Infinity", "1e400", "nan", "-inf", "true", "lots"])
def test_a_fund_tag_that_is_not_a_finite_number_errors(tmp_path, fund) -> None:
    data = {"model": {"name": "m", "version": "1",
                      "tags": {"owner": "a", "mrm.model_risk_fund": fund}},
            "backtest": {"path": "backtest.csv"}}
    ev = load_evidence(str(folder(tmp_path, yaml.safe_dump(data),
                                  {"backtest.csv": _backtest_csv()})))
    d = decide(write(tmp_path / "p.yaml", FUND_POLICY), ev)
    assert statuses(d) == {"MRM-GAP-002": "ERROR"} and d.verdict == Verdict.BLOCK
    assert "mrm.model_risk_fund" in d.outcomes[0].result.message


def test_a_finite_fund_tag_still_works(tmp_path) -> None:
    data = {"model": {"name": "m", "version": "1", "tags": {"mrm.model_risk_fund": "1e6"}},
            "backtest": {"path": "backtest.csv"}}
    ev = load_evidence(str(folder(tmp_path, yaml.safe_dump(data),
                                  {"backtest.csv": _backtest_csv()})))
    assert statuses(decide(write(tmp_path / "p.yaml", FUND_POLICY), ev)) == {
        "MRM-GAP-002": "PASS"}


# ----------------------------------------------------------------- 2. containment


@pytest.fixture
def outside(tmp_path) -> Path:
    """A folder beside the evidence holding a valid-looking dataset, backtest, card and
    evidence.yaml whose content is a secret."""
    out = tmp_path / "outside"
    write(out / "data.csv", f"{SECRET},score,target\n1,0.9,1\n0,0.1,0\n")
    write(out / "backtest.csv", _backtest_csv())
    write(out / "card.md", f"# {SECRET}\n## Intended use\nx\n")
    write(out / "evidence.yaml", GOOD_YAML + f"extra: {{note: {SECRET}}}\n")
    return out


def _attack(root: Path, outside: Path, kind: str, name: str) -> str:
    """The path an attacker writes into the evidence to reach `outside/name`."""
    target = outside / name
    if kind == "absolute":
        return str(target)
    if kind == "dotdot":
        return f"../{outside.name}/{name}"
    if kind == "dotdot inside a subfolder":
        (root / "sub").mkdir(exist_ok=True)
        return f"sub/../../{outside.name}/{name}"
    if kind == "symlinked file":
        (root / f"link-{name}").symlink_to(target)
        return f"link-{name}"
    if kind == "symlinked parent folder":
        (root / "shared").symlink_to(outside, target_is_directory=True)
        return f"shared/{name}"
    if kind == "symlink chain":
        (root / "hop").symlink_to(root / "hop2")
        (root / "hop2").symlink_to(target)
        return "hop"
    raise AssertionError(kind)


ATTACKS = ["absolute", "dotdot", "dotdot inside a subfolder", "symlinked file",
           "symlinked parent folder", "symlink chain"]


def _make(tmp_path: Path, outside: Path, kind: str, build) -> tuple[Evidence, str]:
    root = tmp_path / "ev"
    root.mkdir()
    data, path = build(lambda name: _attack(root, outside, kind, name))
    write(root / "evidence.yaml", yaml.safe_dump(data))
    return load_evidence(str(root)), path


def _ctx(ev: Evidence) -> CheckContext:
    return CheckContext(evidence=ev, options=EvaluationOptions())


def _assert_refused(exc: BaseException, field: str) -> None:
    text = str(exc)
    assert field in text, text
    assert SECRET not in text and "score,target" not in text


@pytest.mark.parametrize("kind", ATTACKS)
def test_a_dataset_path_cannot_leave_the_evidence(tmp_path, outside, kind) -> None:
    ev, _ = _make(tmp_path, outside, kind, lambda at: (
        {**GOOD, "datasets": {"validation": {"path": at("data.csv")}}}, ""))
    with pytest.raises(CheckError) as err:
        load_dataset(_ctx(ev), "validation")
    _assert_refused(err.value, "datasets.validation.path")


SOURCES = {
    "absolute": lambda at: at("data.csv"),
    "file URI": lambda at: Path(at("data.csv")).as_uri(),
    "file URI with localhost": lambda at: "file://localhost" + at("data.csv"),
    "MLflow JSON source": lambda at: json.dumps({"uri": at("data.csv")}),
    "relative with ..": lambda at: f"../{Path(at('data.csv')).parent.name}/data.csv",
}


@pytest.mark.parametrize("make_source", SOURCES.values(), ids=SOURCES.keys())
def test_a_logged_dataset_input_cannot_point_outside(tmp_path, outside, make_source) -> None:
    """mlflow.log_input(..., source=<absolute path>) used to make the gate read (and approve
    on, and quote) any file of the machine running it."""
    ev, _ = _make(tmp_path, outside, "absolute", lambda at: (
        {**GOOD, "run": {**GOOD["run"], "datasets": [
            {"name": "val", "context": "validation", "source_type": "local",
             "source": make_source(at)}]}}, ""))
    with pytest.raises(CheckError) as err:
        load_dataset(_ctx(ev), "validation")
    _assert_refused(err.value, "run.datasets['val'].source")


@pytest.mark.parametrize("kind", ["symlinked file", "symlinked parent folder"])
def test_a_logged_input_inside_the_evidence_by_a_link_out_is_refused(tmp_path, outside,
                                                                      kind) -> None:
    ev, _ = _make(tmp_path, outside, kind, lambda at: (
        {**GOOD, "run": {**GOOD["run"], "datasets": [
            {"name": "val", "context": "validation", "source": at("data.csv")}]}}, ""))
    with pytest.raises(CheckError) as err:
        load_dataset(_ctx(ev), "validation")
    _assert_refused(err.value, "run.datasets['val'].source")


def test_a_logged_input_inside_the_evidence_is_read(tmp_path) -> None:
    root = folder(tmp_path, "", {"data/v.csv": "score,target\n0.9,1\n0.1,0\n"})
    data = {**GOOD, "run": {**GOOD["run"], "datasets": [
        {"name": "val", "context": "validation",
         "source": json.dumps({"uri": (root / "data" / "v.csv").as_uri()})},
        {"name": "rel", "context": "reference", "source": "data/v.csv"}]}}
    write(root / "evidence.yaml", yaml.safe_dump(data))
    ctx = _ctx(load_evidence(str(root)))
    assert load_dataset(ctx, "validation").n_rows == 2
    assert load_dataset(ctx, "reference").n_rows == 2


@pytest.mark.parametrize("uri", ["runs:/another-run/data.csv", "s3://bucket/data.csv",
                                 "https://example.org/data.csv", "file://evil-host/etc/x.csv"])
def test_a_logged_input_elsewhere_is_refused(tmp_path, uri) -> None:
    data = {**GOOD, "run": {**GOOD["run"], "run_id": "this-run", "datasets": [
        {"name": "val", "context": "validation", "source": uri}]}}
    ev = load_evidence(str(folder(tmp_path, yaml.safe_dump(data))))
    with pytest.raises(CheckError, match=r"run artifact|another host|this version's run"):
        load_dataset(_ctx(ev), "validation")


@pytest.mark.parametrize("kind", ATTACKS)
def test_a_backtest_cannot_leave_the_evidence(tmp_path, outside, kind) -> None:
    """A backtest outside the folder used to be analysed and approved on."""
    ev, _ = _make(tmp_path, outside, kind, lambda at: (
        {**GOOD, "backtest": {"path": at("backtest.csv")}}, ""))
    d = decide(write(tmp_path / "p.yaml", FUND_POLICY.replace(
        "fund_tag: mrm.model_risk_fund", "fund: 1000000")), ev)
    assert statuses(d) == {"MRM-GAP-002": "ERROR"} and d.verdict == Verdict.BLOCK
    _assert_refused(d.outcomes[0].result.message, "backtest.path")


@pytest.mark.parametrize("kind", ATTACKS)
def test_a_model_card_cannot_leave_the_evidence(tmp_path, outside, kind) -> None:
    ev, _ = _make(tmp_path, outside, kind, lambda at: (
        {**GOOD, "model_card_file": at("card.md")}, ""))
    with pytest.raises(EvidenceError) as err:
        load_model_card(ev)
    _assert_refused(err.value, "model_card_file")


@pytest.mark.parametrize("how", ["file symlink", "folder given through a symlinked file",
                                 "evidence.yml symlink"])
def test_evidence_yaml_itself_cannot_be_a_link_out(tmp_path, outside, how) -> None:
    root = tmp_path / "ev"
    root.mkdir()
    if how == "evidence.yml symlink":
        (root / "evidence.yml").symlink_to(outside / "evidence.yaml")
        subject = str(root / "evidence.yml")
    else:
        (root / "evidence.yaml").symlink_to(outside / "evidence.yaml")
        subject = str(root if how == "file symlink" else root / "evidence.yaml")
    with pytest.raises(EvidenceError) as err:
        load_evidence(subject)
    assert "outside" in str(err.value) and SECRET not in str(err.value)


def test_a_symlink_inside_the_folder_to_inside_is_fine(tmp_path) -> None:
    root = folder(tmp_path, GOOD_YAML, {"real/card.md": "# Card\n## Intended use\nx\n"})
    (root / "card.md").symlink_to(root / "real" / "card.md")
    data = {**GOOD, "model_card_file": "card.md"}
    write(root / "evidence.yaml", yaml.safe_dump(data))
    card, name = load_model_card(load_evidence(str(root)))
    assert card == {"card": "", "intended_use": "x"} and name == "card.md"


def test_the_evidence_folder_itself_may_be_reached_through_a_symlink(tmp_path) -> None:
    root = folder(tmp_path, GOOD_YAML)
    link = tmp_path / "current"
    link.symlink_to(root, target_is_directory=True)
    assert load_evidence(str(link)).model.name == "credit-pd"


# -------------------------------------------------- run artifacts (downloaded to a temp folder)


class FolderArtifacts(CachedRunArtifacts):
    """A run whose artifacts live in a local folder; `plant` makes the download plant a symlink
    (what a hostile artifact store, or an archive unpacked on download, could do)."""

    def __init__(self, source: Path, plant: Path | None = None) -> None:
        super().__init__("run1")
        self.source, self.plant, self.calls = source, plant, []

    def _download(self, path: str, dst: str) -> str:
        import shutil

        self.calls.append(path)
        src, out = self.source / path, Path(dst) / path
        out.parent.mkdir(parents=True, exist_ok=True)
        if self.plant is not None:
            out.symlink_to(self.plant, target_is_directory=self.plant.is_dir())
        elif src.is_dir():
            shutil.copytree(src, out, symlinks=True)
        else:
            shutil.copy2(src, out)
        return str(out)


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", "a/../../b.csv",
                                  "C:/x.csv", "file:///etc/passwd", "a\\..\\b", "", "a\x00b",
                                  "runs:/other/x.csv"])
def test_an_artifact_path_is_checked_before_any_download(tmp_path, path) -> None:
    store = FolderArtifacts(tmp_path)
    with pytest.raises(EvidenceError):
        store.fetch(path)
    assert store.calls == [], "refused before anything was downloaded"


@pytest.mark.parametrize("planted", ["file", "folder"])
def test_a_symlink_planted_in_a_download_is_refused(tmp_path, outside, planted) -> None:
    store = FolderArtifacts(tmp_path, plant=outside / "data.csv" if planted == "file"
                            else outside)
    with pytest.raises(EvidenceError, match="outside") as err:
        store.fetch("data/val.csv")
    assert SECRET not in str(err.value)


def test_a_downloaded_folder_with_a_link_out_is_refused(tmp_path, outside) -> None:
    src = tmp_path / "artifacts"
    write(src / "model" / "MLmodel", "flavors: {}\n")
    (src / "model" / "model.pkl").symlink_to(outside / "data.csv")
    with pytest.raises(EvidenceError, match=r"model\.pkl"):
        FolderArtifacts(src).fetch("model")


def test_a_downloaded_artifact_is_read(tmp_path) -> None:
    src = tmp_path / "artifacts"
    write(src / "data" / "val.csv", "score,target\n0.9,1\n")
    store = FolderArtifacts(src)  # its temporary folder lives as long as the store
    got = store.fetch("data/val.csv")
    assert got.read_text() == "score,target\n0.9,1\n" and got.is_absolute()


def test_mlflow_dataset_input_with_a_local_source_is_refused(mlflow_store, outside) -> None:
    """The server-side attack: log_input with a source on the gate's own machine. The gate
    used to read it (and its 403 quoted the file's first line as a column name)."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    uri, client, exp = mlflow_store
    rid, version = _version(client, exp, {"auc": 0.8, "ks": 0.4, "brier": 0.05})
    src = json.dumps({"uri": str(outside / "data.csv")})
    client.log_inputs(rid, [DatasetInput(Dataset("val", "d1", "local", src),
                                         [InputTag("mlflow.data.context", "validation")])])
    ev = load_evidence(f"models:/credit-pd/{version}", tracking_uri=uri)
    with pytest.raises(CheckError) as err:
        load_dataset(_ctx(ev), "validation")
    _assert_refused(err.value, "run.datasets['val'].source")
    assert "absolute" in str(err.value) or "outside" in str(err.value)


def test_mlflow_artifact_dataset_input_of_the_run_is_read(mlflow_store, tmp_path) -> None:
    from mlflow.entities import Dataset, DatasetInput, InputTag

    uri, client, exp = mlflow_store
    rid, version = _version(client, exp, {"auc": 0.8})
    write(tmp_path / "up" / "val.csv", "score,target\n0.9,1\n0.2,0\n")
    client.log_artifact(rid, str(tmp_path / "up" / "val.csv"), "data")
    client.log_inputs(rid, [DatasetInput(Dataset("val", "d1", "local", f"runs:/{rid}/data/val.csv"),
                                         [InputTag("mlflow.data.context", "validation")])])
    ev = load_evidence(f"models:/credit-pd/{version}", tracking_uri=uri)
    assert load_dataset(_ctx(ev), "validation").n_rows == 2


# ----------------------------------------------------------------- 3. no file contents in messages


PARSE_ERRORS = {
    "csv with a ragged line": ("data/v.csv", f"score,target\n0.9,1\n{SECRET},1,2,3\n"),
    "csv that is binary junk": ("data/v.csv", f"\x00\x01{SECRET}\x00\n\"unterminated,{SECRET}"),
    "parquet that is not": ("data/v.parquet", f"PAR1{SECRET}PAR1"),
}


@pytest.mark.parametrize(("name", "body"), PARSE_ERRORS.values(), ids=PARSE_ERRORS.keys())
def test_a_dataset_parse_error_does_not_quote_the_file(tmp_path, name, body) -> None:
    data = {**GOOD, "datasets": {"validation": {"path": name}}}
    ev = load_evidence(str(folder(tmp_path, yaml.safe_dump(data), {name: body})))
    try:
        ds = load_dataset(_ctx(ev), "validation")
    except CheckError as exc:
        assert SECRET not in str(exc) and "cannot be read" in str(exc)
    else:  # a lenient parser read it: its cells are data, not a message
        assert ds.n_rows >= 1


@pytest.mark.parametrize("cell", [SECRET, f"'{SECRET}'", f"1e5{SECRET}"])
def test_a_backtest_with_a_bad_cell_does_not_quote_it(tmp_path, cell) -> None:
    data = {**GOOD, "backtest": {"path": "bt.csv"}}
    ev = load_evidence(str(folder(tmp_path, yaml.safe_dump(data),
                                  {"bt.csv": _backtest_csv(bad_cell=cell)})))
    d = decide(write(tmp_path / "p.yaml", FUND_POLICY.replace(
        "fund_tag: mrm.model_risk_fund", "fund: 1000000")), ev)
    msg = d.outcomes[0].result.message
    assert d.outcomes[0].status == Status.ERROR and SECRET not in msg and "bt.csv" in msg


@pytest.mark.parametrize("text", [
    f"model: {{name: m}}\nrun: *{SECRET}\n",
    f"model: {{name: m}}\n\t{SECRET}: 1\n",
    f"model: {{name: m}}\nx: !{SECRET} 1\n",
    f"model: {{name: m}}\nx: \"\\q{SECRET}\"\n",
    f"model: [{SECRET}\n",
])
def test_a_malformed_evidence_yaml_is_located_not_quoted(tmp_path, text) -> None:
    with pytest.raises(UserError) as err:
        load_evidence(str(folder(tmp_path, text)))
    shown = str(err.value)
    assert SECRET not in shown and "evidence.yaml" in shown


def test_a_malformed_yaml_model_card_is_located_not_quoted(tmp_path) -> None:
    data = {**GOOD, "model_card_file": "card.yaml"}
    ev = load_evidence(str(folder(tmp_path, yaml.safe_dump(data),
                                  {"card.yaml": f"intended_use: *{SECRET}\n"})))
    with pytest.raises(UserError) as err:
        load_model_card(ev)
    assert SECRET not in str(err.value) and ":1" in str(err.value)


def test_the_reference_policy_on_a_full_attack_blocks_without_leaking(tmp_path, outside) -> None:
    """The whole boundary at once through the engine: good metrics, but the backtest, card and a
    dataset input point outside. Nothing passes on them and no message quotes them."""
    root = tmp_path / "ev"
    root.mkdir()
    (root / "bt.csv").symlink_to(outside / "backtest.csv")
    data = {**GOOD, "backtest": {"path": "bt.csv"}, "model_card_file": str(outside / "card.md"),
            "run": {**GOOD["run"], "datasets": [{"name": "v", "context": "validation",
                                                  "source": str(outside / "data.csv")}]}}
    write(root / "evidence.yaml", yaml.safe_dump(data))
    d = decide(write(tmp_path / "p.yaml", FUND_POLICY.replace(
        "fund_tag: mrm.model_risk_fund", "fund: 1000000")), load_evidence(str(root)))
    assert d.verdict == Verdict.BLOCK
    assert SECRET not in json.dumps(d.model_dump(mode="json"))

