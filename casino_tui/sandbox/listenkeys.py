"""listenKeys of the one sandbox account: create (or extend the active one), keep alive, close, expire.

A key lives `lifetime_s` (Binance: 60 minutes) after its creation or last keepalive, measured on a monotonic
wall clock: the sim clock may run faster than the wall, and a client refreshes on wall time.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable

from casino_tui.sandbox import errors

LIFETIME_S = 3600.0
_ALPHABET = string.ascii_letters + string.digits


class ListenKeys:
    """The account's keys. Binance gives an account one active key: POST returns it again while it lives."""

    def __init__(self, now_s: Callable[[], float], seed: int, lifetime_s: float = LIFETIME_S) -> None:
        self._now_s = now_s
        self.lifetime_s = lifetime_s
        self._rng = random.Random(seed)
        self._expires: dict[str, float] = {}

    def _new_key(self) -> str:
        return "".join(self._rng.choice(_ALPHABET) for _ in range(64))

    def create(self) -> str:
        """The active key extended by `lifetime_s`, or a new key if none is active."""
        active = self.active()
        key = active[0] if active else self._new_key()
        self._expires[key] = self._now_s() + self.lifetime_s
        return key

    def keepalive(self, key: str) -> str:
        """Extend `key`; -1125 if it is unknown or has expired."""
        if not self.is_active(key):
            raise errors.invalid_listen_key()
        self._expires[key] = self._now_s() + self.lifetime_s
        return key

    def close(self, key: str) -> None:
        """Invalidate `key` (DELETE). Binance answers {} even for a key it does not know."""
        self._expires.pop(key, None)

    def is_active(self, key: str) -> bool:
        expires = self._expires.get(key)
        return expires is not None and expires > self._now_s()

    def active(self) -> list[str]:
        now = self._now_s()
        return [k for k, t in self._expires.items() if t > now]

    def due(self) -> list[str]:
        """Remove and return the keys whose lifetime has run out (their streams get `listenKeyExpired`)."""
        now = self._now_s()
        gone = [k for k, t in self._expires.items() if t <= now]
        for key in gone:
            del self._expires[key]
        return gone

    def expire_all(self) -> list[str]:
        """Invalidate every key now (the `expire_listen_key` fault); returns the keys that were active."""
        keys = self.active()
        self._expires.clear()
        return keys
