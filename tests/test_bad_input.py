"""Bad input from the caller: a clear ValueError, or safe encoding that never reaches another URL."""

from __future__ import annotations

import asyncio
import math
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from braze_cdi_async import (
    NO_RATE_LIMIT,
    BrazeCDIClient,
    BrazeError,
    InvalidCursorError,
    InvalidIntegrationIdError,
    RetryPolicy,
    TokenBucket,
)
from braze_cdi_async.testing import BrazeCDIEmulator

ONCE = RetryPolicy(max_attempts=1)


def make_client(emulator: BrazeCDIEmulator, key: str) -> BrazeCDIClient:
    return BrazeCDIClient(key, base_url=emulator.base_url, rate_limiter=NO_RATE_LIMIT, retry=ONCE)


@pytest.mark.parametrize("bad", ["", " ", "\t", "a b", "x\n", "\x00", ".", ".."])
async def test_unusable_ids_are_refused_before_any_request(bad: str) -> None:
    async with BrazeCDIEmulator(rate_limits=False) as emulator:
        ws = emulator.add_workspace()
        async with make_client(emulator, ws.api_key) as c:
            with pytest.raises(ValueError, match="integration_id"):
                await c.job_sync_status_page(bad)
            with pytest.raises(ValueError, match="integration_id"):
                await c.trigger_sync(bad)
            with pytest.raises(ValueError, match="integration_id"):
                await c.fetch_job_sync_statuses(["ok", bad])
        assert emulator.requests == []


HOSTILE_IDS = [
    "a/b",
    "../x",
    "a/../../cdi/integrations",
    "a?cursor=x",
    "a#frag",
    "50%",
    "%2F",
    "ünï-cödé",
    "a;b",
    "~x",
]


@pytest.mark.parametrize("integration_id", HOSTILE_IDS)
async def test_hostile_ids_stay_one_path_segment_of_the_intended_url(integration_id: str) -> None:
    async with BrazeCDIEmulator(rate_limits=False) as emulator:
        ws = emulator.add_workspace()
        async with make_client(emulator, ws.api_key) as c:
            with pytest.raises(InvalidIntegrationIdError):
                await c.job_sync_status_page(integration_id)
            with pytest.raises(BrazeError):
                await c.trigger_sync(integration_id)
    segment = quote(integration_id, safe="-_.~")
    get, post = emulator.requests
    assert (get.method, get.path, get.query) == ("GET", f"/cdi/integrations/{segment}/job_sync_status", {})
    assert (post.method, post.path) == ("POST", f"/cdi/integrations/{segment}/sync")
    assert get.endpoint == "job_sync_status" and post.endpoint == "trigger_sync"
    assert get.integration_id == post.integration_id == integration_id


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=8))
def test_any_cursor_reaches_the_server_exactly_as_sent(cursors: list[str]) -> None:
    async def run() -> list[Any]:
        async with BrazeCDIEmulator(rate_limits=False) as emulator:
            ws = emulator.add_workspace()
            iid = emulator.add_integration(ws, n_syncs=3).integration_id
            async with make_client(emulator, ws.api_key) as c:
                for cursor in cursors:
                    with pytest.raises(InvalidCursorError):
                        await c.job_sync_status_page(iid, cursor=cursor)
            return [(r.path, r.integration_id, r.cursor, list(r.query)) for r in emulator.requests]

    seen = asyncio.run(run())
    assert len(seen) == len(cursors)
    for (path, _iid, received, names), sent in zip(seen, cursors, strict=True):
        assert received == sent
        assert names == ["cursor"]
        assert path.endswith("/job_sync_status") and path.count("/") == 4


@pytest.mark.parametrize("value", [0, -1, -(10**9), 1.5, "3", True])
async def test_bad_max_pages_is_a_value_error(value: Any) -> None:
    async with BrazeCDIClient("k", base_url="http://127.0.0.1:9") as c:
        with pytest.raises(ValueError, match="max_pages"):
            c.job_sync_status_pages("abc", max_pages=value)
        with pytest.raises(ValueError, match="max_pages"):
            await c.fetch_job_sync_statuses(["abc"], max_pages=value)


@pytest.mark.parametrize("value", [0, -1, 2.0, True])
async def test_bad_max_concurrency_is_a_value_error(value: Any) -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        BrazeCDIClient("k", base_url="http://127.0.0.1:9", max_concurrency=value)
    async with BrazeCDIClient("k", base_url="http://127.0.0.1:9") as c:
        with pytest.raises(ValueError, match="max_concurrency"):
            await c.fetch_job_sync_statuses(["abc"], max_concurrency=value)


@pytest.mark.parametrize("field", ["timeout", "connect_timeout", "rate_limit_window"])
@pytest.mark.parametrize("value", [0, -1, -0.001, math.nan, math.inf])
def test_bad_timeouts_are_value_errors(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        BrazeCDIClient("k", base_url="http://127.0.0.1:9", **{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rate", "capacity"), [(0, 1), (-1, 1), (1, 0), (1, -5), (math.nan, 1), (1, math.inf)]
)
def test_bad_token_bucket_rates_are_value_errors(rate: float, capacity: float) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, capacity)


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"backoff_base": -1}, {"max_server_wait": 0}])
def test_bad_retry_policies_are_value_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)
