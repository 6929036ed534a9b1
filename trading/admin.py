"""Admin of the trading app."""
