"""The REST API under /api/v1/: one module per resource, all on the tenant base views."""
