"""Billing: self-service plans through Stripe, trials, and limits that follow the subscription.

`services` writes (plan changes, trials, Checkout, the portal, webhooks); `selectors` reads
(the owner's overview, the banner). Without `AITRADER_STRIPE_SECRET_KEY` billing is off and
plans are set by staff.
"""
