"""Merging time-ordered streams of events that come in blocks, a block at a time.

Each batch takes, from every stream, the events up to the earliest last time among the streams' current
blocks, and stable-sorts them by time: ties keep stream order, then each stream's own order. That equals an
event-by-event heap merge (ties to the earlier stream) as long as no block boundary splits a timestamp,
which `whole_times` ensures, and costs a C sort per batch instead of Python work per event.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from operator import attrgetter
from typing import Any, Protocol, TypeVar


class Timed(Protocol):
    @property
    def ts_ms(self) -> int: ...


T = TypeVar("T", bound=Timed)

_ts_of = attrgetter("ts_ms")
# A block of one timestamp is carried into the next block, up to this many events (a pathological file
# whose rows all share one millisecond still streams in bounded memory; only its tie order could differ).
MAX_CARRY = 1 << 16


def whole_times(blocks: Iterator[list[T]]) -> Iterator[list[T]]:
    """The same events re-cut so that all events of one timestamp sit in one block."""
    carry: list[T] = []
    for block in blocks:
        if carry:
            block = carry + block
        last = block[-1].ts_ms
        cut = bisect_left(block, last, key=_ts_of)
        if cut == 0 and len(block) < MAX_CARRY:
            carry = block
            continue
        if cut == 0:
            carry = []
            yield block
            continue
        carry = block[cut:]
        yield block[:cut]
    if carry:
        yield carry


def merge_blocks(streams: Sequence[Iterator[list[T]]]) -> Iterator[list[T]]:
    """Merge streams of time-ordered blocks into time-ordered batches (ties to the earlier stream)."""
    if len(streams) == 1:
        yield from streams[0]
        return
    # Per live stream, in stream order: [current block, offset of its first unused event, the stream].
    heads: list[list[Any]] = []
    for stream in streams:
        for block in stream:
            if block:
                heads.append([block, 0, stream])
                break
    while len(heads) > 1:
        horizon = min(head[0][-1].ts_ms for head in heads)
        batch: list[T] = []
        live = []
        for head in heads:
            block, start, stream = head
            cut = bisect_right(block, horizon, start, key=_ts_of)
            batch += block[start:cut] if start or cut < len(block) else block
            if cut < len(block):
                head[1] = cut
                live.append(head)
                continue
            for following in stream:
                if following:
                    live.append([following, 0, stream])
                    break
        heads = live
        batch.sort(key=_ts_of)
        yield batch
    if heads:
        block, start, stream = heads[0]
        yield block[start:] if start else block
        yield from stream
