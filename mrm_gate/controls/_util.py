"""Small helpers shared by the built-in checks, and the numbers rule every params model obeys.

A threshold is a finite real number: `.nan` compares false with everything, so `min: .nan`
would pass every model, and `.inf` / `1e400` (which YAML reads as infinity) make a bound that
nothing can cross. Booleans are not numbers either (`min: true` is a typo, not 1.0), although
pydantic's lax mode would take them. `Params` enforces both for every field of every built-in
check, nested models and containers included, once, here; the policy loader applies the same
`number_problems` to third-party params models that do not derive from `Params`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from ..yamlsafe import not_finite_message

BOOL_NOT_NUMBER = "a boolean ({shown}) is not a number; write the number"


def _shown(v: Any) -> str:
    return "true" if v else "false"


def is_finite_number(v: Any) -> bool:
    """True for an int or float that is a finite real number (and not a bool)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:  # an int beyond float range
        return False


def nonfinite_paths(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every (path, value) in plain data whose value is a number that is not finite.

    Iterative (no recursion limit) so it can walk any document the YAML reader built.
    """
    stack: list[tuple[tuple[Any, ...], Any]] = [(path, data)]
    while stack:
        p, v = stack.pop()
        if isinstance(v, dict):
            stack.extend(reversed([((*p, k), x) for k, x in v.items()]))
        elif isinstance(v, (list, tuple)):
            stack.extend(reversed([((*p, i), x) for i, x in enumerate(v)]))
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and not is_finite_number(v):
            yield p, v


def number_problems(raw: Any, validated: Any, path: tuple[Any, ...] = ()) -> list[
        tuple[tuple[Any, ...], str]]:
    """Where `validated` took a number that the raw input did not give as a finite number.

    Walks the raw input beside what a params model made of it: a raw boolean that became an
    int or float (pydantic's lax mode) and a non-finite float (however it was written) are
    problems. Schema-agnostic, so it works for any params model.
    """
    out: list[tuple[tuple[Any, ...], str]] = []
    stack: list[tuple[tuple[Any, ...], Any, Any]] = [(path, raw, validated)]
    while stack:
        p, r, v = stack.pop()
        if isinstance(v, BaseModel):
            if isinstance(r, dict):
                for name, f in type(v).model_fields.items():
                    key = f.alias or name
                    if key in r:
                        stack.append(((*p, key), r[key], getattr(v, name, None)))
                    elif name in r:
                        stack.append(((*p, name), r[name], getattr(v, name, None)))
            continue
        if isinstance(v, dict) and isinstance(r, dict):
            stack.extend(((*p, k), r[k], v[k]) for k in v if k in r)
        elif isinstance(v, (list, tuple)) and isinstance(r, (list, tuple)):
            stack.extend(((*p, i), a, b) for i, (a, b) in enumerate(zip(r, v, strict=False)))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            if isinstance(r, bool):
                out.append((p, BOOL_NOT_NUMBER.format(shown=_shown(r))))
            elif not is_finite_number(v):
                out.append((p, not_finite_message(v)))
    return out


def _admits_bool(annotation: Any) -> bool:
    """Whether a field's type takes booleans (bool itself, or a Literal of True/False)."""
    if annotation is bool:
        return True
    if get_origin(annotation) is Literal:
        return any(isinstance(a, bool) for a in get_args(annotation))
    return any(_admits_bool(a) for a in get_args(annotation))


def _subpath(path: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


class Params(BaseModel):
    """Base of every built-in params model: unknown keys are errors, numbers are finite reals.

    `allow_inf_nan=False` refuses `.nan`, `.inf`, `"nan"` and `1e400` in every float field
    (nested models inherit this base); the field wrap-validator refuses a boolean where the
    field took a number, at any depth of the field's value.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="wrap")
    @classmethod
    def _numbers_are_finite_reals(cls, value: Any, handler: Any, info: ValidationInfo) -> Any:
        try:
            result = handler(value)
        except ValueError:
            # `bins: yes` would be reported as "greater than or equal to 2": name the real problem
            field = cls.model_fields.get(info.field_name or "")
            if isinstance(value, bool) and field is not None and not _admits_bool(
                    field.annotation):
                raise ValueError(BOOL_NOT_NUMBER.format(shown=_shown(value))) from None
            raise
        problems = number_problems(value, result)
        if problems:
            sub, message = problems[0]
            raise ValueError(f"{_subpath(sub)[1:]}: {message}" if sub else message)
        return result


def fmt(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"{v:.4g}"
