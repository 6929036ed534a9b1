"""Admin of the dashboard app."""
