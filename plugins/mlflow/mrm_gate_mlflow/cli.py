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
