"""Models of the mlmodels app."""
