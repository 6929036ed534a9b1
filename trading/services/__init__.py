"""Writes of the trading app, one module per topic; every tenant-owned write goes here."""
