"""The API key never appears in reprs, errors, tracebacks or logs at any level."""

from __future__ import annotations

import logging
import socket
import traceback

import pytest

from braze_cdi_async import (
    NO_RATE_LIMIT,
    AuthenticationError,
    BrazeCDIClient,
    BrazeError,
    BrazeRateLimiter,
    RetryPolicy,
    TransportError,
)
from braze_cdi_async.testing import BrazeCDIEmulator, Fault

KEY = "sk-live-9d2f7c41a8e6b3f05c1d"
FAST = RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_max=0.002)


def leaks(text: str) -> bool:
    return KEY in text or KEY[8:-4] in text


def everything_about(error: BaseException) -> str:
    return str(error) + repr(error) + "".join(traceback.format_exception(error)) + repr(vars(error))


async def test_key_absent_from_reprs_errors_tracebacks_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    async with BrazeCDIEmulator(window=1.0, seed=2) as emulator:
        ws = emulator.add_workspace(KEY)
        iid = emulator.add_integration(ws, n_syncs=25).integration_id
        limiter = BrazeRateLimiter()
        client = BrazeCDIClient(
            KEY, base_url=emulator.base_url, retry=FAST, rate_limiter=limiter, rate_limit_window=1.0
        )
        async with client:
            emulator.faults.script(Fault.server_error(502, html=True), times=1)
            emulator.faults.script(Fault.connection_reset(), times=1)
            assert len([r async for r in client.job_sync_status(iid)]) == 25
            emulator.faults.script(Fault.server_error(503), times=3)
            emulator.faults.script(Fault.truncated_json(), times=3)
            for _ in range(2):
                try:
                    await client.job_sync_status_page(iid)
                except BrazeError as exc:
                    errors.append(exc)
            emulator.faults.script(Fault.foreign_link("evil.example.com"), times=1)
            await client.job_sync_status_page(iid)
            texts = [repr(client), str(client), repr(limiter), repr(client.stats), repr(client.__dict__)]
        wrong = BrazeCDIClient(KEY + "x", base_url=emulator.base_url, retry=FAST, rate_limiter=NO_RATE_LIMIT)
        async with wrong:
            with pytest.raises(AuthenticationError) as auth:
                await wrong.job_sync_status_page(iid)
            errors.append(auth.value)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with BrazeCDIClient(KEY, base_url=f"http://127.0.0.1:{port}", retry=FAST) as down:
        with pytest.raises(TransportError) as refused:
            await down.job_sync_status_page(iid)
        errors.append(refused.value)
    with pytest.raises(ValueError) as bad:
        BrazeCDIClient(KEY, base_url="ftp://example.com")
    errors.append(bad.value)

    assert len(errors) == 5
    for error in errors:
        assert not leaks(everything_about(error)), repr(error)
    for text in texts:
        assert not leaks(text), text
    assert {r.levelno for r in caplog.records} >= {logging.DEBUG, logging.WARNING}
    for record in caplog.records:
        assert not leaks(record.getMessage()), record.getMessage()
        if record.exc_info:
            assert not leaks("".join(traceback.format_exception(*record.exc_info)))
