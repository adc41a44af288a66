"""BrazeRateLimiter: probe, header sync, roll-over, fallback, 429s, junk, cancellation; header parsing."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import random

import pytest

from braze_cdi_async.ratelimit import (
    DOCUMENTED_LIMITS,
    BrazeRateLimiter,
    LimitScope,
    RateLimiter,
    RateLimitInfo,
    TokenBucketLimiter,
    parse_rate_limit_headers,
    workspace_id,
)
from braze_cdi_async.testing.clock import FakeClock

T0 = 1_000_000.0  # FakeClock's start: a window boundary for 1 s windows
SCOPE = LimitScope("ws1", "job_sync_status", 100, 1.0)
NO_HEADERS = RateLimitInfo(None, None, None)


async def settle(rounds: int = 20) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


def start(limiter: BrazeRateLimiter, n: int, scope: LimitScope = SCOPE) -> list[asyncio.Task[object]]:
    return [asyncio.create_task(limiter.acquire(scope)) for _ in range(n)]


def granted(tasks: list[asyncio.Task[object]]) -> list[object]:
    return [t.result() for t in tasks if t.done() and not t.cancelled()]


async def probe(limiter: BrazeRateLimiter, info: RateLimitInfo, scope: LimitScope = SCOPE) -> None:
    ticket = await limiter.acquire(scope)
    await limiter.record(scope, ticket, info, 200)


# --- parse_rate_limit_headers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "42", "X-RateLimit-Reset": "1700000060"},
        {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "42", "x-ratelimit-reset": "1700000060"},
        {"X-RATELIMIT-LIMIT": "100", "x-RateLimit-remaining": "42", "X-Ratelimit-Reset": "1700000060.0"},
    ],
)
def test_parse_headers_any_case(headers: dict[str, str]) -> None:
    assert parse_rate_limit_headers(headers) == RateLimitInfo(100, 42, 1700000060.0)


def test_parse_fractional_reset_and_missing_headers() -> None:
    info = parse_rate_limit_headers({"X-RateLimit-Reset": " 1700000060.25 ", "Content-Type": "x"})
    assert info == RateLimitInfo(None, None, 1700000060.25)
    assert parse_rate_limit_headers({}) == NO_HEADERS


@pytest.mark.parametrize(
    ("value", "count", "reset"),
    [
        ("-1", None, None),
        ("abc", None, None),
        ("", None, None),
        ("nan", None, None),
        ("inf", None, None),
        ("1e400", None, None),
        ("10000000000", None, 10000000000.0),
        ("1_000", None, None),
        ("12.5", None, 12.5),
        ("7", 7, 7.0),
        ("0", 0, 0.0),
    ],
)
def test_parse_junk_values_become_none(value: str, count: int | None, reset: float | None) -> None:
    info = parse_rate_limit_headers(
        {"X-RateLimit-Limit": value, "X-RateLimit-Remaining": value, "X-RateLimit-Reset": value}
    )
    assert info == RateLimitInfo(count, count, reset)


def test_workspace_id_is_a_short_hash_that_hides_the_key() -> None:
    wid = workspace_id("https://rest.iad-01.braze.com", "secret-key")
    assert wid == hashlib.sha256(b"https://rest.iad-01.braze.com\0secret-key").hexdigest()[:16]
    assert "secret" not in wid
    assert wid != workspace_id("https://rest.iad-01.braze.com", "other-key")
    assert wid != workspace_id("https://rest.fra-01.braze.eu", "secret-key")


def test_documented_limits_and_protocol() -> None:
    assert dict(DOCUMENTED_LIMITS) == {"job_sync_status": 100, "list_integrations": 50, "trigger_sync": 20}
    assert isinstance(BrazeRateLimiter(), RateLimiter)
    assert isinstance(TokenBucketLimiter(1, 1), RateLimiter)


# --- probe ---------------------------------------------------------------------------------------------


async def test_probe_first_then_headers_open_the_window() -> None:
    clock = FakeClock()
    limiter = BrazeRateLimiter(clock=clock)
    tasks = start(limiter, 5)
    await settle()
    assert len(granted(tasks)) == 1
    snap = limiter.snapshot(SCOPE)
    assert (snap.mode, snap.in_flight, snap.waiting, snap.remaining) == ("probe", 1, 4, None)
    await limiter.record(SCOPE, granted(tasks)[0], RateLimitInfo(100, 99, T0 + 1), 200)
    await settle()
    assert len(granted(tasks)) == 5
    snap = limiter.snapshot(SCOPE)
    assert (snap.mode, snap.remaining, snap.reset, snap.in_flight) == ("headers", 95, T0 + 1, 4)


async def test_failed_probe_lets_the_next_waiter_probe() -> None:
    limiter = BrazeRateLimiter(clock=FakeClock())
    tasks = start(limiter, 3)
    await settle()
    first = granted(tasks)
    assert len(first) == 1
    await limiter.record(SCOPE, first[0], None, None)
    await settle()
    assert len(granted(tasks)) == 2
    assert limiter.snapshot(SCOPE).mode == "probe"


# --- header sync and windows ---------------------------------------------------------------------------


async def test_spends_exactly_remaining_then_waits_for_reset_then_spends_new_window() -> None:
    clock = FakeClock()
    limiter = BrazeRateLimiter(clock=clock)
    await probe(limiter, RateLimitInfo(100, 9, T0 + 0.5))  # another process spent 90 already
    tasks = start(limiter, 120)
    await settle()
    first = granted(tasks)
    assert len(first) == 9
    for i, ticket in enumerate(first):
        await limiter.record(SCOPE, ticket, RateLimitInfo(100, 8 - i, T0 + 0.5), 200)
    await settle()
    assert len(granted(tasks)) == 9
    assert clock.sleepers == 1  # one timer for 111 waiters
    await clock.advance(0.49)
    assert len(granted(tasks)) == 9
    await clock.advance(0.01)
    assert len(granted(tasks)) == 109  # the new window's whole limit, at once
    assert limiter.snapshot(SCOPE).waiting == 11


async def test_adopts_server_limit_that_differs_from_documented() -> None:
    clock = FakeClock()
    limiter = BrazeRateLimiter(clock=clock)
    await probe(limiter, RateLimitInfo(40, 39, T0 + 1))
    snap = limiter.snapshot(SCOPE)
    assert (snap.limit, snap.remaining) == (40, 39)
    await clock.advance(1)
    assert limiter.snapshot(SCOPE).remaining == 40
    tasks = start(limiter, 41)
    await settle()
    assert len(granted(tasks)) == 40


async def test_out_of_order_answers_lose_no_budget() -> None:
    limiter = BrazeRateLimiter(clock=FakeClock())
    await probe(limiter, RateLimitInfo(100, 99, T0 + 1))  # server count 1
    a = await limiter.acquire(SCOPE)
    b = await limiter.acquire(SCOPE)
    assert limiter.snapshot(SCOPE).remaining == 97
    # The server counted b (2) before a (3), but a's answer arrives first while b is in flight.
    await limiter.record(SCOPE, a, RateLimitInfo(100, 97, T0 + 1), 200)
    assert limiter.snapshot(SCOPE).remaining == 96  # cautious: b may not be counted yet (spec rule)
    await limiter.record(SCOPE, b, RateLimitInfo(100, 98, T0 + 1), 200)
    assert limiter.snapshot(SCOPE).remaining == 97  # b's answer shows the doubt was unfounded


async def test_use_by_another_process_is_subtracted() -> None:
    limiter = BrazeRateLimiter(clock=FakeClock())
    await probe(limiter, RateLimitInfo(100, 99, T0 + 1))
    a = await limiter.acquire(SCOPE)
    later = [await limiter.acquire(SCOPE) for _ in range(3)]
    # Between the probe and a, others spent 8: the server counts a as number 10.
    await limiter.record(SCOPE, a, RateLimitInfo(100, 90, T0 + 1), 200)
    assert limiter.snapshot(SCOPE).remaining == 90 - len(later)


async def test_late_answer_from_an_old_window_is_ignored_and_frees_its_slot() -> None:
    clock = FakeClock()
    limiter = BrazeRateLimiter(clock=clock)
    await probe(limiter, RateLimitInfo(100, 1, T0 + 1))
    straggler = await limiter.acquire(SCOPE)
    waiter = asyncio.create_task(limiter.acquire(SCOPE))
    await settle()
    assert not waiter.done()
    await clock.advance(1.0)
    assert waiter.done()
    # The straggler is in flight across the boundary: its slot is held in the new window.
    assert limiter.snapshot(SCOPE).remaining == 98
    await limiter.record(SCOPE, straggler, RateLimitInfo(100, 0, T0 + 1), 200)
    snap = limiter.snapshot(SCOPE)
    assert (snap.remaining, snap.in_flight) == (99, 1)
    await limiter.record(SCOPE, waiter.result(), RateLimitInfo(100, 99, T0 + 2), 200)
    assert limiter.snapshot(SCOPE).remaining == 99
    assert limiter.snapshot(SCOPE).reset == T0 + 2


async def test_straggler_counted_in_the_new_window_keeps_its_slot() -> None:
    clock = FakeClock()
    limiter = BrazeRateLimiter(clock=clock)
    await probe(limiter, RateLimitInfo(100, 0, T0 + 1))
    await clock.advance(0.99)
    straggler = asyncio.create_task(limiter.acquire(SCOPE))
    await settle()
    assert not straggler.done()
    await clock.advance(0.01)
    assert straggler.done()
    more = [await limiter.acquire(SCOPE) for _ in range(98)]
    late = await limiter.acquire(SCOPE)
    # the late one was granted last of the window; the straggler is counted first in the new window
    await limiter.record(SCOPE, straggler.result(), RateLimitInfo(100, 99, T0 + 2), 200)
    assert limiter.snapshot(SCOPE).remaining == 0
    assert len(more) == 98
    await limiter.record(SCOPE, late, RateLimitInfo(100, 98, T0 + 2), 200)
    assert limiter.snapshot(SCOPE).remaining == 0


async def test_late_answer_from_old_window_after_server_rolled_is_ignored() -> None:
    clock = FakeClock()
    limiter = BrazeRateLimiter(clock=clock)
    await probe(limiter, RateLimitInfo(100, 50, T0 + 1))
    old = await limiter.acquire(SCOPE)
    new = await limiter.acquire(SCOPE)
    await clock.advance(0.5)
    await limiter.record(SCOPE, new, RateLimitInfo(100, 99, T0 + 2), 200)  # the server is in a new window
    assert limiter.snapshot(SCOPE).remaining == 99 - 1  # `old` may still be counted
    await limiter.record(SCOPE, old, RateLimitInfo(100, 48, T0 + 1), 200)
    snap = limiter.snapshot(SCOPE)
    assert (snap.remaining, snap.reset) == (99, T0 + 2)


# --- fallback --------------------------------------------------------------------------------------------


async def test_no_headers_falls_back_to_clock_aligned_windows() -> None:
    clock = FakeClock(start=T0 + 0.25)
    limiter = BrazeRateLimiter(clock=clock)
    scope = LimitScope("ws1", "trigger_sync", 10, 1.0)
    await probe(limiter, NO_HEADERS, scope)
    assert limiter.snapshot(scope).mode == "fallback"
    tasks = start(limiter, 25, scope)
    await settle()
    assert len(granted(tasks)) == 9  # the probe was the window's first
    await clock.advance(0.74)
    assert len(granted(tasks)) == 9
    await clock.advance(0.01)  # T0 + 1: the clock boundary, not 1 s after the probe
    assert len(granted(tasks)) == 19
    await clock.advance(1.0)
    assert len(granted(tasks)) == 25
    for t in granted(tasks):
        await limiter.record(scope, t, NO_HEADERS, 200)
    assert limiter.snapshot(scope).remaining == 4


# --- 429 -------------------------------------------------------------------------------------------------


async def test_429_with_reset_closes_the_window_until_reset() -> None:
    clock = FakeClock()
    limiter = BrazeRateLimiter(clock=clock)
    await probe(limiter, RateLimitInfo(100, 99, T0 + 1))
    ticket = await limiter.acquire(SCOPE)
    await limiter.record(SCOPE, ticket, RateLimitInfo(100, 0, T0 + 1), 429)
    assert limiter.snapshot(SCOPE).remaining == 0
    tasks = start(limiter, 3)
    await clock.advance(0.999)
    assert granted(tasks) == []
    await clock.advance(0.001)
    assert len(granted(tasks)) == 3
    assert limiter.snapshot(SCOPE).remaining == 97


async def test_429_without_headers_pauses_one_window_from_now() -> None:
    clock = FakeClock()
    limiter = BrazeRateLimiter(clock=clock)
    scope = LimitScope("ws1", "job_sync_status", 100, 10.0)
    await probe(limiter, RateLimitInfo(100, 99, T0 + 10), scope)
    await clock.advance(3)
    ticket = await limiter.acquire(scope)
    await limiter.record(scope, ticket, NO_HEADERS, 429)
    tasks = start(limiter, 2, scope)
    await clock.advance(7)  # the window's reset passes, but the pause lasts one window from the 429
    assert granted(tasks) == []
    await clock.advance(3)
    assert len(granted(tasks)) == 2


async def test_429_to_the_probe_without_headers() -> None:
    clock = FakeClock()
    limiter = BrazeRateLimiter(clock=clock)
    ticket = await limiter.acquire(SCOPE)
    await limiter.record(SCOPE, ticket, NO_HEADERS, 429)
    tasks = start(limiter, 2)
    await clock.advance(0.9)
    assert granted(tasks) == []
    await clock.advance(0.1)
    assert len(granted(tasks)) == 2


async def test_429_with_remaining_left_is_not_a_rate_limit() -> None:
    limiter = BrazeRateLimiter(clock=FakeClock())
    scope = LimitScope("ws1", "trigger_sync", 20, 1.0)
    # "Another job is in progress": the headers show budget left, so the window stays open.
    ticket = await limiter.acquire(scope)
    await limiter.record(scope, ticket, RateLimitInfo(20, 19, T0 + 1), 429)
    assert limiter.snapshot(scope).remaining == 19


async def test_late_429_from_an_old_window_is_ignored() -> None:
    clock = FakeClock()
    limiter = BrazeRateLimiter(clock=clock)
    await probe(limiter, RateLimitInfo(100, 50, T0 + 1))
    old = await limiter.acquire(SCOPE)
    await clock.advance(1)
    assert limiter.snapshot(SCOPE).remaining == 99
    await limiter.record(SCOPE, old, RateLimitInfo(100, 0, T0 + 1), 429)
    assert limiter.snapshot(SCOPE).remaining == 100


# --- junk headers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "info",
    [
        RateLimitInfo(100, 0, T0 + 1e9),  # reset absurdly far ahead
        RateLimitInfo(100, 0, math.inf),
        RateLimitInfo(0, 0, T0 + 1e12),  # limit 0 would block forever
    ],
)
async def test_far_future_reset_is_clamped(info: RateLimitInfo) -> None:
    clock = FakeClock()
    limiter = BrazeRateLimiter(clock=clock)
    await probe(limiter, info)
    waiter = asyncio.create_task(limiter.acquire(SCOPE))
    await clock.advance(100)
    assert not waiter.done()
    await clock.advance(2 * 60)  # the clamp: 2 * max(window, 60) seconds
    assert waiter.done()


@pytest.mark.parametrize(
    "headers",
    [
        {"X-RateLimit-Limit": "-5", "X-RateLimit-Remaining": "-1", "X-RateLimit-Reset": "-3"},
        {"X-RateLimit-Limit": "lots", "X-RateLimit-Remaining": "some", "X-RateLimit-Reset": "soon"},
        {"X-RateLimit-Limit": "1e30", "X-RateLimit-Remaining": "99999999999", "X-RateLimit-Reset": "nan"},
        {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "5", "X-RateLimit-Reset": "12"},  # 1970
    ],
)
async def test_junk_headers_fall_back_to_documented_windows(headers: dict[str, str]) -> None:
    clock = FakeClock()
    limiter = BrazeRateLimiter(clock=clock)
    await probe(limiter, parse_rate_limit_headers(headers))
    snap = limiter.snapshot(SCOPE)
    assert (snap.mode, snap.limit, snap.remaining) == ("fallback", 100, 99)
    tasks = start(limiter, 150)
    await settle()
    assert len(granted(tasks)) == 99
    await clock.advance(1)
    assert len(granted(tasks)) == 150


async def test_remaining_above_limit_is_clamped_to_limit() -> None:
    limiter = BrazeRateLimiter(clock=FakeClock())
    await probe(limiter, RateLimitInfo(100, 5000, T0 + 1))
    tasks = start(limiter, 150)
    await settle()
    assert len(granted(tasks)) == 99  # 100 per window, the probe included


async def test_junk_after_sync_keeps_the_slot_spent() -> None:
    limiter = BrazeRateLimiter(clock=FakeClock())
    await probe(limiter, RateLimitInfo(100, 10, T0 + 1))
    ticket = await limiter.acquire(SCOPE)
    await limiter.record(SCOPE, ticket, RateLimitInfo(None, None, None), 200)
    other = await limiter.acquire(SCOPE)
    await limiter.record(SCOPE, other, None, None)  # transport error
    snap = limiter.snapshot(SCOPE)
    assert (snap.mode, snap.remaining, snap.in_flight) == ("headers", 8, 0)


# --- cancellation ----------------------------------------------------------------------------------------


async def test_cancelled_waiter_takes_nothing() -> None:
    clock = FakeClock()
    limiter = BrazeRateLimiter(clock=clock)
    tasks = start(limiter, 3)
    await settle()
    probe_ticket = granted(tasks)[0]
    tasks[1].cancel()
    await settle()
    await limiter.record(SCOPE, probe_ticket, RateLimitInfo(100, 99, T0 + 1), 200)
    await settle()
    assert tasks[1].cancelled() and tasks[2].done()
    snap = limiter.snapshot(SCOPE)
    assert (snap.remaining, snap.in_flight, snap.waiting) == (98, 1, 0)


async def test_cancelled_probe_before_it_resumes_lets_another_probe() -> None:
    limiter = BrazeRateLimiter(clock=FakeClock())
    first = asyncio.create_task(limiter.acquire(SCOPE))
    first.cancel()  # cancelled before it ever runs
    second = asyncio.create_task(limiter.acquire(SCOPE))
    await settle()
    assert first.cancelled()
    assert second.done()
    assert limiter.snapshot(SCOPE).in_flight == 1


async def test_granted_then_cancelled_inside_acquire_gives_the_slot_back() -> None:
    clock = FakeClock()
    limiter = BrazeRateLimiter(clock=clock)
    await probe(limiter, RateLimitInfo(100, 0, T0 + 1))
    victim: list[asyncio.Task[object]] = []

    async def first() -> object:
        ticket = await limiter.acquire(SCOPE)
        victim[0].cancel()  # granted in the same pass as us, not yet resumed
        return ticket

    t1 = asyncio.create_task(first())
    await settle()
    t2 = asyncio.create_task(limiter.acquire(SCOPE))
    victim.append(t2)
    await settle()
    await clock.advance(1)
    await t1
    with pytest.raises(asyncio.CancelledError):
        await t2
    snap = limiter.snapshot(SCOPE)
    assert (snap.remaining, snap.in_flight, snap.waiting) == (99, 1, 0)


async def test_granted_probe_cancelled_before_resuming_is_returned() -> None:
    limiter = BrazeRateLimiter(clock=FakeClock())
    blocker = await limiter.acquire(SCOPE)  # the probe in flight
    t1 = asyncio.create_task(limiter.acquire(SCOPE))
    await settle()
    await limiter.record(SCOPE, blocker, None, None)  # probe failed: t1 becomes the probe
    t1.cancel()  # granted but not resumed
    with pytest.raises(asyncio.CancelledError):
        await t1
    snap = limiter.snapshot(SCOPE)
    assert (snap.mode, snap.in_flight) == ("probe", 0)
    t3 = asyncio.create_task(limiter.acquire(SCOPE))
    await settle()
    assert t3.done()


async def test_cancelling_every_waiter_stops_the_timer() -> None:
    clock = FakeClock()
    limiter = BrazeRateLimiter(clock=clock)
    await probe(limiter, RateLimitInfo(100, 0, T0 + 1))
    tasks = start(limiter, 50)
    await settle()
    assert clock.sleepers == 1
    for t in tasks:
        t.cancel()
    await settle()
    assert clock.sleepers == 0
    assert limiter.snapshot(SCOPE).waiting == 0
    late = asyncio.create_task(limiter.acquire(SCOPE))
    await clock.advance(1)
    assert late.done()


# --- scopes, waiters, misuse --------------------------------------------------------------------------------


async def test_scopes_are_independent() -> None:
    clock = FakeClock()
    limiter = BrazeRateLimiter(clock=clock)
    other_endpoint = LimitScope("ws1", "list_integrations", 50, 1.0)
    other_workspace = LimitScope("ws2", "job_sync_status", 100, 1.0)
    await probe(limiter, RateLimitInfo(100, 0, T0 + 1))
    blocked = asyncio.create_task(limiter.acquire(SCOPE))
    await settle()
    assert not blocked.done()
    for scope in (other_endpoint, other_workspace):
        await probe(limiter, RateLimitInfo(scope.limit, 10, T0 + 1), scope)
        assert limiter.snapshot(scope).remaining == 10
    await clock.advance(1)
    assert blocked.done()


async def test_many_waiters_one_timer() -> None:
    clock = FakeClock()
    limiter = BrazeRateLimiter(clock=clock)
    await probe(limiter, RateLimitInfo(100, 0, T0 + 1))
    tasks = start(limiter, 500)
    await settle()
    assert limiter.snapshot(SCOPE).waiting == 500
    assert clock.sleepers == 1
    await clock.advance(1)
    assert limiter.snapshot(SCOPE).waiting == 400
    assert clock.sleepers == 1
    for t in tasks:
        t.cancel()
    await settle()


async def test_record_rejects_foreign_tickets_and_ignores_repeats() -> None:
    limiter = BrazeRateLimiter(clock=FakeClock())
    with pytest.raises(ValueError, match="ticket"):
        await limiter.record(SCOPE, object(), None, None)
    ticket = await limiter.acquire(SCOPE)
    await limiter.record(SCOPE, ticket, RateLimitInfo(100, 99, T0 + 1), 200)
    await limiter.record(SCOPE, ticket, RateLimitInfo(100, 0, T0 + 1), 429)
    assert limiter.snapshot(SCOPE).remaining == 99


def test_bad_safety_margin() -> None:
    with pytest.raises(ValueError, match="safety_margin"):
        BrazeRateLimiter(safety_margin=-1)


async def test_safety_margin_delays_the_roll(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    limiter = BrazeRateLimiter(clock=clock, safety_margin=0.05)
    await probe(limiter, RateLimitInfo(100, 0, T0 + 1))
    with caplog.at_level(logging.DEBUG, logger="braze_cdi_async.ratelimit"):
        waiter = asyncio.create_task(limiter.acquire(SCOPE))
        await clock.advance(1.04)
        assert not waiter.done()
        await clock.advance(0.01)
        assert waiter.done()
    assert any("job_sync_status waits" in r.getMessage() for r in caplog.records)
    assert not any("ws1" in r.getMessage() for r in caplog.records)


# --- end to end against a simulated server -----------------------------------------------------------------


async def test_full_budget_and_no_429_against_a_simulated_server() -> None:
    """40 workers, 100 requests per 1 s window, random latency that reorders requests: no 429, full use."""
    clock = FakeClock(start=T0 + 0.5)  # start mid-window
    limiter = BrazeRateLimiter(clock=clock)
    rng = random.Random(7)
    counts: dict[int, int] = {}
    rejected = 0
    total = 600
    done = 0

    async def server() -> tuple[int, RateLimitInfo]:
        nonlocal rejected
        await clock.sleep(rng.uniform(0.001, 0.02))
        k = math.floor(clock.time())
        if counts.get(k, 0) >= 100:
            rejected += 1
            status, remaining = 429, 0
        else:
            counts[k] = counts.get(k, 0) + 1
            status, remaining = 200, 100 - counts[k]
        await clock.sleep(rng.uniform(0.001, 0.02))
        return status, RateLimitInfo(100, remaining, float(k + 1))

    async def worker() -> None:
        nonlocal done
        while done < total:
            ticket = await limiter.acquire(SCOPE)
            status: int | None = None
            info: RateLimitInfo | None = None
            try:
                status, info = await server()
            finally:
                await limiter.record(SCOPE, ticket, info, status)
            done += status == 200

    workers = [asyncio.create_task(worker()) for _ in range(40)]
    while not all(w.done() for w in workers):
        await clock.advance(0.002)
    assert rejected == 0
    windows = sorted(counts)
    assert len(windows) >= 6
    assert [counts[k] for k in windows[1:-1]] == [100] * (len(windows) - 2)  # middle windows spent entirely
    elapsed = clock.time() - (T0 + 0.5)
    assert (done / 100) / elapsed >= 0.97
