"""Signal receivers of the tenants app."""
