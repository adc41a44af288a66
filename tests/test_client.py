"""Request shapes, decoding and error mapping of BrazeCDIClient, against aioresponses (no network)."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest
from aioresponses import CallbackResult, aioresponses

from braze_cdi_async import (
    AuthenticationError,
    BadRequestError,
    BrazeAPIError,
    BrazeCDIClient,
    ClientClosedError,
    ConfigurationError,
    DecodeError,
    InvalidCursorError,
    InvalidIntegrationIdError,
    JobStatus,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    SyncInProgressError,
    TransportError,
)
from braze_cdi_async.testing.clock import InstantClock

BASE = "https://rest.iad-03.braze.com"
KEY = "sk-test-0123456789abcdef"
IID = "00000000-0000-0000-0000-000000000000"
STATUS_URL = f"{BASE}/cdi/integrations/{IID}/job_sync_status"
DOC_LINK = (
    '</cdi/integrations/00000000-0000-0000-0000-000000000000/job_sync_status?cursor=c2tpcDow>; rel="prev",'
    '</cdi/integrations00000000-0000-0000-0000-000000000000/job_sync_status?cursor=c2tpcDoxMDA=>; rel="next"'
)


def sync(i: int, status: str = "success", finish: bool = True) -> dict[str, Any]:
    start = datetime(2024, 1, 15, 9, 0, tzinfo=timezone.utc) - timedelta(hours=i)
    return {
        "job_status": status,
        "sync_start_time": start.isoformat().replace("+00:00", "Z"),
        "sync_finish_time": (start + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
        if finish
        else None,
        "last_timestamp_synced": start.isoformat().replace("+00:00", "Z"),
        "rows_synced": 100 + i,
        "rows_failed_with_errors": i % 3,
    }


def ok(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"results": results, "message": "success"}


def make_client(**kwargs: Any) -> BrazeCDIClient:
    kwargs.setdefault("base_url", BASE)
    kwargs.setdefault("retry", RetryPolicy(max_attempts=1))
    kwargs.setdefault("clock", InstantClock())
    return BrazeCDIClient(KEY, **kwargs)


def sent_urls(mocked: aioresponses) -> list[str]:
    return [str(url) for (_method, url) in mocked.requests]


# -- construction -----------------------------------------------------------------------------------


def test_instance_names_map_to_rest_urls_case_insensitively() -> None:
    assert BrazeCDIClient(KEY, instance="us-03").base_url == "https://rest.iad-03.braze.com"
    assert BrazeCDIClient(KEY, instance="EU-01").base_url == "https://rest.fra-01.braze.eu"
    assert BrazeCDIClient(KEY, instance="US-10").base_url == "https://rest.us-10.braze.com"


def test_unknown_instance_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"US-09.*valid instances are: US-01.*KR-01"):
        BrazeCDIClient(KEY, instance="US-09")


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"base_url": BASE, "instance": "US-01"}],
    ids=["neither", "both"],
)
def test_exactly_one_of_base_url_and_instance(kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="exactly one of base_url= or instance="):
        BrazeCDIClient(KEY, **kwargs)


@pytest.mark.parametrize("key", ["", "   ", "\t\n"])
def test_empty_api_key_is_refused(key: str) -> None:
    with pytest.raises(ValueError, match="api_key is empty"):
        BrazeCDIClient(key, base_url=BASE)


@pytest.mark.parametrize(
    "url", ["http://rest.iad-03.braze.com", "ftp://x", "rest.iad-03.braze.com", "https://", "https://h/?q=1"]
)
def test_insecure_or_malformed_base_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError):
        BrazeCDIClient(KEY, base_url=url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8787", "http://127.8.9.1", "http://[::1]:99", "http://localhost"]
)
def test_plain_http_is_allowed_for_loopback(url: str) -> None:
    assert BrazeCDIClient(KEY, base_url=url + "/").base_url == url


def test_plain_http_elsewhere_needs_the_opt_in() -> None:
    client = BrazeCDIClient(KEY, base_url="http://proxy.internal:8080", allow_insecure_http=True)
    assert client.base_url == "http://proxy.internal:8080"


@pytest.mark.parametrize("field", ["timeout", "rate_limit_window", "connect_timeout"])
@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf")])
def test_non_positive_numbers_are_refused(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        BrazeCDIClient(KEY, base_url=BASE, **{field: value})


@pytest.mark.parametrize("field", ["max_concurrency", "page_limit", "max_response_bytes"])
@pytest.mark.parametrize("value", [0, -3, 1.5, True])
def test_non_positive_integers_are_refused(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        BrazeCDIClient(KEY, base_url=BASE, **{field: value})


def test_from_env_reads_url_or_instance() -> None:
    client = BrazeCDIClient.from_env(
        {"BRAZE_API_KEY": KEY, "BRAZE_REST_ENDPOINT": "https://rest.fra-02.braze.eu/"}
    )
    assert client.base_url == "https://rest.fra-02.braze.eu"
    client = BrazeCDIClient.from_env({"BRAZE_API_KEY": KEY, "BRAZE_REST_ENDPOINT": "au-01"})
    assert client.base_url == "https://rest.au-01.braze.com"


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"BRAZE_REST_ENDPOINT": "US-01"}, "BRAZE_API_KEY"),
        ({"BRAZE_API_KEY": KEY}, "BRAZE_REST_ENDPOINT"),
        ({}, "BRAZE_API_KEY and BRAZE_REST_ENDPOINT"),
    ],
)
def test_from_env_names_the_missing_variable(env: dict[str, str], missing: str) -> None:
    with pytest.raises(ConfigurationError, match=f"environment variable {missing}"):
        BrazeCDIClient.from_env(env)


def test_from_env_unknown_instance_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="BRAZE_REST_ENDPOINT.*unknown Braze instance 'XX-01'"):
        BrazeCDIClient.from_env({"BRAZE_API_KEY": KEY, "BRAZE_REST_ENDPOINT": "XX-01"})


def test_repr_never_shows_the_key() -> None:
    client = make_client()
    assert KEY not in repr(client)
    assert KEY not in str(client)
    assert "redacted" in repr(client)
    assert KEY not in repr(vars(client))


# -- requests -------------------------------------------------------------------------------------------


async def test_sends_auth_accept_and_user_agent_headers() -> None:
    with aioresponses() as mocked:
        mocked.get(STATUS_URL, payload=ok([sync(0)]))
        async with make_client() as client:
            records = [r async for r in client.job_sync_status(IID)]
        (call,) = mocked.requests[("GET", aiohttp.client.URL(STATUS_URL))]
    headers = call.kwargs["headers"]
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert headers["Accept"] == "application/json"
    assert re.fullmatch(r"braze-cdi-async/\d+\.\d+\.\d+\S* aiohttp/\S+ python/\S+", headers["User-Agent"])
    assert len(records) == 1


async def test_decodes_records_into_typed_attrs() -> None:
    body = ok(
        [sync(0, "running", finish=False), sync(1, "Success"), sync(2, "canceled"), sync(3, "config_error")]
    )
    with aioresponses() as mocked:
        mocked.get(STATUS_URL, payload=body)
        async with make_client() as client:
            records = [r async for r in client.job_sync_status(IID)]
    running, success, unknown, config = records
    assert running.job_status is JobStatus.RUNNING
    assert running.sync_finish_time is None
    assert running.duration is None
    assert not running.is_finished
    assert success.job_status is JobStatus.SUCCESS
    assert success.duration == timedelta(minutes=5)
    assert success.sync_start_time == datetime(2024, 1, 15, 8, 0, tzinfo=timezone.utc)
    assert success.rows_synced == 101
    assert unknown.job_status.value == "canceled"
    assert not unknown.job_status.is_known
    assert config.is_failure and not success.is_failure


async def test_one_page_without_link_header() -> None:
    with aioresponses() as mocked:
        mocked.get(STATUS_URL, payload=ok([sync(i) for i in range(7)]))
        async with make_client() as client:
            pages = [p async for p in client.job_sync_status_pages(IID)]
    assert len(pages) == 1
    assert pages[0].next_cursor is None and pages[0].prev_cursor is None
    assert [r.rows_synced for r in pages[0].results] == [100 + i for i in range(7)]


async def test_empty_results() -> None:
    with aioresponses() as mocked:
        mocked.get(STATUS_URL, payload=ok([]))
        async with make_client() as client:
            records = [r async for r in client.job_sync_status(IID)]
    assert records == []


async def test_follows_the_documented_link_header_verbatim() -> None:
    with aioresponses() as mocked:
        mocked.get(STATUS_URL, payload=ok([sync(i) for i in range(10)]), headers={"Link": DOC_LINK})
        mocked.get(f"{STATUS_URL}?cursor=c2tpcDoxMDA%3D", payload=ok([sync(10)]))
        async with make_client() as client:
            pages = [p async for p in client.job_sync_status_pages(IID)]
    assert [len(p.results) for p in pages] == [10, 1]
    assert pages[0].next_cursor == "c2tpcDoxMDA="
    assert pages[0].prev_cursor == "c2tpcDow"
    assert sent_urls(mocked) == [STATUS_URL, f"{STATUS_URL}?cursor=c2tpcDoxMDA%3D"]


async def test_lowercase_header_names_and_absolute_links() -> None:
    absolute = f'<{BASE}/cdi/integrations/{IID}/job_sync_status?cursor=YWJj%2B%2F%3D>; rel="next"'
    with aioresponses() as mocked:
        mocked.get(
            STATUS_URL, payload=ok([sync(0)]), headers={"link": absolute, "x-ratelimit-remaining": "5"}
        )
        mocked.get(f"{STATUS_URL}?cursor=YWJj%2B%2F%3D", payload=ok([sync(1)]))
        async with make_client() as client:
            records = [r async for r in client.job_sync_status(IID)]
    assert [r.rows_synced for r in records] == [100, 101]


async def test_a_link_to_another_host_is_never_followed() -> None:
    evil = '<https://evil.example.com/steal?cursor=abc>; rel="next"'
    with aioresponses() as mocked:
        mocked.get(STATUS_URL, payload=ok([sync(0)]), headers={"Link": evil})
        mocked.get(f"{STATUS_URL}?cursor=abc", payload=ok([sync(1)]))
        async with make_client() as client:
            records = [r async for r in client.job_sync_status(IID)]
    hosts = {url.split("/")[2] for url in sent_urls(mocked)}
    assert hosts == {"rest.iad-03.braze.com"}
    assert len(records) == 2


async def test_caller_cursor_is_sent_back_exactly() -> None:
    cursor = "a+b/c=="
    with aioresponses() as mocked:
        mocked.get(f"{STATUS_URL}?cursor=a%2Bb%2Fc%3D%3D", payload=ok([sync(0)]))
        async with make_client() as client:
            page = await client.job_sync_status_page(IID, cursor=cursor)
    assert len(page.results) == 1
    # aioresponses normalises the recorded URL (%2F -> /); the raw bytes are checked against the emulator.
    assert sent_urls(mocked) == [f"{STATUS_URL}?cursor=a%2Bb/c%3D%3D"]


@pytest.mark.parametrize(
    ("integration_id", "encoded"),
    [("../x", "..%2Fx"), ("a/b", "a%2Fb"), ("a?b#c", "a%3Fb%23c"), ("100%", "100%25"), ("é", "%C3%A9")],
)
async def test_integration_id_is_one_encoded_path_segment(integration_id: str, encoded: str) -> None:
    url = f"{BASE}/cdi/integrations/{encoded}/job_sync_status"
    with aioresponses() as mocked:
        mocked.get(url, payload=ok([]))
        async with make_client() as client:
            await client.job_sync_status_page(integration_id)
    assert sent_urls(mocked) == [url]


@pytest.mark.parametrize("bad", ["", " ", "a b", "x\n", "\t", ".", ".."])
async def test_invalid_integration_ids_fail_before_any_request(bad: str) -> None:
    with aioresponses() as mocked:
        async with make_client() as client:
            with pytest.raises(ValueError, match="integration_id"):
                client.job_sync_status_pages(bad)
            with pytest.raises(ValueError, match="integration_id"):
                await client.trigger_sync(bad)
        assert mocked.requests == {}


@pytest.mark.parametrize("max_pages", [0, -1, 1.5])
async def test_invalid_max_pages(max_pages: Any) -> None:
    async with make_client() as client:
        with pytest.raises(ValueError, match="max_pages"):
            client.job_sync_status_pages(IID, max_pages=max_pages)


async def test_max_pages_stops_early() -> None:
    link = f'</cdi/integrations/{IID}/job_sync_status?cursor=Mg%3D%3D>; rel="next"'
    with aioresponses() as mocked:
        mocked.get(STATUS_URL, payload=ok([sync(0)]), headers={"Link": link})
        async with make_client() as client:
            pages = [p async for p in client.job_sync_status_pages(IID, max_pages=1)]
    assert len(pages) == 1 and pages[0].next_cursor == "Mg=="
    assert len(sent_urls(mocked)) == 1


async def test_repeating_cursor_stops_with_a_clear_error() -> None:
    link = f'</cdi/integrations/{IID}/job_sync_status?cursor=bG9vcA%3D%3D>; rel="next"'
    with aioresponses() as mocked:
        mocked.get(STATUS_URL, payload=ok([sync(0)]), headers={"Link": link})
        mocked.get(
            f"{STATUS_URL}?cursor=bG9vcA%3D%3D", payload=ok([sync(1)]), headers={"Link": link}, repeat=True
        )
        got = []
        async with make_client() as client:
            with pytest.raises(PaginationError, match="repeated cursor 'bG9vcA=='"):
                async for record in client.job_sync_status(IID):
                    got.append(record.rows_synced)
    assert got == [100, 101]


async def test_page_limit_bounds_an_endless_chain_without_recursion() -> None:
    def endless(url: Any, **_: Any) -> CallbackResult:
        n = int(url.query.get("cursor", "0")) + 1
        return CallbackResult(
            payload=ok([sync(0)]),
            headers={"Link": f'</cdi/integrations/{IID}/job_sync_status?cursor={n}>; rel="next"'},
        )

    with aioresponses() as mocked:
        mocked.get(re.compile(re.escape(STATUS_URL) + r".*"), callback=endless, repeat=True)
        async with make_client(page_limit=1500) as client:
            count = 0
            with pytest.raises(
                PaginationError, match="read 1500 pages of integration .* without reaching the end"
            ):
                async for _ in client.job_sync_status_pages(IID):
                    count += 1
    assert count == 1500


# -- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message", "cls"),
    [
        (400, "Invalid cursor", InvalidCursorError),
        (400, "Invalid integration ID", InvalidIntegrationIdError),
        (400, "Something else", BadRequestError),
        (401, "Invalid API Key", AuthenticationError),
        (403, "Access Denied", PermissionDeniedError),
        (404, "Integration not found", NotFoundError),
        (429, "API rate limit exceeded", RateLimitedError),
        (429, "Another job is in progress", SyncInProgressError),
        (500, "Internal error", ServerError),
        (503, "Service unavailable", ServerError),
    ],
)
async def test_documented_errors_map_to_classes(status: int, message: str, cls: type[BrazeAPIError]) -> None:
    with aioresponses() as mocked:
        mocked.get(STATUS_URL, status=status, payload={"message": message, "errors": ["minor"]})
        async with make_client() as client:
            with pytest.raises(cls) as info:
                await client.job_sync_status_page(IID)
    assert type(info.value) is cls
    assert info.value.status == status
    assert info.value.message == message
    assert info.value.errors == ("minor",)
    assert KEY not in str(info.value)


async def test_subclass_errors_are_catchable_by_their_parents() -> None:
    with aioresponses() as mocked:
        mocked.get(f"{STATUS_URL}?cursor=bad", status=400, payload={"message": "Invalid cursor"})
        async with make_client() as client:
            with pytest.raises(BadRequestError):
                await client.job_sync_status_page(IID, cursor="bad")


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_html_error_pages_become_server_errors_with_an_excerpt(status: int) -> None:
    html = (
        f"<html><head><title>{status} Bad Gateway</title></head>"
        f"<body><h1>{status} Bad Gateway</h1></body></html>"
    )
    with aioresponses() as mocked:
        mocked.get(STATUS_URL, status=status, body=html, content_type="text/html")
        async with make_client() as client:
            with pytest.raises(ServerError) as info:
                await client.job_sync_status_page(IID)
    assert info.value.status == status
    assert info.value.message.startswith(f"{status} Bad Gateway")
    assert "<" not in info.value.message


async def test_rate_limited_error_carries_retry_after() -> None:
    with aioresponses() as mocked:
        mocked.get(STATUS_URL, status=429, payload={"message": "Rate limited"}, headers={"Retry-After": "7"})
        async with make_client() as client:
            with pytest.raises(RateLimitedError) as info:
                await client.job_sync_status_page(IID)
    assert info.value.retry_after == 7.0


async def test_trigger_sync_posts_and_maps_errors() -> None:
    url = f"{BASE}/cdi/integrations/{IID}/sync"
    with aioresponses() as mocked:
        mocked.post(url, status=202, payload={"message": "success"})
        mocked.post(url, status=429, payload={"message": "Another job is in progress"})
        mocked.post(url, status=404, payload={"message": "Integration not found"})
        async with make_client(retry=RetryPolicy()) as client:
            await client.trigger_sync(IID)
            with pytest.raises(SyncInProgressError):
                await client.trigger_sync(IID)
            with pytest.raises(NotFoundError):
                await client.trigger_sync(IID)
        assert [m for (m, _u) in mocked.requests] == ["POST"]
        assert len(mocked.requests[("POST", aiohttp.client.URL(url))]) == 3


async def test_trigger_is_not_retried_after_a_server_error() -> None:
    url = f"{BASE}/cdi/integrations/{IID}/sync"
    with aioresponses() as mocked:
        mocked.post(url, status=503, payload={"message": "unavailable"})
        mocked.post(url, status=202, payload={"message": "success"})
        async with make_client(retry=RetryPolicy()) as client:
            with pytest.raises(ServerError):
                await client.trigger_sync(IID)
        assert len(mocked.requests[("POST", aiohttp.client.URL(url))]) == 1


async def test_get_is_retried_on_503_then_succeeds() -> None:
    clock = InstantClock()
    with aioresponses() as mocked:
        mocked.get(STATUS_URL, status=503, payload={"message": "unavailable"})
        mocked.get(STATUS_URL, status=502, body="<h1>bad gateway</h1>", content_type="text/html")
        mocked.get(STATUS_URL, payload=ok([sync(0)]))
        async with make_client(retry=RetryPolicy(), clock=clock) as client:
            page = await client.job_sync_status_page(IID)
            assert client.stats.retries == 2
            assert client.stats.server_errors == 2
    assert len(page.results) == 1
    assert len(clock.slept) >= 2 and all(0 <= d <= 30 for d in clock.slept)


async def test_non_json_success_body_is_retried_then_raised_as_transport_error() -> None:
    with aioresponses() as mocked:
        mocked.get(STATUS_URL, body='{"results": [', repeat=True)
        async with make_client(retry=RetryPolicy(max_attempts=3)) as client:
            with pytest.raises(TransportError, match="not valid JSON"):
                await client.job_sync_status_page(IID)
        assert len(mocked.requests[("GET", aiohttp.client.URL(STATUS_URL))]) == 3


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ([1, 2], "expected a JSON object"),
        ({"results": {"a": 1}}, "'results' to be a list"),
        ({"message": "success"}, "'results' to be a list.*got nothing"),
        ({"results": [{"job_status": "success"}]}, r"required field missing @ results\[0\]\.sync_start_time"),
        ({"results": [dict(sync(0), rows_synced="12")]}, r"expected an integer.*results\[0\]\.rows_synced"),
        ({"results": [dict(sync(0), job_status=5)]}, r"expected a status string.*results\[0\]\.job_status"),
        ({"results": [None]}, r"expected an object, got NoneType @ results\[0\]"),
    ],
)
async def test_wrong_shapes_raise_decode_error_naming_field_and_integration(body: Any, match: str) -> None:
    with aioresponses() as mocked:
        mocked.get(STATUS_URL, payload=body)
        async with make_client() as client:
            with pytest.raises(DecodeError, match=match) as info:
                await client.job_sync_status_page(IID)
    assert info.value.integration_id == IID
    assert IID in str(info.value)


async def test_extra_keys_are_ignored() -> None:
    body = {"results": [dict(sync(0), new_field=[1, 2])], "message": "success", "next_thing": True}
    with aioresponses() as mocked:
        mocked.get(STATUS_URL, payload=body)
        async with make_client() as client:
            page = await client.job_sync_status_page(IID)
    assert page.results[0].rows_synced == 100


async def test_transport_errors_are_typed() -> None:
    with aioresponses() as mocked:
        mocked.get(STATUS_URL, exception=aiohttp.ServerDisconnectedError())
        async with make_client() as client:
            with pytest.raises(TransportError, match="ServerDisconnectedError") as info:
                await client.job_sync_status_page(IID)
    assert info.value.request_sent is True


# -- integrations --------------------------------------------------------------------------------------


async def test_lists_integrations_across_pages() -> None:
    url = f"{BASE}/cdi/integrations"
    first = [
        {
            "integration_id": f"id-{i}",
            "app_group_id": "ag",
            "integration_name": f"Sync {i}",
            "integration_type": "user_attributes",
            "integration_status": "active",
            "contact_emails": "a@example.com",
            "last_updated_at": "2024-01-01T00:00:00Z",
            "warehouse_type": "snowflake",
            "last_job_start_time": None,
            "last_job_status": "Success" if i else None,
            "next_scheduled_run": "2024-01-02T00:00:00.5+01:00",
        }
        for i in range(3)
    ]
    with aioresponses() as mocked:
        mocked.get(
            url, payload=ok(first[:2]), headers={"Link": '</cdi/integrations?cursor=Mg==>; rel="next"'}
        )
        mocked.get(f"{url}?cursor=Mg%3D%3D", payload=ok(first[2:]))
        async with make_client() as client:
            integrations = [i async for i in client.integrations()]
    assert [i.integration_id for i in integrations] == ["id-0", "id-1", "id-2"]
    assert integrations[0].last_job_status is None
    assert integrations[1].last_job_status is JobStatus.SUCCESS
    assert integrations[2].next_scheduled_run == datetime(2024, 1, 1, 23, 0, 0, 500000, tzinfo=timezone.utc)


# -- lifecycle ----------------------------------------------------------------------------------------------


async def test_use_after_close_raises_a_clear_error() -> None:
    client = make_client()
    async with client:
        pass
    with pytest.raises(ClientClosedError, match="closed"):
        await client.job_sync_status_page(IID)
    await client.close()  # closing twice is harmless
    await client.__aexit__(None, None, None)


async def test_never_entered_client_can_be_closed() -> None:
    client = make_client()
    await client.close()
    assert client.closed


async def test_borrowed_session_is_left_open() -> None:
    async with aiohttp.ClientSession() as session:
        with aioresponses() as mocked:
            mocked.get(STATUS_URL, payload=ok([sync(0)]))
            async with make_client(session=session) as client:
                await client.job_sync_status_page(IID)
        assert not session.closed


async def test_key_never_reaches_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with aioresponses() as mocked:
        mocked.get(STATUS_URL, status=503, payload={"message": "x"})
        mocked.get(STATUS_URL, exception=aiohttp.ClientOSError(f"reset {KEY}"))
        mocked.get(STATUS_URL, payload=ok([sync(0)]))
        async with make_client(retry=RetryPolicy()) as client:
            await client.job_sync_status_page(IID)
    assert caplog.records, "expected retry logs"
    assert all(KEY not in r.getMessage() for r in caplog.records)


def test_rate_limit_scopes_are_public_and_validated() -> None:
    client = make_client(rate_limit_window=7.0)
    scope = client.rate_limit_scope("trigger_sync")
    assert (scope.endpoint, scope.limit, scope.window) == ("trigger_sync", 20, 7.0)
    assert KEY not in scope.workspace
    with pytest.raises(ValueError, match="unknown endpoint 'nope'"):
        client.rate_limit_scope("nope")


async def test_each_retry_is_logged_at_debug_with_reason_and_delay(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="braze_cdi_async")
    clock = InstantClock()
    with aioresponses() as mocked:
        mocked.get(STATUS_URL, status=503, payload={"message": "unavailable"})
        mocked.get(STATUS_URL, payload=ok([sync(0)]))
        async with make_client(retry=RetryPolicy(), clock=clock) as client:
            await client.job_sync_status_page(IID)
    retries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retrying")]
    assert len(retries) == 1
    (delay,) = clock.slept
    expected = f"retrying GET job_sync_status in {delay:.3f}s (attempt 1 failed: HTTP 503 unavailable)"
    assert retries[0] == expected
