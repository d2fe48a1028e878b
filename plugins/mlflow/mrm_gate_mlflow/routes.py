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


def _reserved_refusal(gate: Gate, keys: list[str], where: str) -> None:
    bad = [k for k in keys if gate.cfg.is_reserved_tag(k)]
    if bad:
        allowed = ", ".join(gate.cfg.owner_tags)
        raise Refusal(
            f"mrm-gate refused writing or deleting tag(s) {', '.join(map(repr, bad))} on "
            f"{where}: keys under 'mrm.' are reserved for the gate's own records (decision, "
            f"policy hash, tier, break-glass). Owner-declared keys that stay writable: {allowed}")


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
                          "model is a prompt is fixed when it is created")


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
}

# Mutating (non-GET) requests the gate lets through on purpose, with the reason.
ALLOWED: dict[type, str] = {
    UpdateRegisteredModel: "changes only the description; no alias, stage or tag",
    UpdateModelVersion: "changes only the description; no alias, stage or tag",
    RenameRegisteredModel: "versions keep their aliases, tags and decisions; no version gains "
                           "an alias or a stage",
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


def gated_endpoints() -> dict[tuple[str, str], tuple[type, Handler]]:
    return {k: (cls, GATED[cls]) for k, cls in endpoint_table().items() if cls in GATED}
