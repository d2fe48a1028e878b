"""Pydantic models of the policy language (`apiVersion: mrm-gate/v1`, `kind: Policy`).

Unknown keys are errors everywhere (extra="forbid"). A control's `params` stay a plain mapping
here and are validated by the check's own params model in `loader.py`, so the schema of the
language does not depend on which checks are installed.

Numbers are finite reals (`allow_inf_nan=False`; a boolean is not a number), `matches` patterns
compile with RE2 (linear-time matching; see `regex.py`), and the free-text fields of a waiver
(who approved, why) must say something: blank is refused.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..decision import Severity
from .regex import PatternError, compile_pattern

API_VERSION = "mrm-gate/v1"
CONTROL_ID_PATTERN = r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$"
CHECK_NAME_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)


class Metadata(_Strict):
    name: str = Field(min_length=1)
    version: str | None = None
    owner: str | None = None
    description: str | None = None
    references: list[str] = Field(default_factory=list)

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, (int, float)) else v


SELECTORS = ("tag", "param", "metric", "run_tag", "field")
OPERATORS = ("equals", "not_equals", "in", "not_in", "gt", "gte", "lt", "lte", "exists", "matches")


class Predicate(_Strict):
    """One declarative test on one evidence value: exactly one selector, one operator.

    Selectors: `tag` (model version tag, falling back to the registered model's), `param`,
    `metric`, `run_tag`, `field` (a ModelInfo field such as `description` or `creator`).
    """

    tag: str | None = None
    param: str | None = None
    metric: str | None = None
    run_tag: str | None = None
    field: str | None = None
    equals: Any = None
    not_equals: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")
    not_in: list[Any] | None = None
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    exists: bool | None = None
    matches: str | None = None

    @field_validator("gt", "gte", "lt", "lte", mode="before")
    @classmethod
    def _bool_is_not_a_number(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError(f"a boolean ({str(v).lower()}) is not a number; write the number")
        return v

    @model_validator(mode="after")
    def _one_selector_one_operator(self) -> Predicate:
        sels = [s for s in SELECTORS if getattr(self, s) is not None]
        if len(sels) != 1:
            raise ValueError(f"a condition needs exactly one of {', '.join(SELECTORS)}")
        ops = [o for o in OPERATORS if getattr(self, "in_" if o == "in" else o) is not None]
        if len(ops) != 1:
            raise ValueError(f"a condition needs exactly one operator of {', '.join(OPERATORS)}")
        if self.matches is not None:
            try:
                compile_pattern(self.matches)
            except PatternError as exc:
                raise ValueError(str(exc)) from None
        return self

    @property
    def selector(self) -> tuple[str, str]:
        for s in SELECTORS:
            v = getattr(self, s)
            if v is not None:
                return s, v
        raise AssertionError("validated")

    @property
    def operator(self) -> tuple[str, Any]:
        for o in OPERATORS:
            v = getattr(self, "in_" if o == "in" else o)
            if v is not None:
                return o, v
        raise AssertionError("validated")

    def describe(self) -> str:
        (s, name), (o, v) = self.selector, self.operator
        return f"{s} {name} {o} {v!r}"


class TierRule(_Strict):
    """Assign `tier` when every `all` condition holds and, if given, any `any` condition."""

    tier: str
    all: list[Predicate] = Field(default_factory=list)
    any: list[Predicate] = Field(default_factory=list)
    reason: str | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> TierRule:
        if not self.all and not self.any:
            raise ValueError("a tiering rule needs 'all' or 'any' conditions")
        return self


class Tiering(_Strict):
    """Where the tier comes from.

    `precedence`: `highest` (default, conservative) takes the higher of the declared tag and the
    first matching rule, so an owner cannot under-declare materiality; `tag` lets the declared
    tag win; `rules` lets the rules win. With neither, the stated `default` applies.
    """

    tag: str | None = "mrm.risk_tier"
    rules: list[TierRule] = Field(default_factory=list)
    default: str
    precedence: Literal["highest", "tag", "rules"] = "highest"


class Control(_Strict):
    id: str = Field(pattern=CONTROL_ID_PATTERN)
    check: str | None = Field(default=None, pattern=CHECK_NAME_PATTERN)
    params: dict[str, Any] = Field(default_factory=dict)
    severity: Severity = Severity.BLOCK
    applies_to: list[str] = Field(
        default_factory=list, description="target stages/aliases; empty means all targets"
    )
    refs: list[str] = Field(default_factory=list)
    description: str | None = None
    remediation: str | None = None
    enabled: bool = True

    @model_validator(mode="after")
    def _check_needed(self) -> Control:
        if self.enabled and self.check is None:
            raise ValueError("field 'check' is required (unless enabled: false)")
        return self


class Tier(_Strict):
    description: str | None = None
    extends: str | None = None
    controls: list[Control] = Field(default_factory=list)


class PolicyDocument(_Strict):
    """One policy file as written."""

    apiVersion: Literal["mrm-gate/v1"]
    kind: Literal["Policy"]
    metadata: Metadata
    extends: str | None = Field(
        default=None, description="path of a base policy file, relative to this file"
    )
    tiering: Tiering | None = None
    tiers: dict[str, Tier] = Field(default_factory=dict)


class Waiver(_Strict):
    """A risk acceptance: one control, one model (and version or '*'), until `expires`."""

    id: str = Field(min_length=1)
    control: str = Field(pattern=CONTROL_ID_PATTERN)
    model: str = Field(min_length=1)
    version: str = "*"
    reason: str = Field(min_length=1)
    approver: str = Field(min_length=1)
    expires: dt.date

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("id", "model", "reason", "approver", "version")
    @classmethod
    def _not_blank(cls, v: str, info: Any) -> str:
        if not v.strip():
            raise ValueError(f"{info.field_name} must not be blank (a waiver names who accepted "
                             "the risk, why, for which model)")
        return v


class WaiversDocument(_Strict):
    apiVersion: Literal["mrm-gate/v1"]
    kind: Literal["Waivers"]
    waivers: list[Waiver] = Field(default_factory=list)
