"""TokenBucket: burst, rate, FIFO fairness, one timer, cancellation safety, loop independence."""

from __future__ import annotations

import asyncio
import math

import pytest

from braze_cdi_async._clock import SystemClock
from braze_cdi_async.ratelimit import LimitScope, TokenBucket, TokenBucketLimiter
from braze_cdi_async.testing.clock import FakeClock


async def settle(rounds: int = 20) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


def drain(bucket: TokenBucket) -> None:
    while bucket.try_acquire(1):
        pass


async def test_initial_burst_is_capacity_then_exactly_rate_per_second() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, capacity=5, clock=clock)
    assert [bucket.try_acquire() for _ in range(6)] == [True] * 5 + [False]
    done: list[float] = []

    async def one() -> None:
        await bucket.acquire()
        done.append(clock.monotonic())

    tasks = [asyncio.create_task(one()) for _ in range(20)]
    await settle()
    assert done == []
    for second in (1, 2):
        await clock.advance(1.0)
        assert len(done) == 10 * second
    assert all(t.done() for t in tasks)
    # One grant every 1/rate seconds, none early.
    start = 1_000_000.0
    for i, t in enumerate(done, start=1):
        assert t == pytest.approx(start + i / 10, abs=1e-5)


async def test_refill_never_exceeds_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=100, capacity=3, clock=clock)
    drain(bucket)
    await clock.advance(60)
    assert bucket.tokens == 3
    assert sum(bucket.try_acquire() for _ in range(10)) == 3


async def test_waiters_are_served_in_arrival_order() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1, capacity=1, clock=clock)
    drain(bucket)
    order: list[int] = []

    async def one(i: int) -> None:
        await bucket.acquire()
        order.append(i)

    tasks = []
    for i in range(30):
        tasks.append(asyncio.create_task(one(i)))
        await asyncio.sleep(0)
    await settle()
    await clock.advance(30)
    await asyncio.gather(*tasks)
    assert order == list(range(30))


async def test_large_request_at_head_is_not_starved_by_small_ones() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1, capacity=10, clock=clock)
    drain(bucket)
    events: list[str] = []

    async def take(n: int, name: str) -> None:
        await bucket.acquire(n)
        events.append(name)

    big = asyncio.create_task(take(10, "big"))
    await settle()
    smalls = [asyncio.create_task(take(1, f"small{i}")) for i in range(3)]
    await settle()
    await clock.advance(9.5)
    assert events == []  # 9.5 tokens would serve every small one, but the big one is first
    assert not bucket.try_acquire(1)
    await clock.advance(0.5)
    assert events == ["big"]
    await clock.advance(3)
    assert events == ["big", "small0", "small1", "small2"]
    await asyncio.gather(big, *smalls)


async def test_five_thousand_waiters_share_one_timer() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1000, capacity=1, clock=clock)
    drain(bucket)
    tasks = [asyncio.create_task(bucket.acquire()) for _ in range(5000)]
    await settle()
    assert bucket.waiting == 5000
    assert clock.sleepers == 1
    for step in range(10):
        await clock.advance(0.5)
        assert clock.sleepers <= 1
        assert sum(t.done() for t in tasks) == pytest.approx(500 * (step + 1), abs=1)
    await clock.advance(0.01)  # float slack for the very last grant
    assert all(t.done() for t in tasks)
    await settle()
    assert clock.sleepers == 0  # the timer task ended with the queue


async def test_cancelled_waiter_takes_nothing_and_queue_moves_on() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1, capacity=2, clock=clock)
    drain(bucket)
    head = asyncio.create_task(bucket.acquire(2))
    await settle()
    second = asyncio.create_task(bucket.acquire(1))
    await settle()
    await clock.advance(1.0)
    assert not second.done()  # blocked behind the head
    head.cancel()
    await settle()
    assert head.cancelled()
    assert second.done()  # served as soon as the head left, from the 1 token refilled so far
    assert bucket.tokens == pytest.approx(0.0)
    assert bucket.waiting == 0
    assert clock.sleepers == 0


async def test_granted_then_cancelled_waiter_returns_tokens_exactly_once() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1, capacity=3, clock=clock)
    drain(bucket)
    victim: list[asyncio.Task[None]] = []

    async def first() -> None:
        await bucket.acquire(1)
        victim[0].cancel()  # `second` was granted in the same pass but has not resumed yet

    t1 = asyncio.create_task(first())
    await settle()
    t2 = asyncio.create_task(bucket.acquire(2))
    victim.append(t2)
    await settle()
    await clock.advance(3.0)
    await t1
    with pytest.raises(asyncio.CancelledError):
        await t2
    assert bucket.tokens == pytest.approx(2.0)
    await settle()
    assert bucket.tokens == pytest.approx(2.0)
    assert bucket.try_acquire(2)


async def test_try_acquire_fails_while_anyone_waits() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1, capacity=2, clock=clock)
    drain(bucket)
    await clock.advance(1)
    waiter = asyncio.create_task(bucket.acquire(2))
    await settle()
    assert bucket.tokens == pytest.approx(1.0)
    assert not bucket.try_acquire(1)  # a token is there, but the queue comes first
    await clock.advance(1)
    await waiter
    await clock.advance(1)
    assert bucket.try_acquire(1)


async def test_async_with_takes_one_token() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1, capacity=2, clock=clock)
    async with bucket:
        pass
    assert bucket.tokens == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("rate", "capacity"), [(0, 1), (-1, 1), (1, 0), (1, -2), (math.nan, 1), (1, math.inf)]
)
def test_bad_parameters_raise(rate: float, capacity: float) -> None:
    with pytest.raises(ValueError, match="rate|capacity"):
        TokenBucket(rate, capacity, clock=FakeClock())


@pytest.mark.parametrize("tokens", [0, -1, 3.5, math.nan])
async def test_bad_token_requests_raise(tokens: float) -> None:
    bucket = TokenBucket(rate=1, capacity=3, clock=FakeClock())
    with pytest.raises(ValueError, match="tokens"):
        await bucket.acquire(tokens)
    with pytest.raises(ValueError, match="tokens"):
        bucket.try_acquire(tokens)


MODULE_BUCKET = TokenBucket(rate=2000, capacity=1, clock=SystemClock())


def test_module_level_bucket_works_across_event_loops() -> None:
    async def leave_a_waiter_behind() -> None:
        drain(MODULE_BUCKET)
        asyncio.get_running_loop().create_task(MODULE_BUCKET.acquire())  # cancelled by asyncio.run
        await asyncio.sleep(0)

    async def use(n: int) -> int:
        got = 0
        for _ in range(n):
            await MODULE_BUCKET.acquire()
            got += 1
        return got

    asyncio.run(leave_a_waiter_behind())
    assert asyncio.run(use(5)) == 5
    assert asyncio.run(use(5)) == 5
    assert MODULE_BUCKET.waiting == 0


async def test_token_bucket_limiter_one_bucket_per_scope() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(rate=1, capacity=2, clock=clock)
    a = LimitScope("ws", "job_sync_status", 100, 60)
    b = LimitScope("ws", "trigger_sync", 20, 60)
    for _ in range(2):
        ticket = await limiter.acquire(a)
        await limiter.record(a, ticket, None, None)
    blocked = asyncio.create_task(limiter.acquire(a))
    await settle()
    assert not blocked.done()
    await limiter.acquire(b)  # another scope has its own bucket
    await clock.advance(1)
    assert blocked.done()


async def test_token_bucket_limiter_scope_defaults() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter.for_scope_defaults(clock=clock)
    scope = LimitScope("ws", "trigger_sync", 20, 60)
    bucket = limiter.bucket(scope)
    assert bucket.rate == pytest.approx(1 / 3)
    assert bucket.capacity == 20
    for _ in range(20):
        await limiter.acquire(scope)
    assert not bucket.try_acquire()
