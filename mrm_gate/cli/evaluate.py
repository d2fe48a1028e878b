"""`mrm-gate evaluate`: the gate itself."""

from __future__ import annotations

import sys

import click

from . import EXIT_APPROVE, EXIT_BLOCK


@click.command()
@click.argument("model_uri", required=False)
@click.option("--evidence", "evidence_dir", type=click.Path(), help="Local evidence folder "
              "(with evidence.yaml) instead of a MODEL_URI.")
@click.option("--source", "source_name", metavar="NAME", help="Evidence source to read "
              "MODEL_URI with (default: the first registered source that accepts it; "
              "see docs/writing-sources.md).")
@click.option("--policy", "policy_path", required=True, type=click.Path(), help="Policy YAML.")
@click.option("--target", help="Alias or stage being requested, e.g. champion or production.")
@click.option("--waivers", "waivers_path", type=click.Path(), help="Waivers YAML.")
@click.option("--format", "formats", default="text", show_default=True,
              help="Comma-separated report formats, e.g. text,json,markdown,html.")
@click.option("--output", "output_dir", type=click.Path(), help="Folder to write reports to "
              "(files are named after the model and decision id; nothing is overwritten).")
@click.option("--fail-on", type=click.Choice(["block", "conditional"]), default="block",
              show_default=True, help="Lowest verdict that exits non-zero.")
@click.option("--decision-log", type=click.Path(), help="Append the decision to this log.")
@click.option("--checkpoint", "checkpoint_file", type=click.Path(), help="After appending, write "
              "a signed checkpoint of the log's head to this file (kept apart from the log; "
              "`audit verify --checkpoint` then detects truncation). Needs --checkpoint-key.")
@click.option("--checkpoint-key", metavar="KEY", help="Key that signs checkpoints: env:VAR "
              "(HMAC) or an Ed25519 PEM private key.")
@click.option("--attest", "attest_key", metavar="KEY", help="Also write a signed decision "
              "record (<report>.attestation.json, next to the reports) with KEY: env:VAR (HMAC) "
              "or an Ed25519 PEM private key; a gated MLflow server in attestation mode "
              "verifies it.")
@click.option("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI).")
@click.option("--timeout", default=10.0, show_default=True,
              help="Seconds to wait for the tracking server before blocking.")
@click.option("--trust-model-code", is_flag=True, help="Allow loading the model (a pickled "
              "model runs code when loaded): only for sources you trust.")
@click.option("--quiet", "-q", is_flag=True, help="No terminal report, only the exit code.")
def evaluate(model_uri, evidence_dir, source_name, policy_path, target, waivers_path, formats,
             output_dir, fail_on, decision_log, checkpoint_file, checkpoint_key, attest_key,
             tracking_uri, timeout, trust_model_code, quiet) -> int:
    """Evaluate MODEL_URI (models:/NAME/VERSION or models:/NAME@ALIAS, or any subject an
    installed evidence source accepts) or --evidence DIR against --policy, and exit 0
    (approve), 1 (block) or 2 (usage/policy error)."""
    from ..controls.context import EvaluationOptions
    from ..decision import Verdict
    from ..errors import UserError
    from ..evidence.source import SourceSettings
    from ..gate import (
        AttestationFile,
        DecisionLogRecorder,
        GateRequest,
        Recording,
        ReportFiles,
        run_gate,
    )
    from ..output import parse_formats, render

    if bool(model_uri) == bool(evidence_dir):
        raise UserError("give exactly one of MODEL_URI or --evidence DIR")
    fmts = parse_formats(formats)
    options = EvaluationOptions(trust_model_code=trust_model_code,
                                progress=not quiet and sys.stderr.isatty())
    request = GateRequest(
        subject=model_uri or evidence_dir, policy=policy_path, waivers=waivers_path,
        target=target, options=options, source="local" if evidence_dir else source_name,
        settings=SourceSettings(tracking_uri=tracking_uri, timeout_s=timeout))
    # The log first: nothing (a report, an attestation) may claim a decision no log holds.
    recorders: list = []
    if bool(checkpoint_file) != bool(checkpoint_key):
        raise UserError("--checkpoint and --checkpoint-key go together")
    if checkpoint_file and not decision_log:
        raise UserError("--checkpoint anchors a decision log: give --decision-log too")
    if decision_log:
        recorders.append(DecisionLogRecorder(decision_log, checkpoint=(
            (checkpoint_file, checkpoint_key) if checkpoint_file else None)))
    if output_dir:
        recorders.append(ReportFiles(output_dir, fmts))
    if attest_key:
        recorders.append(AttestationFile(attest_key, output_dir or "."))
    recording = Recording()
    with _progress(options.progress) as progress:
        decision = run_gate(request, recorders=recorders, progress=progress,
                            recording=recording)
    paths = recording.paths
    if not quiet:
        _show(decision, fmts, bool(output_dir), render)
        for p in paths:
            click.echo(f"report: {p}", err=True)
    if decision.verdict == Verdict.BLOCK:
        return EXIT_BLOCK
    if decision.verdict == Verdict.CONDITIONAL and fail_on == "conditional":
        return EXIT_BLOCK
    return EXIT_APPROVE


def _show(decision, fmts, wrote_files: bool, render) -> None:
    """Terminal output: the rich text report, plus any other format when not written to files."""
    if "text" in fmts or wrote_files:
        from ..output.console import make_console
        from ..output.text import renderables

        console = make_console()
        for r in renderables(decision):
            console.print(r)
    if not wrote_files:
        for fmt in fmts:
            if fmt != "text":
                click.echo(render(decision, fmt))


class _progress:
    """A progress bar over controls on stderr (only on a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar = None
        self._task = None

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from ..output.console import make_console

        self._bar = Progress(TextColumn("[bold]evaluating[/] {task.description}"), BarColumn(),
                             TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                             console=make_console(stderr=True), transient=True)
        self._bar.start()
        self._task = self._bar.add_task("", total=None)
        return self.update

    def update(self, done: int, total: int, control_id: str) -> None:
        self._bar.update(self._task, completed=done, total=total, description=control_id)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
