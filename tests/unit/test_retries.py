"""The one retry layer: which failures are sent again, looked up or given up, and how often an order goes out.

The verdicts are checked on the errors the Binance classifier really produces from Binance's answers; the
executor's send counts on the scriptable fake exchange, which counts every `place_order` call it receives.
"""

from __future__ import annotations

import collections

import httpx
import pytest

from casino_tui.clock import ManualClock
from casino_tui.engine import retries
from casino_tui.engine.executor import OrderExecutor
from casino_tui.engine.retries import MAX_SENDS_PER_ORDER, Verdict, verdict
from casino_tui.exchange.binance.errors import classify_response, classify_transport
from casino_tui.model import OrderRequest, OrderStatus, OrderType, Side
from casino_tui.port import (
    BreakerOpenError,
    ExchangeError,
    RateLimitedError,
    RejectedError,
    RetriableError,
    UnknownOutcomeError,
)
from tests.unit.fakes import FakeExchange

ORDER = "POST /fapi/v1/order"
WAIT_S = 5.0


def answer(status: int, code: int, msg: str, *, is_write: bool = True) -> ExchangeError:
    """The error the Binance connector raises for this HTTP answer."""
    body = f'{{"code":{code},"msg":"{msg}"}}'.encode() if code else msg.encode()
    return classify_response(status, body, what=ORDER, is_write=is_write, retry_after="1")


def of_order(exc: BaseException) -> Verdict:
    return verdict(exc, repeatable=False, max_rate_limit_wait_s=WAIT_S)


def of_read(exc: BaseException) -> Verdict:
    return verdict(exc, repeatable=True, max_rate_limit_wait_s=WAIT_S)


# -- which errors retry, which look up, which give up -------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        answer(503, -1001, "Service Unavailable."),  # the sandbox's and Binance's "not processed"
        answer(503, 0, "Service Unavailable."),
        answer(500, 0, "Internal error; unable to process your request. Please try again."),
        answer(503, -1008, "Server is currently overloaded with other requests."),
        answer(400, -4117, "stop order in processing"),
        answer(400, -1021, "Timestamp for this request is outside of the recvWindow."),
        classify_transport(httpx.ConnectError("refused"), what=ORDER, is_write=True),
    ],
    ids=["503-1001", "503", "500-internal", "-1008", "-4117", "-1021", "connect-refused"],
)
def test_definite_failures_of_an_order_are_sent_again(error: ExchangeError) -> None:
    assert not isinstance(error, UnknownOutcomeError)
    assert of_order(error) is Verdict.RETRY


@pytest.mark.parametrize(
    "error",
    [
        answer(503, 0, "Unknown error, please check your request or try again later."),
        answer(408, -1007, "Timeout waiting for response from backend server."),
        answer(500, -1000, "An unknown error occured while processing the request."),
        answer(502, 0, "Bad Gateway"),
        classify_transport(httpx.ReadTimeout("slow"), what=ORDER, is_write=True),
        classify_transport(httpx.RemoteProtocolError("cut"), what=ORDER, is_write=True),
    ],
    ids=["503-unknown", "-1007", "-1000", "502", "read-timeout", "cut-mid-request"],
)
def test_an_order_of_unknown_outcome_is_looked_up_never_sent_again(error: ExchangeError) -> None:
    assert of_order(error) is Verdict.LOOK_UP


def test_a_read_or_cancel_of_unknown_outcome_is_simply_repeated() -> None:
    assert of_read(UnknownOutcomeError("GET /fapi/v3/positionRisk: no answer in time")) is Verdict.RETRY
    assert of_read(answer(503, 0, "Unknown error", is_write=False)) is Verdict.RETRY


@pytest.mark.parametrize(
    "error",
    [
        answer(400, -2019, "Margin is insufficient."),
        answer(400, -2022, "ReduceOnly Order is rejected."),
        answer(400, -2011, "Unknown order sent."),
        answer(401, -2015, "Invalid API-key, IP, or permissions for action."),
        answer(418, -1003, "Way too many requests; IP banned until 1767225600000."),
        RateLimitedError("429 for a minute", -1003, retry_after_s=60.0),
        BreakerOpenError("orders breaker is OPEN: RetriableError -1001"),
        ValueError("not an exchange error at all"),
    ],
    ids=["-2019", "-2022", "-2011", "-2015", "418-ban", "long-429", "breaker-open", "unforeseen"],
)
def test_refusals_bans_long_back_offs_and_open_breakers_are_given_up(error: Exception) -> None:
    assert of_order(error) is Verdict.GIVE_UP
    assert of_read(error) is Verdict.GIVE_UP


def test_a_short_429_is_waited_out_and_sent_again() -> None:
    error = answer(429, -1003, "Too many requests; current limit is 2400 requests per minute.")
    assert isinstance(error, RateLimitedError) and not error.banned
    assert of_order(error) is Verdict.RETRY


# -- how often an order goes out ----------------------------------------------------------------------------


class CountingExchange(FakeExchange):
    """The fake exchange, counting every placement it receives by client id (what a server would see)."""

    def __init__(self) -> None:
        super().__init__({"BTCUSDT": 100.0})
        self.sends: collections.Counter[str] = collections.Counter()

    async def place_order(self, request: OrderRequest):  # type: ignore[no-untyped-def]
        self.sends[request.client_id] += 1
        return await super().place_order(request)


class Sleeps:
    """The executor's sleep: records each delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def exchange() -> CountingExchange:
    return CountingExchange()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def executor(exchange: CountingExchange, sleeps: Sleeps) -> OrderExecutor:
    return OrderExecutor(exchange, ManualClock(), backoff_s=0.001, max_backoff_s=0.005, sleep=sleeps)


def entry(cid: str = "cas-1-e0") -> OrderRequest:
    return OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, 1.0, cid)


def stop_loss(cid: str = "cas-1-s0") -> OrderRequest:
    return OrderRequest(
        "BTCUSDT", Side.SELL, OrderType.STOP_MARKET, 1.0, cid, close_position=True, trigger_price=90.0
    )


def reduce_only_close(cid: str = "cas-1-c0") -> OrderRequest:
    return OrderRequest("BTCUSDT", Side.SELL, OrderType.MARKET, 1.0, cid, reduce_only=True)


def unavailable() -> RetriableError:
    return answer(503, -1001, "Service Unavailable.")  # type: ignore[return-value]


@pytest.mark.parametrize("kind", [entry, stop_loss, reduce_only_close], ids=["entry", "sl", "close"])
async def test_an_order_refused_by_every_send_goes_out_exactly_the_maximum_number_of_times(
    kind, exchange: CountingExchange, executor: OrderExecutor, sleeps: Sleeps
) -> None:
    if kind is not entry:
        await executor.place(entry("cas-0-e0"))  # a position for the protective orders to act on
    request = kind()
    exchange.fail_next("place", unavailable(), times=1000, match=lambda r: r.client_id == request.client_id)
    with pytest.raises(RetriableError):
        await executor.place(request)
    assert exchange.sends[request.client_id] == MAX_SENDS_PER_ORDER
    assert len(sleeps.delays) == MAX_SENDS_PER_ORDER - 1, "a backoff between sends, none after the last"


async def test_an_order_refused_twice_is_placed_by_its_third_send(
    exchange: CountingExchange, executor: OrderExecutor
) -> None:
    exchange.fail_next("place", unavailable(), times=2)
    ack = await executor.place(entry())
    assert ack.status is OrderStatus.FILLED
    assert exchange.sends["cas-1-e0"] == 3 and len(exchange.placed) == 1 and executor.retries == 2


async def test_an_unknown_outcome_after_a_refusal_ends_the_sends_and_is_looked_up(
    exchange: CountingExchange, executor: OrderExecutor
) -> None:
    exchange.fail_next("place", unavailable())
    exchange.fail_next("place", UnknownOutcomeError("no answer in time"), after=True)
    ack = await executor.place(entry())
    assert ack.status is OrderStatus.FILLED
    assert exchange.sends["cas-1-e0"] == 2, "an order of unknown outcome was sent again"
    assert exchange.get_calls == ["cas-1-e0"] and executor.unknown_outcomes == 1


async def test_a_rejected_order_is_sent_once(exchange: CountingExchange, executor: OrderExecutor) -> None:
    exchange.fail_next("place", RejectedError("Margin is insufficient.", -2019))
    with pytest.raises(RejectedError):
        await executor.place(entry())
    assert exchange.sends["cas-1-e0"] == 1 and executor.retries == 0


async def test_the_wait_before_sending_again_is_at_least_the_429_retry_after(
    exchange: CountingExchange, executor: OrderExecutor, sleeps: Sleeps
) -> None:
    exchange.fail_next("place", RateLimitedError("429", -1003, retry_after_s=1.5))
    assert (await executor.place(entry())).status is OrderStatus.FILLED
    assert sleeps.delays and sleeps.delays[0] >= 1.5


# -- cancels and reads ---------------------------------------------------------------------------------------


async def test_a_cancel_that_took_effect_behind_an_unknown_outcome_is_not_sent_again(
    exchange: CountingExchange, executor: OrderExecutor
) -> None:
    await executor.place(entry("cas-0-e0"))
    await executor.place(stop_loss())
    exchange.fail_next("cancel", UnknownOutcomeError("no answer in time"), after=True)
    answer_ = await executor.cancel("BTCUSDT", "cas-1-s0", conditional=True)
    assert answer_ is not None and answer_.status is OrderStatus.CANCELED
    assert exchange.cancel_calls == ["cas-1-s0"] and exchange.get_calls == ["cas-1-s0"]


async def test_a_cancel_still_open_after_unknown_outcomes_is_sent_at_most_the_maximum(
    exchange: CountingExchange, executor: OrderExecutor
) -> None:
    await executor.place(entry("cas-0-e0"))
    await executor.place(stop_loss())
    exchange.fail_next("cancel", UnknownOutcomeError("no answer in time"), times=1000)
    with pytest.raises(UnknownOutcomeError):
        await executor.cancel("BTCUSDT", "cas-1-s0", conditional=True)
    assert exchange.cancel_calls == ["cas-1-s0"] * MAX_SENDS_PER_ORDER
    assert exchange.get_calls == ["cas-1-s0"] * MAX_SENDS_PER_ORDER, "each resend follows a lookup"


async def test_a_read_of_unknown_outcome_is_repeated_up_to_its_attempts(
    exchange: CountingExchange, executor: OrderExecutor
) -> None:
    calls = 0

    async def positions_timing_out() -> list:
        nonlocal calls
        calls += 1
        raise UnknownOutcomeError("GET /fapi/v3/positionRisk: no answer in time")

    with pytest.raises(UnknownOutcomeError):
        await executor.query(positions_timing_out)
    assert calls == executor.read_attempts == retries.READ_ATTEMPTS


async def test_a_start_up_read_is_repeated_after_a_refusal_then_answers() -> None:
    calls = 0

    async def rules_once_unavailable() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RetriableError("GET /fapi/v1/exchangeInfo: HTTP 503: Service Unavailable.")
        return "rules"

    assert await retries.read(rules_once_unavailable) == "rules" and calls == 2


async def test_a_start_up_read_gives_up_on_a_refusal_at_once() -> None:
    calls = 0

    async def refused() -> str:
        nonlocal calls
        calls += 1
        raise RejectedError("GET /fapi/v2/balance: HTTP 400 code -1102")

    with pytest.raises(RejectedError):
        await retries.read(refused)
    assert calls == 1
