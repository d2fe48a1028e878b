"""`mrm-gate evidence export`: a model version's evidence as a self-contained local folder."""

from __future__ import annotations

import click


@click.group()
def evidence() -> None:
    """Evidence about a model version."""


@evidence.command()
@click.argument("model_uri")
@click.option("--out", required=True, type=click.Path(), help="New (or empty) folder; never "
              "overwritten.")
@click.option("--policy", "policy_path", type=click.Path(), help="Also export what this "
              "policy's controls read: Great Expectations suites, the baselines of "
              "no-regression controls, the model when a control loads it.")
@click.option("--target", help="The alias the version is evaluated for (e.g. champion): record "
              "which version holds it, and select the policy's controls for it.")
@click.option("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI).")
@click.option("--baseline-alias", multiple=True, default=("champion",), show_default=True,
              help="Record the metrics of the version holding this alias (repeatable; "
              "`version:N` for a version).")
@click.option("--include-model", is_flag=True, help="Also copy the model (the run's "
              "model_artifact, or the registered version's model, e.g. an MLflow 3 logged "
              "model); an error when it cannot be exported.")
@click.option("--timeout", default=10.0, show_default=True,
              help="Seconds to wait for the tracking server.")
def export(model_uri, out, policy_path, target, tracking_uri, baseline_alias, include_model,
           timeout) -> int:
    """Write MODEL_URI's evidence (models:/NAME/VERSION, models:/NAME@ALIAS, or an evidence
    folder) as a local folder: evidence.yaml, every file its checks read, digests in
    mrm-export.json. Evaluating the folder gives the same decision and evidence hash."""
    from ..evidence.export import check_destination, read_manifest
    from ..evidence.source import SourceSettings, open_source
    from ..gate.export import export_for_policy

    check_destination(out)
    policy = None
    if policy_path:
        from ..policy import load_policy

        policy = load_policy(policy_path)  # a bad policy is a usage error before any reading
    source = open_source(model_uri, settings=SourceSettings(tracking_uri=tracking_uri,
                                                             timeout_s=timeout))
    ev = source.load(model_uri)
    path = export_for_policy(source, ev, out, policy=policy, target=target,
                             include_model=include_model, baseline_aliases=baseline_alias)
    _summary(read_manifest(path.parent), path)
    return 0


def terminal_text(value: object) -> str:
    """A value from evidence for the terminal: no control character (an escape sequence, a
    newline that starts a forged line) reaches it."""
    import re

    return re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", "?", str(value))[:500]


def _summary(manifest: dict, path) -> None:
    files = manifest.get("files") or {}
    model = manifest.get("model")
    click.echo(f"wrote {path} (evidence sha256 {str(manifest.get('evidence_sha256'))[:12]}); "
               f"{len(files)} file(s) with digests in mrm-export.json")
    if model:
        click.echo(f"  model: {terminal_text(model.get('path'))} "
                   f"(from {terminal_text(model.get('from'))})")
    for key, version in (manifest.get("baselines") or {}).items():
        held = f"v{terminal_text(version)}" if version else "no version holds it"
        click.echo(f"  baseline {terminal_text(key)}: {held}")
    ctx = manifest.get("context") or {}
    for note in ctx.get("notes") or []:
        click.echo(f"  note: {terminal_text(note)}", err=True)
    if manifest.get("model_not_exported"):
        click.echo(f"  warning: {terminal_text(manifest['model_not_exported'])}", err=True)
    for item in manifest.get("not_exported") or []:
        click.echo(f"  warning: not exported: {terminal_text(item.get('path'))} "
                   f"({terminal_text(item.get('read_by'))}): {terminal_text(item.get('reason'))}"
                   , err=True)
