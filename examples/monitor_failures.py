"""Watch every CDI integration of the workspace and report failing syncs (error, config_error, partial).

    python examples/monitor_failures.py [--once] [--interval SECONDS]

Each pass lists the integrations and reads each one's newest page of syncs (one request per
integration, breadth-first, within Braze's rate limits). A failing sync is reported once, the first
time it is seen. ``--once`` runs a single pass and exits; otherwise it repeats every ``--interval``
seconds until Ctrl-C or SIGTERM. With ``BRAZE_API_KEY`` and ``BRAZE_REST_ENDPOINT`` set it asks Braze;
otherwise it starts the embedded emulator with demo data.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Mapping
from datetime import datetime, timezone

from _support import fmt_time, open_client, run

from braze_cdi_async import BrazeCDIClient, BrazeError, JobStatus, JobSyncStatus

#: (integration id, sync start time): the identity of one sync.
SyncKey = tuple[str, datetime]


def is_failing(sync: JobSyncStatus) -> bool:
    """True for a sync that failed (``error``, ``config_error``) or lost rows (``partial``)."""
    return sync.is_failure or sync.job_status is JobStatus.PARTIAL


def describe(integration_id: str, name: str, sync: JobSyncStatus) -> str:
    """One report line for a failing sync."""
    label = "PARTIAL" if sync.job_status is JobStatus.PARTIAL else "FAILED "
    return (
        f"{label} {integration_id}  {name!r}  status={sync.job_status}"
        f"  started={fmt_time(sync.sync_start_time)}  finished={fmt_time(sync.sync_finish_time)}"
        f"  rows_synced={sync.rows_synced}  rows_failed={sync.rows_failed_with_errors}"
    )


def new_failures(
    histories: Mapping[str, list[JobSyncStatus] | BrazeError], seen: set[SyncKey]
) -> list[tuple[str, JobSyncStatus]]:
    """Failing syncs not reported before (oldest first); records them in ``seen``."""
    found: list[tuple[str, JobSyncStatus]] = []
    for integration_id, syncs in histories.items():
        if isinstance(syncs, BrazeError):
            continue
        for sync in syncs:
            key = (integration_id, sync.sync_start_time)
            if is_failing(sync) and key not in seen:
                seen.add(key)
                found.append((integration_id, sync))
    found.sort(key=lambda item: item[1].sync_start_time)
    return found


async def check_once(client: BrazeCDIClient, seen: set[SyncKey]) -> int:
    """One pass over every integration; print new failing syncs and a summary; return how many."""
    names = {i.integration_id: i.integration_name or "" async for i in client.integrations()}
    # max_pages=1: each integration's 10 newest syncs, one request each.
    histories = await client.fetch_job_sync_statuses(names, max_pages=1, return_exceptions=True)
    found = new_failures(histories, seen)
    for integration_id, sync in found:
        print(describe(integration_id, names[integration_id], sync))
    for integration_id, error in histories.items():
        if isinstance(error, BrazeError):
            print(f"UNKNOWN {integration_id}  {names[integration_id]!r}  cannot read status: {error}")
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    print(f"[{now} UTC] checked {len(names)} integrations: {len(found)} new failing syncs", flush=True)
    return len(found)


async def watch(client: BrazeCDIClient, interval: float) -> None:
    """Run passes forever, ``interval`` seconds apart; an API error skips one pass, it does not stop."""
    seen: set[SyncKey] = set()
    while True:
        try:
            await check_once(client, seen)
        except BrazeError as exc:
            print(f"pass failed, retrying in {interval:g}s: {type(exc).__name__}: {exc}", file=sys.stderr)
        await asyncio.sleep(interval)


async def monitor(once: bool, interval: float) -> int:
    """Run one pass (``once``) or the worker loop until SIGINT/SIGTERM; return the exit status."""
    async with open_client() as client:
        if once:
            await check_once(client, set())
            return 0
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C raises KeyboardInterrupt
                loop.add_signal_handler(sig, stop.set)
        worker = asyncio.create_task(watch(client, interval), name="monitor-failures")
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({worker, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (worker, stopper):
                task.cancel()
            await asyncio.gather(worker, stopper, return_exceptions=True)
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        if not worker.cancelled() and worker.exception() is not None:
            raise worker.exception()  # type: ignore[misc]
    print("stopped", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the monitor."""
    parser = argparse.ArgumentParser(description="Report failing CDI syncs of every integration.")
    parser.add_argument("--once", action="store_true", help="run a single pass and exit")
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between passes (default 60)")
    args = parser.parse_args(argv)
    if not args.interval > 0:
        parser.error("--interval must be a positive number of seconds")
    return run(lambda: monitor(args.once, args.interval))


if __name__ == "__main__":
    sys.exit(main())
