"""Property tests: no limiter ever grants more than its budget allows, whatever the traffic."""

from __future__ import annotations

import asyncio
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from braze_cdi_async.ratelimit import BrazeRateLimiter, LimitScope, RateLimitInfo, TokenBucket
from braze_cdi_async.testing.clock import FakeClock

STEP = st.tuples(
    st.floats(min_value=0.1, max_value=4.0),  # tokens asked
    st.floats(min_value=0.0, max_value=2.0),  # then advance the clock by this much
    st.booleans(),  # cancel this request right after the advance
)


@settings(max_examples=75, deadline=None)
@given(
    rate=st.floats(min_value=0.5, max_value=20.0),
    capacity=st.floats(min_value=4.0, max_value=10.0),
    steps=st.lists(STEP, min_size=1, max_size=25),
)
def test_token_bucket_never_exceeds_capacity_plus_rate_times_window(
    rate: float, capacity: float, steps: list[tuple[float, float, bool]]
) -> None:
    async def run() -> list[tuple[float, float]]:
        clock = FakeClock()
        bucket = TokenBucket(rate, capacity, clock=clock)
        grants: list[tuple[float, float]] = []

        async def take(n: float) -> None:
            await bucket.acquire(n)
            grants.append((clock.monotonic(), n))

        tasks = []
        for tokens, advance, cancel in steps:
            task = asyncio.create_task(take(tokens))
            tasks.append(task)
            await clock.advance(advance)
            if cancel:
                task.cancel()
                await clock.advance(0)
        await clock.advance(len(steps) * 4.0 / rate + 1)
        assert all(t.done() for t in tasks)
        return grants

    grants = asyncio.run(run())
    grants.sort()
    for i in range(len(grants)):
        total = 0.0
        for j in range(i, len(grants)):
            total += grants[j][1]
            span = grants[j][0] - grants[i][0]
            assert total <= capacity + rate * span + 1e-6


@settings(max_examples=60, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=8),
    window=st.sampled_from([0.5, 1.0, 2.0]),
    start=st.floats(min_value=0.0, max_value=3.0),
    steps=st.lists(
        st.tuples(st.integers(min_value=0, max_value=12), st.floats(min_value=0.0, max_value=1.5)),
        min_size=1,
        max_size=20,
    ),
)
def test_braze_limiter_fallback_never_exceeds_limit_per_clock_window(
    limit: int, window: float, start: float, steps: list[tuple[int, float]]
) -> None:
    scope = LimitScope("ws", "job_sync_status", limit, window)
    no_headers = RateLimitInfo(None, None, None)

    async def run() -> list[float]:
        clock = FakeClock(start=1_000_000.0 + start)
        limiter = BrazeRateLimiter(clock=clock)
        grants: list[float] = []

        async def request() -> None:
            ticket = await limiter.acquire(scope)
            grants.append(clock.time())
            await limiter.record(scope, ticket, no_headers, 200)

        tasks: list[asyncio.Task[None]] = []
        for n, advance in steps:
            tasks.extend(asyncio.create_task(request()) for _ in range(n))
            await clock.advance(advance)
        for task in tasks:
            task.cancel()
        await clock.advance(0)
        return grants

    grants = asyncio.run(run())
    per_window: dict[int, int] = {}
    for t in grants:
        k = math.floor(t / window)
        per_window[k] = per_window.get(k, 0) + 1
    assert all(count <= limit for count in per_window.values()), per_window
