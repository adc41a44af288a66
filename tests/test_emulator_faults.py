"""Fault injection in the emulator: what the client sees, and what the request log records."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from braze_cdi_async.testing import DEMO_API_KEY, BrazeCDIEmulator, Fault, RequestInfo, ResponseFactory
from braze_cdi_async.testing.clock import FakeClock

AUTH = {"Authorization": f"Bearer {DEMO_API_KEY}"}
PATH = "/cdi/integrations/big/job_sync_status"


@pytest.fixture
async def emu() -> AsyncIterator[BrazeCDIEmulator]:
    async with BrazeCDIEmulator(seed=3, clock=FakeClock(1_200.0)) as e:
        ws = e.add_workspace(DEMO_API_KEY)
        e.add_integration(ws, integration_id="big", n_syncs=25)
        e.add_integration(ws, integration_id="other", n_syncs=5)
        yield e


async def get(
    session: aiohttp.ClientSession, emu: BrazeCDIEmulator, path: str = PATH
) -> tuple[int, dict[str, str], bytes]:
    async with session.get(f"{emu.base_url}{path}", headers=AUTH) as resp:
        return resp.status, dict(resp.headers), await resp.read()


# ----- status faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [500, 502, 503, 504])
async def test_scripted_server_error_then_normal(
    emu: BrazeCDIEmulator, session: aiohttp.ClientSession, code: int
) -> None:
    emu.faults.script(Fault.server_error(code), times=2)
    first = await get(session, emu)
    second = await get(session, emu)
    third = await get(session, emu)
    assert [first[0], second[0], third[0]] == [code, code, 200]
    assert "message" in json.loads(first[2])
    assert [r.fault for r in emu.requests] == [f"server_error_{code}", f"server_error_{code}", None]
    assert [r.status for r in emu.requests] == [code, code, 200]


async def test_html_error_page(emu: BrazeCDIEmulator, session: aiohttp.ClientSession) -> None:
    emu.faults.script(Fault.server_error(502, html=True))
    status, headers, body = await get(session, emu)
    assert status == 502
    assert headers["Content-Type"].startswith("text/html")
    assert body.startswith(b"<html>")
    assert emu.requests[-1].fault == "html_502"


async def test_server_errors_count_against_the_budget_but_injected_429_does_not(
    session: aiohttp.ClientSession,
) -> None:
    async with BrazeCDIEmulator(clock=FakeClock(1_200.0), limits={"job_sync_status": 5}) as emu:
        ws = emu.add_workspace(DEMO_API_KEY)
        emu.add_integration(ws, integration_id="big", n_syncs=1)
        emu.faults.script(Fault.server_error(503))
        _, headers, _ = await get(session, emu)
        assert headers["X-RateLimit-Remaining"] == "4"
        emu.faults.script(Fault.rate_limited())
        status, headers, _ = await get(session, emu)
        assert (status, headers["X-RateLimit-Remaining"]) == (429, "0")
        status, headers, _ = await get(session, emu)
        assert (status, headers["X-RateLimit-Remaining"]) == (200, "3")


@pytest.mark.parametrize(
    ("retry_after", "header"),
    [
        (None, None),
        (7, "7"),
        (1.5, "1.5"),
        ("Wed, 21 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 2015 07:28:00 GMT"),
    ],
)
async def test_injected_rate_limited(
    emu: BrazeCDIEmulator,
    session: aiohttp.ClientSession,
    retry_after: float | str | None,
    header: str | None,
) -> None:
    emu.faults.script(Fault.rate_limited(retry_after))
    status, headers, body = await get(session, emu)
    assert status == 429
    assert json.loads(body) == {"message": "Rate limit exceeded"}
    assert headers.get("Retry-After") == header
    assert headers["X-RateLimit-Reset"] == "1260"
    assert emu.requests[-1].fault == ("rate_limited" if header is None else "rate_limited_retry_after")


# ----- transport and body faults ----------------------------------------------------------------------


async def test_latency_delays_then_answers(emu: BrazeCDIEmulator, session: aiohttp.ClientSession) -> None:
    emu.faults.script(Fault.latency(0.2))
    started = time.monotonic()
    status, _, body = await get(session, emu)
    assert time.monotonic() - started >= 0.2
    assert status == 200
    assert json.loads(body)["results"] == emu.history("big")[:10]
    assert emu.requests[-1].fault == "latency"


async def test_concurrent_slow_requests_raise_max_in_flight(
    emu: BrazeCDIEmulator, session: aiohttp.ClientSession
) -> None:
    emu.faults.random(Fault.latency(0.1), p=1.0)
    results = await asyncio.gather(*(get(session, emu) for _ in range(4)))
    assert [r[0] for r in results] == [200] * 4
    assert emu.max_in_flight == 4
    assert emu.in_flight == 0
    emu.reset_log()
    assert (emu.requests, emu.max_in_flight) == ([], 0)


async def test_connection_reset_mid_response(emu: BrazeCDIEmulator, session: aiohttp.ClientSession) -> None:
    emu.faults.script(Fault.connection_reset(0.5))
    with pytest.raises(aiohttp.ClientError):
        await get(session, emu)
    assert emu.requests[-1].fault == "connection_reset"
    assert emu.requests[-1].status == 200
    status, _, _ = await get(session, emu)
    assert status == 200


async def test_connection_reset_sends_headers_and_partial_body(emu: BrazeCDIEmulator) -> None:
    emu.faults.script(Fault.connection_reset(0.5))
    reader, writer = await asyncio.open_connection("127.0.0.1", emu.port)
    writer.write(f"GET {PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {DEMO_API_KEY}\r\n\r\n".encode())
    await writer.drain()
    received = b""
    try:
        while chunk := await reader.read(65536):
            received += chunk
    except ConnectionResetError:
        pass
    writer.close()
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    length = int(
        next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1]
    )
    assert 0 < len(body) < length


async def test_truncated_json(emu: BrazeCDIEmulator, session: aiohttp.ClientSession) -> None:
    emu.faults.script(Fault.truncated_json())
    async with session.get(f"{emu.base_url}{PATH}", headers=AUTH) as resp:
        body = await resp.read()
        assert resp.status == 200
        assert resp.content_length == len(body)
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    assert body.startswith(b'{"results":[')
    assert emu.requests[-1].fault == "truncated_json"


async def test_non_json_200(emu: BrazeCDIEmulator, session: aiohttp.ClientSession) -> None:
    emu.faults.script(Fault.non_json())
    status, headers, body = await get(session, emu)
    assert status == 200
    assert headers["Content-Type"] == "text/html"
    assert b"<html>" in body
    assert "X-RateLimit-Remaining" in headers


# ----- pagination faults ------------------------------------------------------------------------------


async def test_repeating_cursor(emu: BrazeCDIEmulator, session: aiohttp.ClientSession) -> None:
    emu.faults.script(Fault.repeating_cursor())
    async with session.get(f"{emu.base_url}{PATH}?cursor=c2tpcDoxMA%3D%3D", headers=AUTH) as resp:
        link = resp.headers["Link"]
    assert link == (f'<{PATH}?cursor=c2tpcDow>; rel="prev",<{PATH}?cursor=c2tpcDoxMA%3D%3D>; rel="next"')
    assert emu.requests[-1].fault == "repeating_cursor"


async def test_absolute_link(emu: BrazeCDIEmulator, session: aiohttp.ClientSession) -> None:
    emu.faults.script(Fault.absolute_link())
    _, headers, _ = await get(session, emu)
    assert headers["Link"] == f'<{emu.base_url}{PATH}?cursor=c2tpcDoxMA%3D%3D>; rel="next"'


async def test_documented_missing_slash_link(emu: BrazeCDIEmulator, session: aiohttp.ClientSession) -> None:
    emu.faults.script(Fault.missing_slash_link())
    async with session.get(f"{emu.base_url}{PATH}?cursor=c2tpcDoxMA%3D%3D", headers=AUTH) as resp:
        link = resp.headers["Link"]
    assert link == (
        f'<{PATH}?cursor=c2tpcDow>; rel="prev",'
        '</cdi/integrationsbig/job_sync_status?cursor=c2tpcDoyMA%3D%3D>; rel="next"'
    )


async def test_foreign_host_link(emu: BrazeCDIEmulator, session: aiohttp.ClientSession) -> None:
    emu.faults.script(Fault.foreign_link("attacker.example:8080"))
    _, headers, _ = await get(session, emu)
    assert headers["Link"] == f'<http://attacker.example:8080{PATH}?cursor=c2tpcDoxMA%3D%3D>; rel="next"'
    assert emu.requests[-1].fault == "foreign_link"


async def test_link_faults_apply_to_list_integrations(
    emu: BrazeCDIEmulator, session: aiohttp.ClientSession
) -> None:
    emu.populate(emu.workspaces()[0], 12)
    emu.faults.script(Fault.absolute_link(), endpoint="list_integrations")
    _, headers, _ = await get(session, emu, "/cdi/integrations")
    assert headers["Link"] == f'<{emu.base_url}/cdi/integrations?cursor=c2tpcDoxMA%3D%3D>; rel="next"'


# ----- job status faults ------------------------------------------------------------------------------


async def test_capitalised_status(emu: BrazeCDIEmulator, session: aiohttp.ClientSession) -> None:
    emu.faults.script(Fault.capitalised_status())
    _, _, body = await get(session, emu)
    statuses = [r["job_status"] for r in json.loads(body)["results"]]
    truth = [r["job_status"] for r in emu.history("big")[:10]]
    assert statuses == [s[0].upper() + s[1:] for s in truth]
    assert "Success" in statuses
    _, _, body = await get(session, emu)
    assert [r["job_status"] for r in json.loads(body)["results"]] == truth


async def test_unknown_status(emu: BrazeCDIEmulator, session: aiohttp.ClientSession) -> None:
    emu.faults.script(Fault.unknown_status("canceled"), endpoint="list_integrations")
    _, _, body = await get(session, emu, "/cdi/integrations")
    assert {r["last_job_status"] for r in json.loads(body)["results"]} == {"canceled"}


# ----- custom responses -------------------------------------------------------------------------------


async def test_custom_hostile_response(emu: BrazeCDIEmulator, session: aiohttp.ClientSession) -> None:
    async def hostile(request: web.Request, default: ResponseFactory) -> web.StreamResponse:
        return web.Response(
            status=200,
            body=b'{"results": "\xff\xfe", "message": 3}',
            headers={"X-RateLimit-Remaining": "lots", "X-RateLimit-Reset": "soon", "Content-Type": _JSON},
        )

    emu.faults.script(Fault.custom(hostile, name="junk"))
    status, headers, body = await get(session, emu)
    assert (status, headers["X-RateLimit-Remaining"]) == (200, "lots")
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert emu.requests[-1].fault == "junk"


async def test_custom_can_wrap_the_default_response(
    emu: BrazeCDIEmulator, session: aiohttp.ClientSession
) -> None:
    async def wrap(request: web.Request, default: ResponseFactory) -> web.StreamResponse:
        resp = await default()
        resp.headers["X-RateLimit-Reset"] = "not-a-number"
        return resp

    emu.faults.script(Fault.custom(wrap))
    status, headers, body = await get(session, emu)
    assert status == 200
    assert headers["X-RateLimit-Reset"] == "not-a-number"
    assert headers["X-RateLimit-Remaining"] == "99"
    assert json.loads(body)["results"] == emu.history("big")[:10]


async def test_custom_never_ending_body(emu: BrazeCDIEmulator, session: aiohttp.ClientSession) -> None:
    async def endless(request: web.Request, default: ResponseFactory) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": _JSON})
        await resp.prepare(request)
        await resp.write(b'{"results": [')
        while True:
            await resp.write(b'{"job_status": "success"},' * 100)
            await asyncio.sleep(0)

    emu.faults.script(Fault.custom(endless, name="endless"))
    async with session.get(f"{emu.base_url}{PATH}", headers=AUTH) as resp:
        chunk = await resp.content.read(10_000)
        assert len(chunk) > 0
    for _ in range(100):
        if emu.requests:
            break
        await asyncio.sleep(0.01)
    assert emu.requests[-1].fault == "endless"
    assert (await get(session, emu))[0] == 200


_JSON = "application/json"


# ----- selection: outage, filters, probability --------------------------------------------------------


async def test_outage_switch(emu: BrazeCDIEmulator, session: aiohttp.ClientSession) -> None:
    with emu.faults.outage():
        assert (await get(session, emu))[0] == 503
        assert (await get(session, emu, "/cdi/integrations"))[0] == 503
    assert (await get(session, emu))[0] == 200
    emu.faults.down = Fault.connection_reset()
    with pytest.raises(aiohttp.ClientError):
        await get(session, emu)
    emu.faults.down = None
    assert (await get(session, emu))[0] == 200
    assert [r.fault for r in emu.requests] == [
        "server_error_503",
        "server_error_503",
        None,
        "connection_reset",
        None,
    ]


async def test_scripted_faults_match_endpoint_id_and_predicate(
    emu: BrazeCDIEmulator, session: aiohttp.ClientSession
) -> None:
    emu.faults.script(Fault.server_error(500), integration_id="other")
    emu.faults.script(Fault.server_error(502), endpoint="list_integrations")

    def has_cursor(info: RequestInfo) -> bool:
        return info.cursor is not None

    emu.faults.script(Fault.server_error(504), match=has_cursor)
    assert (await get(session, emu))[0] == 200
    assert (await get(session, emu, "/cdi/integrations/other/job_sync_status"))[0] == 500
    assert (await get(session, emu, "/cdi/integrations"))[0] == 502
    assert (await get(session, emu, f"{PATH}?cursor=c2tpcDoxMA%3D%3D"))[0] == 504
    assert emu.faults.rules == []
    with pytest.raises(ValueError, match="unknown endpoint"):
        emu.faults.script(Fault.server_error(), endpoint="bogus")


def _faulted_indices(seed: int) -> list[int]:
    emu = BrazeCDIEmulator(seed=seed)
    rule = emu.faults.random([Fault.server_error(503), Fault.latency(0.0)], p=0.3)
    info = RequestInfo("GET", PATH, {}, None, None, "job_sync_status", "big", None, {})
    picks = [emu.faults.pick(info) for _ in range(1000)]
    assert rule.hits == sum(p is not None for p in picks)
    assert {p.name for p in picks if p is not None} == {"server_error_503", "latency"}
    return [i for i, p in enumerate(picks) if p is not None]


def test_probabilistic_faults_are_seeded() -> None:
    first = _faulted_indices(11)
    assert first == _faulted_indices(11)
    assert first != _faulted_indices(12)
    assert 200 < len(first) < 400


async def test_probabilistic_faults_over_http(emu: BrazeCDIEmulator, session: aiohttp.ClientSession) -> None:
    emu.faults.random(Fault.server_error(503), p=0.5, seed=1, endpoint="job_sync_status")
    statuses = [(await get(session, emu))[0] for _ in range(40)]
    assert set(statuses) == {200, 503}
    assert [r.fault is not None for r in emu.requests] == [s == 503 for s in statuses]
    emu.faults.clear()
    assert (await get(session, emu))[0] == 200


# ----- request log ------------------------------------------------------------------------------------


async def test_request_log_records_the_wire_view(
    emu: BrazeCDIEmulator, session: aiohttp.ClientSession
) -> None:
    clock: Any = emu.clock.__self__  # the emulator keeps the FakeClock's bound time()
    clock.now = 5_000.0
    from yarl import URL

    url = URL(f"{emu.base_url}/cdi/integrations/bi%67/job_sync_status?cursor=c2tpcDoxMA%3D%3D", encoded=True)
    async with session.get(url, headers={**AUTH, "X-Trace": "t1"}) as resp:
        assert resp.status == 200
    record = emu.requests[-1]
    assert record.method == "GET"
    assert record.path == "/cdi/integrations/bi%67/job_sync_status"
    assert record.integration_id == "big"
    assert record.query == {"cursor": "c2tpcDoxMA=="}
    assert record.cursor == "c2tpcDoxMA=="
    assert record.api_key == DEMO_API_KEY
    assert record.workspace_id == emu.workspaces()[0].id
    assert record.endpoint == "job_sync_status"
    assert record.status == 200
    assert record.fault is None
    assert record.headers["X-Trace"] == "t1"
    assert record.started == record.finished == 5_000.0
