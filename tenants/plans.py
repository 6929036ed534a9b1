"""Plan limits: the one table in code that says what each plan allows.

Services call `plan_require_feature` / `plan_check_count` before acting; templates only read
the same table. A refusal names the cheapest plan that would allow the action.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.db import models

from aitrader.errors import PlanLimitExceeded


class Plan(models.TextChoices):
    FREE = "free", "Free"
    PRO = "pro", "Pro"
    TEAM = "team", "Team"
    ENTERPRISE = "enterprise", "Enterprise"


@dataclass(frozen=True)
class PlanLimits:
    live_trading: bool
    exports: bool
    audit_export: bool
    max_bots: int | None  # None: unlimited
    max_members: int | None


PLAN_LIMITS: dict[str, PlanLimits] = {
    Plan.FREE: PlanLimits(live_trading=False, exports=False, audit_export=False,
                          max_bots=1, max_members=1),
    Plan.PRO: PlanLimits(live_trading=True, exports=True, audit_export=False,
                         max_bots=10, max_members=1),
    Plan.TEAM: PlanLimits(live_trading=True, exports=True, audit_export=False,
                          max_bots=50, max_members=25),
    Plan.ENTERPRISE: PlanLimits(live_trading=True, exports=True, audit_export=True,
                                max_bots=None, max_members=None),
}

# Plans from cheapest to dearest: a refusal suggests the first that allows the action.
PLAN_ORDER = [Plan.FREE, Plan.PRO, Plan.TEAM, Plan.ENTERPRISE]

FEATURE_LABELS = {
    "live_trading": "Live trading",
    "exports": "Exports",
    "audit_export": "Audit-log export",
}
# What each count limit counts, singular and plural ("allows 1 member", "allows 10 ...").
COUNT_LABELS = {"max_bots": ("running bot", "running bots"), "max_members": ("member", "members")}


def plan_limits(plan: str) -> PlanLimits:
    """The limits of `plan`."""
    return PLAN_LIMITS[Plan(plan)]


def _cheapest_plan(allows) -> str:
    for plan in PLAN_ORDER:
        if allows(PLAN_LIMITS[plan]):
            return Plan(plan).label
    return Plan.ENTERPRISE.label


def plan_require_feature(plan: str, feature: str) -> None:
    """Raise PlanLimitExceeded unless `plan` includes `feature` (a PlanLimits flag)."""
    if getattr(plan_limits(plan), feature):
        return
    needed = _cheapest_plan(lambda limits: getattr(limits, feature))
    raise PlanLimitExceeded(
        f"{FEATURE_LABELS[feature]} is not included in the {Plan(plan).label} plan; "
        f"it needs the {needed} plan or higher."
    )


def plan_check_count(plan: str, limit: str, current: int) -> None:
    """Raise PlanLimitExceeded if adding one more to `current` would pass the plan's `limit`."""
    maximum = getattr(plan_limits(plan), limit)
    if maximum is None or current < maximum:
        return
    wanted = current + 1
    needed = _cheapest_plan(lambda limits: getattr(limits, limit) is None
                            or getattr(limits, limit) >= wanted)
    raise PlanLimitExceeded(
        f"The {Plan(plan).label} plan allows {maximum} "
        f"{COUNT_LABELS[limit][0 if maximum == 1 else 1]}; "
        f"the {needed} plan allows more."
    )
