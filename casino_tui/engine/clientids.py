"""Reading our own client order ids back: `ct{seq:06d}{leg}{generation % 10}{symbol hash}` (see
`engine.brackets.client_id`, which writes them). Every reader parses them here, once.
"""

from __future__ import annotations

import msgspec

from casino_tui.engine.brackets.machine import Leg

PREFIX = "ct"


class ClientOrderId(msgspec.Struct, frozen=True):
    """The parts of one of our client ids. `generation` is its last digit only: the id keeps `generation % 10`."""

    seq: int
    leg: Leg
    generation: int


def parse_client_id(cid: str) -> ClientOrderId | None:
    """The parts of `cid`, or None for an id that this program did not make."""
    seq, leg, generation = cid[2:8], cid[8:9], cid[9:10]
    if not cid.startswith(PREFIX) or len(seq) != 6 or not seq.isdigit() or not generation.isdigit():
        return None
    try:
        return ClientOrderId(int(seq), Leg(leg), int(generation))
    except ValueError:
        return None
