"""The emulator over real loopback HTTP: pagination, errors, rate limits, sync lifecycle, generator."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aiohttp
import pytest
from yarl import URL

from braze_cdi_async.testing import DEMO_API_KEY, BrazeCDIEmulator, EmulatedIntegration
from braze_cdi_async.testing.clock import FakeClock

# base64("skip:N"), written out by hand (the first is Braze's documented example cursor)
SKIP_0 = "c2tpcDow"
SKIP_10 = "c2tpcDoxMA=="
SKIP_20 = "c2tpcDoyMA=="
SKIP_30 = "c2tpcDozMA=="


Response = tuple[int, "dict[str, str]", Any]


async def call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    key: str | None = DEMO_API_KEY,
    params: dict[str, str] | None = None,
) -> Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    async with session.request(method, url, headers=headers, params=params) as resp:
        text = await resp.text()
        return resp.status, dict(resp.headers), json.loads(text)


@pytest.fixture
async def emu() -> AsyncIterator[BrazeCDIEmulator]:
    async with BrazeCDIEmulator(seed=7, clock=FakeClock(1_200.0)) as e:
        yield e


def status_url(emu: BrazeCDIEmulator, integration_id: str) -> str:
    return f"{emu.base_url}/cdi/integrations/{integration_id}/job_sync_status"


def cursor_of(link: str, rel: str) -> str:
    """Pull the raw (still percent-encoded) cursor of ``rel`` out of a Link header."""
    for part in link.split(","):
        url, _, params = part.partition(";")
        if params.strip() == f'rel="{rel}"':
            return url.strip().strip("<>").split("cursor=", 1)[1]
    raise AssertionError(f"no {rel} in {link!r}")


# ----- pagination -------------------------------------------------------------------------------------


async def test_job_sync_status_pages_follow_link_and_match_ground_truth(
    emu: BrazeCDIEmulator, session: aiohttp.ClientSession
) -> None:
    ws = emu.add_workspace(DEMO_API_KEY)
    integ = emu.add_integration(ws, integration_id="int-35", n_syncs=35)
    path = "/cdi/integrations/int-35/job_sync_status"

    status, headers, body = await call(session, "GET", status_url(emu, "int-35"))
    assert status == 200
    assert body["message"] == "success"
    assert len(body["results"]) == 10
    assert headers["Link"] == f'<{path}?cursor=c2tpcDoxMA%3D%3D>; rel="next"'

    collected = list(body["results"])
    links = [headers["Link"]]
    while 'rel="next"' in links[-1]:
        nxt = cursor_of(links[-1], "next")
        async with session.get(
            f"{emu.base_url}{path}?cursor={nxt}", headers={"Authorization": f"Bearer {DEMO_API_KEY}"}
        ) as resp:
            assert resp.status == 200
            collected.extend((await resp.json())["results"])
            links.append(resp.headers["Link"])

    assert collected == emu.history(integ.integration_id)
    assert len(collected) == 35
    assert links[1] == (f'<{path}?cursor=c2tpcDow>; rel="prev",<{path}?cursor=c2tpcDoyMA%3D%3D>; rel="next"')
    assert links[3] == f'<{path}?cursor=c2tpcDoyMA%3D%3D>; rel="prev"'
    assert len(links) == 4


async def test_cursor_query_is_decoded_before_use(
    emu: BrazeCDIEmulator, session: aiohttp.ClientSession
) -> None:
    ws = emu.add_workspace(DEMO_API_KEY)
    emu.add_integration(ws, integration_id="abc", n_syncs=25)
    status, _, body = await call(session, "GET", status_url(emu, "abc"), params={"cursor": SKIP_20})
    assert status == 200
    assert body["results"] == emu.history("abc")[20:25]
    assert emu.requests[-1].cursor == SKIP_20
    assert emu.requests[-1].query == {"cursor": SKIP_20}


@pytest.mark.parametrize("n", [0, 1, 10])
async def test_no_link_header_when_everything_fits_on_one_page(
    emu: BrazeCDIEmulator, session: aiohttp.ClientSession, n: int
) -> None:
    ws = emu.add_workspace(DEMO_API_KEY)
    emu.add_integration(ws, integration_id="small", n_syncs=n)
    status, headers, body = await call(session, "GET", status_url(emu, "small"))
    assert status == 200
    assert "Link" not in headers
    assert len(body["results"]) == n
    assert body["results"] == emu.history("small")


async def test_empty_history_with_first_cursor_is_empty_page(
    emu: BrazeCDIEmulator, session: aiohttp.ClientSession
) -> None:
    ws = emu.add_workspace(DEMO_API_KEY)
    emu.add_integration(ws, integration_id="empty")
    status, headers, body = await call(session, "GET", status_url(emu, "empty"), params={"cursor": SKIP_0})
    assert (status, body) == (200, {"results": [], "message": "success"})
    assert "Link" not in headers


async def test_list_integrations_pages_and_records(
    emu: BrazeCDIEmulator, session: aiohttp.ClientSession
) -> None:
    ws = emu.add_workspace(DEMO_API_KEY)
    created = emu.populate(ws, 25, seed=3)
    url = f"{emu.base_url}/cdi/integrations"

    status, headers, first = await call(session, "GET", url)
    assert status == 200
    assert headers["Link"] == '</cdi/integrations?cursor=c2tpcDoxMA%3D%3D>; rel="next"'
    _, headers2, second = await call(session, "GET", url, params={"cursor": SKIP_10})
    assert headers2["Link"] == (
        '</cdi/integrations?cursor=c2tpcDow>; rel="prev",'
        '</cdi/integrations?cursor=c2tpcDoyMA%3D%3D>; rel="next"'
    )
    _, headers3, third = await call(session, "GET", url, params={"cursor": SKIP_20})
    assert headers3["Link"] == '</cdi/integrations?cursor=c2tpcDoxMA%3D%3D>; rel="prev"'

    records = first["results"] + second["results"] + third["results"]
    assert [r["integration_id"] for r in records] == [i.integration_id for i in created]
    expected_keys = {
        "integration_id",
        "app_group_id",
        "integration_name",
        "integration_type",
        "integration_status",
        "contact_emails",
        "last_updated_at",
        "warehouse_type",
        "last_job_start_time",
        "last_job_status",
        "next_scheduled_run",
    }
    for record in records:
        assert set(record) == expected_keys
        assert record["app_group_id"] == ws.id
        assert record["last_updated_at"].endswith("Z")
        history = emu.history(record["integration_id"])
        if history:
            assert record["last_job_status"] == history[0]["job_status"]
            assert record["last_job_start_time"] == history[0]["sync_start_time"]
        else:
            assert record["last_job_status"] is None
            assert record["last_job_start_time"] is None


async def test_page_size_is_configurable(session: aiohttp.ClientSession) -> None:
    async with BrazeCDIEmulator(page_size=3, clock=FakeClock(1_200.0)) as emu:
        ws = emu.add_workspace(DEMO_API_KEY)
        emu.add_integration(ws, integration_id="x", n_syncs=7)
        _, headers, body = await call(session, "GET", status_url(emu, "x"))
        assert len(body["results"]) == 3
        assert cursor_of(headers["Link"], "next") == "c2tpcDoz"  # skip:3


# ----- errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64!",
        "c2tpcDotMQ==",  # skip:-1
        "c2tpcDphYmM=",  # skip:abc
        "Zm9vOjE=",  # foo:1
        SKIP_30,  # beyond the end of 25 records
        "",
    ],
)
async def test_bad_cursor_is_400_invalid_cursor(
    emu: BrazeCDIEmulator, session: aiohttp.ClientSession, cursor: str
) -> None:
    ws = emu.add_workspace(DEMO_API_KEY)
    emu.add_integration(ws, integration_id="abc", n_syncs=25)
    status, headers, body = await call(session, "GET", status_url(emu, "abc"), params={"cursor": cursor})
    assert (status, body) == (400, {"message": "Invalid cursor"})
    assert headers["X-RateLimit-Limit"] == "100"


async def test_unencoded_plus_in_cursor_is_read_as_space(
    emu: BrazeCDIEmulator, session: aiohttp.ClientSession
) -> None:
    ws = emu.add_workspace(DEMO_API_KEY)
    emu.add_integration(ws, integration_id="abc", n_syncs=25)
    async with session.get(
        URL(f"{status_url(emu, 'abc')}?cursor=a+b", encoded=True),
        headers={"Authorization": f"Bearer {DEMO_API_KEY}"},
    ) as resp:
        assert resp.status == 400
    assert emu.requests[-1].cursor == "a b"


@pytest.mark.parametrize("raw_id", ["unknown-id", "bad%2Fid", "sp%20ace", "caf%C3%A9", ""])
async def test_unknown_or_malformed_id_is_400_on_job_sync_status(
    emu: BrazeCDIEmulator, session: aiohttp.ClientSession, raw_id: str
) -> None:
    ws = emu.add_workspace(DEMO_API_KEY)
    emu.add_integration(ws, integration_id="known", n_syncs=2)
    url = URL(f"{emu.base_url}/cdi/integrations/{raw_id}/job_sync_status", encoded=True)
    async with session.get(url, headers={"Authorization": f"Bearer {DEMO_API_KEY}"}) as resp:
        assert resp.status == 400
        assert await resp.json() == {"message": "Invalid integration ID"}
    record = emu.requests[-1]
    assert record.path == f"/cdi/integrations/{raw_id}/job_sync_status"
    assert record.endpoint == "job_sync_status"


async def test_trigger_unknown_is_404_and_malformed_is_400(
    emu: BrazeCDIEmulator, session: aiohttp.ClientSession
) -> None:
    emu.add_workspace(DEMO_API_KEY)
    status, _, body = await call(session, "POST", f"{emu.base_url}/cdi/integrations/nope/sync")
    assert (status, body) == (404, {"message": "Integration not found"})
    url = URL(f"{emu.base_url}/cdi/integrations/a%2Fb/sync", encoded=True)
    async with session.post(url, headers={"Authorization": f"Bearer {DEMO_API_KEY}"}) as resp:
        assert resp.status == 400
        assert await resp.json() == {"message": "Invalid integration ID"}
    assert emu.requests[-1].integration_id == "a/b"


async def test_integration_of_another_workspace_is_unknown(
    emu: BrazeCDIEmulator, session: aiohttp.ClientSession
) -> None:
    emu.add_workspace(DEMO_API_KEY)
    other = emu.add_workspace("other-key")
    emu.add_integration(other, integration_id="theirs", n_syncs=3)
    status, _, _ = await call(session, "GET", status_url(emu, "theirs"))
    assert status == 400
    status, _, _ = await call(session, "GET", status_url(emu, "theirs"), key="other-key")
    assert status == 200


@pytest.mark.parametrize("key", [None, "wrong-key-123", f'"{DEMO_API_KEY}"'])
async def test_missing_or_unknown_key_is_401_without_echo(
    emu: BrazeCDIEmulator, session: aiohttp.ClientSession, key: str | None
) -> None:
    emu.add_workspace(DEMO_API_KEY)
    status, headers, body = await call(session, "GET", f"{emu.base_url}/cdi/integrations", key=key)
    assert status == 401
    assert body["message"] == "Invalid API key"
    assert "wrong-key" not in json.dumps(body)
    assert "X-RateLimit-Limit" not in headers
    assert emu.requests[-1].api_key == key
    assert emu.requests[-1].workspace_id is None


@pytest.mark.parametrize(
    ("method", "suffix", "permission"),
    [
        ("GET", "", "cdi.integration_list"),
        ("GET", "/known/job_sync_status", "cdi.integration_job_status"),
        ("POST", "/known/sync", "cdi.integration_sync"),
    ],
)
async def test_key_without_the_permission_is_403(
    emu: BrazeCDIEmulator, session: aiohttp.ClientSession, method: str, suffix: str, permission: str
) -> None:
    ws = emu.add_workspace(DEMO_API_KEY)
    emu.add_integration(ws, integration_id="known", n_syncs=1)
    all_but = {"cdi.integration_list", "cdi.integration_job_status", "cdi.integration_sync"} - {permission}
    emu.add_api_key(ws, "scoped", all_but)
    emu.add_api_key(ws, "only-this", [permission])
    url = f"{emu.base_url}/cdi/integrations{suffix}"
    status, headers, body = await call(session, method, url, key="scoped")
    assert status == 403
    assert permission in body["errors"][0]
    assert "X-RateLimit-Remaining" in headers
    status, _, _ = await call(session, method, url, key="only-this")
    assert status in (200, 202)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/cdi/unknown"),
        ("GET", "/users/track"),
        ("GET", "/cdi/integrations/x/sync"),
        ("POST", "/cdi/integrations"),
        ("GET", "/cdi/integrations/x/job_sync_status/extra"),
    ],
)
async def test_unknown_path_is_404_json(
    emu: BrazeCDIEmulator, session: aiohttp.ClientSession, method: str, path: str
) -> None:
    emu.add_workspace(DEMO_API_KEY)
    status, _, body = await call(session, method, f"{emu.base_url}{path}")
    assert status == 404
    assert isinstance(body["message"], str)
    assert emu.requests[-1].endpoint is None


# ----- rate limits ------------------------------------------------------------------------------------


async def test_rate_limit_headers_and_window_rollover(session: aiohttp.ClientSession) -> None:
    clock = FakeClock(1_230.0)
    async with BrazeCDIEmulator(clock=clock, limits={"job_sync_status": 3}) as emu:
        ws = emu.add_workspace(DEMO_API_KEY)
        emu.add_integration(ws, integration_id="i", n_syncs=2)
        seen = []
        for _ in range(4):
            status, headers, body = await call(session, "GET", status_url(emu, "i"))
            seen.append((status, headers["X-RateLimit-Limit"], headers["X-RateLimit-Remaining"]))
            assert headers["X-RateLimit-Reset"] == "1260"
        assert seen == [(200, "3", "2"), (200, "3", "1"), (200, "3", "0"), (429, "3", "0")]
        assert body == {"message": "Rate limit exceeded"}
        assert "Retry-After" not in headers

        clock.now = 1_259.999
        status, headers, _ = await call(session, "GET", status_url(emu, "i"))
        assert (status, headers["X-RateLimit-Remaining"]) == (429, "0")

        clock.now = 1_260.0
        status, headers, _ = await call(session, "GET", status_url(emu, "i"))
        assert (status, headers["X-RateLimit-Remaining"], headers["X-RateLimit-Reset"]) == (200, "2", "1320")


async def test_rate_limits_are_per_workspace_and_per_endpoint(session: aiohttp.ClientSession) -> None:
    clock = FakeClock(60.0)
    async with BrazeCDIEmulator(clock=clock, limits={"job_sync_status": 2, "list_integrations": 5}) as emu:
        ws = emu.add_workspace(DEMO_API_KEY)
        emu.add_api_key(ws, "second-key-same-workspace", ["cdi.integration_job_status"])
        other = emu.add_workspace("other")
        emu.add_integration(ws, integration_id="i", n_syncs=1)
        emu.add_integration(other, integration_id="j", n_syncs=1)
        assert (await call(session, "GET", status_url(emu, "i")))[0] == 200
        assert (await call(session, "GET", status_url(emu, "i"), key="second-key-same-workspace"))[0] == 200
        status, headers, _ = await call(session, "GET", status_url(emu, "i"))
        assert (status, headers["X-RateLimit-Remaining"]) == (429, "0")
        status, headers, _ = await call(session, "GET", status_url(emu, "j"), key="other")
        assert (status, headers["X-RateLimit-Remaining"]) == (200, "1")
        status, headers, _ = await call(session, "GET", f"{emu.base_url}/cdi/integrations")
        assert (status, headers["X-RateLimit-Limit"], headers["X-RateLimit-Remaining"]) == (200, "5", "4")


async def test_fractional_window_reset_is_decimal(session: aiohttp.ClientSession) -> None:
    async with BrazeCDIEmulator(clock=FakeClock(3.2), window=1.5) as emu:
        emu.add_workspace(DEMO_API_KEY)
        _, headers, _ = await call(session, "GET", f"{emu.base_url}/cdi/integrations")
        assert headers["X-RateLimit-Reset"] == "4.5"
        assert headers["X-RateLimit-Limit"] == "50"


async def test_default_limits_match_braze_docs(session: aiohttp.ClientSession) -> None:
    async with BrazeCDIEmulator(clock=FakeClock(1_200.0)) as emu:
        ws = emu.add_workspace(DEMO_API_KEY)
        emu.add_integration(ws, integration_id="i")
        got = {}
        for method, url in [
            ("GET", f"{emu.base_url}/cdi/integrations"),
            ("GET", status_url(emu, "i")),
            ("POST", f"{emu.base_url}/cdi/integrations/i/sync"),
        ]:
            _, headers, _ = await call(session, method, url)
            got[url.rsplit("/", 1)[1]] = headers["X-RateLimit-Limit"]
        assert got == {"integrations": "50", "job_sync_status": "100", "sync": "20"}


async def test_rate_limits_disabled(session: aiohttp.ClientSession) -> None:
    async with BrazeCDIEmulator(
        clock=FakeClock(1_200.0), rate_limits=False, limits={"list_integrations": 1}
    ) as emu:
        emu.add_workspace(DEMO_API_KEY)
        for _ in range(3):
            status, headers, _ = await call(session, "GET", f"{emu.base_url}/cdi/integrations")
            assert status == 200
            assert "X-RateLimit-Limit" not in headers


async def test_fake_clock_object_is_accepted(session: aiohttp.ClientSession) -> None:
    clock = FakeClock(start=1_000_000.0)
    async with BrazeCDIEmulator(clock=clock, limits={"list_integrations": 1}) as emu:
        emu.add_workspace(DEMO_API_KEY)
        assert (await call(session, "GET", f"{emu.base_url}/cdi/integrations"))[0] == 200
        assert (await call(session, "GET", f"{emu.base_url}/cdi/integrations"))[0] == 429
        await clock.advance(60)
        status, headers, _ = await call(session, "GET", f"{emu.base_url}/cdi/integrations")
        assert (status, headers["X-RateLimit-Reset"]) == (200, "1000080")


# ----- triggered sync lifecycle ------------------------------------------------------------------------


async def test_triggered_sync_runs_then_succeeds(session: aiohttp.ClientSession) -> None:
    clock = FakeClock(1_700_000_000.0)
    async with BrazeCDIEmulator(clock=clock, sync_duration=30.0) as emu:
        ws = emu.add_workspace(DEMO_API_KEY)
        emu.add_integration(ws, integration_id="i", n_syncs=3)
        before = emu.history("i")
        trigger = f"{emu.base_url}/cdi/integrations/i/sync"

        status, _, body = await call(session, "POST", trigger)
        assert (status, body) == (202, {"message": "success"})
        _, _, page = await call(session, "GET", status_url(emu, "i"))
        head = page["results"][0]
        assert head["job_status"] == "running"
        assert head["sync_finish_time"] is None
        assert head["sync_start_time"] == "2023-11-14T22:13:20Z"
        assert page["results"][1:] == before

        status, _, body = await call(session, "POST", trigger)
        assert (status, body) == (429, {"message": "Another job is in progress"})
        _, _, listing = await call(session, "GET", f"{emu.base_url}/cdi/integrations")
        assert listing["results"][0]["last_job_status"] == "running"

        clock.now += 29.0
        assert emu.history("i")[0]["job_status"] == "running"
        clock.now += 1.0
        _, _, page = await call(session, "GET", status_url(emu, "i"))
        head = page["results"][0]
        assert head["job_status"] == "success"
        assert head["sync_finish_time"] == "2023-11-14T22:13:50Z"
        assert head["last_timestamp_synced"] == "2023-11-14T22:13:20Z"
        assert head["rows_synced"] > 0
        assert head["rows_failed_with_errors"] == 0
        assert len(page["results"]) == 4
        _, _, listing = await call(session, "GET", f"{emu.base_url}/cdi/integrations")
        assert listing["results"][0]["last_job_status"] == "success"

        status, _, _ = await call(session, "POST", trigger)
        assert status == 202


async def test_statically_running_head_blocks_trigger(
    emu: BrazeCDIEmulator, session: aiohttp.ClientSession
) -> None:
    ws = emu.add_workspace(DEMO_API_KEY)
    running = {
        "job_status": "Running",
        "sync_start_time": "2024-01-15T09:45:00Z",
        "sync_finish_time": None,
        "last_timestamp_synced": None,
        "rows_synced": 0,
        "rows_failed_with_errors": 0,
    }
    emu.add_integration(ws, integration_id="r", history=[running])
    status, _, body = await call(session, "POST", f"{emu.base_url}/cdi/integrations/r/sync")
    assert (status, body["message"]) == (429, "Another job is in progress")
    _, _, page = await call(session, "GET", status_url(emu, "r"))
    assert page["results"] == [running]


# ----- generator --------------------------------------------------------------------------------------


def _population(seed: int) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    emu = BrazeCDIEmulator(seed=seed, clock=FakeClock(1_700_000_000.0))
    ws = emu.add_workspace("k")
    created: list[EmulatedIntegration] = emu.populate(ws, 40)
    return [(emu.list_record(i.integration_id), emu.history(i.integration_id)) for i in created]


def test_populate_is_deterministic_per_seed() -> None:
    assert _population(1) == _population(1)
    assert _population(1) != _population(2)


def test_populate_is_realistic() -> None:
    population = _population(5)
    statuses = {h["job_status"] for _, hist in population for h in hist}
    assert {"success", "partial", "error"} <= statuses
    assert any(len(hist) > 10 for _, hist in population)
    assert any(not hist for _, hist in population)
    running_heads = [hist[0] for _, hist in population if hist and hist[0]["job_status"] == "running"]
    assert running_heads
    assert all(h["sync_finish_time"] is None for h in running_heads)
    for _, hist in population:
        starts = [datetime.fromisoformat(h["sync_start_time"].replace("Z", "+00:00")) for h in hist]
        assert starts == sorted(starts, reverse=True)
        for h in hist:
            assert h["sync_start_time"].endswith("Z")
            assert h["job_status"] in {"running", "success", "partial", "error", "config_error"}
            if h["job_status"] != "running":
                assert h["sync_finish_time"] >= h["sync_start_time"]
                assert h["sync_start_time"] < "2023-11-14T22:13:20Z"
            if h["job_status"] == "success":
                assert h["rows_failed_with_errors"] == 0
            if h["job_status"] == "error":
                assert h["rows_synced"] == 0
        synced = [h["last_timestamp_synced"] for h in reversed(hist) if h["last_timestamp_synced"]]
        assert synced == sorted(synced)


def test_demo_data_has_the_promised_variety() -> None:
    emu = BrazeCDIEmulator.with_demo_data(clock=FakeClock(1_700_000_000.0))
    assert emu.demo_api_key == DEMO_API_KEY
    assert emu.demo_workspace is not None
    histories = [emu.history(i.integration_id) for i in emu.integrations(emu.demo_workspace)]
    assert len(histories) == 12
    assert sum(len(h) > 10 for h in histories) >= 3
    assert sum(1 for h in histories if h and h[0]["job_status"] == "running") == 1
    assert any(h and h[0]["job_status"] == "error" for h in histories)
    assert any(not h for h in histories)
    again = BrazeCDIEmulator.with_demo_data(clock=FakeClock(1_700_000_000.0))
    assert again.demo_workspace == emu.demo_workspace
    assert [again.history(i.integration_id) for i in again.integrations(again.demo_workspace)] == histories


def test_add_integration_takes_given_history_and_fields() -> None:
    emu = BrazeCDIEmulator(clock=FakeClock(1_200.0))
    ws = emu.add_workspace()
    assert ws.api_key.startswith("emu-")
    given = [{"job_status": "success", "sync_start_time": "2024-01-15T09:45:00Z"}]
    integ = emu.add_integration(ws, integration_id="given", history=given, warehouse_type="bigquery")
    given[0]["job_status"] = "mutated after the call"
    assert emu.history("given") == [{"job_status": "success", "sync_start_time": "2024-01-15T09:45:00Z"}]
    assert emu.list_record(integ.integration_id)["warehouse_type"] == "bigquery"
    with pytest.raises(ValueError, match="already exists"):
        emu.add_integration(ws, integration_id="given")
    with pytest.raises(ValueError, match="unknown endpoint"):
        BrazeCDIEmulator(limits={"nope": 1})


async def test_base_url_requires_start() -> None:
    emu = BrazeCDIEmulator()
    with pytest.raises(RuntimeError):
        _ = emu.base_url
    async with emu:
        assert emu.base_url == f"http://127.0.0.1:{emu.port}"
    with pytest.raises(RuntimeError):
        _ = emu.base_url
