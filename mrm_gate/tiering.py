"""Resolve a model's risk tier: declared tag, materiality rules, or the policy's default."""

from __future__ import annotations

from .decision import TierResolution
from .errors import UserError
from .evidence.model import Evidence
from .policy.conditions import holds
from .policy.loader import Policy


class TierError(UserError):
    """The evidence declares a tier the policy does not have (the gate blocks)."""


def resolve_tier(policy: Policy, evidence: Evidence) -> TierResolution:
    t = policy.tiering
    declared = evidence.model.tag(t.tag) if t.tag else None
    if declared is not None:
        declared = str(declared).strip()
        if declared not in policy.tier_names:
            raise TierError(
                f"model declares tier {declared!r} in tag {t.tag!r}, which policy "
                f"{policy.metadata.name!r} does not define (tiers: "
                f"{', '.join(policy.tier_names)}); fix the tag"
            )
    rule_tier, rule_why = None, ""
    for i, rule in enumerate(t.rules):
        all_results = [holds(p, evidence) for p in rule.all]
        any_results = [holds(p, evidence) for p in rule.any]
        ok = all(r for r, _ in all_results) and (not any_results or any(r for r, _ in any_results))
        if ok:
            rule_tier = rule.tier
            why = "; ".join(w for _, w in all_results + any_results if w)
            label = f" ({rule.reason})" if rule.reason else ""
            rule_why = f"tiering rule {i + 1}{label}: {why}"
            break

    candidates: list[tuple[str, str, str]] = []
    if declared:
        candidates.append((declared, "tag", f"declared by tag {t.tag}={declared!r}"))
    if rule_tier:
        candidates.append((rule_tier, "rule", rule_why))
    if not candidates:
        reason = f"no {'tag ' + repr(t.tag) + ' and no ' if t.tag else ''}matching tiering rule"
        return TierResolution(
            tier=t.default, source="default",
            explanation=f"{reason}; the policy's stated default tier {t.default!r} applies",
        )
    if t.precedence == "tag" or t.precedence == "rules":
        want = "tag" if t.precedence == "tag" else "rule"
        chosen = next((c for c in candidates if c[1] == want), candidates[0])
    else:
        chosen = max(candidates, key=lambda c: policy.tier_rank(c[0]))
    others = [c for c in candidates if c is not chosen]
    explanation = chosen[2]
    if others and t.precedence == "highest" and others[0][0] != chosen[0]:
        explanation += f" (higher than {others[0][1]} tier {others[0][0]!r}; the higher applies)"
    return TierResolution(tier=chosen[0], source=chosen[1], explanation=explanation)
