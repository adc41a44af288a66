"""Fan-out over many integrations against the emulator (real loopback HTTP), and the scheduler alone."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from braze_cdi_async import (
    NO_RATE_LIMIT,
    BrazeCDIClient,
    BrazeError,
    InvalidIntegrationIdError,
    NotFoundError,
    PermissionDeniedError,
    RetryPolicy,
    ServerError,
)
from braze_cdi_async._convert import converter
from braze_cdi_async.fanout import FanOut
from braze_cdi_async.models import JobSyncStatus, Page
from braze_cdi_async.testing import BrazeCDIEmulator, Fault
from braze_cdi_async.testing.timing import client_tasks

FAST_RETRY = RetryPolicy(max_attempts=6, backoff_base=0.001, backoff_max=0.01)


def client_for(emulator: BrazeCDIEmulator, api_key: str, **kwargs: Any) -> BrazeCDIClient:
    """A client for an emulator without rate limits (it sends no X-RateLimit headers)."""
    kwargs.setdefault("rate_limiter", NO_RATE_LIMIT)
    return BrazeCDIClient(api_key, base_url=emulator.base_url, **kwargs)


def truth(emulator: BrazeCDIEmulator, integration_id: str) -> list[JobSyncStatus]:
    return converter.structure(emulator.history(integration_id), list[JobSyncStatus])


def status_reply(status: int, message: str) -> Fault:
    async def handler(request: web.Request, default: Any) -> web.StreamResponse:
        return web.json_response({"message": message}, status=status)

    return Fault.custom(handler, name=f"status_{status}")


@pytest.fixture
async def emulator() -> AsyncIterator[BrazeCDIEmulator]:
    async with BrazeCDIEmulator(rate_limits=False, seed=7) as emu:
        yield emu


async def test_two_hundred_integrations_with_failures_arrive_exactly_once_in_order(
    emulator: BrazeCDIEmulator,
) -> None:
    ws = emulator.add_workspace()
    integrations = emulator.populate(ws, 200, syncs=(0, 35), seed=3)
    ids = [i.integration_id for i in integrations]
    forbidden, missing = ids[10], ids[20]
    emulator.faults.script(status_reply(403, "Access denied"), times=1000, integration_id=forbidden)
    emulator.faults.script(status_reply(404, "Integration not found"), times=1000, integration_id=missing)
    emulator.faults.random(Fault.server_error(503), p=0.15, endpoint="job_sync_status", seed=11)
    unknown = "no-such-integration"

    async with client_for(emulator, ws.api_key, retry=FAST_RETRY, seed=1) as client:
        results = await client.fetch_job_sync_statuses(
            [*ids, unknown], return_exceptions=True, max_concurrency=8
        )

    assert list(results) == [*ids, unknown]
    assert isinstance(results[forbidden], PermissionDeniedError)
    assert isinstance(results[missing], NotFoundError)
    assert isinstance(results[unknown], InvalidIntegrationIdError)
    good = [i for i in ids if i not in (forbidden, missing)]
    for integration_id in good:
        assert results[integration_id] == truth(emulator, integration_id), integration_id
    assert sum(len(truth(emulator, i)) for i in good) > 200 * 10  # a real multi-page workload
    served = [r for r in emulator.requests if r.status == 200 and r.endpoint == "job_sync_status"]
    pages = [(r.integration_id, r.cursor) for r in served]
    assert len(pages) == len(set(pages)), "a page was fetched successfully twice"
    assert any(r.status == 503 for r in emulator.requests)
    assert emulator.max_in_flight <= 8


async def test_first_error_cancels_the_rest_and_is_raised(emulator: BrazeCDIEmulator) -> None:
    ws = emulator.add_workspace()
    ids = [i.integration_id for i in emulator.populate(ws, 40, syncs=(20, 30), seed=5)]
    emulator.faults.script(status_reply(403, "Access denied"), times=1000, integration_id=ids[3])
    before = client_tasks()
    async with client_for(emulator, ws.api_key, retry=FAST_RETRY) as client:
        with pytest.raises(PermissionDeniedError):
            await client.fetch_job_sync_statuses(ids, max_concurrency=4)
        assert client_tasks() == before
    # Outstanding work was cancelled: far fewer requests than the full history would need.
    assert len(emulator.requests) < sum(-(-len(emulator.history(i)) // 10) for i in ids)


async def test_non_retryable_server_error_surfaces_after_retries(emulator: BrazeCDIEmulator) -> None:
    ws = emulator.add_workspace()
    ids = [i.integration_id for i in emulator.populate(ws, 5, syncs=(1, 5), seed=5)]
    emulator.faults.script(Fault.server_error(500), times=1000, integration_id=ids[0])
    async with client_for(
        emulator, ws.api_key, retry=RetryPolicy(max_attempts=3, backoff_base=0.001)
    ) as client:
        results = await client.fetch_job_sync_statuses(ids, return_exceptions=True)
    assert isinstance(results[ids[0]], ServerError)
    assert sum(1 for r in emulator.requests if r.integration_id == ids[0]) == 3
    for integration_id in ids[1:]:
        assert results[integration_id] == truth(emulator, integration_id)


async def test_breadth_first_latest_first(emulator: BrazeCDIEmulator) -> None:
    ws = emulator.add_workspace()
    ids = [i.integration_id for i in emulator.populate(ws, 60, syncs=(25, 35), seed=9)]
    async with client_for(emulator, ws.api_key) as client:
        results = await client.fetch_job_sync_statuses(ids, max_concurrency=4)
    log = sorted(emulator.requests, key=lambda r: r.started)
    first_pages = [r.integration_id for r in log[: len(ids)]]
    # Each worker may take one continuation while the last first pages are still in flight.
    assert len(set(first_pages)) >= len(ids) - 4
    assert all(r.cursor is None for r in log[: len(ids) - 4])
    # Within one integration, pages were requested in order (cursor skip values ascend).
    for integration_id in ids:
        cursors = [r.cursor for r in log if r.integration_id == integration_id]
        assert cursors[0] is None
        assert len(cursors) == len(set(cursors)) == -(-len(truth(emulator, integration_id)) // 10)
        assert results[integration_id] == truth(emulator, integration_id)


async def test_stream_yields_as_pages_arrive_and_matches_ground_truth(emulator: BrazeCDIEmulator) -> None:
    ws = emulator.add_workspace()
    ids = [i.integration_id for i in emulator.populate(ws, 30, syncs=(0, 35), seed=2)]
    seen: dict[str, list[JobSyncStatus]] = {i: [] for i in ids}
    async with client_for(emulator, ws.api_key) as client:
        async for integration_id, record in client.stream_job_sync_statuses(ids, max_concurrency=6):
            seen[integration_id].append(record)
    for integration_id in ids:
        assert seen[integration_id] == truth(emulator, integration_id)
    assert emulator.max_in_flight <= 6


async def test_breaking_out_of_the_stream_cancels_everything(emulator: BrazeCDIEmulator) -> None:
    ws = emulator.add_workspace()
    ids = [i.integration_id for i in emulator.populate(ws, 50, syncs=(30, 35), seed=4)]
    emulator.faults.random(Fault.latency(0.05), p=1.0)
    before = client_tasks()
    async with client_for(emulator, ws.api_key) as client:
        stream = client.stream_job_sync_statuses(ids, max_concurrency=8)
        count = 0
        async with contextlib.aclosing(stream):
            async for _ in stream:
                count += 1
                if count == 15:
                    break
        assert client_tasks() == before
        requests_at_break = len(emulator.requests)
        await asyncio.sleep(0.2)
        assert len(emulator.requests) <= requests_at_break + 8
    assert count == 15


async def test_plain_break_without_aclosing_also_cleans_up(emulator: BrazeCDIEmulator) -> None:
    ws = emulator.add_workspace()
    ids = [i.integration_id for i in emulator.populate(ws, 20, syncs=(30, 35), seed=4)]
    before = client_tasks()
    async with client_for(emulator, ws.api_key) as client:
        async for _ in client.stream_job_sync_statuses(ids, max_concurrency=4):
            break
        gc.collect()
        for _ in range(50):  # the loop's async-generator finalizer closes it on a later turn
            if client_tasks() == before:
                break
            await asyncio.sleep(0.01)
        assert client_tasks() == before


async def test_cancelling_the_consumer_leaves_nothing_running(emulator: BrazeCDIEmulator) -> None:
    ws = emulator.add_workspace()
    ids = [i.integration_id for i in emulator.populate(ws, 30, syncs=(30, 35), seed=4)]
    emulator.faults.random(Fault.latency(0.05), p=1.0)
    before = client_tasks()
    got = 0
    async with client_for(emulator, ws.api_key) as client:

        async def consume() -> None:
            nonlocal got
            async for _ in client.stream_job_sync_statuses(ids):
                got += 1

        task = asyncio.ensure_future(consume())
        while got < 5:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert client_tasks() == before


async def test_latest_one_request_each_and_none_without_syncs(emulator: BrazeCDIEmulator) -> None:
    ws = emulator.add_workspace()
    busy = emulator.add_integration(ws, n_syncs=25)
    idle = emulator.add_integration(ws, n_syncs=0)
    async with client_for(emulator, ws.api_key) as client:
        latest = await client.latest_job_sync_statuses([busy.integration_id, idle.integration_id])
    assert latest == {busy.integration_id: truth(emulator, busy.integration_id)[0], idle.integration_id: None}
    assert len(emulator.requests) == 2


async def test_none_means_every_integration_of_the_workspace(emulator: BrazeCDIEmulator) -> None:
    ws = emulator.add_workspace()
    ids = [i.integration_id for i in emulator.populate(ws, 23, syncs=(0, 12), seed=8)]
    progress: list[tuple[int, int]] = []
    async with client_for(emulator, ws.api_key) as client:
        latest = await client.latest_job_sync_statuses(progress=lambda d, t: progress.append((d, t)))
    assert set(latest) == set(ids)
    for integration_id in ids:
        history = truth(emulator, integration_id)
        assert latest[integration_id] == (history[0] if history else None)
    assert [r.endpoint for r in emulator.requests].count("list_integrations") == 3
    assert progress == [(n, 23) for n in range(1, 24)]


async def test_duplicates_are_fetched_once_and_invalid_ids_fail_before_any_request(
    emulator: BrazeCDIEmulator,
) -> None:
    ws = emulator.add_workspace()
    a, b = (i.integration_id for i in emulator.populate(ws, 2, syncs=(3, 3), seed=1))
    async with client_for(emulator, ws.api_key) as client:
        results = await client.fetch_job_sync_statuses([a, b, a, a])
        assert list(results) == [a, b]
        assert len(emulator.requests) == 2
        for bad in ["", "  ", "x y"]:
            with pytest.raises(ValueError, match="integration_id"):
                await client.fetch_job_sync_statuses([a, bad])
            with pytest.raises(ValueError, match="integration_id"):
                async for _ in client.stream_job_sync_statuses([bad]):
                    pass
        with pytest.raises(TypeError, match="not a single string"):
            await client.fetch_job_sync_statuses(a)
        with pytest.raises(ValueError, match="max_concurrency"):
            await client.fetch_job_sync_statuses([a], max_concurrency=0)
    assert len(emulator.requests) == 2


async def test_under_a_rate_limit_all_first_pages_come_first() -> None:
    async with BrazeCDIEmulator(window=1.0, limits={"job_sync_status": 40}, seed=1) as emulator:
        ws = emulator.add_workspace()
        ids = [i.integration_id for i in emulator.populate(ws, 30, syncs=(15, 25), seed=6)]
        async with BrazeCDIClient(
            ws.api_key, base_url=emulator.base_url, rate_limit_window=1.0, max_concurrency=10
        ) as client:
            results = await client.fetch_job_sync_statuses(ids)
    log = sorted(emulator.requests, key=lambda r: r.started)
    assert [r.status for r in log].count(429) == 0
    assert {r.integration_id for r in log[:20]} <= set(ids)
    assert all(r.cursor is None for r in log[:20])
    for integration_id in ids:
        assert results[integration_id] == truth(emulator, integration_id)


# -- the scheduler alone: bounded tasks whatever the number of IDs ------------------------------------


async def test_ten_thousand_ids_never_create_ten_thousand_tasks() -> None:
    in_flight = peak = 0
    peak_tasks = 0

    async def fetch(integration_id: str, cursor: str | None) -> Page[int]:
        nonlocal in_flight, peak, peak_tasks
        in_flight += 1
        peak = max(peak, in_flight)
        peak_tasks = max(peak_tasks, len(client_tasks()))
        await asyncio.sleep(0)
        in_flight -= 1
        n = int(cursor or 0)
        return Page((n,), str(n + 1) if n < 2 else None)

    ids = [f"id-{i}" for i in range(10_000)]
    got: dict[str, list[int]] = {}

    async def deliver(integration_id: str, page: Page[int]) -> None:
        got.setdefault(integration_id, []).extend(page.results)

    fan_out = FanOut(fetch, ids, concurrency=16, max_pages=None, page_limit=100, return_exceptions=False)
    await fan_out.run(deliver)
    assert peak <= 16
    assert peak_tasks <= 16 + 2
    assert len(got) == 10_000
    assert all(v == [0, 1, 2] for v in got.values())


async def test_scheduler_collects_errors_and_reports_progress() -> None:
    rng = random.Random(4)
    failing = {f"id-{i}" for i in rng.sample(range(100), 10)}

    async def fetch(integration_id: str, cursor: str | None) -> Page[int]:
        await asyncio.sleep(0)
        if integration_id in failing:
            raise BrazeError(f"boom {integration_id}")
        return Page((1,), None)

    progress: list[int] = []
    fan_out = FanOut(
        fetch,
        [f"id-{i}" for i in range(100)],
        concurrency=7,
        max_pages=None,
        page_limit=10,
        return_exceptions=True,
        progress=lambda done, total: progress.append(done),
    )

    async def deliver(integration_id: str, page: Page[int]) -> None:
        return None

    await fan_out.run(deliver)
    assert set(fan_out.errors) == failing
    assert progress == list(range(1, 101))
