"""Regulatory coverage: which clauses of a framework a policy's controls serve, and which none.

A clause is served directly (a control lists it in `refs`), through its sub-clauses (a control
serves `art-10.2.f`, so `art-10` is partly served), or through a clause of a newer framework that
supersedes it (an `sr26-2:validation` control serves the SR 11-7 sections that topic replaced).
The report lists every clause, so the gaps are as visible as the matches. This module computes
it; `mrm_gate.output` renders it (`render(report, "text")`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .loader import Policy
from .refs import Framework, frameworks, get_framework, split_ref


@dataclass
class ServingControl:
    id: str
    check: str
    severity: str
    tiers: list[str]
    description: str | None = None
    via: str | None = None  # the superseding clause this comes through, if indirect

    def label(self, tier_names: list[str]) -> str:
        text = f"{self.id} ({tier_span(self.tiers, tier_names)})"
        return f"{text} via {self.via}" if self.via else text


@dataclass
class ClauseCoverage:
    id: str
    title: str
    depth: int
    leaf: bool
    controls: list[ServingControl] = field(default_factory=list)
    via_children: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.controls:
            return "served"
        if self.via_children:
            return "partly"  # only some sub-clauses are served
        return "none"


@dataclass
class CoverageReport:
    policy: str
    policy_path: str
    framework: Framework
    tier: str | None
    tier_names: list[str]
    clauses: list[ClauseCoverage]

    def leaves(self) -> list[ClauseCoverage]:
        return [c for c in self.clauses if c.leaf]

    def unserved(self) -> list[ClauseCoverage]:
        return [c for c in self.clauses if c.status == "none"]

    def summary(self) -> dict[str, Any]:
        leaves = self.leaves()
        served = sum(1 for c in leaves if c.status == "served")
        return {"clauses": len(self.clauses),
                "served": sum(1 for c in self.clauses if c.status == "served"),
                "partly": sum(1 for c in self.clauses if c.status == "partly"),
                "unserved": len(self.unserved()), "leaf_clauses": len(leaves),
                "leaf_served": served,
                "leaf_share": round(served / len(leaves), 4) if leaves else 0.0}


def tier_span(tiers: list[str], order: list[str]) -> str:
    """`high+` when the tiers run from one tier to the top, else the list."""
    ranks = sorted(order.index(t) for t in tiers)
    if not ranks:
        return "no tier"
    if ranks == list(range(ranks[0], len(order))):
        return order[ranks[0]] + ("+" if ranks[0] < len(order) - 1 else "")
    return ", ".join(order[r] for r in ranks)


def _controls_by_ref(policy: Policy, tier: str | None) -> dict[str, list[ServingControl]]:
    """ref -> controls citing it, with the tiers each control (with that ref) applies in."""
    tiers = [tier] if tier else policy.tier_names
    found: dict[tuple[str, str], ServingControl] = {}
    for t in tiers:
        for rc in policy.effective[t]:
            for ref in rc.control.refs:
                key = (ref, rc.id)
                if key not in found:
                    found[key] = ServingControl(rc.id, rc.control.check or "",
                                                rc.control.severity.value, [],
                                                rc.control.description)
                if t not in found[key].tiers:
                    found[key].tiers.append(t)
    out: dict[str, list[ServingControl]] = {}
    for (ref, _cid), sc in found.items():
        out.setdefault(ref, []).append(sc)
    return out


def coverage(policy: Policy, framework: str, *, tier: str | None = None) -> CoverageReport:
    """Every clause of `framework` with the controls of `policy` that serve it."""
    fw = get_framework(framework)
    if tier is not None:
        policy.require_tier(tier)
    by_ref = _controls_by_ref(policy, tier)
    direct: dict[str, list[ServingControl]] = {}
    for ref, controls in by_ref.items():
        parts = split_ref(ref)
        if parts and parts[0] == fw.id and parts[1] in fw.clauses:
            direct.setdefault(parts[1], []).extend(controls)
    # Clauses of other frameworks that supersede this one's clauses carry their controls over.
    for other in frameworks().values():
        for clause in other.clauses.values():
            for old in clause.supersedes:
                parts = split_ref(old)
                if not parts or parts[0] != fw.id or parts[1] not in fw.clauses:
                    continue
                for sc in by_ref.get(clause.ref, []):
                    direct.setdefault(parts[1], []).append(
                        ServingControl(sc.id, sc.check, sc.severity, sc.tiers, sc.description,
                                       via=clause.ref))
    clauses = []
    for cid, clause in fw.clauses.items():
        controls = _dedupe(direct.get(cid, []))
        served_children = [d for d in fw.descendants(cid) if direct.get(d)]
        clauses.append(ClauseCoverage(cid, clause.title, fw.depth(cid), fw.is_leaf(cid),
                                      controls, served_children))
    return CoverageReport(policy.metadata.name, policy.path, fw, tier, policy.tier_names,
                          clauses)


def _dedupe(controls: list[ServingControl]) -> list[ServingControl]:
    seen: dict[str, ServingControl] = {}
    for sc in controls:
        if sc.id not in seen or (seen[sc.id].via and not sc.via):
            seen[sc.id] = sc
    return sorted(seen.values(), key=lambda s: s.id)
