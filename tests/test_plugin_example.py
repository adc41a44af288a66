"""The example from docs/testing-your-code.md: testing your own code with the braze_cdi_emulator fixture."""

from __future__ import annotations

from braze_cdi_async import BrazeCDIClient, JobSyncStatus
from braze_cdi_async.testing import BrazeCDIEmulator, Fault


# --- your code ---------------------------------------------------------------------------------------
async def failing_integrations(client: BrazeCDIClient) -> set[str]:
    """IDs of the integrations whose latest sync failed."""
    latest = await client.latest_job_sync_statuses()
    return {iid for iid, sync in latest.items() if isinstance(sync, JobSyncStatus) and sync.is_failure}


# --- your tests --------------------------------------------------------------------------------------
def latest_failures_in(emulator: BrazeCDIEmulator) -> set[str]:
    """Ground truth from the emulator (not from the code under test)."""
    assert emulator.demo_workspace is not None
    ids = [i.integration_id for i in emulator.integrations(emulator.demo_workspace)]
    return {i for i in ids if (h := emulator.history(i)) and h[0]["job_status"] in ("error", "config_error")}


async def test_failing_integrations(braze_cdi_emulator: BrazeCDIEmulator, braze_cdi_demo_key: str) -> None:
    # Arrange: one more integration whose newest sync is an error.
    workspace = braze_cdi_emulator.demo_workspace
    assert workspace is not None
    broken = braze_cdi_emulator.add_integration(workspace, name="Broken", n_syncs=5, profile="healthy")
    history = braze_cdi_emulator.history(broken.integration_id)
    history[0] = {**history[0], "job_status": "error", "rows_synced": 0}
    braze_cdi_emulator.add_integration(workspace, integration_id="broken-too", history=history)

    async with BrazeCDIClient(braze_cdi_demo_key, base_url=braze_cdi_emulator.base_url) as client:
        failing = await failing_integrations(client)

    assert "broken-too" in failing
    assert failing == latest_failures_in(braze_cdi_emulator)
    assert all(r.status == 200 for r in braze_cdi_emulator.requests)


async def test_failing_integrations_survives_a_server_error(
    braze_cdi_emulator: BrazeCDIEmulator, braze_cdi_demo_key: str
) -> None:
    braze_cdi_emulator.faults.script(Fault.server_error(503), endpoint="job_sync_status", times=1)

    async with BrazeCDIClient(braze_cdi_demo_key, base_url=braze_cdi_emulator.base_url) as client:
        failing = await failing_integrations(client)

    statuses = [r.status for r in braze_cdi_emulator.requests]
    assert statuses.count(503) == 1  # the injected failure happened...
    assert client.stats.retries == 1  # ...and was retried
    assert failing == latest_failures_in(braze_cdi_emulator) != set()
