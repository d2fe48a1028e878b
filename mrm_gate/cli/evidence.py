"""`mrm-gate evidence export`."""

from __future__ import annotations

import click


@click.group()
def evidence() -> None:
    """Evidence about a model version."""


@evidence.command()
@click.argument("model_uri")
@click.option("--out", required=True, type=click.Path(), help="New (or empty) folder.")
@click.option("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI).")
@click.option("--baseline-alias", multiple=True, default=("champion",), show_default=True,
              help="Record the metrics of the version holding this alias (repeatable).")
@click.option("--include-model", is_flag=True, help="Also copy the model artifact.")
@click.option("--timeout", default=10.0, show_default=True)
def export(model_uri, out, tracking_uri, baseline_alias, include_model, timeout) -> int:
    """Write MODEL_URI's evidence as a local folder (evidence.yaml + files)."""
    from ..evidence import load_evidence_with_baseline
    from ..evidence.export import export_evidence

    ev, baseline = load_evidence_with_baseline(model_uri, tracking_uri=tracking_uri,
                                               timeout_s=timeout)
    path = export_evidence(ev, out, baseline=baseline, baseline_aliases=tuple(baseline_alias),
                           include_model=include_model)
    click.echo(f"wrote {path} (evidence sha256 {ev.content_sha256()[:12]})")
    return 0
