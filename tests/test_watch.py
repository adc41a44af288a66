"""``watch()`` and ``trigger_and_wait()``: the pure tracker, and both against the emulator's syncs."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from braze_cdi_async import (
    NO_RATE_LIMIT,
    AuthenticationError,
    BrazeCDIClient,
    JobStatus,
    JobSyncStatus,
    RetryPolicy,
    SyncInProgressError,
)
from braze_cdi_async._convert import parse_datetime
from braze_cdi_async.testing import BrazeCDIEmulator, Fault, Workspace
from braze_cdi_async.testing.timing import client_tasks
from braze_cdi_async.watch import SyncTracker, SyncWaitTimeoutError, default_interval

T0 = datetime(2024, 1, 15, 9, 0, tzinfo=timezone.utc)


def sync(minute: int, status: str = "success") -> JobSyncStatus:
    start = T0 + timedelta(minutes=minute)
    return JobSyncStatus(
        job_status=JobStatus(status),
        sync_start_time=start,
        sync_finish_time=None if status == "running" else start + timedelta(seconds=30),
        rows_synced=10,
        rows_failed_with_errors=0,
    )


def record(minute: int, status: str = "success") -> dict[str, Any]:
    start = T0 + timedelta(minutes=minute)
    finish = None if status == "running" else (start + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "job_status": status,
        "sync_start_time": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sync_finish_time": finish,
        "last_timestamp_synced": None,
        "rows_synced": 10,
        "rows_failed_with_errors": 0,
    }


# -- the pure tracker -----------------------------------------------------------------------------


def test_tracker_skips_existing_then_emits_new_syncs_oldest_first() -> None:
    tracker = SyncTracker()
    assert tracker.update([sync(2), sync(1)]) == []
    assert tracker.update([sync(4), sync(3), sync(2), sync(1)]) == [sync(3), sync(4)]
    assert tracker.update([sync(4), sync(3), sync(2)]) == []


def test_tracker_include_existing_emits_only_the_newest_sync() -> None:
    tracker = SyncTracker()
    assert tracker.update([sync(2), sync(1)], include_existing=True) == [sync(2)]
    assert SyncTracker().update([], include_existing=True) == []


def test_tracker_emits_a_running_sync_again_when_it_finishes_once() -> None:
    tracker = SyncTracker()
    assert tracker.update([sync(5, "running"), sync(1)]) == []  # running before the watch: not emitted
    assert tracker.update([sync(5, "running"), sync(1)]) == []
    assert tracker.update([sync(5, "error"), sync(1)]) == [sync(5, "error")]
    assert tracker.update([sync(5, "error"), sync(1)]) == []
    assert tracker.update([sync(9, "running"), sync(5, "error")]) == [sync(9, "running")]
    assert tracker.update([sync(9, "success"), sync(5, "error")]) == [sync(9, "success")]


def test_tracker_ignores_an_old_sync_that_reappears_and_duplicates_in_a_page() -> None:
    tracker = SyncTracker()
    tracker.update([sync(3), sync(2)])
    # sync(1) is older than anything seen on the previous page: it fell off and came back, not new.
    assert tracker.update([sync(4), sync(4), sync(3), sync(1)]) == [sync(4)]


def test_default_interval_spreads_half_the_budget() -> None:
    assert default_interval(300, window=60.0, limit=100) == pytest.approx(360.0)
    assert default_interval(1, window=60.0, limit=100) == pytest.approx(1.2)
    assert default_interval(1, window=1.0, limit=100) == 1.0  # never below one second


def test_watch_rejects_a_bad_interval() -> None:
    client = BrazeCDIClient("k", base_url="http://127.0.0.1:1", rate_limiter=NO_RATE_LIMIT)
    with pytest.raises(ValueError, match="interval"):
        client.watch(["a"], interval=0)


# -- against the emulator -----------------------------------------------------------------------


@pytest.fixture
async def emulator() -> AsyncIterator[BrazeCDIEmulator]:
    async with BrazeCDIEmulator(window=1.0, rate_limits=False, sync_duration=0.3, seed=5) as emu:
        yield emu


@pytest.fixture
def workspace(emulator: BrazeCDIEmulator) -> Workspace:
    ws = emulator.add_workspace("watch-key")
    emulator.add_integration(ws, integration_id="alpha", history=[record(2), record(1)])
    emulator.add_integration(ws, integration_id="beta", history=[record(3, "error")])
    return ws


def client_for(emulator: BrazeCDIEmulator, key: str = "watch-key", **kwargs: Any) -> BrazeCDIClient:
    kwargs.setdefault("rate_limiter", NO_RATE_LIMIT)
    return BrazeCDIClient(key, base_url=emulator.base_url, **kwargs)


async def collect(client: BrazeCDIClient, n: int, ids: list[str] | None, **kwargs: Any) -> list[Any]:
    """The first ``n`` events of a watch as ``(id, status, start)`` tuples."""
    out: list[tuple[str, JobStatus, datetime]] = []
    watcher = client.watch(ids, **kwargs)
    async with contextlib.aclosing(watcher):  # type: ignore[type-var]
        async for integration_id, s in watcher:
            out.append((integration_id, s.job_status, s.sync_start_time))
            if len(out) >= n:
                break
    return out


async def test_watch_emits_a_triggered_sync_when_it_starts_and_when_it_finishes(
    emulator: BrazeCDIEmulator, workspace: Workspace
) -> None:
    async with client_for(emulator) as client:
        task = asyncio.ensure_future(collect(client, 2, None, interval=0.05))
        await asyncio.sleep(0.2)  # the first polls have run: existing syncs are known, not emitted
        await client.trigger_sync("alpha")
        events = await asyncio.wait_for(task, 5)
    started = parse_datetime(emulator.history("alpha")[0]["sync_start_time"])
    assert events == [("alpha", JobStatus.RUNNING, started), ("alpha", JobStatus.SUCCESS, started)]
    assert started > T0 + timedelta(minutes=2)
    assert client_tasks() == {asyncio.current_task()}


async def test_watch_include_existing_starts_with_the_latest_of_each(
    emulator: BrazeCDIEmulator, workspace: Workspace
) -> None:
    async with client_for(emulator) as client:
        events = await asyncio.wait_for(
            collect(client, 2, ["beta", "alpha"], interval=0.05, include_existing=True), 5
        )
    assert events == [
        ("beta", JobStatus.ERROR, T0 + timedelta(minutes=3)),
        ("alpha", JobStatus.SUCCESS, T0 + timedelta(minutes=2)),
    ]


async def test_watch_logs_transient_errors_backs_off_and_goes_on(
    emulator: BrazeCDIEmulator, workspace: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    async with client_for(emulator, retry=RetryPolicy(max_attempts=1)) as client:
        task = asyncio.ensure_future(collect(client, 1, ["alpha"], interval=0.05))
        await asyncio.sleep(0.15)
        emulator.faults.script(Fault.server_error(503), times=4, endpoint="job_sync_status")
        await client.trigger_sync("alpha")
        with caplog.at_level(logging.WARNING, logger="braze_cdi_async.watch"):
            events = await asyncio.wait_for(task, 5)
    started = parse_datetime(emulator.history("alpha")[0]["sync_start_time"])
    assert [(i, start) for i, _, start in events] == [("alpha", started)]
    failures = [r for r in caplog.records if "polling integration alpha failed" in r.getMessage()]
    assert len(failures) == 4
    served = [r for r in emulator.requests if r.endpoint == "job_sync_status" and r.fault is not None]
    gaps = [b.started - a.started for a, b in itertools.pairwise(served)]
    assert gaps[2] > gaps[0] * 2  # the pause doubles after each consecutive failure


async def test_watch_raises_on_a_rejected_key(emulator: BrazeCDIEmulator, workspace: Workspace) -> None:
    async with client_for(emulator, key="wrong-key") as client:
        with pytest.raises(AuthenticationError):
            await asyncio.wait_for(collect(client, 1, ["alpha"], interval=0.05), 5)


async def test_cancelling_the_consumer_stops_the_watch_cleanly(
    emulator: BrazeCDIEmulator, workspace: Workspace
) -> None:
    async with client_for(emulator) as client:
        task = asyncio.ensure_future(collect(client, 1, ["alpha"], interval=0.05))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        polled = len(emulator.requests)
        await asyncio.sleep(0.15)
        assert len(emulator.requests) == polled  # nothing polls any more
        assert client_tasks() == {asyncio.current_task()}


async def test_trigger_and_wait_returns_the_sync_it_started(
    emulator: BrazeCDIEmulator, workspace: Workspace
) -> None:
    async with client_for(emulator) as client:
        result = await asyncio.wait_for(client.trigger_and_wait("alpha", timeout=5, poll_interval=0.05), 5)
    head = emulator.history("alpha")[0]
    assert result.job_status is JobStatus.SUCCESS
    assert result.sync_start_time.strftime("%Y-%m-%dT%H:%M:%SZ") == head["sync_start_time"]
    assert result.sync_start_time not in {T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)}
    triggers = [r for r in emulator.requests if r.endpoint == "trigger_sync"]
    assert len(triggers) == 1


async def test_trigger_and_wait_when_a_sync_is_running_raises_or_waits(
    emulator: BrazeCDIEmulator, workspace: Workspace
) -> None:
    async with client_for(emulator) as client:
        await client.trigger_sync("beta")
        with pytest.raises(SyncInProgressError):
            await client.trigger_and_wait("beta", timeout=5, poll_interval=0.05)
        running_start = emulator.history("beta")[0]["sync_start_time"]
        result = await asyncio.wait_for(
            client.trigger_and_wait("beta", timeout=5, poll_interval=0.05, if_running="wait"), 5
        )
    assert result.job_status is JobStatus.SUCCESS
    assert result.sync_start_time.strftime("%Y-%m-%dT%H:%M:%SZ") == running_start
    assert len(emulator.history("beta")) == 2  # no second sync was started


async def test_trigger_and_wait_times_out_with_the_last_status(
    emulator: BrazeCDIEmulator, workspace: Workspace
) -> None:
    emulator.add_integration(workspace, integration_id="stuck", history=[record(7, "running")])
    async with client_for(emulator) as client:
        with pytest.raises(SyncWaitTimeoutError) as info:
            await client.trigger_and_wait("stuck", timeout=0.3, poll_interval=0.05, if_running="wait")
    assert info.value.integration_id == "stuck"
    assert info.value.last is not None
    assert info.value.last.sync_start_time == T0 + timedelta(minutes=7)
    assert isinstance(info.value, TimeoutError)


async def test_trigger_and_wait_validates_its_arguments(emulator: BrazeCDIEmulator) -> None:
    async with client_for(emulator) as client:
        with pytest.raises(ValueError, match="if_running"):
            await client.trigger_and_wait("alpha", if_running="ignore")
        with pytest.raises(ValueError, match="timeout"):
            await client.trigger_and_wait("alpha", timeout=0)
    assert emulator.requests == []
