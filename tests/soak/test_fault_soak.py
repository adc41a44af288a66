"""Fault soak: a fan-out over hundreds of integrations while a quarter of all requests misbehave.

Run the CI size with ``python -m pytest tests/soak``; a larger soak with
``PYTHONASYNCIODEBUG=1 python -m pytest tests/soak -s --soak-size 2000`` (figures are printed; set
``BRAZE_SOAK_REPORT=path.json`` to also write them as JSON).
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import pathlib
import time
import traceback

import aiohttp
import pytest

from braze_cdi_async import (
    NO_RATE_LIMIT,
    BrazeCDIClient,
    BrazeError,
    RetryPolicy,
    ServerError,
    TransportError,
)
from braze_cdi_async._convert import converter
from braze_cdi_async.models import JobSyncStatus
from braze_cdi_async.testing import BrazeCDIEmulator, Fault
from braze_cdi_async.testing.timing import client_tasks

pytestmark = pytest.mark.soak

SOAK_KEY = "soak-secret-key-7f3a9c1e5b2d4f60"
FAULT_RATE = 0.25
STALL_SECONDS = 2.0
CLIENT_TIMEOUT = 1.0
POLICY = RetryPolicy(max_attempts=8, backoff_base=0.01, backoff_max=0.1, max_server_wait=5)

# Weighted mix (a kind listed twice is twice as likely); stalls are rarer so CI time stays low.
FAULTS = [
    Fault.server_error(503),
    Fault.server_error(503),
    Fault.server_error(502, html=True),
    Fault.server_error(502, html=True),
    Fault.rate_limited(),
    Fault.rate_limited(retry_after=1),
    Fault.connection_reset(0.5),
    Fault.connection_reset(0.5),
    Fault.truncated_json(0.5),
    Fault.truncated_json(0.5),
    Fault.latency(STALL_SECONDS, name="stall"),
]


def truth(emulator: BrazeCDIEmulator, integration_id: str) -> list[JobSyncStatus]:
    return converter.structure(emulator.history(integration_id), list[JobSyncStatus])


def assert_key_absent(text: str, where: str) -> None:
    assert SOAK_KEY not in text, f"the API key leaked into {where}"
    assert SOAK_KEY[5:-5] not in text, f"part of the API key leaked into {where}"


async def test_fault_soak_every_record_once_in_order_nothing_leaked(
    soak_size: int, caplog: pytest.LogCaptureFixture
) -> None:
    loop = asyncio.get_running_loop()
    loop.set_debug(True)  # as under PYTHONASYNCIODEBUG=1: unawaited coroutines and leaks are reported
    caplog.set_level(logging.DEBUG)
    async with BrazeCDIEmulator(rate_limits=False, seed=20) as emulator:
        ws = emulator.add_workspace(SOAK_KEY)
        ids = [i.integration_id for i in emulator.populate(ws, soak_size, syncs=(0, 35), seed=21)]
        # Integrations whose faults outlast any retry policy.
        doomed_5xx, doomed_reset = ids[7], ids[13]
        emulator.faults.script(Fault.server_error(503), times=10**6, integration_id=doomed_5xx)
        emulator.faults.script(Fault.connection_reset(0.3), times=10**6, integration_id=doomed_reset)
        emulator.faults.random(FAULTS, p=FAULT_RATE, endpoint="job_sync_status", seed=22)

        before = client_tasks()
        started = time.monotonic()
        client = BrazeCDIClient(
            SOAK_KEY,
            base_url=emulator.base_url,
            timeout=CLIENT_TIMEOUT,
            retry=POLICY,
            rate_limiter=NO_RATE_LIMIT,
            max_concurrency=16,
            seed=23,
        )
        async with client:
            session = client._session  # the client's own session, to check it is closed afterwards
            assert isinstance(session, aiohttp.ClientSession)
            connector = session.connector
            results = await client.fetch_job_sync_statuses(ids, return_exceptions=True)
            assert client_tasks() == before
        wall = time.monotonic() - started
        assert session.closed
        assert connector is not None and connector.closed
        assert client_tasks() == before

    # Every record of every integration exactly once, in order; only the doomed ones failed, typed.
    assert list(results) == ids
    assert isinstance(results[doomed_5xx], ServerError)
    assert isinstance(results[doomed_reset], TransportError)
    failed = {i: r for i, r in results.items() if isinstance(r, BaseException)}
    assert set(failed) == {doomed_5xx, doomed_reset}, {i: repr(e) for i, e in failed.items()}
    records = 0
    for integration_id in ids:
        if integration_id not in failed:
            assert results[integration_id] == truth(emulator, integration_id), integration_id
            records += len(truth(emulator, integration_id))
    assert records > soak_size * 10  # a real multi-page workload

    # Every fault kind was really injected, at about the configured rate.
    injected = collections.Counter(r.fault for r in emulator.requests if r.fault is not None)
    for fault in FAULTS:
        assert injected[fault.name] > 0, fault.name
    random_faults = sum(n for name, n in injected.items() if name in {f.name for f in FAULTS})
    background = [r for r in emulator.requests if r.integration_id not in (doomed_5xx, doomed_reset)]
    assert 0.18 < random_faults / len(background) < 0.32

    # The key appears nowhere: logs at every level, errors' str/repr, formatted tracebacks.
    assert any(r.levelno == logging.DEBUG for r in caplog.records)
    for record in caplog.records:
        assert_key_absent(record.getMessage(), f"log record {record.name}")
        if record.exc_info:
            assert_key_absent("".join(traceback.format_exception(*record.exc_info)), "a logged traceback")
    for error in failed.values():
        assert isinstance(error, BrazeError)
        assert_key_absent(str(error) + repr(error), "an error message")
        assert_key_absent("".join(traceback.format_exception(error)), "a formatted traceback")
    assert_key_absent(repr(client) + str(client), "the client's repr")
    assert not [r for r in caplog.records if r.name == "asyncio" and r.levelno >= logging.ERROR]

    figures = {
        "integrations": soak_size,
        "records": records,
        "requests": len(emulator.requests),
        "fault_rate": FAULT_RATE,
        "faults_injected": dict(sorted(injected.items())),
        "retries": client.stats.retries,
        "integrations_failed": len(failed),
        "wall_seconds": round(wall, 2),
    }
    print("\nsoak figures:", json.dumps(figures, indent=2))
    report = os.environ.get("BRAZE_SOAK_REPORT")
    if report:
        text = json.dumps(figures, indent=2) + "\n"
        await asyncio.to_thread(pathlib.Path(report).write_text, text, encoding="utf-8")
