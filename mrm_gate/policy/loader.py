"""Load a policy file (and the base policies it extends) into a validated, resolved `Policy`.

Every problem is collected, not just the first, and reported with file:line:column, the field
path, and a suggestion for a misspelt key or check name.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..controls.registry import Check, CheckRegistry, default_registry
from ..errors import ErrorItem, PolicyError, UserError
from ..yamlsafe import Located, format_path, load_yaml, pydantic_items
from .model import (
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


def _parse_document(path: Path, items: list[ErrorItem]) -> tuple[PolicyDocument | None, Located]:
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
    try:
        return PolicyDocument.model_validate(data), loc
    except ValidationError as exc:
        items.extend(pydantic_items(exc, loc, known_keys=POLICY_KEYS))
        return None, loc


def load_policy(path: str | Path, registry: CheckRegistry | None = None) -> Policy:
    """Load, merge, resolve and validate a policy. Raises PolicyError listing every problem."""
    registry = registry or default_registry()
    top = Path(path)
    items: list[ErrorItem] = []
    chain: list[tuple[PolicyDocument, Located, Path]] = []
    seen: set[Path] = set()
    current: Path | None = top
    while current is not None:
        resolved = current.resolve()
        if resolved in seen:
            raise PolicyError(f"policy extends itself in a cycle at {current}")
        if len(chain) >= MAX_EXTENDS_DEPTH:
            raise PolicyError(f"policy extends chain deeper than {MAX_EXTENDS_DEPTH} at {current}")
        seen.add(resolved)
        doc, loc = _parse_document(current, items)
        if doc is None:
            break
        chain.append((doc, loc, current))
        current = (current.parent / doc.extends) if doc.extends else None
        if current is not None and not current.exists():
            line, col = loc.where(("extends",))
            items.append(ErrorItem(f"base policy {doc.extends!r} not found", loc.file, line,
                                   col, "extends"))
            current = None
    if items:
        raise PolicyError(f"policy {top} is invalid ({len(items)} problem(s))", items)

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
    for doc, loc, _p in reversed(chain):
        if doc.tiering is not None:
            tiering = (doc.tiering, loc)
        for name, tier in doc.tiers.items():
            if name not in tier_meta:
                tier_order.append(name)
                tier_meta[name] = Tier(description=tier.description, extends=tier.extends)
                own[name] = []
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
                existing = [j for j, o in enumerate(own[name]) if o.control.id == ctl.id]
                if existing:
                    own[name][existing[0]] = origin
                else:
                    own[name].append(origin)
    main_doc, main_loc, _ = chain[0]
    if tiering is None:
        items.append(ErrorItem("required field 'tiering' is missing (it states the default "
                               "tier for models with no resolvable tier)", main_loc.file, 1, 1,
                               "tiering"))
        raise PolicyError(f"policy {top} is invalid ({len(items)} problem(s))", items)
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
            line, col = loc.where(cpath)
            chk: Check | None = None
            params: BaseModel | None = None
            if ctl.enabled and ctl.check:
                prev = check_of_id.setdefault(ctl.id, ctl.check)
                if prev != ctl.check:
                    l2, c2 = loc.where((*cpath, "check"))
                    items.append(ErrorItem(
                        f"control {ctl.id} uses check {ctl.check!r} here but {prev!r} elsewhere; "
                        "one control id = one check type (give the new control a new id)",
                        loc.file, l2, c2, format_path((*cpath, "check"))))
                if ctl.check not in registry:
                    l2, c2 = loc.where((*cpath, "check"))
                    hint = registry.suggest(ctl.check)
                    items.append(ErrorItem(
                        f"unknown check type {ctl.check!r}", loc.file, l2, c2,
                        format_path((*cpath, "check")),
                        f"did you mean {hint!r}?" if hint else "see `mrm-gate checks list`"))
                else:
                    try:
                        chk = registry.get(ctl.check)
                    except UserError as exc:
                        items.append(ErrorItem(str(exc), loc.file, line, col,
                                               format_path((*cpath, "check"))))
                    if chk is not None:
                        try:
                            params = chk.params.model_validate(ctl.params)
                        except ValidationError as exc:
                            items.extend(pydantic_items(
                                exc, loc, (*cpath, "params"),
                                known_keys=_known_keys(chk.params)))
            for j, ref in enumerate(ctl.refs):
                problem = check_ref(ref)
                if problem:
                    l2, c2 = loc.where((*cpath, "refs", j))
                    items.append(ErrorItem(problem, loc.file, l2, c2,
                                           format_path((*cpath, "refs", j))))
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
        for origin in own[name]:
            rc = resolved_of[id(origin)]
            idx = next((i for i, b in enumerate(base) if b.id == rc.id), None)
            if idx is not None:
                base[idx] = rc
            else:
                base.append(rc)
        effective[name] = [rc for rc in base if rc.control.enabled]
        return effective[name]

    for name in tier_order:
        resolve(name, ())

    if items:
        raise PolicyError(f"policy {top} is invalid ({len(items)} problem(s))", items)
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


def load_waivers(path: str | Path, policy: Policy) -> list[Waiver]:
    """Load a waivers file; a waiver naming a control the policy does not have is an error."""
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
    known = policy.control_ids()
    ids: set[str] = set()
    for i, w in enumerate(doc.waivers):
        if w.id in ids:
            items.append(ErrorItem(f"duplicate waiver id {w.id!r}", loc.file,
                                   *loc.where(("waivers", i, "id")), f"waivers[{i}].id"))
        ids.add(w.id)
        if w.control not in known:
            close = difflib.get_close_matches(w.control, sorted(known), n=1)
            items.append(ErrorItem(
                f"waiver {w.id} names control {w.control}, which policy "
                f"{policy.metadata.name!r} does not have (dangling waiver)", loc.file,
                *loc.where(("waivers", i, "control")), f"waivers[{i}].control",
                f"did you mean {close[0]!r}?" if close else "remove it or fix the control id"))
    if items:
        raise PolicyError(f"waivers file {path} is invalid ({len(items)} problem(s))", items)
    return doc.waivers
