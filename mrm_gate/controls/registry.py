"""The check registry: one registration path for built-in and third-party checks.

A check is a `Check` object (name, params model, function) exposed through the entry-point group
`mrm_gate.checks`; the entry point's name is the check type used in policies. Built-ins are
declared in mrm-gate's own pyproject.toml exactly like a plugin's. Modules are imported only when
a check is first used, and a check module must not import heavy libraries at module level (import
them inside the function), so `policy validate` stays fast.

Writing a check (see docs/writing-checks.md)::

    from pydantic import BaseModel
    from mrm_gate.controls.registry import check
    from mrm_gate.decision import CheckResult, Status

    class MyParams(BaseModel):
        model_config = {"extra": "forbid"}
        limit: float

    @check("acme.my_check", params=MyParams, summary="One line of what it verifies")
    def my_check(params: MyParams, ctx) -> CheckResult:
        '''Rationale, a passing and a failing example.'''
        ...

and in your pyproject.toml::

    [project.entry-points."mrm_gate.checks"]
    "acme.my_check" = "acme_checks.module:my_check"
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..errors import UserError

if TYPE_CHECKING:
    from ..decision import CheckResult
    from .context import CheckContext

ENTRY_POINT_GROUP = "mrm_gate.checks"


@dataclass(frozen=True)
class Check:
    """A check type: validated params + a function of (params, context) -> CheckResult."""

    name: str
    params: type[BaseModel]
    run: Callable[[Any, CheckContext], CheckResult]
    summary: str
    needs: frozenset[str] = field(default_factory=frozenset)  # e.g. {"datasets", "model"}

    @property
    def doc(self) -> str:
        return inspect.cleandoc(self.run.__doc__ or "")

    def __call__(self, params: Any, ctx: CheckContext) -> CheckResult:
        return self.run(params, ctx)


def check(
    name: str, *, params: type[BaseModel], summary: str, needs: tuple[str, ...] = ()
) -> Callable[[Callable[..., CheckResult]], Check]:
    """Decorator turning a function into a registrable `Check`."""

    def wrap(fn: Callable[..., CheckResult]) -> Check:
        return Check(name=name, params=params, run=fn, summary=summary, needs=frozenset(needs))

    return wrap


class CheckRegistry:
    """Lazy view of the entry-point group; loads a check module on first use."""

    def __init__(self, extra: dict[str, Check] | None = None) -> None:
        self._entry_points: dict[str, metadata.EntryPoint] | None = None
        self._loaded: dict[str, Check] = dict(extra or {})

    def _eps(self) -> dict[str, metadata.EntryPoint]:
        if self._entry_points is None:
            self._entry_points = {
                ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
            }
        return self._entry_points

    def names(self) -> list[str]:
        return sorted(set(self._eps()) | set(self._loaded))

    def register(self, chk: Check) -> None:
        """Register a check object directly (tests, embedding applications)."""
        self._loaded[chk.name] = chk

    def suggest(self, name: str) -> str | None:
        close = difflib.get_close_matches(name, self.names(), n=1, cutoff=0.6)
        return close[0] if close else None

    def __contains__(self, name: str) -> bool:
        return name in self._loaded or name in self._eps()

    def get(self, name: str) -> Check:
        if name in self._loaded:
            return self._loaded[name]
        ep = self._eps().get(name)
        if ep is None:
            hint = self.suggest(name)
            raise UserError(
                f"unknown check type {name!r}"
                + (f"; did you mean {hint!r}?" if hint else "")
                + " (`mrm-gate checks list` shows the catalogue)"
            )
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plugin gets a named error, not a traceback
            raise UserError(
                f"check {name!r} could not be loaded from {ep.value!r} "
                f"({type(exc).__name__}: {exc}); is its package installed completely?"
            ) from exc
        if not isinstance(obj, Check):
            raise UserError(
                f"entry point {name!r} = {ep.value!r} is not an mrm_gate Check "
                "(decorate the function with mrm_gate.controls.registry.check)"
            )
        if obj.name != name:
            raise UserError(
                f"entry point {name!r} points at check {obj.name!r}; the names must match"
            )
        self._loaded[name] = obj
        return obj


_default: CheckRegistry | None = None


def default_registry() -> CheckRegistry:
    global _default
    if _default is None:
        _default = CheckRegistry()
    return _default
