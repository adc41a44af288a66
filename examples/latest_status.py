"""Print the latest sync of every CDI integration in the workspace as a table.

    python examples/latest_status.py

With ``BRAZE_API_KEY`` and ``BRAZE_REST_ENDPOINT`` set it asks Braze; otherwise it starts the embedded
emulator with demo data. One list request, then one job-status request per integration.
"""

from __future__ import annotations

import sys
from collections import Counter

from _support import fmt_time, open_client, run, table

from braze_cdi_async import BrazeError, JobSyncStatus

HEADERS = (
    "INTEGRATION ID",
    "NAME",
    "STATUS",
    "STARTED (UTC)",
    "FINISHED (UTC)",
    "ROWS SYNCED",
    "ROWS FAILED",
)


def status_row(integration_id: str, name: str, latest: JobSyncStatus | BrazeError | None) -> list[str]:
    """One table row: the integration and its latest sync (or why there is none)."""
    if latest is None:
        return [integration_id, name, "never synced", "-", "-", "-", "-"]
    if isinstance(latest, BrazeError):
        return [integration_id, name, f"unavailable ({type(latest).__name__})", "-", "-", "-", "-"]
    return [
        integration_id,
        name,
        str(latest.job_status),
        fmt_time(latest.sync_start_time),
        fmt_time(latest.sync_finish_time),
        f"{latest.rows_synced:,}",
        f"{latest.rows_failed_with_errors:,}",
    ]


async def main() -> int:
    """List the integrations, fetch the newest sync of each, print the table and a summary."""
    async with open_client() as client:
        names = {i.integration_id: i.integration_name or "" async for i in client.integrations()}
        # The IDs we just listed (passing None would list the integrations a second time).
        latest = await client.latest_job_sync_statuses(names, return_exceptions=True)
    rows = [status_row(iid, names[iid], sync) for iid, sync in latest.items()]
    print(table(HEADERS, rows, right=(5, 6)))
    counts = Counter(row[2] for row in rows)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    print(f"\n{len(rows)} integrations: {summary}" if rows else "No CDI integrations in this workspace.")
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
