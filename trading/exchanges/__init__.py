"""Exchanges a bot trades on: paper (simulated fills), replay (recorded candles) and live (ccxt)."""
