"""Self-healing of the Binance connector: what follows a socket reconnecting or a breaker opening or closing.

The account is re-read (the connector's resync: open orders, algo orders, positions and balance, reported as
a RESYNC account update) and every breaker that is not CLOSED is probed with one harmless request; both are
`HealingJob`s, retried with backoff until they succeed. A reconnect also ends the cooldown of breakers that
failures opened: the socket has just shown that the exchange is reachable, and the screen must match the
exchange within seconds of its return, not after a 60 s cooldown. A ban's cooldown is always served in full.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

from casino_tui.exchange.binance import rest as ep
from casino_tui.exchange.binance.resilience import CircuitBreaker
from casino_tui.exchange.binance.rest import BinanceRest, EndpointGroup, Params
from casino_tui.exchange.binance.userstream import UserStream
from casino_tui.healing import HealingJob
from casino_tui.port import BreakerOpenError, BreakerStatus, OrderNotFoundError

# Asked for by the orders-group probe: no order has it, so Binance answers -2013 when the service is up.
PROBE_CLIENT_ID = "casino-breaker-probe"


class Recovery:
    """The connector's two healing jobs and the events that start them."""

    def __init__(
        self,
        rest: BinanceRest,
        breakers: dict[EndpointGroup, CircuitBreaker],
        resync_account: Callable[[], Awaitable[None]],
        rng: random.Random,
    ) -> None:
        self._rest = rest
        self._breakers = breakers
        self._user: UserStream | None = None
        self._probe_symbol = ""
        self.resync = HealingJob("account resync", resync_account, rng=random.Random(rng.random()))
        self.probes = HealingJob("breaker probes", self._probe_breakers, rng=random.Random(rng.random()))
        for breaker in breakers.values():
            breaker.on_change = self._on_breaker_change

    def attach(self, user: UserStream, probe_symbol: str) -> None:
        """The connector has started: from now on breaker changes start the jobs. Breakers a restart
        restored open are probed once their cooldown ends."""
        self._user = user
        self._probe_symbol = probe_symbol
        if any(b.status is not BreakerStatus.CLOSED for b in self._breakers.values()):
            self.probes.request("breakers restored open")

    def on_reconnect(self, stream: str) -> None:
        """A socket is back: breakers opened by failures may probe at once, and the account is re-read,
        since the events of the gap are lost. Before the account is attached (a live gate still closed)
        there is no account view to heal."""
        if self._user is None:
            return
        for breaker in self._breakers.values():
            breaker.end_cooldown()
        self.resync.request(f"{stream} stream reconnected")
        self.probes.request(f"{stream} stream reconnected")

    async def stop(self) -> None:
        await self.resync.stop()
        await self.probes.stop()

    def _on_breaker_change(self, breaker: CircuitBreaker, status: BreakerStatus) -> None:
        if self._user is None:
            return  # not started: there is no account view to heal yet
        if status is BreakerStatus.OPEN:
            self.probes.request(f"{breaker.name} breaker opened")
            if not breaker.is_forced:
                # Requests failed: what the engine believes may be stale once they work again.
                self.resync.request(f"{breaker.name} breaker opened")
        else:
            self.resync.request_if_idle(f"{breaker.name} breaker closed")

    async def _probe_breakers(self) -> None:
        """One harmless request through each half-open breaker, so it closes without waiting for real traffic
        (an idle group would stay half-open for hours); raises while any breaker is not CLOSED."""
        for group, breaker in self._breakers.items():
            if breaker.status is BreakerStatus.HALF_OPEN:
                await self._probe(group)
        still = [
            f"{b.name} {b.status.value}"
            for b in self._breakers.values()
            if b.status is not BreakerStatus.CLOSED
        ]
        if still:
            raise BreakerOpenError(f"breakers not closed yet: {', '.join(still)}")

    async def _probe(self, group: EndpointGroup) -> None:
        if group is EndpointGroup.MARKET:
            await self._rest.sync_time()  # and the clock offset is fresh after the gap
        elif group is EndpointGroup.ACCOUNT:
            await self._rest.call(ep.POSITION_RISK)
        elif group is EndpointGroup.USER_STREAM:
            assert self._user is not None
            await self._user.keepalive_once()
        else:
            params: Params = [("symbol", self._probe_symbol), ("origClientOrderId", PROBE_CLIENT_ID)]
            try:
                await self._rest.call(ep.QUERY_ORDER, params)
            except OrderNotFoundError:
                pass  # -2013: the order service answered
