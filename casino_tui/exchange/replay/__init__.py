"""Replay: historical and recorded market data behind the exchange port."""
