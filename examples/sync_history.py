"""Print the full sync history of one CDI integration, newest first.

    python examples/sync_history.py [INTEGRATION_ID]

Without an ID it shows the workspace's first integration. With ``BRAZE_API_KEY`` and
``BRAZE_REST_ENDPOINT`` set it asks Braze; otherwise it starts the embedded emulator with demo data.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from _support import fmt_duration, fmt_time, open_client, run, table

from braze_cdi_async import BrazeCDIClient, Integration, JobSyncStatus

HEADERS = ("#", "STATUS", "STARTED (UTC)", "FINISHED (UTC)", "DURATION", "ROWS SYNCED", "ROWS FAILED")


def history_row(index: int, sync: JobSyncStatus) -> list[str]:
    """One table row for one sync."""
    return [
        str(index),
        str(sync.job_status),
        fmt_time(sync.sync_start_time),
        fmt_time(sync.sync_finish_time),
        fmt_duration(sync.duration),
        f"{sync.rows_synced:,}",
        f"{sync.rows_failed_with_errors:,}",
    ]


async def first_integration(client: BrazeCDIClient) -> Integration | None:
    """The workspace's first integration (one list request), or None when it has none."""
    pages = [page async for page in client.integration_pages(max_pages=1)]
    return pages[0].results[0] if pages and pages[0].results else None


async def show(integration_id: str | None) -> int:
    """Print the history of ``integration_id`` (or of the first integration); return the exit status."""
    async with open_client() as client:
        title = integration_id
        if integration_id is None:
            first = await first_integration(client)
            if first is None:
                print("No CDI integrations in this workspace.")
                return 0
            integration_id = first.integration_id
            title = f"{integration_id} ({first.integration_name})"
        syncs = [sync async for sync in client.job_sync_status(integration_id)]
    print(f"Sync history of integration {title}, newest first")
    if not syncs:
        print("No syncs yet.")
        return 0
    rows = [history_row(n, sync) for n, sync in enumerate(syncs, start=1)]
    print(table(HEADERS, rows, right=(0, 4, 5, 6)))
    counts = Counter(str(s.job_status) for s in syncs)
    rows_synced = sum(s.rows_synced for s in syncs)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    print(f"\n{len(syncs)} syncs: {summary}; {rows_synced:,} rows synced in total")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and print the history."""
    parser = argparse.ArgumentParser(description="Print one CDI integration's sync history.")
    parser.add_argument("integration_id", nargs="?", help="integration ID (default: the first one)")
    args = parser.parse_args(argv)
    return run(lambda: show(args.integration_id))


if __name__ == "__main__":
    sys.exit(main())
