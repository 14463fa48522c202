"""Circuit breaker transitions, the reconnect backoff, and how Binance failures are classified."""

from __future__ import annotations

import random

import httpx
import pytest

from casino_tui.clock import ManualClock
from casino_tui.exchange.binance.errors import ClockSkewError, classify_response, classify_transport
from casino_tui.exchange.binance.resilience import (
    CircuitBreaker,
    RetryPolicy,
    counts_against_breaker,
)
from casino_tui.port import (
    AuthError,
    BreakerOpenError,
    BreakerState,
    BreakerStatus,
    OrderNotFoundError,
    RateLimitedError,
    RejectedError,
    RetriableError,
    UnknownOutcomeError,
)


def _breaker(clock: ManualClock) -> CircuitBreaker:
    return CircuitBreaker("orders", clock, failure_threshold=5, open_seconds=60, trial_calls=3)


class TestCircuitBreaker:
    def test_opens_after_five_consecutive_failures(self) -> None:
        breaker = _breaker(ManualClock())
        for _ in range(4):
            breaker.record_failure("HTTP 503")
        assert breaker.status is BreakerStatus.CLOSED
        breaker.record_failure("HTTP 503")
        assert breaker.status is BreakerStatus.OPEN
        assert not breaker.allow()
        with pytest.raises(BreakerOpenError, match="orders breaker is OPEN"):
            breaker.check()

    def test_a_success_resets_the_failure_count(self) -> None:
        breaker = _breaker(ManualClock())
        for _ in range(4):
            breaker.record_failure("x")
        breaker.record_success()
        for _ in range(4):
            breaker.record_failure("x")
        assert breaker.status is BreakerStatus.CLOSED

    def test_goes_half_open_after_sixty_seconds_and_closes_after_three_good_trials(self) -> None:
        clock = ManualClock()
        breaker = _breaker(clock)
        for _ in range(5):
            breaker.record_failure("timeout")
        clock.advance(59_999)
        assert breaker.status is BreakerStatus.OPEN
        assert breaker.cooldown_s() == pytest.approx(0.001)
        clock.advance(1)
        assert breaker.status is BreakerStatus.HALF_OPEN
        assert [breaker.allow() for _ in range(4)] == [True, True, True, False]
        breaker.record_success()
        breaker.record_success()
        assert breaker.status is BreakerStatus.HALF_OPEN
        breaker.record_success()
        assert breaker.status is BreakerStatus.CLOSED
        assert breaker.failures == 0
        assert breaker.allow()

    def test_a_failed_trial_reopens_for_another_full_cooldown(self) -> None:
        clock = ManualClock()
        breaker = _breaker(clock)
        for _ in range(5):
            breaker.record_failure("timeout")
        clock.advance(60_000)
        assert breaker.allow()
        breaker.record_failure("timeout again")
        assert breaker.status is BreakerStatus.OPEN
        assert breaker.snapshot().reason == "timeout again"
        clock.advance(59_000)
        assert breaker.status is BreakerStatus.OPEN
        clock.advance(1_000)
        assert breaker.status is BreakerStatus.HALF_OPEN

    def test_released_trial_slot_can_be_used_again(self) -> None:
        clock = ManualClock()
        breaker = _breaker(clock)
        for _ in range(5):
            breaker.record_failure("x")
        clock.advance(60_000)
        assert all(breaker.allow() for _ in range(3))
        breaker.release()
        assert breaker.allow()
        assert not breaker.allow()

    def test_force_open_uses_the_given_cooldown(self) -> None:
        clock = ManualClock()
        breaker = _breaker(clock)
        breaker.force_open("IP banned", seconds=120)
        clock.advance(119_000)
        assert breaker.status is BreakerStatus.OPEN
        clock.advance(1_000)
        assert breaker.status is BreakerStatus.HALF_OPEN

    def test_half_open_closes_on_one_success_when_that_was_the_only_trial(self) -> None:
        # The user-stream group sends one listenKey request per reconnect: it must not stay half-open.
        clock = ManualClock()
        breaker = _breaker(clock)
        for _ in range(5):
            breaker.record_failure("ConnectError")
        clock.advance(60_000)
        assert breaker.allow()
        breaker.record_success()
        assert breaker.status is BreakerStatus.CLOSED
        assert breaker.snapshot() == BreakerState("orders", BreakerStatus.CLOSED)

    def test_half_open_waits_for_every_trial_in_flight_before_closing(self) -> None:
        clock = ManualClock()
        breaker = _breaker(clock)
        for _ in range(5):
            breaker.record_failure("ConnectError")
        clock.advance(60_000)
        assert breaker.allow() and breaker.allow()
        breaker.record_success()
        assert breaker.status is BreakerStatus.HALF_OPEN, "the second trial has not answered yet"
        breaker.record_failure("ConnectError")
        assert breaker.status is BreakerStatus.OPEN

    def test_half_open_admits_new_trials_as_earlier_ones_succeed(self) -> None:
        clock = ManualClock()
        breaker = _breaker(clock)
        for _ in range(5):
            breaker.record_failure("x")
        clock.advance(60_000)
        assert [breaker.allow() for _ in range(4)] == [True, True, True, False]
        breaker.record_success()
        assert breaker.allow(), "one trial came back good: a slot is free again"
        assert not breaker.allow()

    def test_a_reconnect_ends_the_cooldown_of_a_breaker_opened_by_failures(self) -> None:
        clock = ManualClock()
        breaker = _breaker(clock)
        for _ in range(5):
            breaker.record_failure("ConnectError")
        clock.advance(5_000)
        assert breaker.end_cooldown()
        assert breaker.status is BreakerStatus.HALF_OPEN and breaker.cooldown_s() == 0
        assert breaker.allow()
        breaker.record_success()
        assert breaker.status is BreakerStatus.CLOSED

    def test_ending_the_cooldown_of_a_closed_or_half_open_breaker_changes_nothing(self) -> None:
        clock = ManualClock()
        breaker = _breaker(clock)
        assert not breaker.end_cooldown()
        assert breaker.status is BreakerStatus.CLOSED
        for _ in range(5):
            breaker.record_failure("x")
        clock.advance(60_000)
        assert breaker.allow()
        assert not breaker.end_cooldown()
        assert breaker.status is BreakerStatus.HALF_OPEN, "the trial in flight keeps its slot"
        breaker.record_success()
        assert breaker.status is BreakerStatus.CLOSED

    def test_a_ban_serves_its_full_cooldown_despite_a_reconnect(self) -> None:
        clock = ManualClock()
        breaker = _breaker(clock)
        breaker.force_open("IP banned (418)", seconds=120)
        assert breaker.is_forced
        assert not breaker.end_cooldown()
        assert breaker.status is BreakerStatus.OPEN and breaker.cooldown_s() == 120.0
        clock.advance(120_000)
        assert breaker.allow()
        breaker.record_success()
        assert breaker.status is BreakerStatus.CLOSED and not breaker.is_forced

    def test_a_failed_trial_after_a_ban_is_an_ordinary_trip_again(self) -> None:
        clock = ManualClock()
        breaker = _breaker(clock)
        breaker.force_open("IP banned (418)", seconds=10)
        clock.advance(10_000)
        assert breaker.allow()
        breaker.record_failure("HTTP 503")
        assert breaker.status is BreakerStatus.OPEN and not breaker.is_forced
        assert breaker.end_cooldown()

    def test_listener_hears_every_trip_and_every_close(self) -> None:
        clock = ManualClock()
        breaker = _breaker(clock)
        heard: list[tuple[str, BreakerStatus]] = []
        breaker.on_change = lambda b, status: heard.append((b.name, status))
        for _ in range(5):
            breaker.record_failure("x")
        clock.advance(60_000)
        assert breaker.status is BreakerStatus.HALF_OPEN  # a cooldown running out is not an event
        assert breaker.allow()
        breaker.record_failure("x")
        breaker.force_open("IP banned", seconds=1)
        clock.advance(1_000)
        assert breaker.allow()
        breaker.record_success()
        assert heard == [
            ("orders", BreakerStatus.OPEN),
            ("orders", BreakerStatus.OPEN),
            ("orders", BreakerStatus.OPEN),
            ("orders", BreakerStatus.CLOSED),
        ]

    def test_snapshot_shows_state_failures_reason_and_cooldown(self) -> None:
        clock = ManualClock()
        breaker = _breaker(clock)
        for _ in range(5):
            breaker.record_failure("RetriableError -1001")
        clock.advance(15_000)
        snap = breaker.snapshot()
        assert (snap.name, snap.state, snap.failures, snap.reason) == (
            "orders",
            "OPEN",
            5,
            "RetriableError -1001",
        )
        assert snap.cooldown_s == 45.0


class TestBreakerRulesAndBackoff:
    def test_only_service_failures_count_against_the_breaker(self) -> None:
        assert counts_against_breaker(RetriableError("503"))
        assert counts_against_breaker(UnknownOutcomeError("timeout"))
        assert not counts_against_breaker(RejectedError("-4164"))
        assert not counts_against_breaker(OrderNotFoundError("-2011"))
        assert not counts_against_breaker(AuthError("-2015"))
        assert not counts_against_breaker(RateLimitedError("429"))

    def test_backoff_grows_exponentially_within_the_jitter_band_and_caps(self) -> None:
        policy = RetryPolicy(attempts=10, base_s=0.2, factor=2, max_s=3.0, jitter=0.5, rng=random.Random(1))
        for attempt, ceiling in enumerate([0.2, 0.4, 0.8, 1.6, 3.0, 3.0]):
            delay = policy.delay(attempt)
            assert ceiling * 0.5 <= delay <= ceiling

    def test_backoff_is_reproducible_with_a_seed(self) -> None:
        a = RetryPolicy(rng=random.Random(7))
        b = RetryPolicy(rng=random.Random(7))
        assert [a.delay(i) for i in range(4)] == [b.delay(i) for i in range(4)]


def _classify(status: int, body: bytes, *, is_write: bool = True, **kw: object):
    return classify_response(status, body, what="POST /fapi/v1/order", is_write=is_write, **kw)  # type: ignore[arg-type]


class TestClassification:
    def test_503_unknown_error_on_a_write_is_an_unknown_outcome(self) -> None:
        err = _classify(
            503, b'{"code":-1000,"msg":"Unknown error, please check your request or try again later."}'
        )
        assert type(err) is UnknownOutcomeError

    def test_503_unknown_error_on_a_read_is_retriable(self) -> None:
        err = _classify(503, b"Unknown error, please check your request or try again later.", is_write=False)
        assert type(err) is RetriableError

    def test_503_service_unavailable_is_a_definite_failure(self) -> None:
        assert type(_classify(503, b"Service Unavailable.")) is RetriableError

    @pytest.mark.parametrize("code", [-1000, -1006, -1007])
    def test_execution_status_unknown_codes(self, code: int) -> None:
        err = _classify(400 if code != -1007 else 408, f'{{"code":{code},"msg":"x"}}'.encode())
        assert type(err) is UnknownOutcomeError and err.code == code

    def test_throttle_1008_is_retriable(self) -> None:
        err = _classify(503, b'{"code":-1008,"msg":"Request throttled by system-level protection."}')
        assert type(err) is RetriableError and err.code == -1008

    @pytest.mark.parametrize("code", [-2011, -2013])
    def test_unknown_order_codes_are_order_not_found(self, code: int) -> None:
        assert (
            type(_classify(400, f'{{"code":{code},"msg":"Unknown order sent."}}'.encode()))
            is OrderNotFoundError
        )

    @pytest.mark.parametrize("code,status", [(-2014, 401), (-2015, 401), (-1022, 400)])
    def test_key_and_signature_codes_are_auth_errors(self, code: int, status: int) -> None:
        err = _classify(
            status, f'{{"code":{code},"msg":"Invalid API-key, IP, or permissions for action."}}'.encode()
        )
        assert type(err) is AuthError and err.code == code
        assert "API key rejected" in str(err)

    def test_clock_skew_is_its_own_retriable_kind(self) -> None:
        err = _classify(
            400, b'{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}'
        )
        assert isinstance(err, ClockSkewError) and isinstance(err, RetriableError)

    def test_429_backs_off_to_retry_after(self) -> None:
        err = _classify(429, b'{"code":-1003,"msg":"Too many requests"}', retry_after="7")
        assert isinstance(err, RateLimitedError) and err.retry_after_s == 7.0 and not err.banned

    def test_429_without_retry_after_leaves_the_wait_to_the_limiter(self) -> None:
        err = _classify(429, b'{"code":-1003,"msg":"Too many requests"}')
        assert isinstance(err, RateLimitedError) and err.retry_after_s == 0.0

    def test_418_reads_the_ban_end_from_the_message(self) -> None:
        body = b'{"code":-1003,"msg":"Way too many requests; IP(1.2.3.4) banned until 1767225720000."}'
        err = _classify(418, body, server_now_ms=1_767_225_600_000)
        assert isinstance(err, RateLimitedError) and err.banned and err.retry_after_s == 120.0

    def test_filters_and_margin_are_rejections(self) -> None:
        err = _classify(400, b'{"code":-4164,"msg":"Order\'s notional must be no smaller than 5"}')
        assert type(err) is RejectedError and err.code == -4164
        assert "POST /fapi/v1/order" in str(err) and "-4164" in str(err)

    def test_gateway_timeout_on_a_write_may_have_gone_through(self) -> None:
        assert type(_classify(504, b"")) is UnknownOutcomeError
        assert type(_classify(504, b"", is_write=False)) is RetriableError

    def test_connect_failures_were_never_sent_but_read_timeouts_may_have_been(self) -> None:
        request = httpx.Request("POST", "http://127.0.0.1/fapi/v1/order")
        not_sent = classify_transport(
            httpx.ConnectError("refused", request=request), what="POST x", is_write=True
        )
        maybe = classify_transport(httpx.ReadTimeout("slow", request=request), what="POST x", is_write=True)
        read = classify_transport(httpx.ReadTimeout("slow", request=request), what="GET x", is_write=False)
        assert type(not_sent) is RetriableError
        assert type(maybe) is UnknownOutcomeError
        assert type(read) is RetriableError
