"""Recorders: what happens to a Decision after the gate decided.

Each recorder does one thing (reports to files, the decision log, MLflow tags + report artifact,
a signed attestation). A channel composes the ones it needs, in the order that keeps the record
honest: the decision log first, so that nothing (a tag, a report, an attestation) ever claims an
approval that no log holds; if a recorder fails, the later ones do not run.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..decision import Decision
from ..errors import MrmGateError, UserError

REPORT_ARTIFACT_DIR = "mrm/decisions"


@dataclass
class Recording:
    """What the recorders produced for one decision (for the channel to show or return)."""

    paths: list[Path] = field(default_factory=list)  # report files written
    attestation: Path | None = None
    report_uri: str | None = None  # where the report is stored with the model (runs:/...)
    log_record: dict[str, Any] | None = None
    tags: dict[str, str] = field(default_factory=dict)
    done: list[str] = field(default_factory=list)  # recorder names, in order


class RecordingFailed(MrmGateError):
    """A recorder failed after the gate decided. The decision stands, but it is not (fully)
    recorded: a channel that promotes must refuse (fail closed). On the CLI it exits 2: the
    log, output folder or key the user named cannot be written."""

    exit_code = 2

    def __init__(self, decision: Decision, recorder: str, error: BaseException,
                 recording: Recording) -> None:
        lines = str(error).strip().splitlines()
        self.reason = lines[0][:300] if lines else type(error).__name__
        super().__init__(f"decision {decision.id} ({decision.verdict.value}) was made but could "
                         f"not be recorded by {recorder}: {self.reason}")
        self.decision = decision
        self.recorder = recorder
        self.error = error
        self.recording = recording


class Recorder(Protocol):
    name: str

    def prepare(self) -> None:
        """Check the configuration before the evaluation (UserError when it cannot work)."""

    def record(self, decision: Decision, recording: Recording) -> None: ...


def record(decision: Decision, recorders: Sequence[Recorder],
           recording: Recording | None = None) -> Recording:
    """Run `recorders` in order; the first failure stops the chain (RecordingFailed)."""
    recording = recording if recording is not None else Recording()
    for r in recorders:
        try:
            r.record(decision, recording)
        except Exception as exc:
            raise RecordingFailed(decision, r.name, exc, recording) from exc
        recording.done.append(r.name)
    return recording


class ReportFiles:
    """Reports in `formats` written to `out_dir` (rendered first; nothing overwritten)."""

    name = "reports"

    def __init__(self, out_dir: str | Path, formats: Sequence[str]) -> None:
        self.out_dir = Path(out_dir)
        self.formats = list(formats)

    def prepare(self) -> None:
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise UserError(f"--output {self.out_dir} is a file; name a folder")

    def record(self, decision: Decision, recording: Recording) -> None:
        from ..output import write_reports

        recording.paths += write_reports(decision, self.formats, self.out_dir)


class AttestationFile:
    """A signed decision record next to the reports (`<report>.attestation.json`)."""

    name = "attestation"

    def __init__(self, key_spec: str, out_dir: str | Path) -> None:
        self.key_spec = key_spec
        self.out_dir = Path(out_dir)

    def prepare(self) -> None:
        from ..attestation import load_key

        load_key(self.key_spec)  # a bad key is a usage error before any evaluation

    def record(self, decision: Decision, recording: Recording) -> None:
        from ..attestation import write_attestation

        recording.attestation = write_attestation(decision, self.key_spec, self.out_dir)
        recording.paths.append(recording.attestation)


class DecisionLogRecorder:
    """Append the decision to the hash-chained decision log."""

    name = "decision log"

    def __init__(self, log: Any, *, kind: str = "decision",
                 extra: dict[str, Any] | None = None,
                 checkpoint: tuple[str, str] | None = None) -> None:
        """`log`: a DecisionLog or a path; `checkpoint`: (file, key spec) to anchor the head
        with a signed checkpoint after each append."""
        from ..audit import DecisionLog

        self.log = log if isinstance(log, DecisionLog) else DecisionLog(log)
        self.kind = kind
        self.extra = dict(extra or {})
        self.checkpoint = checkpoint

    def prepare(self) -> None:
        if Path(self.log.path).is_dir():
            raise UserError(f"decision log {self.log.path} is a directory; name a file")
        if self.checkpoint is not None:
            from ..audit import CheckpointWriter

            self.log.checkpoint = CheckpointWriter.to_file(*self.checkpoint)  # bad key: exit 2

    def record(self, decision: Decision, recording: Recording) -> None:
        extra = dict(self.extra)
        if recording.report_uri:
            extra.setdefault("report", recording.report_uri)
        recording.log_record = self.log.append(decision, kind=self.kind, extra=extra or None)


def decision_tags(mode: str, verdict: str, decision_id: str, target: str | None,
                  policy_sha: str, at: dt.datetime, tier: str,
                  report: str | None) -> dict[str, str]:
    """The tags the gate writes on a version for one decision (all in the reserved set).

    Tags are hints for people and UIs, never proof: the gate itself trusts only its decision
    log and signed attestations.
    """
    tags = {
        "mrm.decision": verdict,
        "mrm.decision_id": decision_id,
        "mrm.decision_target": target or "",
        "mrm.policy_sha256": policy_sha,
        "mrm.evaluated_at": at.astimezone(dt.timezone.utc).isoformat(),
        "mrm.tier": tier,
        "mrm.gate.mode": mode,
    }
    if report:
        tags["mrm.report"] = report
    return tags


def report_files(decision: Decision, folder: Path) -> list[Path]:
    """Render the JSON and HTML reports stored with a model into `folder`."""
    from ..output import render

    files = []
    for fmt, fname in (("json", "report.json"), ("html", "report.html")):
        p = folder / fname
        p.write_text(render(decision, fmt), encoding="utf-8")
        files.append(p)
    return files


class RegistryWriter(Protocol):
    """How a channel writes to the MLflow registry: over the client API, or in-process."""

    def log_reports(self, run_id: str, files: list[Path], artifact_dir: str) -> None: ...

    def set_tags(self, name: str, version: str, tags: dict[str, str]) -> None: ...


class ClientRegistryWriter:
    """`RegistryWriter` over `MlflowClient` (CLI, webhook receiver)."""

    def __init__(self, tracking_uri: str) -> None:
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def log_reports(self, run_id: str, files: list[Path], artifact_dir: str) -> None:
        for f in files:
            self.client.log_artifact(run_id, str(f), artifact_dir)

    def set_tags(self, name: str, version: str, tags: dict[str, str]) -> None:
        # `mrm.decision` last: once it is visible, every other tag of the decision is too
        for k in sorted(tags, key=lambda key: key == "mrm.decision"):
            self.client.set_model_version_tag(name, version, k, tags[k])


class MlflowReportArtifact:
    """The JSON + HTML reports stored on the version's run (`mrm/decisions/<id>/`).

    Runs before the decision log so the log can name the report; a report is not a claim of
    approval (a tag is)."""

    name = "report artifact"

    def __init__(self, writer: RegistryWriter, *, fallback_dir: Path | None = None) -> None:
        self.writer = writer
        self.fallback_dir = fallback_dir

    def prepare(self) -> None:
        return None

    def record(self, decision: Decision, recording: Recording) -> None:
        import os

        run_id = decision.model.run_id
        with tempfile.TemporaryDirectory(prefix="mrm-gate-report-") as tmp:
            files = report_files(decision, Path(tmp))
            if run_id:
                folder = f"{REPORT_ARTIFACT_DIR}/{decision.id}"
                self.writer.log_reports(run_id, files, folder)
                recording.report_uri = f"runs:/{run_id}/{folder}/report.html"
            elif self.fallback_dir is not None:
                out = self.fallback_dir / decision.id  # a uuid the gate made, not data
                out.mkdir(parents=True, exist_ok=True)
                for f in files:
                    os.replace(f, out / f.name)
                recording.report_uri = str(out / "report.html")


class MlflowDecisionRecorder:
    """The decision's tags on the model version (`mrm.decision`, ...). Runs after the log."""

    name = "registry tags"

    def __init__(self, writer: RegistryWriter, *, mode: str,
                 extra_tags: dict[str, str] | None = None) -> None:
        self.writer = writer
        self.mode = mode
        self.extra_tags = dict(extra_tags or {})

    def prepare(self) -> None:
        return None

    def record(self, decision: Decision, recording: Recording) -> None:
        if not decision.model.version:
            return
        tags = decision_tags(self.mode, decision.verdict.value, decision.id, decision.target,
                             decision.policy.sha256, decision.created_at, decision.tier.tier,
                             recording.report_uri)
        tags.update(self.extra_tags)
        self.writer.set_tags(decision.model.name, str(decision.model.version), tags)
        recording.tags = tags
