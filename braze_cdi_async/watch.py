"""Watching integrations for new and finished syncs, and triggering a sync then waiting for its outcome."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from .errors import (
    AuthenticationError,
    BrazeError,
    ClientClosedError,
    ConfigurationError,
    InvalidIntegrationIdError,
    NotFoundError,
    PermissionDeniedError,
    SyncInProgressError,
)
from .fanout import unique_ids
from .links import check_integration_id
from .models import JobSyncStatus
from .ratelimit import DEFAULT_WINDOW, DOCUMENTED_LIMITS

if TYPE_CHECKING:
    from .client import BrazeCDIClient

__all__ = ["SyncWaitTimeoutError", "default_interval", "SyncTracker", "watch", "trigger_and_wait"]

logger = logging.getLogger(__name__)

#: Errors that polling again will not cure: they end a watch or a wait.
FATAL_ERRORS: tuple[type[BrazeError], ...] = (
    AuthenticationError,
    PermissionDeniedError,
    ClientClosedError,
    ConfigurationError,
)
#: Errors that mean one integration is gone: a watch drops it and goes on with the others.
GONE_ERRORS: tuple[type[BrazeError], ...] = (InvalidIntegrationIdError, NotFoundError)
#: Longest pause after repeated transient errors.
MAX_BACKOFF = 60.0
IF_RUNNING = ("raise", "wait")


class SyncWaitTimeoutError(BrazeError, TimeoutError):
    """``trigger_and_wait`` gave up before the sync finished."""

    def __init__(self, integration_id: str, timeout: float, last: JobSyncStatus | None) -> None:
        self.integration_id = integration_id
        self.timeout = timeout
        self.last = last
        seen = f"it is still {last.job_status}" if last is not None else "it has not appeared in the history"
        super().__init__(
            f"the sync of integration {integration_id!r} did not finish within {timeout:g}s ({seen})"
        )


def default_interval(
    n_integrations: int, *, window: float = DEFAULT_WINDOW, limit: int | None = None
) -> float:
    """Seconds between two polls of the same integration: half the job-status budget, at least 1 s."""
    if limit is None:
        limit = DOCUMENTED_LIMITS["job_sync_status"]
    return max(1.0, 2.0 * window * max(1, n_integrations) / limit)


class SyncTracker:
    """What one integration's watcher has seen (its latest first page): decides which syncs to emit."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[datetime, bool] | None = None  # sync_start_time -> finished, for the last page

    def update(
        self, results: Iterable[JobSyncStatus], *, include_existing: bool = False
    ) -> list[JobSyncStatus]:
        """Record one poll's first page (newest first); return the syncs to emit, oldest first."""
        page = list(results)
        previous = self._seen
        self._seen = {}
        for sync in page:
            self._seen.setdefault(sync.sync_start_time, sync.is_finished)
        if previous is None:
            return page[:1] if include_existing else []
        cutoff = min(previous) if previous else None
        out: list[JobSyncStatus] = []
        emitted: set[datetime] = set()
        for sync in reversed(page):
            start = sync.sync_start_time
            if start in emitted:
                continue
            if start in previous:
                fresh = sync.is_finished and not previous[start]
            else:
                # A sync older than everything seen before fell off the page and back: not new.
                fresh = cutoff is None or start >= cutoff
            if fresh:
                emitted.add(start)
                out.append(sync)
        return out


def _scope_budget(client: BrazeCDIClient) -> tuple[float, int]:
    scope = client.rate_limit_scope("job_sync_status")
    return scope.window, scope.limit


def _check_positive(name: str, value: object, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value < float("inf")):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def watch(
    client: BrazeCDIClient,
    integration_ids: Iterable[str] | None = None,
    *,
    interval: float | None = None,
    include_existing: bool = False,
) -> AsyncGenerator[tuple[str, JobSyncStatus], None]:
    """Poll integrations one at a time, evenly spaced, and yield ``(id, sync)`` for new and finished syncs.

    ``interval`` is the time between two polls of the same integration (default: ``default_interval``).
    ``integration_ids=None`` watches the integrations listed when the watch starts. With
    ``include_existing`` the newest sync of each integration is yielded on the first poll.
    """
    _check_positive("interval", interval, allow_none=True)
    ids = None if integration_ids is None else unique_ids(integration_ids)
    return _watch(client, ids, interval, include_existing)


async def _watch(
    client: BrazeCDIClient, ids: list[str] | None, interval: float | None, include_existing: bool
) -> AsyncGenerator[tuple[str, JobSyncStatus], None]:
    clock = client.clock
    if ids is None:
        ids = unique_ids([integration.integration_id async for integration in client.integrations()])
    trackers = {integration_id: SyncTracker() for integration_id in ids}
    failures = 0
    slot = clock.monotonic()
    while trackers:
        if interval is None:
            window, limit = _scope_budget(client)
            period = default_interval(len(trackers), window=window, limit=limit)
        else:
            period = interval
        spacing = period / len(trackers)
        for integration_id in list(trackers):
            delay = slot - clock.monotonic()
            if delay > 0:
                await clock.sleep(delay)
            slot = max(slot, clock.monotonic()) + spacing
            try:
                page = await client.job_sync_status_page(integration_id)
            except FATAL_ERRORS:
                raise
            except GONE_ERRORS as exc:
                logger.error("integration %s is no longer readable, not watching it: %s", integration_id, exc)
                del trackers[integration_id]
                continue
            except BrazeError as exc:
                failures += 1
                pause = min(MAX_BACKOFF, spacing * 2 ** min(failures - 1, 16))
                logger.warning(
                    "polling integration %s failed (%s); retrying in %.1fs", integration_id, exc, pause
                )
                slot = max(slot, clock.monotonic() + pause)
                continue
            failures = 0
            for sync in trackers[integration_id].update(page.results, include_existing=include_existing):
                yield integration_id, sync
    logger.error("no readable integration left to watch")


async def trigger_and_wait(
    client: BrazeCDIClient,
    integration_id: str,
    *,
    timeout: float = 3600.0,
    poll_interval: float = 30.0,
    if_running: str = "raise",
) -> JobSyncStatus:
    """Trigger a sync and return it once finished; raise ``SyncWaitTimeoutError`` after ``timeout``.

    The sync this call started is the one whose ``sync_start_time`` was not listed just before the trigger.
    If a sync is already running, ``if_running="raise"`` raises ``SyncInProgressError``; ``"wait"`` waits
    for that one and returns it.
    """
    check_integration_id(integration_id)
    _check_positive("timeout", timeout)
    _check_positive("poll_interval", poll_interval)
    if if_running not in IF_RUNNING:
        raise ValueError(f"if_running must be 'raise' or 'wait', got {if_running!r}")
    clock = client.clock
    deadline = clock.monotonic() + timeout
    before = await client.job_sync_status_page(integration_id)
    known = {sync.sync_start_time for sync in before.results}
    target: datetime | None = None
    try:
        await client.trigger_sync(integration_id)
        logger.info("triggered a sync of integration %s", integration_id)
    except SyncInProgressError:
        if if_running == "raise":
            raise
        now = await client.job_sync_status_page(integration_id)
        running = next((s for s in now.results if not s.is_finished), None)
        if running is None and now.results:
            return now.results[0]  # the running sync finished in between
        target = running.sync_start_time if running is not None else None
        logger.info("a sync of integration %s is already running; waiting for it", integration_id)
    last: JobSyncStatus | None = None
    while True:
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            raise SyncWaitTimeoutError(integration_id, timeout, last)
        await clock.sleep(min(poll_interval, remaining))
        try:
            page = await client.job_sync_status_page(integration_id)
        except FATAL_ERRORS + GONE_ERRORS:
            raise
        except BrazeError as exc:
            logger.warning("polling integration %s failed (%s); trying again", integration_id, exc)
            continue
        found = _find(page.results, target, known)
        if found is not None:
            last = found
            if found.is_finished:
                return found


def _find(
    results: Iterable[JobSyncStatus], target: datetime | None, known: set[datetime]
) -> JobSyncStatus | None:
    """The awaited sync: the one started at ``target``, else the oldest one not ``known`` before."""
    found: JobSyncStatus | None = None
    for sync in results:  # newest first: the last match is the oldest new sync
        if target is not None:
            if sync.sync_start_time == target:
                return sync
        elif sync.sync_start_time not in known:
            found = sync
    return found
