"""The default limiter and retries against the emulator's fixed windows (loopback HTTP, short windows)."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter

import pytest

from braze_cdi_async import BrazeCDIClient, RetryPolicy
from braze_cdi_async._convert import converter
from braze_cdi_async.models import JobSyncStatus
from braze_cdi_async.ratelimit import BrazeRateLimiter, LimitScope, workspace_id
from braze_cdi_async.testing import BrazeCDIEmulator, Fault
from braze_cdi_async.testing.timing import fixed_window_floor as best_wall
from braze_cdi_async.testing.timing import start_in_window

WINDOW = 0.5
LIMIT = 50
# Where in a window each run starts. The client needs ~60 ms to spend 50 requests on loopback, so the first
# (partial) window must have room left for that, or the run loses a whole window through no fault of the
# limiter; starting 0.1 s in leaves 0.4 s.
START_OFFSET = 0.1
FAST_RETRY = RetryPolicy(max_attempts=8, backoff_base=0.01, backoff_max=0.05)


def truth(emulator: BrazeCDIEmulator, integration_id: str) -> list[JobSyncStatus]:
    return converter.structure(emulator.history(integration_id), list[JobSyncStatus])


def pages_needed(emulator: BrazeCDIEmulator, ids: list[str]) -> int:
    return sum(max(1, math.ceil(len(emulator.history(i)) / emulator.page_size)) for i in ids)


def per_window(emulator: BrazeCDIEmulator, window: float) -> list[int]:
    """Requests the server counted in each window, from the first request's window on."""
    counted = [r for r in emulator.requests if r.status != 429 or r.fault is not None]
    windows = Counter(math.floor(r.started / window) for r in counted)
    first = min(windows)
    return [windows.get(k, 0) for k in range(first, max(windows) + 1)]


async def collect(client: BrazeCDIClient, integration_id: str) -> list[JobSyncStatus]:
    return [record async for record in client.job_sync_status(integration_id)]


async def test_many_tasks_zero_429s_and_within_five_percent_of_the_floor() -> None:
    async with BrazeCDIEmulator(window=WINDOW, limits={"job_sync_status": LIMIT}, seed=3) as emulator:
        ws = emulator.add_workspace()
        # Twelve windows' worth: long enough that the last window's send time (tens of ms on a busy
        # 2-core machine) stays well inside the 5 % margin.
        ids = [i.integration_id for i in emulator.populate(ws, 200, syncs=(21, 30), seed=4)]
        requests = pages_needed(emulator, ids)
        assert requests == 600  # 200 integrations x 3 pages
        async with BrazeCDIClient(ws.api_key, base_url=emulator.base_url, rate_limit_window=WINDOW) as client:
            t0 = await start_in_window(WINDOW, START_OFFSET)
            # 200 concurrent tasks, each paging through one integration, all sharing the client's limiter.
            results = await asyncio.gather(*(collect(client, i) for i in ids))
            wall = time.time() - t0

        statuses = Counter(r.status for r in emulator.requests)
        assert statuses == {200: requests}, statuses  # zero 429s, nothing retried
        assert results == [truth(emulator, i) for i in ids]
        best = best_wall(t0, requests, LIMIT, WINDOW)
        assert best < requests / LIMIT * WINDOW  # the partial first window makes the bound tighter
        assert wall <= best * 1.05, (
            f"wall {wall:.3f}s vs best {best:.3f}s (nominal {requests / LIMIT * WINDOW}s)"
        )
        assert per_window(emulator, WINDOW) == [LIMIT] * (requests // LIMIT)  # every window fully spent
        assert client.stats.requests == requests
        assert client.stats.rate_limited == 0
        assert client.stats.retries == 0
        # 200 first pages were asked for at t0 and only 50 fit the first window: the other 150 waited at
        # least until it ended. The sum over all requests can only be larger.
        first_boundary = (math.floor(t0 / WINDOW) + 1) * WINDOW
        assert client.stats.limiter_wait >= (len(ids) - LIMIT) * (first_boundary - t0) * 0.99
        assert client.stats.limiter_wait <= len(ids) * wall


@pytest.mark.parametrize("server_limit", [30, 150])
async def test_a_server_limit_other_than_the_documented_one_is_adopted(server_limit: int) -> None:
    async with BrazeCDIEmulator(window=WINDOW, limits={"job_sync_status": server_limit}, seed=5) as emulator:
        ws = emulator.add_workspace()
        ids = [i.integration_id for i in emulator.populate(ws, server_limit, syncs=(21, 30), seed=6)]
        requests = pages_needed(emulator, ids)
        assert requests == 3 * server_limit
        limiter = BrazeRateLimiter()
        async with BrazeCDIClient(
            ws.api_key,
            base_url=emulator.base_url,
            rate_limit_window=WINDOW,
            rate_limiter=limiter,
            max_concurrency=32,
        ) as client:
            await start_in_window(WINDOW, START_OFFSET)
            results = await client.fetch_job_sync_statuses(ids)

        assert all(r.status == 200 for r in emulator.requests)
        assert results == {i: truth(emulator, i) for i in ids}
        # Exactly the server's limit per window: fewer would waste budget, more would have drawn 429s.
        assert per_window(emulator, WINDOW) == [server_limit] * 3
        scope = LimitScope(workspace_id(emulator.base_url, ws.api_key), "job_sync_status", 100, WINDOW)
        assert limiter.snapshot(scope).limit == server_limit


async def test_injected_503s_and_429s_lose_and_duplicate_nothing() -> None:
    async with BrazeCDIEmulator(window=WINDOW, limits={"job_sync_status": LIMIT}, seed=8) as emulator:
        ws = emulator.add_workspace()
        ids = [i.integration_id for i in emulator.populate(ws, 40, syncs=(0, 35), seed=9)]
        faults = emulator.faults
        faults.script(Fault.server_error(503), times=2, integration_id=ids[1])
        faults.script(Fault.rate_limited(retry_after=0.2), integration_id=ids[2])
        faults.script(Fault.rate_limited(), integration_id=ids[3])  # only X-RateLimit-Reset says when
        faults.script(Fault.server_error(502), times=3, match=lambda info: info.cursor is not None)
        faults.script(
            Fault.rate_limited(retry_after="0"), times=2, match=lambda info: info.cursor is not None
        )
        faults.random(
            [Fault.server_error(503), Fault.rate_limited(), Fault.rate_limited(retry_after=0.1)],
            p=0.08,
            endpoint="job_sync_status",
            seed=10,
        )
        async with BrazeCDIClient(
            ws.api_key, base_url=emulator.base_url, rate_limit_window=WINDOW, retry=FAST_RETRY, seed=2
        ) as client:
            results = await client.fetch_job_sync_statuses(ids, max_concurrency=16)

        assert results == {i: truth(emulator, i) for i in ids}  # every record once, in order
        log = emulator.requests
        served = [(r.integration_id, r.cursor) for r in log if r.status == 200]
        assert len(served) == len(set(served)) == pages_needed(emulator, ids)
        injected = Counter(r.fault for r in log if r.fault is not None)
        assert injected["server_error_503"] >= 2
        assert injected["server_error_502"] == 3
        assert injected["rate_limited_retry_after"] >= 1
        assert injected["rate_limited"] >= 1
        # The limiter itself never overdrew a window: every 429 was an injected one.
        assert not [r for r in log if r.status == 429 and r.fault is None]
        stats = client.stats
        assert stats.requests == len(log)
        assert stats.rate_limited == sum(1 for r in log if r.status == 429)
        assert stats.server_errors == sum(1 for r in log if r.status >= 500)
        assert stats.retries == sum(1 for r in log if r.status != 200)
        assert stats.retry_wait >= 0.2  # at least the one Retry-After: 0.2 was honoured


async def test_clients_sharing_one_limiter_share_the_workspace_budget() -> None:
    async with BrazeCDIEmulator(window=WINDOW, limits={"job_sync_status": LIMIT}, seed=8) as emulator:
        ws = emulator.add_workspace()
        ids = [i.integration_id for i in emulator.populate(ws, 80, syncs=(21, 30), seed=9)]
        halves = (ids[::2], ids[1::2])
        shared = BrazeRateLimiter()
        clients = [
            BrazeCDIClient(
                ws.api_key,
                base_url=emulator.base_url,
                rate_limiter=shared,
                rate_limit_window=WINDOW,
                max_concurrency=16,
            )
            for _ in halves
        ]
        async with clients[0], clients[1]:
            await start_in_window(WINDOW, START_OFFSET)
            results = await asyncio.gather(
                *(c.fetch_job_sync_statuses(h) for c, h in zip(clients, halves, strict=True))
            )
        statuses = Counter(r.status for r in emulator.requests)
        assert statuses == {200: pages_needed(emulator, ids)}, statuses  # two clients, zero 429s
        assert max(per_window(emulator, WINDOW)) == LIMIT
        for got, half in zip(results, halves, strict=True):
            assert got == {i: truth(emulator, i) for i in half}
        # Both clients name the same scope, so the shared limiter kept one state for them.
        assert clients[0].rate_limit_scope("job_sync_status") == clients[1].rate_limit_scope(
            "job_sync_status"
        )
