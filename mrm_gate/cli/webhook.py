"""`mrm-gate webhook`: receive MLflow registry webhooks (for servers without the plugin)."""

from __future__ import annotations

import click

from ..errors import UserError


def _plugin():
    try:
        from mrm_gate_mlflow import webhook
    except ImportError:
        raise UserError("the webhook receiver is in the mrm-gate-mlflow package: "
                        "pip install mrm-gate-mlflow") from None
    return webhook


@click.group()
def webhook() -> None:
    """Receive MLflow registry webhooks: evaluate, tag, and revert blocked aliases."""


@webhook.command()
@click.option("--config", "config_path", type=click.Path(), help="Gate configuration YAML "
              "(default: $MRM_GATE_MLFLOW_CONFIG); uses its policy, protected aliases, decision "
              "log and `webhook:` section.")
@click.option("--tracking-uri", help="MLflow server to read evidence from and revert on "
              "(default: webhook.tracking_uri, then $MLFLOW_TRACKING_URI).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8799, show_default=True, type=int)
def serve(config_path, tracking_uri, host, port) -> int:
    """Serve POST /webhook until interrupted (GET /health answers)."""
    wh = _plugin()
    receiver = wh.build_receiver(config_path, tracking_uri)
    from werkzeug.serving import make_server

    server = make_server(host, port, wh.create_receiver_app(receiver), threaded=True)
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

    wh = _plugin()
    from mrm_gate_mlflow.config import load_config

    cfg = load_config(config_path)
    uri = tracking_uri or cfg.webhook.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise UserError("give --tracking-uri (or webhook.tracking_uri, MLFLOW_TRACKING_URI)")
    secret = wh.read_secret(cfg.webhook.secret, cfg).decode()
    from mlflow.tracking import MlflowClient

    hook = MlflowClient(tracking_uri=uri, registry_uri=uri).create_webhook(
        name=name, url=url, events=list(wh.EVENTS), secret=secret,
        description="mrm-gate: evaluate and revert promotions that fail policy")
    click.echo(f"webhook {hook.webhook_id} sends {', '.join(wh.EVENTS)} to {url}")
    return 0
