"""`mlflow server --app-name mrm-gate`: MLflow's tracking server with the promotion gate.

Built like MLflow's own `basic-auth` app: `create_app` adds a Flask `before_request` hook that
looks the request up by (path, method) in a table derived from the registry's protobuf request
classes (see `routes.py`). With `identity: basic-auth`, MLflow's basic-auth app is installed
first, so authentication runs before the gate and the gate records the authenticated user.
"""

from __future__ import annotations

import logging
import os
import sys

from mrm_gate.errors import UserError

from .config import GateConfig, load_config

_logger = logging.getLogger("mrm_gate_mlflow")
# Error messages longer than this are cut (MLflow's validators echo the offending value).
MAX_ERROR_CHARS = 2000


def _fail(exc: Exception) -> SystemExit:
    sys.stderr.write(f"mrm-gate: the MLflow gate cannot start.\n{exc}\n")
    sys.stderr.flush()
    return SystemExit(2)


def create_app(app=None):
    """Return MLflow's app with the gate installed (FastAPI under uvicorn, else Flask)."""
    from mlflow.environment_variables import _MLFLOW_SGI_NAME
    from mlflow.server import app as mlflow_flask_app

    app = app if app is not None else mlflow_flask_app
    try:
        cfg = load_config()
        from .gate import Gate

        gate = Gate(cfg)
    except UserError as exc:
        raise _fail(exc) from None
    wrapped = None
    if cfg.identity == "basic-auth":
        from mlflow.server.auth import create_app as basic_auth_create_app

        wrapped = basic_auth_create_app(app)  # its before_request hook is registered first
    install(app, gate)
    if wrapped is not None:
        return wrapped
    if _MLFLOW_SGI_NAME.get() == "uvicorn":
        from mlflow.server.fastapi_app import create_fastapi_app

        return create_fastapi_app(app)
    return app


def install(app, gate) -> None:
    """Register the gate's before/after request hooks and its metrics route on MLflow's
    Flask app."""
    from flask import g, request
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import PERMISSION_DENIED, TEMPORARILY_UNAVAILABLE
    from mlflow.server.handlers import _get_request_message

    from .gate import Refusal
    from .observe import configure_logging
    from .routes import check_fields, check_json_body, gated_endpoints

    configure_logging()
    table = gated_endpoints()

    def mlflow_error(exc: MlflowException) -> object:
        """MLflow's own error response for `exc` (its JSON, its HTTP status); a message that
        echoes a huge value from the request is cut."""
        if len(exc.message) > MAX_ERROR_CHARS:
            from mlflow.protos.databricks_pb2 import ErrorCode

            exc = MlflowException(exc.message[:MAX_ERROR_CHARS] + "... (cut)",
                                  error_code=ErrorCode.Value(exc.error_code))
        return app.response_class(exc.serialize_as_json(), status=exc.get_http_status_code(),
                                  mimetype="application/json")

    def error(message: str, code) -> object:
        return mlflow_error(MlflowException(message, error_code=code))

    def before_request():
        # Key on the route Flask matched (what will actually be dispatched), not the raw path:
        # a path that does not route (e.g. doubled slashes, redirected) runs no handler at all.
        rule = request.url_rule.rule if request.url_rule is not None else None
        hit = table.get((rule, request.method))
        if hit is None:
            return None
        request_class, handler = hit
        # A malformed request gets MLflow's own 400 (INVALID_PARAMETER_VALUE), never a 5xx
        # that clients retry, and is never evaluated: the handler would refuse it anyway.
        try:
            check_json_body(request)
            msg = _get_request_message(request_class(), flask_request=request)
            check_fields(msg)
        except MlflowException as exc:
            gate.observer.refused("malformed_request")
            return mlflow_error(exc)
        except Exception as exc:
            gate.observer.refused("malformed_request")
            return mlflow_error(MlflowException.invalid_parameter_value(
                f"malformed request for {request_class.__name__}: {type(exc).__name__}"))
        pending: list = []
        who = caller(gate.cfg)
        g.mrm_gate_held = who.held  # released in teardown, whatever happens next
        try:
            handler(gate, msg, who, pending)
        except Refusal as r:
            if not getattr(r, "counted", False):
                gate.observer.refused(r.reason)
            return error(r.message, TEMPORARILY_UNAVAILABLE if r.busy else PERMISSION_DENIED)
        except Exception as exc:  # fail closed on anything unexpected
            _logger.exception("mrm-gate hook failed")
            gate.observer.refused("internal")
            return error(f"mrm-gate could not check this request and refuses it (fail closed): "
                         f"{type(exc).__name__}: {str(exc)[:300]}", PERMISSION_DENIED)
        if pending:
            g.mrm_gate_pending = pending
        return None

    def teardown_request(_exc=None) -> None:
        for lock in g.pop("mrm_gate_held", None) or []:
            lock.release()

    def after_request(response):
        pending = g.pop("mrm_gate_pending", None)
        if pending and response.status_code == 200:
            who = caller(gate.cfg)
            for name, alias, version, how in pending:
                try:
                    gate.log_alias_removed(name, alias, version, how=how, caller=who)
                except Exception:
                    _logger.exception("mrm-gate could not log the removal of @%s", alias)
        return response

    def metrics():
        body, content_type = gate.observer.exposition()
        return app.response_class(body, status=200, content_type=content_type)

    app.before_request(before_request)
    app.after_request(after_request)
    app.teardown_request(teardown_request)
    add_metrics_route(app, metrics)


def add_metrics_route(app, view) -> None:
    """`GET <static prefix>/mrm-gate/metrics`: Prometheus metrics of the gate. It is not a
    registry route, so the gate does not intercept it; with `identity: basic-auth` MLflow's
    basic-auth asks for credentials like on every other route."""
    from mlflow.server.handlers import STATIC_PREFIX_ENV_VAR

    from .observe import METRICS_PATH

    prefix = (os.environ.get(STATIC_PREFIX_ENV_VAR) or "").rstrip("/")
    endpoint = "mrm_gate_metrics"
    if endpoint in app.view_functions:  # installed again (tests): replace the view
        app.view_functions[endpoint] = view
        return
    app.add_url_rule(prefix + METRICS_PATH, endpoint, view, methods=["GET"])


def caller(cfg: GateConfig):
    """The authenticated user, break-glass reason and this server's URL, from the request."""
    from flask import g, request

    from mrm_gate.mlflow import BREAK_GLASS_HEADER, decode_reason

    from .gate import Caller

    user = None
    if cfg.identity == "basic-auth":
        user = getattr(g, "mlflow_authenticated_user", None)
    elif cfg.identity == "header":
        user = request.headers.get(cfg.identity_header.header) or None
    raw = request.headers.get(BREAK_GLASS_HEADER)
    files_uri = cfg.evidence.tracking_uri
    if files_uri == "self":
        files_uri = self_url(request)
    return Caller(user=user, break_glass_reason=decode_reason(raw) if raw else None,
                  remote_addr=request.remote_addr, files_uri=files_uri)


def self_url(request) -> str:
    """This server's own base URL as bound (loopback when bound to every interface)."""
    from mlflow.server.handlers import STATIC_PREFIX_ENV_VAR

    host = request.environ.get("SERVER_NAME") or "127.0.0.1"
    port = request.environ.get("SERVER_PORT") or "5000"
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    prefix = (os.environ.get(STATIC_PREFIX_ENV_VAR) or "").rstrip("/")
    return f"{request.scheme}://{host}:{port}{prefix}"


def _fail_fast_in_mlflow_cli() -> None:
    """Validate the configuration in the `mlflow server` process, before workers start.

    `mlflow server --app-name mrm-gate` imports this module to inspect `create_app` before it
    spawns the server. Checking here turns a bad configuration into one clear error that stops
    the command, instead of workers that crash and are restarted in a loop.
    """
    argv = sys.argv
    if not argv or not (os.path.basename(argv[0]) in ("mlflow", "mlflow.exe")
                        or argv[0].endswith(os.path.join("mlflow", "__main__.py"))):
        return
    if "server" not in argv or os.environ.get("_MLFLOW_SGI_NAME"):
        return  # not the CLI process (workers have the server variable set)
    try:
        load_config()
    except UserError as exc:
        raise _fail(exc) from None


_fail_fast_in_mlflow_cli()
