"""Backtests: the runtime driven by a replay, and the report it writes."""
