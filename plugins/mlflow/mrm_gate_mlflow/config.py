"""Gate configuration: one YAML file named by `MRM_GATE_MLFLOW_CONFIG`, validated at start-up.

Every problem is reported at once with `file:line:column`, and the server refuses to start: a
gate that silently runs with a half-read configuration would not be a gate.

Example::

    apiVersion: mrm-gate/v1
    kind: MlflowGate
    mode: evaluate                      # or: attestation
    policy: policies/credit.yaml        # paths are relative to this file
    waivers: waivers.yaml
    decision_log: /var/lib/mrm-gate/decisions.jsonl
    protected_aliases: [champion, production]
    protected_stages: [Production]
    allow_conditional: true
    attestation:
      keys: [env:MRM_GATE_HMAC_KEY]     # or a PEM Ed25519 public key file
      max_age: 24h
    break_glass:
      users: [alice]
    identity: basic-auth                # none | basic-auth | header
    decision_log_checkpoint:            # anchor the log's head (checkpoints.py)
      key: env:MRM_GATE_CHECKPOINT_KEY  # or an HMAC secret / Ed25519 private key PEM file
      store: registry                   # or a checkpoint file path
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from mrm_gate.errors import ErrorItem, UserError
from mrm_gate.evidence.model import GATE_TAG_PREFIXES

CONFIG_ENV = "MRM_GATE_MLFLOW_CONFIG"

# The reserved namespace. Every `mrm.` tag key is written only by the gate, except the keys of
# `owner_tags` (declarations by the model owner that the policy reads: tier, exposure, purpose)
# and the attestation tag (a signed record: forging it gains nothing).
RESERVED_PREFIX = "mrm."
# Without `owner_tags` in the configuration, owners may write these plus every `mrm.` tag the
# enforced policy reads from them (derived from the policy: see `policy_owner_tags`).
DEFAULT_OWNER_TAGS = ("mrm.risk_tier", "mrm.exposure", "mrm.purpose", "mrm.owner",
                      "mrm.use_case", "mrm.validator", "mrm.validation_*", "mrm.review_*")


def _is_gate_tag(key: str) -> bool:
    return any(key.startswith(p) or fnmatch.fnmatch(p, key) for p in GATE_TAG_PREFIXES)


def policy_owner_tags(policy: Any) -> list[str]:
    """The `mrm.` tag keys `policy` expects model owners to set, derived from the policy itself:
    the tiering tag, the `tag:` inputs of tiering rules, and in every control's params the
    values of `tags` (e.g. `metadata.required`) and of any `*_tag` parameter (e.g.
    `gap_risk.expected_loss`'s `fund_tag`). Keys the gate writes itself are never included.
    """
    keys: list[str] = []
    tiering = policy.tiering
    if tiering.tag:
        keys.append(tiering.tag)
    for rule in tiering.rules:
        keys += [p.tag for p in (*rule.all, *rule.any) if p.tag]
    for resolved in policy.effective.values():
        for rc in resolved:
            for name, value in (rc.control.params or {}).items():
                if name == "tags" and isinstance(value, list):
                    keys += [v for v in value if isinstance(v, str)]
                elif (name == "tag" or name.endswith("_tag")) and isinstance(value, str):
                    keys.append(value)
    return sorted({k for k in keys if k.startswith(RESERVED_PREFIX) and not _is_gate_tag(k)})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AttestationConfig(_Strict):
    keys: list[str] = Field(default_factory=list, description="verification keys: "
                            "`env:VAR` (HMAC secret) or a PEM file (Ed25519 public key)")
    max_age: str = "24h"


class BreakGlassConfig(_Strict):
    users: list[str] = Field(default_factory=list, description="who may override a BLOCK")
    min_reason_chars: int = Field(default=10, ge=1)


class HeaderIdentity(_Strict):
    header: str = "X-Forwarded-User"


class EvidenceConfig(_Strict):
    tracking_uri: str = Field(default="self", description="tracking URI recorded as the "
                              "evidence's source in decisions (evidence itself is read "
                              "in-process); `self` = this server's address")
    timeout_s: float = Field(default=10.0, gt=0)


class WebhookConfig(_Strict):
    """Settings of `mrm-gate webhook serve` (the receiver for servers without the plugin)."""

    tracking_uri: str | None = None
    secret: str = Field(default="env:MRM_GATE_WEBHOOK_SECRET",
                        description="the webhook's signing secret: `env:VAR` or a file")
    tolerance_s: int = Field(default=300, ge=1)
    revert: Literal["restore", "remove"] = "restore"
    evaluate_on_create: bool = True


class CheckpointConfig(_Strict):
    """Signed checkpoints of the decision log's head, kept apart from the log."""

    key: str = Field(description="signing key: `env:VAR` (HMAC secret) or a file (HMAC secret "
                     "or Ed25519 private key PEM)")
    store: str = Field(description="`registry` (tags of a dedicated registered model) or a "
                       "checkpoint file path")
    model: str = Field(default="mrm-gate-decision-log", description="the registered model "
                       "holding the checkpoints (store: registry)")
    history: int = Field(default=16, ge=0, le=100, description="checkpoints kept as tags "
                         "besides the latest (store: registry)")

    @field_validator("key", "store", "model")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v


class GateConfig(_Strict):
    apiVersion: Literal["mrm-gate/v1"] = "mrm-gate/v1"
    kind: Literal["MlflowGate"] = "MlflowGate"
    mode: Literal["evaluate", "attestation"] = "evaluate"
    policy: str
    waivers: str | None = None
    decision_log: str
    decision_log_checkpoint: CheckpointConfig | None = None
    reports_dir: str | None = None
    protected_aliases: list[str] = Field(default_factory=lambda: ["champion", "production"])
    protected_stages: list[str] = Field(default_factory=lambda: ["Production"])
    allow_conditional: bool = True
    # None: DEFAULT_OWNER_TAGS plus the `mrm.` tags the policy asks owners to set (derived)
    owner_tags: list[str] | None = None
    # Prompts are registered models too. Gated by default (fail closed): with false, a model
    # created as a prompt is not gated, and the prompt marker cannot be changed afterwards.
    gate_prompts: bool = True
    identity: Literal["none", "basic-auth", "header"] = "none"
    identity_header: HeaderIdentity = Field(default_factory=HeaderIdentity)
    attestation: AttestationConfig = Field(default_factory=AttestationConfig)
    break_glass: BreakGlassConfig = Field(default_factory=BreakGlassConfig)
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)
    webhook: WebhookConfig = Field(default_factory=WebhookConfig)
    max_concurrent_evaluations: int = Field(default=4, ge=1)
    trust_model_code: bool = False

    # resolved at load time (not part of the file)
    base_dir: str = Field(default=".", exclude=True)
    source_file: str | None = Field(default=None, exclude=True)
    _policy_tags: tuple[str, ...] = PrivateAttr(default=())

    @field_validator("owner_tags")
    @classmethod
    def _owner_tags_not_gate_tags(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        bad = [k for k in v if not k.startswith(RESERVED_PREFIX) or _is_gate_tag(k)]
        if bad:
            raise ValueError(
                f"owner_tags {bad} must be keys under 'mrm.' that the gate does not write "
                f"(gate-written prefixes: {', '.join(GATE_TAG_PREFIXES)})")
        return v

    @field_validator("protected_aliases", "protected_stages")
    @classmethod
    def _non_empty_names(cls, v: list[str]) -> list[str]:
        if any(not s.strip() for s in v):
            raise ValueError("empty name")
        return v

    def path(self, p: str | None) -> Path | None:
        if p is None:
            return None
        q = Path(os.path.expandvars(os.path.expanduser(p)))
        return q if q.is_absolute() else Path(self.base_dir) / q

    @property
    def decision_log_path(self) -> Path:
        return self.path(self.decision_log)  # type: ignore[return-value]

    @property
    def reports_path(self) -> Path:
        return self.path(self.reports_dir) or self.decision_log_path.parent / "reports"

    def is_protected_alias(self, alias: str) -> bool:
        return alias.lower() in {a.lower() for a in self.protected_aliases}

    def is_protected_stage(self, stage: str) -> bool:
        return stage.lower() in {s.lower() for s in self.protected_stages}

    def use_policy(self, policy: Any) -> None:
        """Record the `mrm.` tags the enforced policy asks owners to set (called when the
        policy is loaded or reloaded); they are owner-writable unless `owner_tags` is set."""
        self._policy_tags = tuple(policy_owner_tags(policy))

    @property
    def owner_tag_patterns(self) -> list[str]:
        """The `mrm.` keys (glob patterns) model owners may write."""
        if self.owner_tags is not None:
            return list(self.owner_tags)
        return list(dict.fromkeys([*DEFAULT_OWNER_TAGS, *self._policy_tags]))

    def is_reserved_tag(self, key: str) -> bool:
        """True for a key only the gate may write or delete."""
        from mrm_gate.attestation import ATTESTATION_TAG

        if not key.startswith(RESERVED_PREFIX) or key == ATTESTATION_TAG:
            return False
        return not any(fnmatch.fnmatchcase(key, pat) for pat in self.owner_tag_patterns)


def load_config(path: str | Path | None = None) -> GateConfig:
    """Read and validate the configuration, and check that what it names can be used.

    Raises UserError listing every problem. Also loads the policy and waivers and the
    attestation keys once, so a broken policy stops the server at start-up, not at the first
    promotion.
    """
    from mrm_gate.policy.loader import _known_keys
    from mrm_gate.yamlsafe import load_yaml, pydantic_items

    if path is None:
        path = os.environ.get(CONFIG_ENV)
        if not path:
            raise UserError(f"the mrm-gate MLflow plugin needs a configuration file: set "
                            f"{CONFIG_ENV}=/path/to/gate.yaml (see docs/mlflow-plugin.md)")
    p = Path(path)
    loc = load_yaml(p, "gate configuration")
    if not isinstance(loc.data, dict):
        raise UserError(f"gate configuration {p} must be a YAML mapping")
    resolved = {"base_dir": str(p.resolve().parent), "source_file": str(p)}
    schema_items: list[ErrorItem] = []
    cfg: GateConfig | None = None
    try:
        cfg = GateConfig.model_validate({**loc.data, **resolved})
    except ValidationError as exc:
        keys = _known_keys(GateConfig, AttestationConfig, BreakGlassConfig, EvidenceConfig,
                           WebhookConfig, HeaderIdentity, CheckpointConfig)
        schema_items = pydantic_items(exc, loc, known_keys=keys)
        # Every problem at once: check what can be used of the rest (the keys in error left
        # at their defaults), so a bad key does not hide a missing policy or key file.
        bad = {str(e["loc"][0]) for e in exc.errors() if e.get("loc")}
        try:
            cfg = GateConfig.model_validate(
                {**{k: v for k, v in loc.data.items() if k not in bad}, **resolved})
        except ValidationError:
            cfg = None  # a required key is missing or wrong: already reported
    problems = schema_items + (check_usable(cfg, loc) if cfg is not None else [])
    if problems:
        head = (f"invalid gate configuration {p}" if schema_items
                else f"gate configuration {p} cannot be used")
        raise UserError(head, problems)
    return cfg  # type: ignore[return-value]


def read_settings(path: str | Path | None = None) -> GateConfig:
    """The configuration checked against its schema only (no policy, key or folder checks):
    what an auditor needs to find the decision log and its checkpoints, on a machine that may
    not hold the policy. UserError listing every schema problem."""
    from mrm_gate.policy.loader import _known_keys
    from mrm_gate.yamlsafe import load_yaml, pydantic_items

    if path is None:
        path = os.environ.get(CONFIG_ENV)
        if not path:
            raise UserError(f"give --config gate.yaml (or set {CONFIG_ENV})")
    p = Path(path)
    loc = load_yaml(p, "gate configuration")
    if not isinstance(loc.data, dict):
        raise UserError(f"gate configuration {p} must be a YAML mapping")
    try:
        return GateConfig.model_validate({**loc.data, "base_dir": str(p.resolve().parent),
                                          "source_file": str(p)})
    except ValidationError as exc:
        keys = _known_keys(GateConfig, AttestationConfig, BreakGlassConfig, EvidenceConfig,
                           WebhookConfig, HeaderIdentity, CheckpointConfig)
        raise UserError(f"invalid gate configuration {p}",
                        pydantic_items(exc, loc, known_keys=keys)) from None


def check_usable(cfg: GateConfig, loc) -> list[ErrorItem]:
    """Semantic checks: files exist and parse, keys load, mode-specific settings present."""
    from mrm_gate.attestation import parse_duration
    from mrm_gate.policy import load_policy, load_waivers

    items: list[ErrorItem] = []

    def add(key: str, message: str, hint: str | None = None) -> None:
        line, col = loc.where((key,))
        items.append(ErrorItem(message=message, file=loc.file, line=line, column=col, path=key,
                               hint=hint))

    policy = None
    try:
        policy = load_policy(cfg.path(cfg.policy))
        cfg.use_policy(policy)
    except UserError as exc:
        add("policy", f"policy cannot be loaded: {exc}")
    if cfg.waivers and policy is not None:
        try:
            load_waivers(cfg.path(cfg.waivers), policy)
        except UserError as exc:
            add("waivers", f"waivers cannot be loaded: {exc}")
    log = cfg.decision_log_path
    if log.is_dir():
        add("decision_log", f"{log} is a directory; name a file")
    elif not _writable_dir(log.parent):
        add("decision_log", f"folder {log.parent} does not exist or is not writable")
    for key, message in checkpoint_problems(cfg):
        add(key, message)
    if cfg.mode == "attestation":
        if not cfg.attestation.keys:
            add("attestation", "mode 'attestation' needs attestation.keys (the keys that CI "
                "signs with: env:VAR for HMAC, or an Ed25519 public key PEM file)")
        try:
            parse_duration(cfg.attestation.max_age)
        except UserError as exc:
            add("attestation", f"max_age: {exc}")
    for spec in cfg.attestation.keys:
        try:
            load_verify_keys([spec], cfg)
        except UserError as exc:
            add("attestation", str(exc))
    if cfg.identity == "basic-auth":
        try:
            import flask_wtf  # noqa: F401  (MLflow's basic-auth app needs it)
        except ImportError:
            add("identity", "identity: basic-auth runs MLflow's basic-auth app, which needs "
                "Flask-WTF: pip install 'mlflow[auth]'")
    if cfg.break_glass.users and cfg.identity == "none":
        add("break_glass", "break-glass users need an authenticated identity; set identity: "
            "basic-auth (MLflow's basic-auth runs first) or identity: header (behind an "
            "authenticating proxy)")
    return items


def checkpoint_problems(cfg: GateConfig) -> list[tuple[str, str]]:
    """(config key, problem) for `decision_log_checkpoint`: the key loads and can sign, the
    store is the registry (with a valid model name) or a writable file apart from the log."""
    cc = cfg.decision_log_checkpoint
    if cc is None:
        return []
    out: list[tuple[str, str]] = []
    where = "decision_log_checkpoint"
    try:
        from .checkpoints import checkpoint_key

        key = checkpoint_key(cfg)
        if not key.can_sign:
            out.append((where, f"key {cc.key!r} is a public key; the gate signs checkpoints, "
                        "so it needs the HMAC secret or the Ed25519 private key (auditors "
                        "verify with the public key: `mrm-gate gate-log verify --key`)"))
    except UserError as exc:
        out.append((where, f"key: {exc}"))
    if cc.store == "registry":
        from mlflow.exceptions import MlflowException
        from mlflow.utils.validation import _validate_model_name

        try:
            _validate_model_name(cc.model)
        except MlflowException as exc:
            out.append((where, f"model: {exc.message}"))
    else:
        f = cfg.path(cc.store)
        log = cfg.decision_log_path
        if f.is_dir():
            out.append((where, f"store: {f} is a directory; name a file or `registry`"))
        elif os.path.realpath(f) == os.path.realpath(log):
            out.append((where, f"store: {f} is the decision log itself; checkpoints must be "
                        "kept apart from the log (another file, or `registry`)"))
        elif not _writable_dir(f.parent):
            out.append((where, f"store: folder {f.parent} does not exist or is not writable"))
    return out


def load_verify_keys(specs: list[str], cfg: GateConfig):
    from mrm_gate.attestation import load_key

    out = []
    for spec in specs:
        out.append(load_key(spec if spec.startswith("env:") else str(cfg.path(spec))))
    return out


def _writable_dir(p: Path) -> bool:
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(p, os.W_OK)
