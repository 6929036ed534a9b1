"""Template context: the current tenant, role and the user's other tenants."""
from tenants.billing.selectors import billing_banner
from tenants.selectors import membership_list_for_user


def current_tenant(request) -> dict:
    membership = getattr(request, "membership", None)
    if membership is None:
        return {}
    return {
        "current_tenant": membership.tenant,
        "current_role": membership.acting_role,
        "user_memberships": membership_list_for_user(user=request.user),
        "billing_banner": billing_banner(tenant=membership.tenant),
    }
