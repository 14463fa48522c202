"""How the market streams of many symbols are spread over WebSocket connections, and how fast they subscribe.

Binance allows at most 1024 streams per connection and 10 incoming messages per second per connection
(going over disconnects; repeated offences ban the IP). Each symbol needs `STREAMS_PER_SYMBOL` streams, kept
on one connection so that losing a connection degrades whole symbols, never half of one. A connection
subscribes with SUBSCRIBE messages of at most `STREAMS_PER_SUBSCRIBE` names, sent no faster than
`SUBSCRIBES_PER_S` a second: half the limit, leaving room for pongs and a reconnect's own messages.
"""

from __future__ import annotations

import math

import msgspec

MAX_STREAMS_PER_CONNECTION = 1024  # BINANCE.md §7 (current docs; older docs said 200)
MAX_INCOMING_PER_S = 10  # BINANCE.md §7, per connection
SUBSCRIBES_PER_S = MAX_INCOMING_PER_S / 2
# Binance documents no cap on names per SUBSCRIBE; ccxt batches 200. Fewer, larger messages pace faster.
STREAMS_PER_SUBSCRIBE = 200


def symbol_streams(symbol: str) -> tuple[str, str]:
    """The streams the engine reads for one symbol: its aggregate trades and its mark price every second."""
    lower = symbol.lower()
    return (f"{lower}@aggTrade", f"{lower}@markPrice@1s")


STREAMS_PER_SYMBOL = len(symbol_streams("BTCUSDT"))


class ShardPlan(msgspec.Struct, frozen=True):
    """One connection: its name (the stream status it reports), its symbols and its SUBSCRIBE batches."""

    name: str
    symbols: tuple[str, ...]
    batches: tuple[tuple[str, ...], ...]

    @property
    def streams(self) -> int:
        return sum(len(batch) for batch in self.batches)


def connections_needed(symbols: int, max_streams_per_connection: int) -> int:
    """How many connections `symbols` symbols need, whole symbols per connection (at least one)."""
    per_connection = symbols_per_connection(max_streams_per_connection)
    return max(1, math.ceil(symbols / per_connection))


def symbols_per_connection(max_streams_per_connection: int) -> int:
    if max_streams_per_connection < STREAMS_PER_SYMBOL:
        raise ValueError(
            f"at least {STREAMS_PER_SYMBOL} streams per connection are needed (one symbol), "
            f"not {max_streams_per_connection}"
        )
    return max_streams_per_connection // STREAMS_PER_SYMBOL


def plan_shards(
    symbols: list[str],
    max_streams_per_connection: int = MAX_STREAMS_PER_CONNECTION,
    streams_per_subscribe: int = STREAMS_PER_SUBSCRIBE,
) -> list[ShardPlan]:
    """Symbols dealt into as few connections as the limit allows, evenly (sizes differ by at most one), in
    order. One connection is called "market"; several are "market-1" … "market-N"."""
    if streams_per_subscribe < 1:
        raise ValueError(f"a SUBSCRIBE carries at least one stream, not {streams_per_subscribe}")
    count = connections_needed(len(symbols), max_streams_per_connection)
    size, extra = divmod(len(symbols), count)
    plans: list[ShardPlan] = []
    start = 0
    for index in range(count):
        group = tuple(symbols[start : start + size + (1 if index < extra else 0)])
        start += len(group)
        names = [name for symbol in group for name in symbol_streams(symbol)]
        batches = tuple(
            tuple(names[i : i + streams_per_subscribe]) for i in range(0, len(names), streams_per_subscribe)
        )
        plans.append(ShardPlan("market" if count == 1 else f"market-{index + 1}", group, batches))
    return plans


def subscribe_seconds(streams: int, streams_per_subscribe: int, subscribes_per_s: float) -> float:
    """How long a connection takes to send all its SUBSCRIBEs at the paced rate (the first goes at once)."""
    messages = math.ceil(streams / streams_per_subscribe)
    return max(0, messages - 1) / subscribes_per_s
