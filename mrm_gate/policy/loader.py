"""Load a policy file (and the base policies it extends) into a validated, resolved `Policy`.

Every problem is collected, not just the first, and reported with file:line:column, the field
path, and a suggestion for a misspelt key or check name. When a file does not even match the
schema, its controls are still checked one by one (check type, params, refs) and its base
policies are still read, so one `policy validate` run shows everything to fix.

Numbers anywhere in a policy are finite reals: `.nan`, `.inf` and `1e400` (YAML reads it as
infinity) are refused wherever they appear, with file:line and the field path; a boolean where a
params model takes a number is refused for every check, third-party ones included.

Loading is linear in the policy's size (controls are merged and inherited through id indexes).
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..controls._util import Params, nonfinite_paths, number_problems
from ..controls.registry import Check, CheckRegistry, default_registry
from ..errors import ErrorItem, PolicyError, UserError
from ..yamlsafe import Located, format_path, load_yaml, not_finite_message, pydantic_items
from .model import (
    CHECK_NAME_PATTERN,
    Control,
    Metadata,
    PolicyDocument,
    Predicate,
    Tier,
    Tiering,
    TierRule,
    Waiver,
    WaiversDocument,
)
from .refs import check_ref

MAX_EXTENDS_DEPTH = 8


def _known_keys(*models: type[BaseModel]) -> list[str]:
    keys: set[str] = set()
    for m in models:
        for name, f in m.model_fields.items():
            keys.add(f.alias or name)
    return sorted(keys)


POLICY_KEYS = _known_keys(PolicyDocument, Metadata, Tiering, TierRule, Predicate, Tier, Control)
WAIVER_KEYS = _known_keys(WaiversDocument, Waiver)


@dataclass
class ResolvedControl:
    """A control as it applies in one tier: definition, validated params, its check, origin."""

    control: Control
    params: BaseModel | None
    check: Check | None
    file: str
    line: int | None
    tier: str  # the tier whose list defined it

    @property
    def id(self) -> str:
        return self.control.id

    def applies(self, target: str | None) -> bool:
        if not self.control.applies_to:
            return True
        if target is None:
            return True  # no target named: every control runs (strictest reading)
        return target.lower() in {t.lower() for t in self.control.applies_to}


@dataclass
class Policy:
    """A validated policy with its base policies merged and tier inheritance resolved."""

    path: str
    files: list[str]
    sha256: str
    metadata: Metadata
    tiering: Tiering
    tier_names: list[str]
    tiers: dict[str, Tier]
    effective: dict[str, list[ResolvedControl]] = field(default_factory=dict)

    def tier_rank(self, tier: str) -> int:
        return self.tier_names.index(tier)

    def require_tier(self, tier: str) -> None:
        if tier not in self.effective:
            close = difflib.get_close_matches(tier, self.tier_names, n=1)
            raise UserError(
                f"tier {tier!r} does not exist in policy {self.metadata.name!r} "
                f"(tiers: {', '.join(self.tier_names)})"
                + (f"; did you mean {close[0]!r}?" if close else "")
            )

    def controls_for(self, tier: str, target: str | None) -> list[ResolvedControl]:
        self.require_tier(tier)
        return [c for c in self.effective[tier] if c.applies(target)]

    def explain(self, tier: str, target: str | None) -> list[tuple[ResolvedControl, bool, str]]:
        """Every control of the tier, whether it runs for `target`, and why."""
        self.require_tier(tier)
        out = []
        for rc in self.effective[tier]:
            origin = "defined in tier " + repr(rc.tier)
            if rc.tier != tier:
                origin = f"inherited from tier {rc.tier!r}"
            runs = rc.applies(target)
            if not rc.control.applies_to:
                why = f"{origin}; applies to every target"
            elif runs:
                shown = "any target" if target is None else repr(target)
                why = f"{origin}; applies_to {rc.control.applies_to} includes {shown}"
            else:
                why = f"{origin}; skipped: applies_to {rc.control.applies_to} excludes {target!r}"
            out.append((rc, runs, why))
        return out

    def control_ids(self) -> set[str]:
        return {rc.id for controls in self.effective.values() for rc in controls}

    def find_control(self, control_id: str) -> ResolvedControl | None:
        for controls in self.effective.values():
            for rc in controls:
                if rc.id == control_id:
                    return rc
        return None


@dataclass
class _Origin:
    control: Control
    loc: Located
    path: tuple[Any, ...]
    tier: str


# (file, control path) of the controls whose params hold a non-finite number, reported once by
# the document walk; their params are not validated again (which would repeat the error).
Reported = set[tuple[str, tuple[Any, ...]]]


def _number_items(loc: Located, reported: Reported) -> list[ErrorItem]:
    """One located error per non-finite number anywhere in the data (thresholds, operands...)."""
    items = []
    for path, value in nonfinite_paths(loc.data):
        line, col = loc.where(path)
        items.append(ErrorItem(not_finite_message(value), loc.file, line, col, format_path(path),
                               "a threshold or numeric operand must be a finite real number"))
        if len(path) > 4 and path[0] == "tiers" and path[2] == "controls" and path[4] == "params":
            reported.add((loc.file, path[:4]))
    return items


def _parse_document(
    path: Path, items: list[ErrorItem], reported: Reported
) -> tuple[PolicyDocument | None, Located]:
    loc = load_yaml(path, "policy")
    data = loc.data
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a YAML {type(data).__name__}"
        raise PolicyError(
            f"{path} is not a policy: the file is {kind}, expected a mapping with "
            "apiVersion: mrm-gate/v1 and kind: Policy"
        )
    if "apiVersion" not in data and "kind" not in data and "tiers" not in data:
        raise PolicyError(
            f"{path} is not an mrm-gate policy: it has no apiVersion, kind or tiers "
            f"(top-level keys: {', '.join(map(str, list(data)[:8])) or 'none'})"
        )
    items.extend(_number_items(loc, reported))
    try:
        return PolicyDocument.model_validate(data), loc
    except ValidationError as exc:
        items.extend(pydantic_items(exc, loc, known_keys=POLICY_KEYS))
        return None, loc


def _check_control(
    check_name: str | None,
    params_raw: Any,
    refs: list[Any],
    loc: Located,
    cpath: tuple[Any, ...],
    registry: CheckRegistry,
    items: list[ErrorItem],
    reported: Reported,
) -> tuple[Check | None, BaseModel | None]:
    """Check type, params and refs of one control; problems go to `items`."""
    chk: Check | None = None
    params: BaseModel | None = None
    if check_name:
        line, col = loc.where((*cpath, "check"))
        if check_name not in registry:
            hint = registry.suggest(check_name)
            items.append(ErrorItem(
                f"unknown check type {check_name!r}", loc.file, line, col,
                format_path((*cpath, "check")),
                f"did you mean {hint!r}?" if hint else "see `mrm-gate checks list`"))
        else:
            try:
                chk = registry.get(check_name)
            except UserError as exc:
                items.append(ErrorItem(str(exc), loc.file, line, col,
                                       format_path((*cpath, "check"))))
        ppath = (*cpath, "params")
        if chk is not None and isinstance(params_raw, dict) and (
                (loc.file, cpath) not in reported):  # non-finite: reported
            try:
                params = chk.params.model_validate(params_raw)
            except ValidationError as exc:
                items.extend(pydantic_items(exc, loc, ppath, known_keys=_known_keys(chk.params)))
            else:
                if not issubclass(chk.params, Params):  # third-party model: same number rule
                    for sub, message in number_problems(params_raw, params):
                        l2, c2 = loc.where((*ppath, *sub))
                        items.append(ErrorItem(message, loc.file, l2, c2,
                                               format_path((*ppath, *sub))))
                        params = None
    for j, ref in enumerate(refs):
        if not isinstance(ref, str):
            continue  # the schema reported it
        problem = check_ref(ref)
        if problem:
            l2, c2 = loc.where((*cpath, "refs", j))
            items.append(ErrorItem(problem, loc.file, l2, c2, format_path((*cpath, "refs", j))))
    return chk, params


def _check_raw_controls(
    loc: Located, registry: CheckRegistry, items: list[ErrorItem], reported: Reported
) -> None:
    """Check every control of a document that failed the schema, one by one, leniently."""
    tiers = loc.data.get("tiers") if isinstance(loc.data, dict) else None
    if not isinstance(tiers, dict):
        return
    for name, tier in tiers.items():
        controls = tier.get("controls") if isinstance(tier, dict) else None
        if not isinstance(controls, list):
            continue
        for i, ctl in enumerate(controls):
            if not isinstance(ctl, dict):
                continue
            check_name = ctl.get("check")
            if not (isinstance(check_name, str) and re.match(CHECK_NAME_PATTERN, check_name)):
                check_name = None  # a malformed name was reported by the schema
            if ctl.get("enabled", True) is False:
                check_name = None
            refs = ctl.get("refs")
            _check_control(check_name, ctl.get("params", {}),
                           refs if isinstance(refs, list) else [], loc,
                           ("tiers", name, "controls", i), registry, items, reported)


def _invalid(top: Path, items: list[ErrorItem]) -> PolicyError:
    unique = list(dict.fromkeys(
        (i.file, i.line, i.column, i.path, i.message, i.hint) for i in items))
    kept = [ErrorItem(m, f, ln, c, p, h) for f, ln, c, p, m, h in unique]
    return PolicyError(f"policy {top} is invalid ({len(kept)} problem(s))", kept)


def load_policy(path: str | Path, registry: CheckRegistry | None = None) -> Policy:
    """Load, merge, resolve and validate a policy. Raises PolicyError listing every problem."""
    registry = registry or default_registry()
    top = Path(path)
    items: list[ErrorItem] = []
    reported: Reported = set()
    chain: list[tuple[PolicyDocument, Located, Path]] = []
    failed: list[Located] = []
    seen: set[Path] = set()
    current: Path | None = top
    while current is not None:
        resolved = current.resolve()
        if resolved in seen:
            raise PolicyError(f"policy extends itself in a cycle at {current}")
        if len(chain) + len(failed) >= MAX_EXTENDS_DEPTH:
            raise PolicyError(f"policy extends chain deeper than {MAX_EXTENDS_DEPTH} at {current}")
        seen.add(resolved)
        doc, loc = _parse_document(current, items, reported)
        if doc is not None:
            chain.append((doc, loc, current))
            extends = doc.extends
        else:  # keep reading: the base files' problems are reported in the same run
            failed.append(loc)
            extends = loc.data.get("extends")
            extends = extends if isinstance(extends, str) and extends.strip() else None
        current = (current.parent / extends) if extends else None
        if current is not None and not current.exists():
            line, col = loc.where(("extends",))
            items.append(ErrorItem(f"base policy {extends!r} not found", loc.file, line,
                                   col, "extends"))
            failed.append(Located(None, str(current)))  # the chain is incomplete
            current = None
    if failed:  # the documents cannot be merged: check their controls one by one
        for loc in [*failed, *(loc for _d, loc, _p in chain)]:
            _check_raw_controls(loc, registry, items, reported)
        raise _invalid(top, items)

    digest = hashlib.sha256()
    for _doc, _loc, p in chain:
        digest.update(hashlib.sha256(p.read_bytes()).digest())
    sha = (
        hashlib.sha256(chain[0][2].read_bytes()).hexdigest()
        if len(chain) == 1
        else digest.hexdigest()
    )

    # Merge from the root base down to the named file.
    tiering: tuple[Tiering, Located] | None = None
    tier_order: list[str] = []
    tier_meta: dict[str, Tier] = {}
    own: dict[str, list[_Origin]] = {}
    own_index: dict[str, dict[str, int]] = {}  # tier -> control id -> position in own[tier]
    for doc, loc, _p in reversed(chain):
        if doc.tiering is not None:
            tiering = (doc.tiering, loc)
        for name, tier in doc.tiers.items():
            if name not in tier_meta:
                tier_order.append(name)
                tier_meta[name] = Tier(description=tier.description, extends=tier.extends)
                own[name] = []
                own_index[name] = {}
            else:
                base = tier_meta[name]
                tier_meta[name] = Tier(
                    description=tier.description or base.description,
                    extends=tier.extends if tier.extends is not None else base.extends,
                )
            seen_ids: set[str] = set()
            for i, ctl in enumerate(tier.controls):
                cpath = ("tiers", name, "controls", i)
                if ctl.id in seen_ids:
                    line, col = loc.where((*cpath, "id"))
                    items.append(ErrorItem(f"control {ctl.id} appears twice in tier {name!r}",
                                           loc.file, line, col, format_path((*cpath, "id"))))
                seen_ids.add(ctl.id)
                origin = _Origin(ctl, loc, cpath, name)
                at = own_index[name].get(ctl.id)
                if at is not None:
                    own[name][at] = origin
                else:
                    own_index[name][ctl.id] = len(own[name])
                    own[name].append(origin)
    main_doc, main_loc, _ = chain[0]
    if tiering is None:
        items.append(ErrorItem("required field 'tiering' is missing (it states the default "
                               "tier for models with no resolvable tier)", main_loc.file, 1, 1,
                               "tiering"))
        for _d, loc, _p in chain:
            _check_raw_controls(loc, registry, items, reported)
        raise _invalid(top, items)
    if not tier_order:
        items.append(ErrorItem("the policy defines no tiers", main_loc.file, 1, 1, "tiers"))

    tier_set = set(tier_order)

    def unknown_tier(name: str, loc: Located, path: tuple[Any, ...]) -> None:
        line, col = loc.where(path)
        close = difflib.get_close_matches(name, tier_order, n=1)
        items.append(ErrorItem(
            f"tier {name!r} does not exist (tiers: {', '.join(tier_order)})", loc.file, line, col,
            format_path(path), f"did you mean {close[0]!r}?" if close else None))

    tdef, tloc = tiering
    if tdef.default not in tier_set:
        unknown_tier(tdef.default, tloc, ("tiering", "default"))
    for i, rule in enumerate(tdef.rules):
        if rule.tier not in tier_set:
            unknown_tier(rule.tier, tloc, ("tiering", "rules", i, "tier"))
    for name, meta in tier_meta.items():
        if meta.extends is not None and meta.extends not in tier_set:
            unknown_tier(meta.extends, main_loc, ("tiers", name, "extends"))

    # Check types, params, refs; one control id = one check type across the policy.
    check_of_id: dict[str, str] = {}
    resolved_of: dict[int, ResolvedControl] = {}
    for name in tier_order:
        for origin in own[name]:
            ctl, loc, cpath = origin.control, origin.loc, origin.path
            line, _col = loc.where(cpath)
            if ctl.enabled and ctl.check:
                prev = check_of_id.setdefault(ctl.id, ctl.check)
                if prev != ctl.check:
                    l2, c2 = loc.where((*cpath, "check"))
                    items.append(ErrorItem(
                        f"control {ctl.id} uses check {ctl.check!r} here but {prev!r} elsewhere; "
                        "one control id = one check type (give the new control a new id)",
                        loc.file, l2, c2, format_path((*cpath, "check"))))
            chk, params = _check_control(ctl.check if ctl.enabled else None, ctl.params,
                                         ctl.refs, loc, cpath, registry, items, reported)
            resolved_of[id(origin)] = ResolvedControl(ctl, params, chk, loc.file, line, name)

    # Resolve tier inheritance.
    effective: dict[str, list[ResolvedControl]] = {}

    def resolve(name: str, stack: tuple[str, ...]) -> list[ResolvedControl]:
        if name in effective:
            return effective[name]
        if name in stack:
            items.append(ErrorItem(f"tiers extend each other in a cycle: "
                                   f"{' -> '.join((*stack, name))}", main_loc.file,
                                   *main_loc.where(("tiers", name, "extends")),
                                   format_path(("tiers", name, "extends"))))
            return []
        base: list[ResolvedControl] = []
        parent = tier_meta[name].extends
        if parent in tier_set:
            base = list(resolve(parent, (*stack, name)))
        index = {rc.id: i for i, rc in enumerate(base)}
        for origin in own[name]:
            rc = resolved_of[id(origin)]
            idx = index.get(rc.id)
            if idx is not None:
                base[idx] = rc
            else:
                index[rc.id] = len(base)
                base.append(rc)
        effective[name] = [rc for rc in base if rc.control.enabled]
        return effective[name]

    for name in tier_order:
        resolve(name, ())

    if items:
        raise _invalid(top, items)
    return Policy(
        path=str(top),
        files=[str(p) for _d, _l, p in chain],
        sha256=sha,
        metadata=main_doc.metadata,
        tiering=tdef,
        tier_names=tier_order,
        tiers=tier_meta,
        effective=effective,
    )


def read_waivers(path: str | Path, policy: Policy | None = None) -> tuple[list[Waiver], Located]:
    """Load a waivers file and where each of its keys is.

    With `policy`, a waiver naming a control the policy does not have is an error (a dangling
    waiver); without (the policy itself is invalid), the file is checked on its own.
    """
    loc = load_yaml(path, "waivers")
    data = loc.data
    if not isinstance(data, dict) or data.get("kind") != "Waivers":
        raise PolicyError(
            f"{path} is not a waivers file: expected a mapping with apiVersion: mrm-gate/v1, "
            "kind: Waivers and a 'waivers' list"
        )
    try:
        doc = WaiversDocument.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(f"waivers file {path} is invalid",
                          pydantic_items(exc, loc, known_keys=WAIVER_KEYS)) from None
    items: list[ErrorItem] = []
    known = policy.control_ids() if policy is not None else None
    ids: set[str] = set()
    for i, w in enumerate(doc.waivers):
        if w.id in ids:
            items.append(ErrorItem(f"duplicate waiver id {w.id!r}", loc.file,
                                   *loc.where(("waivers", i, "id")), f"waivers[{i}].id"))
        ids.add(w.id)
        if known is not None and w.control not in known:
            assert policy is not None
            close = difflib.get_close_matches(w.control, sorted(known), n=1)
            items.append(ErrorItem(
                f"waiver {w.id} names control {w.control}, which policy "
                f"{policy.metadata.name!r} does not have (dangling waiver)", loc.file,
                *loc.where(("waivers", i, "control")), f"waivers[{i}].control",
                f"did you mean {close[0]!r}?" if close else "remove it or fix the control id"))
    if items:
        raise PolicyError(f"waivers file {path} is invalid ({len(items)} problem(s))", items)
    return doc.waivers, loc


def load_waivers(path: str | Path, policy: Policy | None) -> list[Waiver]:
    """Load a waivers file; a waiver naming a control the policy does not have is an error."""
    return read_waivers(path, policy)[0]


def expiry_warnings(
    waivers: list[Waiver], loc: Located, today: dt.date, within_days: int
) -> list[ErrorItem]:
    """Expired waivers (they no longer apply) and those expiring within `within_days`."""
    out: list[ErrorItem] = []
    for i, w in enumerate(waivers):
        line, col = loc.where(("waivers", i, "expires"))
        left = (w.expires - today).days
        if left < 0:
            msg = (f"waiver {w.id} ({w.control}, model {w.model}) expired on {w.expires} "
                   f"({-left} day(s) ago); it no longer applies")
        elif left <= within_days:
            msg = (f"waiver {w.id} ({w.control}, model {w.model}) expires on {w.expires} "
                   f"(in {left} day(s))")
        else:
            continue
        out.append(ErrorItem(msg, loc.file, line, col, f"waivers[{i}].expires",
                             "renew it with its approver, or fix the control before then"))
    return out
