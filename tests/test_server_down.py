"""Server down: the retry budget bounds the load on a failing server, errors surface fast, and it recovers."""

from __future__ import annotations

import time

from braze_cdi_async import NO_RATE_LIMIT, BrazeCDIClient, RetryPolicy, ServerError
from braze_cdi_async._convert import converter
from braze_cdi_async.models import JobSyncStatus
from braze_cdi_async.retry import RetryBudget
from braze_cdi_async.testing import BrazeCDIEmulator

POLICY = RetryPolicy(max_attempts=6, backoff_base=0.01, backoff_max=0.05)
#: Errors must surface within this many seconds of wall time when every request fails.
SURFACE_WITHIN = 5.0


def budget_retries() -> int:
    """Retries a fresh default budget allows when nothing succeeds (drained by 5xx errors)."""
    budget, n = RetryBudget(), 0
    while budget.try_acquire(ServerError(503, "down")):
        n += 1
    return n


async def test_outage_is_bounded_by_the_retry_budget_and_the_client_recovers() -> None:
    async with BrazeCDIEmulator(rate_limits=False, seed=3) as emulator:
        ws = emulator.add_workspace()
        ids = [i.integration_id for i in emulator.populate(ws, 60, syncs=(1, 25), seed=4)]
        async with BrazeCDIClient(
            ws.api_key, base_url=emulator.base_url, retry=POLICY, rate_limiter=NO_RATE_LIMIT, timeout=2.0
        ) as client:
            started = time.monotonic()
            with emulator.faults.outage():
                down = await client.fetch_job_sync_statuses(ids, return_exceptions=True)
            elapsed = time.monotonic() - started
            sent = len(emulator.requests)
            bound = len(ids) + budget_retries()  # one first attempt each, plus what the budget allows
            print(
                f"\noutage: {sent} requests for {len(ids)} integrations (bound {bound},"
                f" {len(ids) * POLICY.max_attempts} without a budget); errors after {elapsed:.2f}s"
            )
            assert all(isinstance(v, ServerError) for v in down.values())
            assert sent <= bound < len(ids) * POLICY.max_attempts
            assert elapsed < SURFACE_WITHIN

            emulator.reset_log()
            back = await client.fetch_job_sync_statuses(ids)
        for integration_id in ids:
            truth = converter.structure(emulator.history(integration_id), list[JobSyncStatus])
            assert back[integration_id] == truth
        assert all(r.status == 200 for r in emulator.requests)
