"""Which registry requests the gate intercepts, and which it lets through on purpose.

Keyed by protobuf request class, like MLflow's basic-auth app, and expanded to every HTTP path
MLflow serves for it (`/api/2.0/...` and `/ajax-api/2.0/...`, with the static prefix). Every
request class of `ModelRegistryService` must appear in exactly one of `GATED`, `ALLOWED` or be a
GET-only read; `tests/test_routes.py` walks MLflow's routes and fails on any other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlflow.protos.model_registry_pb2 import (
    CreateModelVersion,
    CreateRegisteredModel,
    DeleteModelVersion,
    DeleteModelVersionTag,
    DeleteRegisteredModel,
    DeleteRegisteredModelAlias,
    DeleteRegisteredModelTag,
    GetLatestVersions,
    ModelRegistryService,
    RenameRegisteredModel,
    SetModelVersionTag,
    SetRegisteredModelAlias,
    SetRegisteredModelTag,
    TransitionModelVersionStage,
    UpdateModelVersion,
    UpdateRegisteredModel,
)

from .gate import Caller, Gate, Refusal

# A pending log entry is written only after MLflow's handler succeeded (after_request).
Pending = list[tuple[str, str, str | None, str]]  # (model, alias, version, how)
Handler = Callable[[Gate, Any, Caller, Pending], None]


# The longest model name MLflow's SQL schema stores; longer names are refused before the gate
# reads anything (and before a hostile 100 kB name reaches a refusal message or the log).
MAX_NAME_CHARS = 256


def check_json_body(flask_request) -> None:
    """A request body that is JSON but not an object (a string, an array, a number) makes
    MLflow's own parser raise a TypeError (HTTP 500, which clients retry): refuse it as MLflow
    refuses other malformed bodies (400 INVALID_PARAMETER_VALUE)."""
    from mlflow.exceptions import MlflowException

    if flask_request.method == "GET":
        return
    data = flask_request.get_json(force=True, silent=True)
    if data is not None and not isinstance(data, dict):
        raise MlflowException.invalid_parameter_value(
            f"the request body must be a JSON object, not a JSON {type(data).__name__}")


def check_fields(msg) -> None:
    """The fields the gate reads, validated as MLflow validates them (MlflowException, 400):
    present, a valid model name / alias / integer version, a non-empty stage or tag key."""
    from mlflow.exceptions import MlflowException
    from mlflow.utils.validation import (
        _validate_model_alias_name,
        _validate_model_name,
        _validate_model_version,
    )

    fields = {f.name for f in msg.DESCRIPTOR.fields}

    def missing(name: str) -> MlflowException:
        return MlflowException.invalid_parameter_value(
            f"Missing value for required parameter '{name}'.")

    if "name" in fields:
        _validate_model_name(msg.name)
        if len(msg.name) > MAX_NAME_CHARS:
            raise MlflowException.invalid_parameter_value(
                f"'name' exceeds the maximum length of {MAX_NAME_CHARS} characters")
    if "version" in fields and type(msg).__name__ not in ("CreateModelVersion",):
        if not msg.version:
            raise missing("version")
        _validate_model_version(msg.version)
    if "alias" in fields:
        _validate_model_alias_name(msg.alias)
    if "stage" in fields and not msg.stage.strip():
        raise missing("stage")
    if "key" in fields and not msg.key:
        raise missing("key")


def _reserved_refusal(gate: Gate, keys: list[str], where: str) -> None:
    if any(k.startswith("mrm.") for k in keys):
        gate.refresh_policy()  # owner-writable keys follow the enforced policy
    bad = [k for k in keys if gate.cfg.is_reserved_tag(k)]
    if bad:
        allowed = ", ".join(gate.cfg.owner_tag_patterns)
        raise Refusal(
            f"mrm-gate refused writing or deleting tag(s) {', '.join(map(repr, bad))} on "
            f"{where}: keys under 'mrm.' are reserved for the gate's own records (decision, "
            f"policy hash, tier, break-glass). Owner-declared keys that stay writable: "
            f"{allowed}. To let owners write another key, add it to `owner_tags` in the gate "
            f"configuration ({gate.cfg.source_file or 'MRM_GATE_MLFLOW_CONFIG'}).",
            reason="reserved_tag")


def refuse_anchor_model(gate: Gate, msg) -> None:
    """Refuse any registry change naming the model that holds the decision log's checkpoints
    (`decision_log_checkpoint.store: registry`): only the gate writes it, in-process. Creating,
    renaming to or from, deleting, tagging, describing it or adding versions or aliases to it
    are all refused, compared without case (some databases compare names without it)."""
    cc = gate.cfg.decision_log_checkpoint
    if cc is None or cc.store != "registry":
        return
    fields = {f.name for f in msg.DESCRIPTOR.fields}
    names = [getattr(msg, f) for f in ("name", "new_name") if f in fields]
    if any(n.casefold() == cc.model.casefold() for n in names):
        raise Refusal(
            f"mrm-gate refused {type(msg).__name__} on registered model {cc.model!r}: it holds "
            "the signed checkpoints of the gate's decision log and only the gate writes it. "
            "Read it freely; verify the log with `mrm-gate gate-log verify`.",
            reason="reserved_tag")


def anchor_only(gate: Gate, msg, caller: Caller, pending: Pending) -> None:
    """Requests gated only for the checkpoint model (the guard in `gated_endpoints`)."""


def on_set_alias(gate: Gate, msg, caller: Caller, pending: Pending) -> None:
    if not gate.cfg.is_protected_alias(msg.alias):
        return
    gate.check_promotion(msg.name, msg.version, alias=msg.alias, caller=caller)


def on_transition(gate: Gate, msg, caller: Caller, pending: Pending) -> None:
    if not gate.cfg.is_protected_stage(msg.stage):
        return
    gate.check_promotion(msg.name, msg.version, stage=msg.stage, caller=caller)


def on_delete_alias(gate: Gate, msg, caller: Caller, pending: Pending) -> None:
    if gate.cfg.is_protected_alias(msg.alias):
        from .server_store import registered_model_aliases

        holder = registered_model_aliases(msg.name).get(msg.alias)
        pending.append((msg.name, msg.alias, holder, "alias deleted"))


def on_delete_version(gate: Gate, msg, caller: Caller, pending: Pending) -> None:
    from .server_store import registered_model_aliases

    for alias, v in registered_model_aliases(msg.name).items():
        if v == str(msg.version) and gate.cfg.is_protected_alias(alias):
            pending.append((msg.name, alias, v, "model version deleted"))


def on_delete_model(gate: Gate, msg, caller: Caller, pending: Pending) -> None:
    from .server_store import registered_model_aliases

    for alias, v in registered_model_aliases(msg.name).items():
        if gate.cfg.is_protected_alias(alias):
            pending.append((msg.name, alias, v, "registered model deleted"))


def on_version_tag(gate: Gate, msg, caller: Caller, pending: Pending) -> None:
    _reserved_refusal(gate, [msg.key], f"model {msg.name!r} version {msg.version}")


def on_model_tag(gate: Gate, msg, caller: Caller, pending: Pending) -> None:
    _reserved_refusal(gate, [msg.key], f"registered model {msg.name!r}")
    if not gate.cfg.gate_prompts:
        from mlflow.prompt.constants import IS_PROMPT_TAG_KEY

        if msg.key == IS_PROMPT_TAG_KEY:
            raise Refusal(f"mrm-gate refused changing {IS_PROMPT_TAG_KEY} on registered model "
                          f"{msg.name!r}: prompts are not gated on this server, so whether a "
                          "model is a prompt is fixed when it is created",
                          reason="reserved_tag")


def on_create_version(gate: Gate, msg, caller: Caller, pending: Pending) -> None:
    _reserved_refusal(gate, [t.key for t in msg.tags], f"a new version of {msg.name!r}")


def on_create_model(gate: Gate, msg, caller: Caller, pending: Pending) -> None:
    _reserved_refusal(gate, [t.key for t in msg.tags], f"new registered model {msg.name!r}")


GATED: dict[type, Handler] = {
    SetRegisteredModelAlias: on_set_alias,
    TransitionModelVersionStage: on_transition,
    DeleteRegisteredModelAlias: on_delete_alias,
    DeleteModelVersion: on_delete_version,
    DeleteRegisteredModel: on_delete_model,
    SetModelVersionTag: on_version_tag,
    DeleteModelVersionTag: on_version_tag,
    SetRegisteredModelTag: on_model_tag,
    DeleteRegisteredModelTag: on_model_tag,
    CreateModelVersion: on_create_version,
    CreateRegisteredModel: on_create_model,
    # allowed on every other model (no alias, stage or tag changes), refused on the anchor
    UpdateRegisteredModel: anchor_only,
    UpdateModelVersion: anchor_only,
    RenameRegisteredModel: anchor_only,
}

# Mutating (non-GET) requests the gate lets through on purpose, with the reason.
# (UpdateRegisteredModel, UpdateModelVersion and RenameRegisteredModel change no alias, stage
# or tag: they are gated only to keep clients off the checkpoint model, see `anchor_only`.)
ALLOWED: dict[type, str] = {
    GetLatestVersions: "a read served on POST as well as GET",
}


def endpoint_table() -> dict[tuple[str, str], type]:
    """(HTTP path, method) -> request class, for every registry endpoint MLflow serves."""
    from mlflow.server.handlers import get_service_endpoints

    table: dict[tuple[str, str], type] = {}
    for path, request_class, methods in get_service_endpoints(ModelRegistryService,
                                                              lambda cls: cls):
        for m in methods:
            table[(path, m)] = request_class
    return table


def guarded(handler: Handler) -> Handler:
    """`handler`, after the checkpoint-model guard (every gated request passes it first)."""

    def run(gate: Gate, msg, caller: Caller, pending: Pending) -> None:
        refuse_anchor_model(gate, msg)
        handler(gate, msg, caller, pending)

    run.__name__ = getattr(handler, "__name__", "handler")
    return run


def gated_endpoints() -> dict[tuple[str, str], tuple[type, Handler]]:
    handlers = {cls: guarded(h) for cls, h in GATED.items()}
    return {k: (cls, handlers[cls]) for k, cls in endpoint_table().items() if cls in GATED}
