"""Hostile or broken server responses: each is stopped with a typed error, never a crash or a hang."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from braze_cdi_async import (
    NO_RATE_LIMIT,
    BrazeCDIClient,
    BrazeError,
    BrazeRateLimiter,
    DecodeError,
    PaginationError,
    RetryPolicy,
    TransportError,
)
from braze_cdi_async._convert import converter
from braze_cdi_async.models import JobSyncStatus
from braze_cdi_async.testing import BrazeCDIEmulator, Fault
from braze_cdi_async.testing.emulator import encode_cursor

ONCE = RetryPolicy(max_attempts=1)
FAST = RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_max=0.01)
RECORD = {
    "job_status": "success",
    "sync_start_time": "2024-05-01T10:00:00Z",
    "sync_finish_time": "2024-05-01T10:05:00Z",
    "last_timestamp_synced": "2024-05-01T09:59:00Z",
    "rows_synced": 10,
    "rows_failed_with_errors": 0,
}
Handler = Callable[[web.Request, Any], Awaitable[web.StreamResponse]]


@pytest.fixture
async def emulator() -> AsyncIterator[BrazeCDIEmulator]:
    async with BrazeCDIEmulator(rate_limits=False, seed=5) as emu:
        yield emu


def setup(emulator: BrazeCDIEmulator, n_syncs: int = 25) -> tuple[str, str]:
    ws = emulator.add_workspace()
    return ws.api_key, emulator.add_integration(ws, n_syncs=n_syncs).integration_id


def client(emulator: BrazeCDIEmulator, key: str, **kwargs: Any) -> BrazeCDIClient:
    kwargs.setdefault("rate_limiter", NO_RATE_LIMIT)
    kwargs.setdefault("retry", ONCE)
    return BrazeCDIClient(key, base_url=emulator.base_url, **kwargs)


def serve(handler: Handler) -> Fault:
    return Fault.custom(handler, name="hostile")


def json_body(payload: Any) -> Fault:
    async def handler(request: web.Request, default: Any) -> web.StreamResponse:
        return web.Response(body=json.dumps(payload).encode(), content_type="application/json")

    return serve(handler)


async def collect(c: BrazeCDIClient, integration_id: str, **kwargs: Any) -> list[JobSyncStatus]:
    return [r async for r in c.job_sync_status(integration_id, **kwargs)]


async def test_next_link_to_another_host_is_never_contacted(emulator: BrazeCDIEmulator) -> None:
    seen: list[dict[str, str]] = []

    async def other(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"results": [], "message": "success"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", other)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        key, iid = setup(emulator, 35)
        emulator.faults.random(Fault.foreign_link(f"127.0.0.1:{port}"), p=1.0)
        async with client(emulator, key) as c:
            got = await collect(c, iid)
    finally:
        await runner.cleanup()
    assert seen == []  # no request at all, so no Authorization header either
    assert got == converter.structure(emulator.history(iid), list[JobSyncStatus])
    assert [r.cursor for r in emulator.requests] == [
        None,
        encode_cursor(10),
        encode_cursor(20),
        encode_cursor(30),
    ]


async def test_a_repeating_cursor_stops_with_pagination_error(emulator: BrazeCDIEmulator) -> None:
    key, iid = setup(emulator)
    emulator.faults.random(Fault.repeating_cursor(), p=1.0, match=lambda info: info.cursor is not None)
    async with client(emulator, key) as c:
        with pytest.raises(PaginationError, match="repeated cursor"):
            await asyncio.wait_for(collect(c, iid), 5)
    assert [r.cursor for r in emulator.requests] == [None, encode_cursor(10)]


def endless() -> Fault:
    async def handler(request: web.Request, default: Any) -> web.StreamResponse:
        n = int(request.query.get("cursor", "0")) + 1
        path = request.path
        body = json.dumps({"results": [RECORD], "message": "success"}).encode()
        link = f'<{path}?cursor={n}>; rel="next"'
        return web.Response(body=body, content_type="application/json", headers={"Link": link})

    return serve(handler)


async def test_an_endless_chain_of_pages_is_bounded(emulator: BrazeCDIEmulator) -> None:
    key, iid = setup(emulator)
    emulator.faults.random(endless(), p=1.0)
    async with client(emulator, key, page_limit=40) as c:
        assert len(await collect(c, iid, max_pages=5)) == 5
        with pytest.raises(PaginationError, match="page_limit=40"):
            await asyncio.wait_for(collect(c, iid), 5)
        with pytest.raises(PaginationError, match="page_limit=40"):
            await asyncio.wait_for(c.fetch_job_sync_statuses([iid]), 5)
    assert len(emulator.requests) == 5 + 40 + 40


FIFTY_MB = 50 * 1024 * 1024


async def test_a_50_mb_body_with_content_length_is_refused_unread(emulator: BrazeCDIEmulator) -> None:
    async def handler(request: web.Request, default: Any) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.content_length = FIFTY_MB
        await resp.prepare(request)
        try:
            for _ in range(FIFTY_MB // 65536):
                await resp.write(b" " * 65536)
        except ConnectionError:
            pass
        return resp

    key, iid = setup(emulator)
    emulator.faults.random(serve(handler), p=1.0)
    async with client(emulator, key) as c:
        with pytest.raises(TransportError, match="max_response_bytes"):
            await asyncio.wait_for(c.job_sync_status_page(iid), 10)


async def test_a_50_mb_chunked_body_without_length_stops_at_the_limit(emulator: BrazeCDIEmulator) -> None:
    written = 0

    async def handler(request: web.Request, default: Any) -> web.StreamResponse:
        nonlocal written
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            while written < FIFTY_MB:
                await resp.write(b" " * 65536)
                written += 65536
        except ConnectionError:
            pass
        return resp

    key, iid = setup(emulator)
    emulator.faults.random(serve(handler), p=1.0)
    async with client(emulator, key, max_response_bytes=1024 * 1024) as c:
        with pytest.raises(TransportError, match="max_response_bytes"):
            await asyncio.wait_for(c.job_sync_status_page(iid), 10)
    await asyncio.sleep(0.05)
    assert written < FIFTY_MB  # the client stopped reading and hung up


async def test_a_body_that_never_ends_is_stopped_by_the_timeout(emulator: BrazeCDIEmulator) -> None:
    async def handler(request: web.Request, default: Any) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            await resp.write(b'{"results": [')
            while True:
                await resp.write(b" ")
                await asyncio.sleep(0.02)
        except ConnectionError:
            pass
        return resp

    key, iid = setup(emulator)
    emulator.faults.random(serve(handler), p=1.0)
    async with client(emulator, key, timeout=0.5) as c:
        with pytest.raises(TransportError, match="timed out"):
            await asyncio.wait_for(c.job_sync_status_page(iid), 5)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param(b"[" * 100_000 + b"]" * 100_000, BrazeError, id="deeply-nested-list"),
        pytest.param(
            b'{"results": ' + b'{"a":' * 50_000 + b"1" + b"}" * 50_001, BrazeError, id="deeply-nested"
        ),
        pytest.param(b"[1, 2, 3]", DecodeError, id="list"),
        pytest.param(b'"success"', DecodeError, id="string"),
        pytest.param(b"42", DecodeError, id="number"),
        pytest.param(b"null", DecodeError, id="null"),
        pytest.param(b'{"results": {"0": {}}}', DecodeError, id="results-object"),
        pytest.param(b'{"results": "[]"}', DecodeError, id="results-string"),
        pytest.param(b'{"results": null}', DecodeError, id="results-null"),
        pytest.param(b'{"message": "success"}', DecodeError, id="results-missing"),
        pytest.param(b'{"results": [1, 2]}', DecodeError, id="results-of-numbers"),
        pytest.param(b'{"results": [{"job_status": "success", "x": "\xff\xfe"}]}', BrazeError, id="bad-utf8"),
        pytest.param(b"\xc3\x28\xa0\xa1", BrazeError, id="invalid-utf8-only"),
    ],
)
async def test_malformed_bodies_raise_typed_errors(
    emulator: BrazeCDIEmulator, body: bytes, error: type
) -> None:
    async def handler(request: web.Request, default: Any) -> web.StreamResponse:
        return web.Response(body=body, content_type="application/json")

    key, iid = setup(emulator)
    emulator.faults.random(serve(handler), p=1.0)
    async with client(emulator, key) as c:
        with pytest.raises(error):
            await asyncio.wait_for(c.job_sync_status_page(iid), 5)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("job_status", 3),
        ("sync_start_time", 1714557600),
        ("last_timestamp_synced", 1714557600.5),
        ("rows_synced", "10"),
        ("rows_failed_with_errors", "0"),
        ("rows_synced", 1.5),
        ("rows_synced", True),
        ("job_status", ["success"]),
        ("sync_start_time", {"t": 1}),
    ],
)
async def test_wrong_types_raise_decode_error_naming_the_field(
    emulator: BrazeCDIEmulator, field: str, value: Any
) -> None:
    key, iid = setup(emulator)
    emulator.faults.random(json_body({"results": [{**RECORD, field: value}]}), p=1.0)
    async with client(emulator, key) as c:
        with pytest.raises(DecodeError, match=field):
            await c.job_sync_status_page(iid)


async def test_null_in_every_field_is_a_decode_error(emulator: BrazeCDIEmulator) -> None:
    key, iid = setup(emulator)
    emulator.faults.random(json_body({"results": [dict.fromkeys(RECORD)]}), p=1.0)
    async with client(emulator, key) as c:
        with pytest.raises(DecodeError, match="job_status|sync_start_time"):
            await c.job_sync_status_page(iid)


async def test_null_in_each_required_field_is_a_decode_error(emulator: BrazeCDIEmulator) -> None:
    key, iid = setup(emulator)
    for field in ("job_status", "sync_start_time", "rows_synced", "rows_failed_with_errors"):
        emulator.faults.clear()
        emulator.faults.random(json_body({"results": [{**RECORD, field: None}]}), p=1.0)
        async with client(emulator, key) as c:
            with pytest.raises(DecodeError, match=field):
                await c.job_sync_status_page(iid)


JUNK = [
    "-5",
    "-1e9",
    "1e308",
    "99999999999999999999999",
    "abc",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "",
    "0x10",
    "1,5",
]


@pytest.mark.parametrize("junk", JUNK)
async def test_junk_rate_limit_headers_never_crash_or_stall_the_limiter(
    emulator: BrazeCDIEmulator, junk: str
) -> None:
    async def handler(request: web.Request, default: Any) -> web.StreamResponse:
        resp: web.StreamResponse = await default()
        for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
            resp.headers[name] = junk
        return resp

    key, iid = setup(emulator, 25)
    emulator.faults.random(serve(handler), p=1.0)
    async with client(emulator, key, rate_limiter=BrazeRateLimiter(), rate_limit_window=1.0) as c:
        for _ in range(2):
            got = await asyncio.wait_for(collect(c, iid), 5)
            assert got == converter.structure(emulator.history(iid), list[JobSyncStatus])


#: Longest wait a limiter may take from one response's headers (the documented 60 s window, twice).
MAX_HEADER_WAIT = 120.0


@pytest.mark.parametrize(
    "headers",
    [
        {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "99999999999"},
        {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1e308"},
        {"X-RateLimit-Limit": "0", "X-RateLimit-Remaining": "-3", "X-RateLimit-Reset": "-1"},
        {"X-RateLimit-Limit": "-100", "X-RateLimit-Remaining": "999999999999", "X-RateLimit-Reset": "NaN"},
    ],
    ids=["reset-far-future", "reset-huge", "negative", "mixed"],
)
async def test_junk_rate_limit_combinations_never_imply_an_endless_wait(
    emulator: BrazeCDIEmulator, headers: dict[str, str]
) -> None:
    async def handler(request: web.Request, default: Any) -> web.StreamResponse:
        resp: web.StreamResponse = await default()
        resp.headers.update(headers)
        return resp

    key, iid = setup(emulator, 25)
    emulator.faults.random(serve(handler), p=1.0)
    limiter = BrazeRateLimiter()
    async with client(emulator, key, rate_limiter=limiter, rate_limit_window=1.0) as c:
        page = await asyncio.wait_for(c.job_sync_status_page(iid), 5)
        scope = c.rate_limit_scope("job_sync_status")  # the scope the client spends from
        state = limiter.snapshot(scope)
    assert list(page.results) == converter.structure(emulator.history(iid), list[JobSyncStatus])[:10]
    if state.reset is not None:
        assert state.reset - time.time() <= MAX_HEADER_WAIT + 1.0, state
