"""Signed checkpoints of a decision log, kept in the MLflow registry (or a checkpoint file).

A decision log's hash chain cannot show that its newest records were removed; a signed
checkpoint of its head kept somewhere else can (`mrm_gate.audit.checkpoint`). Here "somewhere
else" is a dedicated registered model (default `mrm-gate-decision-log`) whose tags hold the
newest checkpoint (`mrm.checkpoint.latest`) and a ring of the last `history` ones
(`mrm.checkpoint.<seq % history>`), one signed envelope (JSON: DSSE, see
`mrm_gate.audit.checkpoint`) per tag.

Two ways to reach the registry:

* `ServerRegistry` (the gated server): the server's own registry store, in-process, both tags
  in one transaction. Clients cannot touch the model: the gate's route table refuses every
  registry request that names it (`routes.refuse_anchor_model`). Whoever can write the log file
  on the server host cannot rewrite the registry through the gate, and vice versa.
* `ClientRegistry` (the webhook receiver, `gate-log verify`): MLflow's REST client. On a plain
  MLflow server anybody with registry write access can delete or alter these tags: without the
  key they cannot forge a checkpoint (verification fails), but a deleted anchor, or one rolled
  back to an older valid checkpoint, looks like "no checkpoint" or "an older head" — only an
  anchor outside that registry (a checkpoint file, `--expect-head`) detects that.

A write that would move the anchor backwards (a checkpoint for a lower or equal sequence number
of the same log, or for another log) is refused: the log was truncated, rolled back or replaced,
and the gate must stop (fail closed) rather than overwrite the evidence of it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any, Protocol

from mrm_gate.audit.checkpoint import (
    NOT_A_CHECKPOINT,
    CheckpointWriter,
    Entry,
    SignedCheckpoint,
    envelope_error,
)
from mrm_gate.audit.records import is_seq, is_sha256
from mrm_gate.errors import UserError

DEFAULT_MODEL = "mrm-gate-decision-log"
DEFAULT_HISTORY = 16
TAG_PREFIX = "mrm.checkpoint."
LATEST_TAG = TAG_PREFIX + "latest"
DESCRIPTION = ("mrm-gate: signed checkpoints (sequence number and head hash) of a decision log. "
               "Written by the gate only; `mrm-gate gate-log verify` checks the log against "
               "them.")


class RegistryBackend(Protocol):
    """Reads and writes one registered model's tags."""

    def read_tags(self, model: str) -> dict[str, str] | None:
        """The model's tags; None when the model does not exist."""

    def write_tags(self, model: str, tags: dict[str, str], *,
                   check: Any = None) -> None:
        """Create the model if missing, call `check(current_tags)` (it may raise), then set
        `tags`, atomically where the store allows it."""


def _dump(envelope: SignedCheckpoint) -> str:
    return json.dumps(envelope, sort_keys=True, separators=(",", ":"))


def _head(envelope: Any) -> tuple[str, int] | None:
    """(log id, seq) of an unverified envelope, or None when it does not look like one."""
    try:
        body = json.loads(base64.b64decode(envelope["payload"], validate=True))
        log_id, seq = body["log_id"], body["seq"]
    except Exception:  # unverified data: any shape
        return None
    return (log_id, seq) if is_sha256(log_id) and is_seq(seq) else None


def _envelope(value: str) -> Any:
    try:
        env = json.loads(value)
    except (ValueError, RecursionError):
        return None
    return env if envelope_error(env) is None else None


class RegistryCheckpointStore:
    """A `CheckpointStore` over the tags of one registered model (see the module docstring)."""

    def __init__(self, backend: RegistryBackend, model: str = DEFAULT_MODEL,
                 history: int = DEFAULT_HISTORY) -> None:
        self.backend = backend
        self.model = model
        self.history = max(0, int(history))

    def where(self) -> str:
        return f"registered model {self.model!r}"

    # ---- CheckpointStore ------------------------------------------------------------------

    def write(self, cp: SignedCheckpoint) -> None:
        new = _head(cp)
        if new is None:
            raise UserError("internal: not a checkpoint envelope")
        value = _dump(cp)
        tags = {LATEST_TAG: value}
        if self.history:
            tags[f"{TAG_PREFIX}{new[1] % self.history}"] = value

        def check(current: dict[str, str]) -> None:
            self._refuse_rollback(current, new)

        self.backend.write_tags(self.model, tags, check=check)

    def latest(self) -> SignedCheckpoint | None:
        best: tuple[int, Any] | None = None
        for entry in self.entries():
            head = _head(entry.envelope) if entry.error is None else None
            if head is not None and (best is None or head[1] > best[0]):
                best = (head[1], entry.envelope)
        return best[1] if best else None

    def entries(self) -> Iterator[Entry]:
        """Every checkpoint tag (unverified), the newest first; `verify` checks them all."""
        tags = self.backend.read_tags(self.model) or {}
        keys = sorted((k for k in tags if k.startswith(TAG_PREFIX)),
                      key=lambda k: (k != LATEST_TAG, k))
        for i, key in enumerate(keys, start=1):
            env = _envelope(tags[key])
            label = f"{self.where()} tag {key[:80]}"
            if env is None:
                yield Entry(i, None, NOT_A_CHECKPOINT, label=label)
            else:
                yield Entry(i, env, label=label)

    # ---- internals --------------------------------------------------------------------------

    def _refuse_rollback(self, current: dict[str, str], new: tuple[str, int]) -> None:
        log_id, seq = new
        heads = [h for h in (_head(_envelope(v)) for k, v in current.items()
                             if k.startswith(TAG_PREFIX) and _envelope(v) is not None) if h]
        other = [h for h in heads if h[0] != log_id]
        if other:
            raise UserError(
                f"the checkpoint {self.where()} anchors another decision log (id "
                f"{other[0][0][:16]}…, this log's id is {log_id[:16]}…): the log was replaced, "
                "or two logs share one anchor. Verify the old log against it (`mrm-gate "
                "gate-log verify`); a new log needs its own anchor: set "
                "decision_log_checkpoint.model to a new name")
        newest = max((h[1] for h in heads), default=None)
        if newest is not None and seq <= newest:
            raise UserError(
                f"the checkpoint {self.where()} already anchors record {newest} of this log, "
                f"and the log's new head is record {seq}: the log was truncated or rolled back. "
                "Nothing was anchored; run `mrm-gate gate-log verify` to see what is missing")


# ---- backends ---------------------------------------------------------------------------------


class ServerRegistry:
    """The tracking server's own registry store, in-process (used inside the gated server)."""

    def read_tags(self, model: str) -> dict[str, str] | None:
        from mlflow.exceptions import MlflowException

        from .server_store import registry_store

        try:
            rm = registry_store().get_registered_model(model)
        except MlflowException as exc:
            if _not_found(exc):
                return None
            raise
        return dict(rm.tags or {})

    def write_tags(self, model: str, tags: dict[str, str], *, check: Any = None) -> None:
        from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

        from .server_store import registry_store

        store = registry_store()
        if not isinstance(store, SqlAlchemyStore):
            self._write_generic(store, model, tags, check)
            return
        from mlflow.exceptions import MlflowException
        from mlflow.store.model_registry.dbmodels.models import SqlRegisteredModelTag

        for _ in range(2):
            with store.ManagedSessionMaker(read_only=False) as session:
                # the model's tags in one query (no eager load of the model: a write per
                # promotion, so every query counts); the model itself only when it has none
                rows = store._get_query(session, SqlRegisteredModelTag).filter(
                    SqlRegisteredModelTag.name == model).all()
                workspace = rows[0].workspace if rows else None
                if not rows:
                    try:
                        workspace = store._get_registered_model(session, model).workspace
                    except MlflowException as exc:
                        if not _not_found(exc):
                            raise
                refused: UserError | None = None
                if workspace is not None:  # read, check and write in one transaction
                    existing = {t.key: t for t in rows}
                    try:
                        if check is not None:
                            check({k: t.value for k, t in existing.items()})
                    except UserError as exc:  # raised outside: MLflow's session wraps errors
                        refused = exc
                    else:
                        for k, v in tags.items():
                            if k in existing:
                                existing[k].value = v
                            else:
                                session.add(SqlRegisteredModelTag(
                                    workspace=workspace, name=model, key=k, value=v))
            if refused is not None:
                raise refused
            if workspace is not None:
                return
            if check is not None:
                check({})
            _create(store, model)
        raise UserError(f"could not create the registered model {model!r} for checkpoints")

    @staticmethod
    def _write_generic(store, model: str, tags: dict[str, str], check: Any) -> None:
        from mlflow.entities.model_registry import RegisteredModelTag
        from mlflow.exceptions import MlflowException

        try:
            current = dict(store.get_registered_model(model).tags or {})
        except MlflowException as exc:
            if not _not_found(exc):
                raise
            if check is not None:
                check({})
            _create(store, model)
            current = {}
        if check is not None:
            check(current)
        for k in sorted(tags, key=lambda key: key == LATEST_TAG):  # the latest tag last
            store.set_registered_model_tag(model, RegisteredModelTag(k, tags[k]))


class ClientRegistry:
    """Any MLflow server through its REST API (the webhook receiver; `gate-log verify`)."""

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri

    def _client(self):
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def read_tags(self, model: str) -> dict[str, str] | None:
        from mlflow.exceptions import MlflowException

        try:
            rm = self._client().get_registered_model(model)
        except MlflowException as exc:
            if _not_found(exc):
                return None
            raise
        return dict(rm.tags or {})

    def write_tags(self, model: str, tags: dict[str, str], *, check: Any = None) -> None:
        from mlflow.exceptions import MlflowException

        client = self._client()
        current = self.read_tags(model)
        if current is None:
            if check is not None:
                check({})
            try:
                client.create_registered_model(model, description=DESCRIPTION)
            except MlflowException as exc:
                if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
                    raise
            current = self.read_tags(model) or {}
        if check is not None:
            check(current)
        for k in sorted(tags, key=lambda key: key == LATEST_TAG):  # the latest tag last
            client.set_registered_model_tag(model, k, tags[k])


def _create(store, model: str) -> None:
    """Create the anchor model (already created by another worker is fine)."""
    from mlflow.exceptions import MlflowException

    try:
        store.create_registered_model(model, description=DESCRIPTION)
    except MlflowException as exc:
        if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
            raise


def _not_found(exc: Exception) -> bool:
    return (getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"
            or "not found" in str(exc).lower())


# ---- from the configuration ---------------------------------------------------------------


def checkpoint_store(cfg, *, tracking_uri: str | None = None):
    """The store `decision_log_checkpoint` names: the registry (in-process when
    `tracking_uri` is None, i.e. inside the gated server; else through its REST API), or a
    checkpoint file. None when the configuration anchors nothing."""
    from mrm_gate.audit import FileCheckpointStore

    cc = cfg.decision_log_checkpoint
    if cc is None:
        return None
    if cc.store == "registry":
        backend = ServerRegistry() if tracking_uri is None else ClientRegistry(tracking_uri)
        return RegistryCheckpointStore(backend, cc.model, cc.history)
    return FileCheckpointStore(cfg.path(cc.store))


def checkpoint_key(cfg):
    from mrm_gate.attestation import load_key

    spec = cfg.decision_log_checkpoint.key
    return load_key(spec if spec.startswith("env:") else str(cfg.path(spec)))


def checkpoint_writer(cfg, *, tracking_uri: str | None = None) -> CheckpointWriter | None:
    """`CheckpointWriter(store, key)` for `DecisionLog(..., checkpoint=...)`, or None."""
    store = checkpoint_store(cfg, tracking_uri=tracking_uri)
    return None if store is None else CheckpointWriter(store, checkpoint_key(cfg))
