"""Replay data: Binance public data files and casino-tui recordings as a stream of market trades."""
