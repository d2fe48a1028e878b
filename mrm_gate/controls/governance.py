"""Governance checks: independent validation, review age, approvals."""

from __future__ import annotations

import datetime as dt
import re

from pydantic import Field

from ..decision import CheckResult, Status
from ..errors import CheckError
from ._util import Params
from .context import CheckContext
from .registry import check


def _norm(person: str | None) -> str:
    return (person or "").strip().lower()


class IndependentValidationParams(Params):
    validator_tag: str = "validator"
    owner_tag: str = "owner"
    distinct_from_creator: bool = True


@check("governance.independent_validation", params=IndependentValidationParams,
       summary="A validator is recorded and is neither the owner nor the version's creator")
def independent_validation(params: IndependentValidationParams, ctx: CheckContext) -> CheckResult:
    """Fails when no validator is recorded, or the validator is the owner or the creator.

    Rationale: SR 26-2 (like SR 11-7 before it) requires validation by staff independent of
    model development (effective challenge).

    Passing: owner=alice, validator=bob, created by alice.
    Failing: owner=alice, validator=alice.
    """
    m = ctx.evidence.model
    validator, owner = m.tag(params.validator_tag), m.tag(params.owner_tag)
    measured = {"validator": validator, "owner": owner, "creator": m.creator}
    if not _norm(validator):
        return CheckResult(status=Status.FAIL, measured=measured,
                           message=f"no validator recorded (tag {params.validator_tag!r})")
    if _norm(validator) == _norm(owner):
        return CheckResult(status=Status.FAIL, measured=measured,
                           message=f"validator {validator!r} is the model owner; not independent")
    if params.distinct_from_creator and _norm(validator) == _norm(m.creator):
        return CheckResult(status=Status.FAIL, measured=measured,
                           message=f"validator {validator!r} created this version; "
                                   "not independent")
    return CheckResult(status=Status.PASS, measured=measured,
                       message=f"validated by {validator!r}, independent of owner {owner!r}")


class ReviewAgeParams(Params):
    date_tag: str = "validation_date"
    max_age_days: int = Field(gt=0)


def parse_date(text: str, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise CheckError(f"{what} {text!r} is not an ISO date (YYYY-MM-DD)") from None


@check("governance.review_age", params=ReviewAgeParams,
       summary="The last validation is no older than max_age_days")
def review_age(params: ReviewAgeParams, ctx: CheckContext) -> CheckResult:
    """Fails when the last validation date is missing or older than `max_age_days`.

    Rationale: periodic review; critical models get a short review cycle.

    Passing: validation_date=2026-10-01, max_age_days 365, evaluated 2026-11-21.
    Failing: validation_date=2024-01-10, max_age_days 365.
    """
    raw = ctx.evidence.model.tag(params.date_tag)
    if not (raw or "").strip():
        return CheckResult(status=Status.FAIL, threshold={"max_age_days": params.max_age_days},
                           message=f"no validation date recorded (tag {params.date_tag!r})")
    when = parse_date(raw, f"tag {params.date_tag}")
    today = ctx.now().date()
    age = (today - when).days
    measured = {"validated_on": when.isoformat(), "age_days": age}
    thr = {"max_age_days": params.max_age_days}
    if age < 0:
        return CheckResult(status=Status.FAIL, measured=measured, threshold=thr,
                           message=f"validation date {when} is in the future")
    if age > params.max_age_days:
        return CheckResult(status=Status.FAIL, measured=measured, threshold=thr,
                           message=f"last validation {when} is {age} days old "
                                   f"> {params.max_age_days}")
    return CheckResult(status=Status.PASS, measured=measured, threshold=thr,
                       message=f"last validation {when} is {age} days old")


class ApprovalsParams(Params):
    approvers_tag: str = "approvers"
    min_approvers: int = Field(default=1, ge=1)
    allowed: list[str] | None = Field(
        default=None, description="named people whose approval counts (None: anyone)"
    )
    owner_tag: str = "owner"
    exclude_owner: bool = True


@check("governance.approvals", params=ApprovalsParams,
       summary="At least N distinct named approvers signed off")
def approvals(params: ApprovalsParams, ctx: CheckContext) -> CheckResult:
    """Counts distinct approvers in a comma-separated tag, optionally only named ones.

    Rationale: critical models need sign-off by more than one accountable person, none of
    them the owner.

    Passing: approvers="carol, dave", min_approvers 2.
    Failing: approvers="carol", min_approvers 2; or approvers="alice" where alice is the owner.
    """
    m = ctx.evidence.model
    raw = m.tag(params.approvers_tag) or ""
    people = sorted({p.strip() for p in re.split(r"[,;]", raw) if p.strip()}, key=str.lower)
    counted, ignored = [], []
    allowed = {_norm(a) for a in params.allowed} if params.allowed is not None else None
    for p in people:
        if params.exclude_owner and _norm(p) == _norm(m.tag(params.owner_tag)):
            ignored.append(f"{p} (owner)")
        elif allowed is not None and _norm(p) not in allowed:
            ignored.append(f"{p} (not an allowed approver)")
        else:
            counted.append(p)
    measured = {"approvers": counted, "ignored": ignored}
    thr = {"min_approvers": params.min_approvers}
    if len(counted) < params.min_approvers:
        extra = f"; not counted: {', '.join(ignored)}" if ignored else ""
        return CheckResult(status=Status.FAIL, measured=measured, threshold=thr,
                           message=f"{len(counted)} approver(s) < {params.min_approvers} required"
                                   f"{extra}")
    return CheckResult(status=Status.PASS, measured=measured, threshold=thr,
                       message=f"approved by {', '.join(counted)}")
