"""RedisRateLimiter against a real Redis: Lua decisions under concurrency, roll-over, header sync, outages."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot
from redis_support import PrivateRedis, free_port, key_prefix, redis_client

from braze_cdi_async.ratelimit import LimitScope, RateLimiter, RateLimitInfo, workspace_id
from braze_cdi_async.redis import RedisLimiterUnavailableError, RedisRateLimiter
from braze_cdi_async.testing.clock import FakeClock

pytestmark = pytest.mark.redis

T0 = 1_000_000.0  # FakeClock's start: a window boundary for 1 s windows
SCOPE = LimitScope("ws1", "job_sync_status", 5, 1.0)


def headers(remaining: int, reset: float, limit: int = 5) -> RateLimitInfo:
    return RateLimitInfo(limit, remaining, reset)


@pytest.fixture
async def client() -> AsyncIterator[aioredis.Redis]:
    async for c in redis_client():
        yield c


@pytest.fixture
async def prefix(client: aioredis.Redis) -> AsyncIterator[str]:
    async for p in key_prefix(client):
        yield p


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def make(
    client: aioredis.Redis, prefix: str, clock: FakeClock
) -> AsyncIterator[Callable[..., RedisRateLimiter]]:
    """Limiters standing for separate processes: each has its own Redis connection pool."""
    made: list[tuple[aioredis.Redis, RedisRateLimiter]] = []

    def factory(**kwargs: object) -> RedisRateLimiter:
        own = aioredis.Redis.from_url(client_url(client))
        limiter = RedisRateLimiter(own, key_prefix=prefix, clock=clock, seed=0, **kwargs)  # type: ignore[arg-type]
        made.append((own, limiter))
        return limiter

    yield factory
    for own, limiter in made:
        await limiter.aclose()
        await own.aclose()


def client_url(client: aioredis.Redis) -> str:
    kw = client.connection_pool.connection_kwargs
    return f"redis://{kw.get('host', '127.0.0.1')}:{kw.get('port', 6379)}/{kw.get('db', 0)}"


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (real time, for Redis round trips) until ``condition`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.002)


def start(limiter: RedisRateLimiter, n: int, scope: LimitScope = SCOPE) -> list[asyncio.Task[object]]:
    return [asyncio.create_task(limiter.acquire(scope)) for _ in range(n)]


def done(tasks: list[asyncio.Task[object]]) -> list[object]:
    return [t.result() for t in tasks if t.done() and not t.cancelled()]


async def cancel_all(tasks: list[asyncio.Task[object]]) -> None:
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# --- packaging and keys ----------------------------------------------------------------------------------


def test_importing_the_package_does_not_import_redis() -> None:
    code = "import sys, braze_cdi_async, braze_cdi_async.ratelimit; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_keys_share_one_hash_tag_and_prefix_may_not_hold_braces(client: aioredis.Redis) -> None:
    limiter = RedisRateLimiter(client, key_prefix="app:")
    scope = LimitScope(workspace_id("https://rest.iad-01.braze.com", "secret-key"), "trigger_sync", 20, 60.0)
    keys = limiter.keys(scope)
    assert all(k.startswith(f"app:{{braze:{scope.workspace}:trigger_sync}}") for k in keys)
    assert len({key_slot(k.encode()) for k in keys}) == 1
    assert isinstance(limiter, RateLimiter)
    with pytest.raises(ValueError):
        RedisRateLimiter(client, key_prefix="a{b}:")


async def test_redis_holds_no_api_key(
    make: Callable[..., RedisRateLimiter], client: aioredis.Redis, prefix: str, clock: FakeClock
) -> None:
    scope = LimitScope(workspace_id("https://rest.iad-01.braze.com", "secret-key"), "job_sync_status", 5, 1.0)
    limiter = make()
    ticket = await limiter.acquire(scope)
    await limiter.acquire(scope)
    await limiter.record(scope, ticket, headers(3, T0 + 1), 200)
    dump = [k async for k in client.scan_iter(match=f"{prefix}*")]
    assert len(dump) == 3
    contents = b"".join(dump)
    for k in dump:
        if k.endswith(b":state"):
            contents += b"".join(b"".join(kv) for kv in (await client.hgetall(k)).items())
        else:
            contents += b"".join(await client.zrange(k, 0, -1))
    assert b"secret-key" not in contents
    assert 0 < await client.pttl(dump[0]) <= 2 * 300 * 1000


# --- decisions -------------------------------------------------------------------------------------------


async def test_concurrent_callers_in_four_processes_get_exactly_the_limit_per_window(
    make: Callable[..., RedisRateLimiter], clock: FakeClock
) -> None:
    limiters = [make(max_batch=2) for _ in range(4)]
    tasks = [t for lim in limiters for t in start(lim, 10)]
    await until(lambda: len(done(tasks)) == 5 and clock.sleepers == 4)
    await asyncio.sleep(0.05)
    first = done(tasks)
    assert len(first) == 5
    assert len({t.seq for t in first}) == 5  # type: ignore[attr-defined]
    for i, ticket in enumerate(first):
        owner = next(lim for j, lim in enumerate(limiters) if ticket in done(tasks[j * 10 : (j + 1) * 10]))
        await owner.record(SCOPE, ticket, headers(4 - i, T0 + 1), 200)
    await clock.advance(1.01)  # past the reset and the wake-up jitter
    await until(lambda: len(done(tasks)) == 10 and clock.sleepers == 4)
    await asyncio.sleep(0.05)
    assert len(done(tasks)) == 10
    snap = await limiters[0].snapshot(SCOPE)
    assert (snap.used, snap.in_flight, snap.reset) == (5, 5, T0 + 2)
    await cancel_all(tasks)


async def test_no_process_starves_when_demand_exceeds_the_budget(
    make: Callable[..., RedisRateLimiter], clock: FakeClock
) -> None:
    limiters = [make(max_batch=1) for _ in range(4)]
    served: list[int] = []

    async def process(i: int) -> None:
        for _ in range(6):
            ticket = await limiters[i].acquire(SCOPE)
            served.append(i)
            await limiters[i].record(SCOPE, ticket, None, None)

    runs = [asyncio.create_task(process(i)) for i in range(4)]
    for window in range(1, 5):
        await until(
            lambda w=window: (
                len(served) == 5 * w  # type: ignore[misc]
                and clock.sleepers == sum(not r.done() for r in runs)
            )
        )
        await clock.advance(1.01)
    await until(lambda: len(served) == 24)
    await asyncio.gather(*runs)
    assert sorted(served) == sorted(list(range(4)) * 6)
    assert set(served[:5]) == {0, 1, 2, 3}  # the first window already served every process


async def test_window_rollover_charges_requests_in_flight_until_their_answers_place_them(
    make: Callable[..., RedisRateLimiter], clock: FakeClock
) -> None:
    limiter = make()
    old = [await limiter.acquire(SCOPE) for _ in range(5)]
    await clock.advance(1.0)
    waiting = start(limiter, 3)
    await until(lambda: clock.sleepers == 1)
    assert done(waiting) == []  # 5 requests still in flight may land in the new window
    await limiter.record(SCOPE, old[0], headers(0, T0 + 1), 200)  # counted in the old window
    await until(lambda: len(done(waiting)) == 1)
    await limiter.record(SCOPE, old[1], headers(4, T0 + 2), 200)  # counted in the new one
    await limiter.record(SCOPE, old[2], headers(0, T0 + 1), 200)
    await until(lambda: len(done(waiting)) == 2)
    await asyncio.sleep(0.05)
    assert len(done(waiting)) == 2
    snap = await limiter.snapshot(SCOPE)
    assert (snap.used, snap.in_flight, snap.reset) == (5, 4, T0 + 2)
    await cancel_all(waiting)


async def test_remaining_seen_by_any_process_is_adopted(
    make: Callable[..., RedisRateLimiter], clock: FakeClock
) -> None:
    a, b = make(), make()
    scope = LimitScope("ws1", "job_sync_status", 100, 1.0)
    ticket = await a.acquire(scope)
    await a.record(scope, ticket, RateLimitInfo(10, 2, T0 + 1), 200)  # others spent 7 of a 10 limit
    snap = await b.snapshot(scope)
    assert (snap.limit, snap.used) == (10, 8)
    tasks = start(b, 3, scope)
    await until(lambda: len(done(tasks)) == 2 and clock.sleepers == 1)
    await asyncio.sleep(0.05)
    assert len(done(tasks)) == 2
    await cancel_all(tasks)


async def test_reset_of_a_newer_window_is_adopted(
    make: Callable[..., RedisRateLimiter], clock: FakeClock
) -> None:
    limiter = make()
    tickets = [await limiter.acquire(SCOPE) for _ in range(5)]
    waiting = start(limiter, 2)
    await until(lambda: clock.sleepers == 1)
    # Our clock is behind the server's: it already counts this request in the next window, where the
    # four others still in flight may land too.
    await limiter.record(SCOPE, tickets[4], headers(4, T0 + 2), 200)
    snap = await limiter.snapshot(SCOPE)
    assert (snap.reset, snap.used, snap.in_flight) == (T0 + 2, 5, 4)
    await limiter.record(SCOPE, tickets[0], headers(0, T0 + 1), 200)  # counted in the old window
    await until(lambda: len(done(waiting)) == 1)
    await asyncio.sleep(0.05)
    assert len(done(waiting)) == 1
    await cancel_all(waiting)


async def test_budget_freed_in_one_process_wakes_a_sleeper_in_another(
    make: Callable[..., RedisRateLimiter], clock: FakeClock
) -> None:
    a, b = make(), make()
    tickets = [await a.acquire(SCOPE) for _ in range(5)]
    waiting = start(b, 1)
    await until(lambda: clock.sleepers == 1)
    await asyncio.sleep(0.05)
    assert done(waiting) == []
    await a.record(SCOPE, tickets[0], headers(0, T0), 200)  # it was counted in the window before
    await until(lambda: len(done(waiting)) == 1)  # no clock advance: woken through Redis


async def test_a_429_closes_the_window_until_its_reset(
    make: Callable[..., RedisRateLimiter], clock: FakeClock
) -> None:
    limiter = make()
    ticket = await limiter.acquire(SCOPE)
    await limiter.record(SCOPE, ticket, headers(0, T0 + 1), 429)
    waiting = start(limiter, 1)
    await until(lambda: clock.sleepers == 1)
    assert done(waiting) == []
    await clock.advance(1.01)
    await until(lambda: len(done(waiting)) == 1)


async def test_a_429_without_headers_pauses_one_window(
    make: Callable[..., RedisRateLimiter], clock: FakeClock
) -> None:
    limiter = make()
    await clock.advance(0.5)
    ticket = await limiter.acquire(SCOPE)
    await limiter.record(SCOPE, ticket, RateLimitInfo(None, None, None), 429)
    assert (await limiter.snapshot(SCOPE)).blocked_until == T0 + 1.5
    waiting = start(limiter, 1)
    await until(lambda: clock.sleepers == 1)
    await clock.advance(0.6)  # the window rolled, but the pause holds
    await until(lambda: clock.sleepers == 1)
    assert done(waiting) == []
    await clock.advance(0.5)
    await until(lambda: len(done(waiting)) == 1)


async def test_a_429_reporting_budget_left_counts_like_any_response(
    make: Callable[..., RedisRateLimiter], clock: FakeClock
) -> None:
    limiter = make()
    ticket = await limiter.acquire(SCOPE)
    await limiter.record(SCOPE, ticket, headers(4, T0 + 1), 429)  # "Another job is in progress"
    snap = await limiter.snapshot(SCOPE)
    assert (snap.used, snap.blocked_until, snap.in_flight) == (1, None, 0)
    assert len([await limiter.acquire(SCOPE) for _ in range(4)]) == 4


async def test_a_request_without_response_keeps_its_slot_and_a_cancelled_waiter_takes_none(
    make: Callable[..., RedisRateLimiter], clock: FakeClock
) -> None:
    limiter = make()
    ticket = await limiter.acquire(SCOPE)
    await limiter.record(SCOPE, ticket, None, None)
    assert ((await limiter.snapshot(SCOPE)).used, (await limiter.snapshot(SCOPE)).in_flight) == (1, 0)
    rest = [await limiter.acquire(SCOPE) for _ in range(4)]
    assert len(rest) == 4
    waiting = start(limiter, 2)
    await until(lambda: clock.sleepers == 1)
    waiting[0].cancel()
    await clock.advance(1.01)
    await until(lambda: len(done(waiting)) == 1)
    await asyncio.sleep(0.05)
    snap = await limiter.snapshot(SCOPE)
    assert (snap.used, snap.in_flight) == (5, 5)  # 4 carried in flight + the one waiter served


async def test_record_rejects_foreign_tickets(make: Callable[..., RedisRateLimiter]) -> None:
    a, b = make(), make()
    ticket = await a.acquire(SCOPE)
    with pytest.raises(ValueError):
        await b.record(SCOPE, ticket, None, 200)


# --- Redis going away and coming back --------------------------------------------------------------------


@pytest.fixture
def private_redis() -> AsyncIterator[PrivateRedis]:
    server = PrivateRedis(free_port())
    server.start()
    yield server  # type: ignore[misc]
    server.stop()


async def test_outage_falls_back_with_a_warning_and_recovers(
    private_redis: PrivateRedis, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    conn = aioredis.Redis.from_url(private_redis.url, socket_connect_timeout=1)
    limiter = RedisRateLimiter(conn, key_prefix="t:", clock=clock, retry_after=1.0)
    state_key = limiter.keys(SCOPE)[0]
    try:
        ticket = await limiter.acquire(SCOPE)
        await limiter.record(SCOPE, ticket, headers(4, T0 + 1), 200)
        assert await conn.hget(state_key, "used") == b"1"

        private_redis.stop()
        with caplog.at_level(logging.WARNING, logger="braze_cdi_async.redis"):
            local = await limiter.acquire(SCOPE)
            await limiter.record(SCOPE, local, headers(3, T0 + 1), 200)
            assert limiter.using_fallback
            second = await limiter.acquire(SCOPE)  # within retry_after: Redis is not even tried
            await limiter.record(SCOPE, second, headers(2, T0 + 1), 200)
        assert any("falling back" in r.getMessage() for r in caplog.records)

        private_redis.start()  # empty: the restarted Redis lost the state
        await clock.advance(1.0)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="braze_cdi_async.redis"):
            back = await limiter.acquire(SCOPE)
        assert not limiter.using_fallback
        assert any("reachable again" in r.getMessage() for r in caplog.records)
        assert await conn.hget(state_key, "used") == b"1"
        await limiter.record(SCOPE, back, headers(2, T0 + 2), 200)
        assert await conn.hget(state_key, "reset") == b"1000002.000000"
    finally:
        await conn.aclose()


async def test_outage_raises_when_told_and_recovers(private_redis: PrivateRedis, clock: FakeClock) -> None:
    conn = aioredis.Redis.from_url(private_redis.url, socket_connect_timeout=1)
    limiter = RedisRateLimiter(conn, key_prefix="t:", clock=clock, on_unavailable="raise", retry_after=1.0)
    try:
        ticket = await limiter.acquire(SCOPE)
        private_redis.stop()
        with pytest.raises(RedisLimiterUnavailableError):
            await limiter.acquire(SCOPE)  # Redis tried and found down
        with pytest.raises(RedisLimiterUnavailableError):
            await limiter.acquire(SCOPE)  # within retry_after: not even tried
        await limiter.record(SCOPE, ticket, headers(4, T0 + 1), 200)  # a lost record never raises
        private_redis.start()
        await clock.advance(1.0)
        again = await limiter.acquire(SCOPE)
        await limiter.record(SCOPE, again, headers(4, T0 + 2), 200)
        assert not limiter.using_fallback
    finally:
        await conn.aclose()
