"""Account pages: sign-in with its second factor, sign-up, password reset, members and
invitations, the workspace switcher. The rules they apply live in tenants.services."""
