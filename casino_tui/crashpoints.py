"""Named crash points: `CASINO_CRASH_AT=<name>[:<n>]` makes the process SIGKILL itself the n-th time (default
first) it passes that point, so recovery tests hit the dangerous moments on purpose.

Points: after_intent (intent committed, order not sent), after_send (order acknowledged, ack not
journaled), after_entry_fill (entry filled, no leg placed), between_sl_tp (SL placed, TP not),
during_snapshot (snapshot temp file written, not renamed).
"""

from __future__ import annotations

import os
import signal

POINTS = ("after_intent", "after_send", "after_entry_fill", "between_sl_tp", "during_snapshot")


def _parse(spec: str) -> tuple[str, int]:
    name, _, count = spec.partition(":")
    return name.strip(), int(count) if count.strip().isdigit() else 1


_target: tuple[str, int] | None = (
    _parse(os.environ["CASINO_CRASH_AT"]) if os.environ.get("CASINO_CRASH_AT") else None
)
_seen: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL if `name` is the armed point (a no-op otherwise: one compare)."""
    if _target is None or _target[0] != name:
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] >= _target[1]:
        os.kill(os.getpid(), signal.SIGKILL)
