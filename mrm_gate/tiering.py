"""Resolve a model's risk tier: declared tag, materiality rules, or the policy's default.

Fail closed: a declared tier the policy does not define, and a rule input that is present but
unreadable (`mrm.exposure: "25,000,000"` against `gte`), raise `TierError`, which the engine turns
into a BLOCK (control MRM-GATE-TIER). An **absent** input cannot lower the tier either: with
`precedence: highest` (the default), when a rule could have matched had its absent inputs held,
the tier is at least the policy's stated default (its tier for "materiality unknown"), whatever
lower tier a tag declares or another rule gives, and the explanation says why; with
`precedence: tag|rules` the explanation names the rules not applied for lack of input.
"""

from __future__ import annotations

from .decision import TierResolution
from .errors import UserError
from .evidence.model import Evidence
from .policy.conditions import Outcome, UnreadableInput, evaluate
from .policy.loader import Policy


class TierError(UserError):
    """The tier cannot be resolved (unknown declared tier, unreadable rule input): the gate
    blocks."""


def _rule_label(i: int, reason: str | None, tier: str) -> str:
    return f"tiering rule {i + 1}" + (f" ({reason})" if reason else "") + f" -> tier {tier!r}"


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
    lacking: list[str] = []  # rules that would have matched had their absent inputs held
    lacking_tiers: list[str] = []
    for i, rule in enumerate(t.rules):
        try:
            all_results = [evaluate(p, evidence) for p in rule.all]
            any_results = [evaluate(p, evidence) for p in rule.any]
        except UnreadableInput as exc:
            raise TierError(
                f"{_rule_label(i, rule.reason, rule.tier)} cannot be evaluated: {exc}. The gate "
                "blocks rather than guess the tier from an unreadable materiality input."
            ) from None
        ok = all(r.ok for r in all_results) and (
            not any_results or any(r.ok for r in any_results))
        if ok:
            rule_tier = rule.tier
            why = "; ".join(r.why for r in all_results + any_results if r.why)
            label = f" ({rule.reason})" if rule.reason else ""
            rule_why = f"tiering rule {i + 1}{label}: {why}"
            break
        if _could_match(all_results, any_results):
            missing = [r.why for r in all_results + any_results if r.absent]
            lacking.append(f"rule {i + 1} ({'; '.join(missing)})")
            lacking_tiers.append(rule.tier)

    candidates: list[tuple[str, str, str]] = []
    if declared:
        candidates.append((declared, "tag", f"declared by tag {t.tag}={declared!r}"))
    if rule_tier:
        candidates.append((rule_tier, "rule", rule_why))
    note = (f"; not applied for lack of input: {', '.join(lacking)}" if lacking else "")
    top = max((policy.tier_rank(c[0]) for c in candidates), default=None)
    if (top is not None and t.precedence == "highest"
            and any(policy.tier_rank(x) > top for x in lacking_tiers)
            and policy.tier_rank(t.default) > top):
        # Fail closed: leaving out an input must not lower the tier below the policy's stated
        # default (its tier for "materiality unknown"), whatever tag or rule says lower.
        higher = [lbl for lbl, x in zip(lacking, lacking_tiers, strict=True)
                  if policy.tier_rank(x) > top]
        candidates.append((t.default, "default", f"the policy's stated default tier "
                           f"{t.default!r} applies: {', '.join(higher)} could not be ruled "
                           "out (input absent)"))
        note = ""
    if not candidates:
        reason = f"no {'tag ' + repr(t.tag) + ' and no ' if t.tag else ''}matching tiering rule"
        return TierResolution(
            tier=t.default, source="default",
            explanation=f"{reason}; the policy's stated default tier {t.default!r} applies"
            + note,
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
    return TierResolution(tier=chosen[0], source=chosen[1], explanation=explanation + note)


def _could_match(all_results: list[Outcome], any_results: list[Outcome]) -> bool:
    """Whether the rule would match if its absent inputs had made their conditions hold."""
    if not any(r.absent for r in all_results + any_results):
        return False
    all_ok = all(r.ok or r.absent for r in all_results)
    any_ok = not any_results or any(r.ok or r.absent for r in any_results)
    return all_ok and any_ok
