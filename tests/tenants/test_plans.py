"""Plan limits: the one table, and refusals naming the cheapest plan that allows the action."""
from __future__ import annotations

import pytest

from aitrader.errors import PlanLimitExceeded
from tenants.models import Tenant
from tenants.plans import (
    PLAN_LIMITS,
    PLAN_ORDER,
    Plan,
    PlanLimits,
    plan_check_count,
    plan_limits,
    plan_require_feature,
)


def test_it_holds_the_limits_of_every_plan_in_one_table():
    assert PLAN_LIMITS == {
        "free": PlanLimits(live_trading=False, exports=False, audit_export=False,
                           max_bots=1, max_members=1),
        "pro": PlanLimits(live_trading=True, exports=True, audit_export=False,
                          max_bots=10, max_members=1),
        "team": PlanLimits(live_trading=True, exports=True, audit_export=False,
                           max_bots=50, max_members=25),
        "enterprise": PlanLimits(live_trading=True, exports=True, audit_export=True,
                                 max_bots=None, max_members=None),
    }


def test_it_orders_plans_from_cheapest_to_dearest():
    assert PLAN_ORDER == ["free", "pro", "team", "enterprise"]
    assert set(PLAN_ORDER) == set(Plan.values)


def test_it_starts_new_tenants_on_the_free_plan(db):
    assert Tenant.objects.create(name="x", slug="x").plan == "free"


def test_it_refuses_an_unknown_plan_name():
    with pytest.raises(ValueError):
        plan_limits("platinum")


# --- Features -------------------------------------------------------------------------------

@pytest.mark.parametrize("plan,feature,needed", [
    (Plan.FREE, "live_trading", "Pro"),
    (Plan.FREE, "exports", "Pro"),
    (Plan.FREE, "audit_export", "Enterprise"),
    (Plan.PRO, "audit_export", "Enterprise"),
    (Plan.TEAM, "audit_export", "Enterprise"),
])
def test_it_refuses_a_feature_naming_the_cheapest_plan_that_has_it(plan, feature, needed):
    with pytest.raises(PlanLimitExceeded) as refused:
        plan_require_feature(plan, feature)
    message = refused.value.message
    assert f"the {needed} plan or higher" in message
    assert Plan(plan).label in message
    assert refused.value.status_code == 402
    assert refused.value.code == "plan_limit"


@pytest.mark.parametrize("plan,feature", [
    (Plan.PRO, "live_trading"), (Plan.PRO, "exports"), (Plan.TEAM, "live_trading"),
    (Plan.ENTERPRISE, "audit_export"), (Plan.ENTERPRISE, "live_trading"),
])
def test_it_allows_a_feature_the_plan_includes(plan, feature):
    assert plan_require_feature(plan, feature) is None


def test_it_names_the_feature_in_its_refusal():
    with pytest.raises(PlanLimitExceeded) as refused:
        plan_require_feature(Plan.FREE, "live_trading")
    assert refused.value.message.startswith("Live trading is not included in the Free plan")


# --- Counts ---------------------------------------------------------------------------------

@pytest.mark.parametrize("plan,limit,current,needed", [
    (Plan.FREE, "max_bots", 1, "Pro"),
    (Plan.PRO, "max_bots", 10, "Team"),
    (Plan.TEAM, "max_bots", 50, "Enterprise"),
    (Plan.FREE, "max_members", 1, "Team"),
    (Plan.PRO, "max_members", 1, "Team"),
    (Plan.TEAM, "max_members", 25, "Enterprise"),
])
def test_it_refuses_one_more_at_the_limit_naming_the_plan_that_allows_it(plan, limit, current,
                                                                         needed):
    with pytest.raises(PlanLimitExceeded) as refused:
        plan_check_count(plan, limit, current)
    assert f"the {needed} plan allows more" in refused.value.message
    assert f"The {Plan(plan).label} plan allows {current}" in refused.value.message


def test_it_skips_plans_that_would_still_be_too_small():
    # 11 bots on free: Pro allows only 10, so the refusal must point at Team.
    with pytest.raises(PlanLimitExceeded) as refused:
        plan_check_count(Plan.FREE, "max_bots", 10)
    assert "the Team plan allows more" in refused.value.message


@pytest.mark.parametrize("plan,limit,current", [
    (Plan.FREE, "max_bots", 0),
    (Plan.PRO, "max_bots", 9),
    (Plan.TEAM, "max_members", 24),
    (Plan.ENTERPRISE, "max_bots", 10_000),
    (Plan.ENTERPRISE, "max_members", 10_000),
])
def test_it_allows_one_more_below_the_limit_or_when_unlimited(plan, limit, current):
    assert plan_check_count(plan, limit, current) is None
