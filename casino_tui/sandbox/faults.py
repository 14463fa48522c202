"""Switchable faults: the failure modes a Binance client must survive, on demand.

Set at start (`--faults JSON`, or `Sandbox(faults=...)`) and changed at run time with
`POST /__admin__/faults` (a JSON patch: only the fields sent change). Counted faults apply to the next N
matching requests and then switch themselves off; `drop_sockets` and `expire_listen_key` are one-shot actions.
"""

from __future__ import annotations

import enum

import msgspec
from msgspec import UNSET, UnsetType


class RateLimitStorm(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The next `requests` requests get 429 -1003; sending more than `ban_after` of them earns a 418 ban."""

    requests: int = 5
    ban_after: int = 3
    ban_s: float = 10.0


class OutcomeReply(enum.StrEnum):
    """How an order whose outcome is unknown is answered (BINANCE.md §6: both mean 'may have been placed')."""

    HTTP_503 = "503"
    TIMEOUT_1007 = "-1007"


class UnknownOutcome(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The next `count` order / algoOrder POSTs ARE placed, but the reply says the outcome is unknown."""

    count: int = 1
    reply: OutcomeReply = OutcomeReply.HTTP_503


class FaultPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A change to the faults; absent fields keep their value. `null` switches a structured fault off."""

    rate_limit_storm: RateLimitStorm | None | UnsetType = UNSET
    unknown_outcome: UnknownOutcome | None | UnsetType = UNSET
    # The next N order-placing POSTs get 503 "Service Unavailable." and are NOT placed.
    service_unavailable: int | UnsetType = UNSET
    # The next N order-placing POSTs get 503 -1008 unless they only reduce exposure (which are exempt).
    throttle: int | UnsetType = UNSET
    # Shift the server clock: clients that do not resync see -1021.
    clock_skew_ms: int | UnsetType = UNSET
    # Delay every HTTP response by this much.
    slow_ms: int | UnsetType = UNSET
    # Keep WebSockets open but send nothing on them.
    silent_sockets: bool | UnsetType = UNSET
    # One-shot actions.
    drop_sockets: bool | UnsetType = UNSET
    expire_listen_key: bool | UnsetType = UNSET


class FaultStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What is switched on right now (GET /__admin__/faults)."""

    rate_limit_storm: RateLimitStorm | None
    storm_requests_left: int
    unknown_outcome: UnknownOutcome | None
    unknown_outcome_left: int
    service_unavailable: int
    throttle: int
    clock_skew_ms: int
    slow_ms: int
    silent_sockets: bool


class FaultAction(enum.StrEnum):
    DROP_SOCKETS = "drop_sockets"
    EXPIRE_LISTEN_KEY = "expire_listen_key"


class Faults:
    """The live fault switches; the request pipeline asks `take_*` once per request that a fault could hit."""

    def __init__(self) -> None:
        self._storm: RateLimitStorm | None = None
        self._storm_left = 0
        self._unknown: UnknownOutcome | None = None
        self._unknown_left = 0
        self._unavailable_left = 0
        self._throttle_left = 0
        self.clock_skew_ms = 0
        self.slow_ms = 0
        self.silent_sockets = False

    def apply(self, patch: FaultPatch) -> list[FaultAction]:
        """Change the switches; returns the one-shot actions the caller must carry out now."""
        if not isinstance(patch.rate_limit_storm, UnsetType):
            self._storm = patch.rate_limit_storm
            self._storm_left = patch.rate_limit_storm.requests if patch.rate_limit_storm else 0
        if not isinstance(patch.unknown_outcome, UnsetType):
            self._unknown = patch.unknown_outcome
            self._unknown_left = patch.unknown_outcome.count if patch.unknown_outcome else 0
        if not isinstance(patch.service_unavailable, UnsetType):
            self._unavailable_left = max(0, patch.service_unavailable)
        if not isinstance(patch.throttle, UnsetType):
            self._throttle_left = max(0, patch.throttle)
        if not isinstance(patch.clock_skew_ms, UnsetType):
            self.clock_skew_ms = patch.clock_skew_ms
        if not isinstance(patch.slow_ms, UnsetType):
            self.slow_ms = max(0, patch.slow_ms)
        if not isinstance(patch.silent_sockets, UnsetType):
            self.silent_sockets = patch.silent_sockets
        actions = []
        if patch.drop_sockets is True:
            actions.append(FaultAction.DROP_SOCKETS)
        if patch.expire_listen_key is True:
            actions.append(FaultAction.EXPIRE_LISTEN_KEY)
        return actions

    def status(self) -> FaultStatus:
        return FaultStatus(
            rate_limit_storm=self._storm if self._storm_left else None,
            storm_requests_left=self._storm_left,
            unknown_outcome=self._unknown if self._unknown_left else None,
            unknown_outcome_left=self._unknown_left,
            service_unavailable=self._unavailable_left,
            throttle=self._throttle_left,
            clock_skew_ms=self.clock_skew_ms,
            slow_ms=self.slow_ms,
            silent_sockets=self.silent_sockets,
        )

    def take_storm(self) -> RateLimitStorm | None:
        """The storm settings if this request falls in a storm (and uses up one of its requests)."""
        if self._storm is None or self._storm_left <= 0:
            return None
        self._storm_left -= 1
        return self._storm

    def end_storm(self) -> None:
        """A ban ends the storm: what follows is the ban itself."""
        self._storm_left = 0

    def take_unknown_outcome(self) -> OutcomeReply | None:
        if self._unknown is None or self._unknown_left <= 0:
            return None
        self._unknown_left -= 1
        return self._unknown.reply

    def take_service_unavailable(self) -> bool:
        if self._unavailable_left <= 0:
            return False
        self._unavailable_left -= 1
        return True

    def take_throttle(self, reduces_exposure: bool) -> bool:
        """True if this order is throttled; orders that only reduce exposure are exempt and use up nothing."""
        if self._throttle_left <= 0 or reduces_exposure:
            return False
        self._throttle_left -= 1
        return True


def parse_patch(raw: bytes) -> FaultPatch:
    """Decode a JSON fault patch; raises msgspec.ValidationError / DecodeError with a readable message."""
    return msgspec.json.decode(raw or b"{}", type=FaultPatch)
