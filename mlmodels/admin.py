"""Admin of the mlmodels app."""
