"""`mrm-gate webhook`: receive MLflow registry webhooks (for servers without the plugin).

Contributed to the `mrm-gate` CLI through the entry-point group `mrm_gate.commands` (see
docs/writing-plugins.md); the core CLI never imports this package. Imported only when the
command runs (or its own --help is asked for), so keep module-level imports light.
"""

from __future__ import annotations

import click

from mrm_gate.errors import UserError


@click.group()
def webhook() -> None:
    """Receive MLflow registry webhooks: evaluate, tag, and revert blocked aliases."""


@webhook.command()
@click.option("--config", "config_path", type=click.Path(), help="Gate configuration YAML "
              "(default: $MRM_GATE_MLFLOW_CONFIG); uses its policy, protected aliases, decision "
              "log, attestation keys and `webhook:` section.")
@click.option("--tracking-uri", help="MLflow server to read evidence from and revert on "
              "(default: webhook.tracking_uri, then $MLFLOW_TRACKING_URI).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8799, show_default=True, type=int)
def serve(config_path, tracking_uri, host, port) -> int:
    """Serve POST /webhook until interrupted (GET /health answers)."""
    from werkzeug.serving import make_server

    from .webhook import build_receiver, create_receiver_app

    receiver = build_receiver(config_path, tracking_uri)
    server = make_server(host, port, create_receiver_app(receiver), threaded=True)
    click.echo(f"mrm-gate webhook receiver on http://{host}:{server.server_port}/webhook "
               f"(MLflow: {receiver.tracking_uri})", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


@webhook.command()
@click.argument("url")
@click.option("--config", "config_path", type=click.Path(), help="Gate configuration YAML.")
@click.option("--tracking-uri", help="MLflow server to register the webhook on.")
@click.option("--name", default="mrm-gate", show_default=True)
def register(url, config_path, tracking_uri, name) -> int:
    """Create the MLflow webhook that sends registry events to URL, signed with the secret."""
    import os

    from mlflow.tracking import MlflowClient

    from .config import load_config
    from .webhook import EVENTS, read_secret

    cfg = load_config(config_path)
    uri = tracking_uri or cfg.webhook.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise UserError("give --tracking-uri (or webhook.tracking_uri, MLFLOW_TRACKING_URI)")
    secret = read_secret(cfg.webhook.secret, cfg).decode()
    hook = MlflowClient(tracking_uri=uri, registry_uri=uri).create_webhook(
        name=name, url=url, events=list(EVENTS), secret=secret,
        description="mrm-gate: evaluate and revert promotions that fail policy")
    click.echo(f"webhook {hook.webhook_id} sends {', '.join(EVENTS)} to {url}")
    return 0


@click.group(name="gate-log")
def gate_log() -> None:
    """The gated server's (or webhook receiver's) decision log and its registry checkpoints."""


@gate_log.command(name="verify")
@click.option("--config", "config_path", type=click.Path(), help="Gate configuration YAML "
              "(default: $MRM_GATE_MLFLOW_CONFIG): its decision_log and "
              "decision_log_checkpoint. Only these settings are read; the policy need not be "
              "at hand.")
@click.option("--tracking-uri", help="The MLflow server holding the checkpoints (store: "
              "registry; default: webhook.tracking_uri, then $MLFLOW_TRACKING_URI).")
@click.option("--log", "log_path", type=click.Path(), help="The decision log (default: the "
              "configuration's decision_log), e.g. a copy fetched from the server host.")
@click.option("--model", help="Registered model holding the checkpoints (default: "
              "decision_log_checkpoint.model).")
@click.option("--key", "key_specs", multiple=True, metavar="KEY", help="Key that verifies the "
              "checkpoints: env:VAR (HMAC secret) or a file (HMAC secret, Ed25519 public or "
              "private key); repeat for rotated keys (default: decision_log_checkpoint.key).")
@click.option("--expect-head", metavar="SEQ:SHA256", help="Also require a head written down "
              "earlier (an anchor outside the registry).")
def verify_gate_log(config_path, tracking_uri, log_path, model, key_specs, expect_head) -> int:
    """Verify the decision log against its signed checkpoints in the MLflow registry.

    Names every edited, removed or reordered record, and the truncation or rewrite of the
    newest records at or below a checkpoint (exit 1). Exit 2 when the configuration, key,
    log or registry cannot be used.
    """
    import os

    from mrm_gate.attestation import load_key
    from mrm_gate.audit import parse_head
    from mrm_gate.audit import verify as verify_log
    from mrm_gate.cli.audit import _report

    from .checkpoints import ClientRegistry, RegistryCheckpointStore, checkpoint_key
    from .config import read_settings

    cfg = read_settings(config_path)
    cc = cfg.decision_log_checkpoint
    if cc is None:
        raise UserError(f"{cfg.source_file}: decision_log_checkpoint is not set, so the log has "
                        "no checkpoints to verify against; use `mrm-gate audit verify LOG "
                        "--expect-head SEQ:SHA256`, or configure decision_log_checkpoint")
    log = log_path or str(cfg.decision_log_path)
    if cc.store == "registry":
        uri = tracking_uri or cfg.webhook.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:
            raise UserError("the checkpoints are in the MLflow registry: give --tracking-uri "
                            "(or MLFLOW_TRACKING_URI)")
        store = RegistryCheckpointStore(ClientRegistry(uri), model or cc.model, cc.history)
        where = f"registered model {store.model!r} on {uri}"
    else:
        from mrm_gate.audit import FileCheckpointStore

        store = FileCheckpointStore(cfg.path(cc.store))
        where = str(store.path)
    keys = [load_key(s) for s in key_specs] if key_specs else [checkpoint_key(cfg)]
    try:
        result = verify_log(log, checkpoints=store, keys=keys,
                            expect_head=parse_head(expect_head) if expect_head else None)
    except UserError:
        raise
    except Exception as exc:  # the registry cannot be read: a usage problem, not tampering
        from mrm_gate.audit.query import inert

        raise UserError(f"cannot read the checkpoints from {where}: {type(exc).__name__}: "
                        f"{inert(str(exc).splitlines()[0] if str(exc) else '', 300)}") from None
    _report(log, result)
    if result.ok:
        from mrm_gate.audit.query import inert

        click.echo(f"checkpoints: {inert(where)}")
    return 0 if result.ok else 1
