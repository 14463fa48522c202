"""HealingJob: work retried with backoff until it succeeds, requests coalesced, waits cut short by news."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable

from casino_tui.healing import HealingJob
from casino_tui.port import AuthError, BreakerOpenError, RetriableError

DEADLINE_S = 10.0


class Work:
    """Fails with the scripted errors, one per call, then succeeds; can hold a call open until released."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0
        self.successes = 0
        self.hold: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def __call__(self) -> None:
        self.calls += 1
        self.entered.set()
        if self.hold is not None:
            await self.hold.wait()
        if self.errors:
            raise self.errors.pop(0)
        self.successes += 1


def job(work: Work, first_wait_s: float = 0.001, max_wait_s: float = 0.01) -> HealingJob:
    return HealingJob("test", work, first_wait_s=first_wait_s, max_wait_s=max_wait_s, rng=random.Random(3))


async def settle(j: HealingJob) -> None:
    await asyncio.wait_for(j.wait_idle(), DEADLINE_S)


async def until(condition: Callable[[], object]) -> None:
    async def look() -> None:
        while not condition():
            await asyncio.sleep(0.001)

    await asyncio.wait_for(look(), DEADLINE_S)


async def test_work_that_fails_is_retried_until_it_succeeds() -> None:
    work = Work(BreakerOpenError("account breaker is OPEN"), RetriableError("503"), RetriableError("503"))
    healing = job(work)
    healing.request("reconnected")
    await settle(healing)
    assert (work.calls, work.successes) == (4, 1)
    assert healing.attempts == 4 and healing.successes == 1
    assert healing.last_error == ""


async def test_requests_made_before_the_run_starts_coalesce_into_one_run() -> None:
    work = Work()
    healing = job(work)
    healing.request("market reconnected")
    healing.request("user reconnected")
    healing.request("account breaker closed")
    await settle(healing)
    assert work.calls == 1


async def test_a_request_during_the_final_attempt_runs_the_work_once_more() -> None:
    work = Work()
    work.hold = asyncio.Event()
    healing = job(work)
    healing.request("market reconnected")
    await asyncio.wait_for(work.entered.wait(), DEADLINE_S)
    healing.request("user reconnected")  # what the attempt in flight read may predate this
    work.hold.set()
    await settle(healing)
    assert work.calls == 2 and work.successes == 2


async def test_request_if_idle_adds_nothing_while_a_run_is_under_way() -> None:
    work = Work()
    work.hold = asyncio.Event()
    healing = job(work)
    healing.request("market reconnected")
    await asyncio.wait_for(work.entered.wait(), DEADLINE_S)
    healing.request_if_idle("account breaker closed")
    work.hold.set()
    await settle(healing)
    assert work.calls == 1
    healing.request_if_idle("orders breaker closed")
    await settle(healing)
    assert work.calls == 2


async def test_a_new_request_cuts_the_backoff_wait_short() -> None:
    work = Work(RetriableError("connection refused"))
    # Without the request below, the retry would wait at least 30 s (the jitter takes off at most half).
    healing = job(work, first_wait_s=60.0, max_wait_s=60.0)
    healing.request("account breaker opened")
    await asyncio.wait_for(work.entered.wait(), DEADLINE_S)
    await until(lambda: healing.last_error)  # the first attempt failed: the job waits out its backoff
    healing.request("market reconnected")
    await settle(healing)
    assert work.calls == 2 and work.successes == 1


async def test_a_rejected_api_key_is_not_retried() -> None:
    work = Work(AuthError("Invalid API-key", -2015))
    healing = job(work)
    healing.request("user reconnected")
    await settle(healing)
    assert work.calls == 1 and work.successes == 0
    assert not healing.is_running


async def test_a_bug_in_the_work_is_logged_and_a_later_request_runs_it_again(caplog) -> None:
    work = Work(KeyError("boom"))
    healing = job(work)
    healing.request("reconnected")
    await settle(healing)
    assert work.calls == 1
    assert any("test failed" in r.getMessage() for r in caplog.records)
    healing.request("reconnected again")
    await settle(healing)
    assert work.successes == 1


async def test_stop_ends_a_job_waiting_to_retry_and_later_requests_are_ignored() -> None:
    work = Work(RetriableError("down"))
    healing = job(work, first_wait_s=60.0, max_wait_s=60.0)
    healing.request("breaker opened")
    await asyncio.wait_for(work.entered.wait(), DEADLINE_S)
    await asyncio.wait_for(healing.stop(), DEADLINE_S)
    assert not healing.is_running
    healing.request("too late")
    assert not healing.is_running and work.calls == 1


async def test_a_long_outage_logs_warnings_on_attempts_1_2_4_8_only(caplog) -> None:
    caplog.set_level("DEBUG", logger="casino.healing")
    work = Work(*[RetriableError("connection refused") for _ in range(9)])
    healing = job(work)
    healing.request("account breaker opened")
    await settle(healing)
    warned = [
        int(m.group(1))
        for r in caplog.records
        if r.levelname == "WARNING" and (m := re.search(r"failed \(attempt (\d+)\)", r.getMessage()))
    ]
    assert warned == [1, 2, 4, 8]
    assert any("succeeded after 9 failed attempts" in r.getMessage() for r in caplog.records)
