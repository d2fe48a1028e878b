"""`mrm-gate promote`: evaluate a model version, then set the alias only on approval."""

from __future__ import annotations

import click

from . import EXIT_APPROVE, EXIT_BLOCK


@click.command()
@click.argument("model_uri")
@click.option("--alias", help="Alias to set on approval, e.g. champion.")
@click.option("--stage", help="Legacy stage to move to on approval, e.g. Production.")
@click.option("--policy", "policy_path", required=True, type=click.Path(), help="Policy YAML.")
@click.option("--waivers", "waivers_path", type=click.Path(), help="Waivers YAML.")
@click.option("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI).")
@click.option("--attest", "attest_key", metavar="KEY", help="Sign the decision with KEY "
              "(env:VAR for an HMAC secret, or an Ed25519 PEM private key) and attach it to the "
              "version, for a server in attestation mode.")
@click.option("--break-glass", "break_glass", metavar="REASON", help="Emergency override on a "
              "gated server (your user must be allowed; the reason is logged and tagged).")
@click.option("--output", "output_dir", type=click.Path(), help="Folder for the reports.")
@click.option("--format", "formats", default="json,html", show_default=True,
              help="Report formats written to --output.")
@click.option("--decision-log", type=click.Path(), help="Also append the decision to this log.")
@click.option("--checkpoint", "checkpoint_file", type=click.Path(), help="After appending, write "
              "a signed checkpoint of the log's head to this file. Needs --checkpoint-key.")
@click.option("--checkpoint-key", metavar="KEY", help="Key that signs checkpoints: env:VAR "
              "(HMAC) or an Ed25519 PEM private key.")
@click.option("--timeout", default=10.0, show_default=True,
              help="Seconds to wait for the tracking server before blocking.")
@click.option("--trust-model-code", is_flag=True, help="Allow loading the model (pickles run "
              "code when loaded): only for sources you trust.")
def promote(model_uri, alias, stage, policy_path, waivers_path, tracking_uri, attest_key,
            break_glass, output_dir, formats, decision_log, checkpoint_file, checkpoint_key,
            timeout, trust_model_code) -> int:
    """Evaluate MODEL_URI (models:/NAME/VERSION) and set --alias (or --stage) only when the
    verdict allows it. Exit 0 promoted, 1 refused (locally or by the server), 2 usage error."""
    from ..errors import UserError
    from ..evidence.mlflow_source import parse_model_uri
    from ..mlflow import PromotionRefused
    from ..mlflow import promote as run_promote
    from ..output import parse_formats

    name, version, uri_alias = parse_model_uri(model_uri)
    if uri_alias is not None or version is None:
        raise UserError(f"{model_uri}: name the version to promote (models:/{name}/VERSION), "
                        "not an alias")
    if bool(alias) == bool(stage):
        raise UserError("give exactly one of --alias or --stage")
    fmts = parse_formats(formats) if output_dir else []
    try:
        result = run_promote(name, version, alias, stage=stage, policy=policy_path,
                             waivers=waivers_path, tracking_uri=tracking_uri,
                             attest_key=attest_key, break_glass_reason=break_glass,
                             output_dir=output_dir, formats=tuple(fmts),
                             decision_log=decision_log, timeout_s=timeout,
                             checkpoint=((checkpoint_file, checkpoint_key)
                                         if checkpoint_file or checkpoint_key else None),
                             trust_model_code=trust_model_code)
    except PromotionRefused as exc:
        click.echo(click.style("refused: ", fg="red", bold=True) + exc.message, err=True)
        return EXIT_BLOCK
    d = result.decision
    where = f"@{alias}" if alias else f"stage {stage}"
    click.echo(f"promoted {name} version {version} to {where}: verdict {d.verdict.value} "
               f"(decision {d.id}, tier {d.tier.tier})")
    for p in [*result.reports, *([result.attestation] if result.attestation else [])]:
        click.echo(f"report: {p}", err=True)
    return EXIT_APPROVE
