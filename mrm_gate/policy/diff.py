"""What a policy change does to the gate: controls added, removed, tightened or loosened.

Both policies are compared as resolved (base policies merged, tier inheritance applied), tier
by tier, so a threshold changed in `medium` shows up once with the tiers it reaches. A change
is classified from what it does to a model:

- tier presence: required in more tiers = tightened, in fewer = loosened;
- severity: info < warn < block;
- applies_to: an empty list means every target, so narrowing it loosens;
- params: a params model field may say which way is stricter with
  `json_schema_extra={"stricter": "higher" | "lower" | "superset" | "subset" | "true"}`;
  otherwise names decide (`min*`/`*_min` higher is stricter; `max*`/`*_max`/`*tolerance*`
  lower is stricter; lists of required things: more is stricter; lists of `allowed`/`ignore`/
  `exclude` things: fewer is stricter). Anything else is reported as `changed`, for a human
  to judge; never guessed.
- tiering: a higher default tier, `precedence: highest`, or a rule assigning a higher tier
  tightens.

Changes to a control's `refs` are listed as `mapping`: they change the regulatory mapping
(`policy coverage`), not what the gate decides.

This module computes the diff; `mrm_gate.output` renders it (`render(diff, "markdown")`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .loader import Policy, ResolvedControl

KINDS = ("added", "removed", "tightened", "loosened", "changed", "mapping")
SEVERITY_RANK = {"info": 0, "warn": 1, "block": 2}
ENUM_ORDERS = {"on_missing_baseline": ["pass", "skip", "fail"]}
TRUE_IS_STRICTER = {"distinct_from_creator", "exclude_owner"}


@dataclass
class Change:
    subject: str  # control id, or "tiering"
    kind: str  # one of KINDS; "mapping" = only the regulatory refs changed
    what: str
    path: str | None = None  # the field that changed, e.g. params.min
    old: Any = None
    new: Any = None
    tiers: list[str] = field(default_factory=list)


@dataclass
class PolicyDiff:
    old: Policy
    new: Policy
    changes: list[Change]

    def counts(self) -> dict[str, int]:
        return {k: sum(1 for c in self.changes if c.kind == k) for k in KINDS}

    @property
    def loosens(self) -> bool:
        return any(c.kind in ("removed", "loosened") for c in self.changes)


# --------------------------------------------------------------------------- params


def _direction(path: tuple[str, ...], params_model: Any) -> str | None:
    if params_model is not None and path:
        info = params_model.model_fields.get(path[0])
        extra = getattr(info, "json_schema_extra", None) if info is not None else None
        if isinstance(extra, dict) and extra.get("stricter"):
            return str(extra["stricter"])
    for name in reversed(path):
        n = name.lower()
        if n in ("min", "minimum") or n.startswith("min_") or n.endswith("_min"):
            return "higher"
        if (n in ("max", "maximum") or n.startswith("max_") or n.endswith("_max")
                or "tolerance" in n):
            return "lower"
        if n.startswith(("allow", "ignore", "exclude", "skip")):
            return "subset"
        if n in TRUE_IS_STRICTER:
            return "true"
    return None


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _fmt(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(map(str, v)) + "]"
    return "none" if v is None else str(v)


def _compare_values(path: tuple[str, ...], old: Any, new: Any, model: Any) -> list[Change]:
    if old == new:
        return []
    name = "params." + ".".join(path)
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in [*old, *[k for k in new if k not in old]]:
            out += _compare_values((*path, str(key)), old.get(key), new.get(key), model)
        return out
    direction = _direction(path, model)
    kind = "changed"
    if _is_number(old) and _is_number(new) and direction in ("higher", "lower"):
        up = new > old
        kind = "tightened" if up == (direction == "higher") else "loosened"
    elif direction in ("higher", "lower") and (old is None) != (new is None):
        kind = "tightened" if old is None else "loosened"  # a bound added / dropped
    elif isinstance(old, list) and isinstance(new, list):
        added = [x for x in new if x not in old]
        removed = [x for x in old if x not in new]
        parts = ([f"+{_fmt(added)}"] if added else []) + ([f"-{_fmt(removed)}"] if removed else [])
        if added and not removed:
            kind = "loosened" if direction == "subset" else "tightened"
        elif removed and not added:
            kind = "tightened" if direction == "subset" else "loosened"
        return [Change("", kind, f"{name}: {' '.join(parts) or 'reordered'}", name, old, new)]
    elif path and path[-1] in ENUM_ORDERS and old in ENUM_ORDERS[path[-1]] and (
            new in ENUM_ORDERS[path[-1]]):
        order = ENUM_ORDERS[path[-1]]
        kind = "tightened" if order.index(new) > order.index(old) else "loosened"
    elif isinstance(old, bool) and isinstance(new, bool) and direction == "true":
        kind = "tightened" if new else "loosened"
    return [Change("", kind, f"{name} {_fmt(old)} -> {_fmt(new)}", name, old, new)]


def _params(rc: ResolvedControl) -> dict[str, Any]:
    if rc.params is not None:
        return rc.params.model_dump(mode="json", by_alias=True)
    return dict(rc.control.params)


# --------------------------------------------------------------------------- controls


def _compare_control(old: ResolvedControl, new: ResolvedControl) -> list[Change]:
    out: list[Change] = []
    oc, nc = old.control, new.control
    if oc.check != nc.check:
        out.append(Change("", "changed", f"check {oc.check} -> {nc.check}", "check",
                          oc.check, nc.check))
        return out
    if oc.severity != nc.severity:
        up = SEVERITY_RANK[nc.severity.value] > SEVERITY_RANK[oc.severity.value]
        out.append(Change("", "tightened" if up else "loosened",
                          f"severity {oc.severity.value} -> {nc.severity.value}", "severity",
                          oc.severity.value, nc.severity.value))
    o_to = {t.lower() for t in oc.applies_to}
    n_to = {t.lower() for t in nc.applies_to}
    if o_to != n_to:
        if not n_to or (o_to and n_to > o_to):
            kind = "tightened"
        elif not o_to or n_to < o_to:
            kind = "loosened"
        else:
            kind = "changed"
        show = lambda s: _fmt(sorted(s)) if s else "every target"  # noqa: E731
        out.append(Change("", kind, f"applies_to {show(o_to)} -> {show(n_to)}", "applies_to",
                          sorted(o_to), sorted(n_to)))
    model = new.check.params if new.check is not None else None
    out += _compare_values((), _params(old), _params(new), model)
    if oc.refs != nc.refs:
        added = [r for r in nc.refs if r not in oc.refs]
        removed = [r for r in oc.refs if r not in nc.refs]
        parts = ([f"+{_fmt(added)}"] if added else []) + ([f"-{_fmt(removed)}"] if removed else [])
        out.append(Change("", "mapping", f"refs: {' '.join(parts)}", "refs", oc.refs, nc.refs))
    return out


def _presence(policy: Policy) -> dict[str, dict[str, ResolvedControl]]:
    out: dict[str, dict[str, ResolvedControl]] = {}
    for tier in policy.tier_names:
        for rc in policy.effective[tier]:
            out.setdefault(rc.id, {})[tier] = rc
    return out


def _ordered(tiers: set[str], *policies: Policy) -> list[str]:
    order: list[str] = []
    for p in policies:
        order += [t for t in p.tier_names if t not in order]
    return [t for t in order if t in tiers]


def _controls(old: Policy, new: Policy) -> list[Change]:
    o, n = _presence(old), _presence(new)
    changes: list[Change] = []
    for cid in [*o, *[c for c in n if c not in o]]:
        o_t, n_t = o.get(cid, {}), n.get(cid, {})
        if not o_t:
            first = next(iter(n_t.values()))
            changes.append(Change(cid, "added", f"new control ({first.control.check}, "
                                  f"{first.control.severity.value})", "tiers", None,
                                  list(n_t), _ordered(set(n_t), new)))
            continue
        if not n_t:
            first = next(iter(o_t.values()))
            changes.append(Change(cid, "removed", f"control removed ({first.control.check})",
                                  "tiers", list(o_t), None, _ordered(set(o_t), old)))
            continue
        gained, lost = set(n_t) - set(o_t), set(o_t) - set(n_t)
        if gained:
            changes.append(Change(cid, "tightened", "now required in tier(s) "
                                  + ", ".join(_ordered(gained, new)), "tiers", sorted(o_t),
                                  sorted(n_t), _ordered(gained, new)))
        if lost:
            changes.append(Change(cid, "loosened", "no longer required in tier(s) "
                                  + ", ".join(_ordered(lost, old)), "tiers", sorted(o_t),
                                  sorted(n_t), _ordered(lost, old)))
        grouped: dict[tuple[str, str], Change] = {}
        for tier in _ordered(set(o_t) & set(n_t), new, old):
            for ch in _compare_control(o_t[tier], n_t[tier]):
                key = (ch.kind, ch.what)
                if key not in grouped:
                    ch.subject = cid
                    grouped[key] = ch
                grouped[key].tiers.append(tier)
        changes += grouped.values()
    return changes


# --------------------------------------------------------------------------- tiering


def _rank(policy: Policy, tier: str) -> int | None:
    return policy.tier_names.index(tier) if tier in policy.tier_names else None


def _tiering(old: Policy, new: Policy) -> list[Change]:
    out: list[Change] = []
    ot, nt = old.tiering, new.tiering
    for t in new.tier_names:
        if t not in old.tier_names:
            out.append(Change("tiering", "changed", f"new tier {t}", "tiers", None, t))
    for t in old.tier_names:
        if t not in new.tier_names:
            out.append(Change("tiering", "changed", f"tier {t} removed", "tiers", t, None))
    if ot.default != nt.default:
        a, b = _rank(new, ot.default), _rank(new, nt.default)
        kind = "changed" if a is None or b is None else ("tightened" if b > a else "loosened")
        out.append(Change("tiering", kind, f"default tier {ot.default} -> {nt.default}",
                          "tiering.default", ot.default, nt.default))
    if ot.precedence != nt.precedence:
        kind = ("tightened" if nt.precedence == "highest" else
                "loosened" if ot.precedence == "highest" else "changed")
        out.append(Change("tiering", kind, f"precedence {ot.precedence} -> {nt.precedence}",
                          "tiering.precedence", ot.precedence, nt.precedence))
    if ot.tag != nt.tag:
        out.append(Change("tiering", "changed", f"tier tag {ot.tag} -> {nt.tag}",
                          "tiering.tag", ot.tag, nt.tag))
    orules = [r.model_dump(mode="json", exclude={"reason"}) for r in ot.rules]
    nrules = [r.model_dump(mode="json", exclude={"reason"}) for r in nt.rules]
    if orules != nrules:
        out += _rules(orules, nrules, new)
    return out


def _rules(orules: list[dict], nrules: list[dict], new: Policy) -> list[Change]:
    out: list[Change] = []
    same_conditions = len(orules) == len(nrules) and all(
        {k: v for k, v in a.items() if k != "tier"} == {k: v for k, v in b.items() if k != "tier"}
        for a, b in zip(orules, nrules, strict=True))
    if same_conditions:
        for i, (a, b) in enumerate(zip(orules, nrules, strict=True), 1):
            if a["tier"] != b["tier"]:
                ra, rb = _rank(new, a["tier"]), _rank(new, b["tier"])
                kind = "changed" if ra is None or rb is None else (
                    "tightened" if rb > ra else "loosened")
                out.append(Change("tiering", kind, f"rule {i} assigns {a['tier']} -> "
                                  f"{b['tier']}", f"tiering.rules[{i - 1}].tier", a["tier"],
                                  b["tier"]))
        return out
    out.append(Change("tiering", "changed",
                      f"tiering rules changed ({len(orules)} -> {len(nrules)} rules); review "
                      "which models change tier", "tiering.rules", orules, nrules))
    return out


def diff_policies(old: Policy, new: Policy) -> PolicyDiff:
    """Every material difference between two resolved policies."""
    changes = _tiering(old, new) + _controls(old, new)
    changes.sort(key=lambda c: KINDS.index(c.kind))  # stable: tiering first within a kind
    return PolicyDiff(old, new, changes)
