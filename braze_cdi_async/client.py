"""``BrazeCDIClient``: the session, auth, and request → response → decode; the paginators."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import platform
import random
import re
from collections.abc import AsyncGenerator, Iterable, Mapping
from types import TracebackType
from typing import Any, Literal, TypeVar, overload
from urllib.parse import urlsplit

import aiohttp
import attrs
from multidict import CIMultiDictProxy
from yarl import URL

from . import links
from ._clock import SYSTEM_CLOCK, Clock
from ._convert import decode_results, loads
from ._version import __version__
from .errors import (
    BrazeAPIError,
    BrazeError,
    ClientClosedError,
    ConfigurationError,
    PaginationError,
    RateLimitedError,
    TransportError,
    error_for_response,
)
from .fanout import CursorGuard, FanOut, Progress, stream_pages, unique_ids
from .instances import instance_url
from .models import Integration, JobSyncStatus, Page
from .ratelimit import (
    DOCUMENTED_LIMITS,
    BrazeRateLimiter,
    LimitScope,
    RateLimiter,
    RateLimitInfo,
    parse_rate_limit_headers,
    workspace_id,
)
from .retry import RetryBudget, RetryPolicy

__all__ = ["BrazeCDIClient", "ClientStats", "Response"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

JOB_SYNC_STATUS = "job_sync_status"
LIST_INTEGRATIONS = "list_integrations"
TRIGGER_SYNC = "trigger_sync"

#: A response body larger than this is refused (a hostile or broken server must not exhaust memory).
DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
#: Pages one paginator reads at most when the caller sets no ``max_pages`` (a server that never ends).
DEFAULT_PAGE_LIMIT = 100_000

_USER_AGENT = (
    f"braze-cdi-async/{__version__} aiohttp/{aiohttp.__version__} python/{platform.python_version()}"
)
_TAGS = re.compile(r"<[^>]*>")


@attrs.define(slots=True)
class ClientStats:
    """Counters of one client's traffic, for logs, dashboards and tests."""

    requests: int = 0
    responses: int = 0
    retries: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    transport_errors: int = 0
    pages: int = 0
    records: int = 0
    limiter_wait: float = 0.0
    retry_wait: float = 0.0


@attrs.frozen(slots=True)
class Response:
    """A decoded HTTP response: status, headers and parsed JSON body."""

    status: int
    headers: Mapping[str, str]
    body: Any
    rate_limit: RateLimitInfo


class _Headers(dict[str, str]):
    """Request headers whose repr hides the Authorization value."""

    def __repr__(self) -> str:
        return repr({k: ("Bearer <redacted>" if k == "Authorization" else v) for k, v in self.items()})

    __str__ = __repr__


class _Secret:
    """Holds the API key; its repr never shows it."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_base_url(base_url: str, *, allow_insecure_http: bool) -> str:
    if not isinstance(base_url, str) or not base_url.strip():
        raise ConfigurationError("base_url is empty")
    text = base_url.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(f"base_url must be an https:// URL with a host, got {text!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError("base_url must not contain a query, fragment or credentials")
    if parts.scheme == "http" and not (allow_insecure_http or _is_loopback(parts.hostname)):
        raise ConfigurationError(
            f"base_url {text!r} uses plain http://, which would send the API key unencrypted; use https://"
            " (http:// is allowed for loopback hosts, or with allow_insecure_http=True)"
        )
    return text


def _positive(name: str, value: float | None) -> None:
    if value is not None and not (isinstance(value, (int, float)) and value > 0 and value != float("inf")):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def _excerpt(body: bytes) -> str:
    text = body[:2048].decode("utf-8", "replace")
    text = " ".join(_TAGS.sub(" ", text).split())
    return text[:200] if text else "(empty body)"


def error_from_body(
    status: int, body: bytes, headers: Mapping[str, str], url: str | None = None
) -> BrazeAPIError:
    """Build the typed error for an error response, whatever its body (JSON, HTML, nothing)."""
    message: str | None = None
    errors: list[Any] = []
    try:
        parsed = loads(body) if body else None
    except (ValueError, RecursionError):  # RecursionError: absurdly deep JSON
        parsed = None
    if isinstance(parsed, dict):
        raw = parsed.get("message")
        if isinstance(raw, str) and raw.strip():
            message = raw.strip()[:500]
        raw_errors = parsed.get("errors")
        if isinstance(raw_errors, list):
            errors = raw_errors[:20]
    if message is None:
        message = _excerpt(body)
    return error_for_response(status, message, errors=errors, headers=headers, url=url)


class BrazeCDIClient:
    """Async client for Braze Cloud Data Ingestion; use it as ``async with BrazeCDIClient(...) as client``.

    One client owns one ``aiohttp.ClientSession`` (or borrows the one you pass, which it then never closes),
    one rate limiter per (workspace, endpoint), and one retry budget. It is safe to share between tasks.
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        instance: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        retry_budget: RetryBudget | None = None,
        rate_limiter: RateLimiter | None = None,
        rate_limit_window: float = 60.0,
        max_concurrency: int = 8,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        page_limit: int = DEFAULT_PAGE_LIMIT,
        allow_insecure_http: bool = False,
        user_agent: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
        seed: int | None = None,
    ) -> None:
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("api_key is empty: pass the Braze REST API key (without quotes)")
        if (base_url is None) == (instance is None):
            raise ValueError("pass exactly one of base_url= or instance=")
        if instance is not None:
            base_url = instance_url(instance)
        assert base_url is not None
        self._base_url = _check_base_url(base_url, allow_insecure_http=allow_insecure_http)
        _positive("timeout", timeout)
        _positive("connect_timeout", connect_timeout)
        _positive("rate_limit_window", rate_limit_window)
        for name, number in (
            ("max_concurrency", max_concurrency),
            ("max_response_bytes", max_response_bytes),
            ("page_limit", page_limit),
        ):
            if not isinstance(number, int) or isinstance(number, bool) or number < 1:
                raise ValueError(f"{name} must be a positive integer, got {number!r}")
        key = api_key.strip()
        self._key = _Secret(key)
        self._headers = _Headers(
            {
                "Authorization": f"Bearer {key}",
                "Accept": "application/json",
                "User-Agent": user_agent or _USER_AGENT,
            }
        )
        # One total deadline per attempt covers stalls and bodies that never end; a per-chunk sock_read
        # timer would be rescheduled on every chunk received, for no extra safety.
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=connect_timeout)
        self._retry = retry if retry is not None else RetryPolicy()
        self._budget = retry_budget if retry_budget is not None else RetryBudget()
        self._clock = clock
        self._limiter: RateLimiter = (
            rate_limiter if rate_limiter is not None else BrazeRateLimiter(clock=clock)
        )
        self._workspace = workspace_id(self._base_url, key)
        self._scopes = {
            name: LimitScope(self._workspace, name, limit, rate_limit_window)
            for name, limit in DOCUMENTED_LIMITS.items()
        }
        self._max_concurrency = max_concurrency
        self._max_response_bytes = max_response_bytes
        self._page_limit = page_limit
        self._rng = random.Random(seed)
        self._paths: dict[str, str] = {}  # integration ID -> encoded job_sync_status URL
        self._borrowed = session
        self._session: aiohttp.ClientSession | None = session
        self._closed = False
        self.stats = ClientStats()

    # -- construction helpers -------------------------------------------------------------------------

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> BrazeCDIClient:
        """Build a client from ``BRAZE_API_KEY`` and ``BRAZE_REST_ENDPOINT`` (a URL or an instance name)."""
        env = os.environ if environ is None else environ
        key = env.get("BRAZE_API_KEY", "").strip()
        endpoint = env.get("BRAZE_REST_ENDPOINT", "").strip()
        missing = [name for name, v in (("BRAZE_API_KEY", key), ("BRAZE_REST_ENDPOINT", endpoint)) if not v]
        if missing:
            raise ConfigurationError(
                f"environment variable {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set"
                " (BRAZE_REST_ENDPOINT takes a URL like https://rest.iad-03.braze.com"
                " or an instance name like US-03)"
            )
        if "://" in endpoint:
            return cls(key, base_url=endpoint, **kwargs)
        try:
            return cls(key, instance=endpoint, **kwargs)
        except ValueError as exc:
            raise ConfigurationError(f"BRAZE_REST_ENDPOINT: {exc}") from None

    @property
    def base_url(self) -> str:
        """The REST base URL every request goes to."""
        return self._base_url

    @property
    def max_concurrency(self) -> int:
        """Default bound on requests in flight for the fan-out methods."""
        return self._max_concurrency

    @property
    def rate_limiter(self) -> RateLimiter:
        """The limiter this client acquires from before each request."""
        return self._limiter

    @property
    def clock(self) -> Clock:
        """The clock the client's limiter and retries sleep on."""
        return self._clock

    def rate_limit_scope(self, endpoint: str) -> LimitScope:
        """The limiter scope of an endpoint (``job_sync_status``, ``list_integrations``, ``trigger_sync``)."""
        try:
            return self._scopes[endpoint]
        except KeyError:
            raise ValueError(
                f"unknown endpoint {endpoint!r}; expected one of {', '.join(self._scopes)}"
            ) from None

    @property
    def closed(self) -> bool:
        """True after ``close()``."""
        return self._closed

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<BrazeCDIClient {self._base_url} api_key=<redacted> {state}>"

    # -- lifecycle -----------------------------------------------------------------------------------

    async def __aenter__(self) -> BrazeCDIClient:
        self._ensure_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the owned session (a borrowed one is left open); calling it again is harmless."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and session is not self._borrowed and not session.closed:
            await session.close()

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosedError("this BrazeCDIClient is closed; create a new one")
        session = self._session
        if session is None:
            connector = aiohttp.TCPConnector(limit=max(100, self._max_concurrency * 2), ttl_dns_cache=300)
            session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
            self._session = session
        elif session.closed:
            raise ClientClosedError("the aiohttp session given to this BrazeCDIClient is closed")
        return session

    # -- the request pipeline ----------------------------------------------------------------------

    async def request(
        self,
        method: str,
        endpoint: str,
        url: str,
        *,
        idempotent: bool = True,
        expect: tuple[int, ...] = (200,),
    ) -> Response:
        """Send one API request through the limiter and the retry policy; return the decoded response."""
        session = self._ensure_session()
        scope = self._scopes[endpoint]
        target = URL(url, encoded=True)
        attempt = 0
        while True:
            attempt += 1
            error: BrazeError
            try:
                return await self._attempt(session, method, scope, target, url, expect)
            except (BrazeAPIError, TransportError) as exc:
                error = exc
            if not self._retry.is_retryable(error, idempotent=idempotent):
                raise error
            if attempt >= self._retry.max_attempts:
                logger.debug("giving up on %s %s after %d attempts", method, scope.endpoint, attempt)
                raise error
            delay = self._retry.compute_delay(error, attempt, now=self._clock.time(), rng=self._rng)
            if delay is None:
                logger.debug(
                    "server asked for a wait above max_server_wait; raising %s", type(error).__name__
                )
                raise error
            if not self._budget.try_acquire(error):
                logger.debug("retry budget exhausted; raising %s", type(error).__name__)
                raise error
            self.stats.retries += 1
            self.stats.retry_wait += delay
            logger.debug(
                "retrying %s %s in %.3fs (attempt %d failed: %s)",
                method,
                scope.endpoint,
                delay,
                attempt,
                _reason(error),
            )
            await self._clock.sleep(delay)

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        method: str,
        scope: LimitScope,
        target: URL,
        url: str,
        expect: tuple[int, ...],
    ) -> Response:
        started = self._clock.monotonic()
        ticket = await self._limiter.acquire(scope)
        waited = self._clock.monotonic() - started
        if waited > 0:
            self.stats.limiter_wait += waited
        info: RateLimitInfo | None = None
        status: int | None = None
        try:
            self.stats.requests += 1
            status, headers, body = await self._send(session, method, target, url)
            info = parse_rate_limit_headers(headers)
        finally:
            await self._limiter.record(scope, ticket, info, status)
        self.stats.responses += 1
        if status in expect:
            try:
                parsed = loads(body) if body else None
            except (ValueError, RecursionError):
                # A 2xx whose body is not JSON is a truncated or mangled transfer: transient, retried.
                raise TransportError(
                    f"{method} {_display_url(url)}: HTTP {status} body is not valid JSON"
                    f" ({len(body)} bytes): {_excerpt(body)[:80]}",
                    url=_display_url(url),
                ) from None
            self._budget.on_success()
            return Response(status, headers, parsed, info)
        error = error_from_body(status, body, headers, url=_display_url(url))
        if status == 429 and isinstance(error, RateLimitedError):
            self.stats.rate_limited += 1
        elif status >= 500:
            self.stats.server_errors += 1
        raise error

    async def _send(
        self, session: aiohttp.ClientSession, method: str, target: URL, url: str
    ) -> tuple[int, CIMultiDictProxy[str], bytes]:
        limit = self._max_response_bytes
        try:
            async with session.request(
                method, target, headers=self._headers, timeout=self._timeout, allow_redirects=False
            ) as resp:
                length = resp.content_length
                if length is not None and length > limit:
                    raise TransportError(
                        f"response of {length} bytes exceeds max_response_bytes={limit}",
                        url=_display_url(url),
                    )
                if length is not None:
                    body = await resp.read()
                else:
                    body = await _read_limited(resp, limit, url)
                return resp.status, resp.headers, body
        except aiohttp.ClientConnectorError as exc:
            self.stats.transport_errors += 1
            raise TransportError(
                f"cannot connect to {_display_url(url)}: {self._scrub(str(exc))}",
                request_sent=False,
                url=_display_url(url),
            ) from None
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            self.stats.transport_errors += 1
            kind = "timed out" if isinstance(exc, asyncio.TimeoutError) else type(exc).__name__
            raise TransportError(
                f"{method} {_display_url(url)} failed: {kind}: {self._scrub(str(exc))}".rstrip(": "),
                url=_display_url(url),
            ) from None
        except TransportError:
            self.stats.transport_errors += 1
            raise

    def _scrub(self, text: str) -> str:
        return text.replace(self._key.value, "<redacted>")

    # -- job sync status ------------------------------------------------------------------------------

    async def job_sync_status_page(
        self, integration_id: str, *, cursor: str | None = None
    ) -> Page[JobSyncStatus]:
        """One page (10 syncs, newest first) of an integration's sync history."""
        links.check_integration_id(integration_id)
        _check_cursor(cursor)
        return await self._page(JOB_SYNC_STATUS, integration_id, cursor, JobSyncStatus)

    def job_sync_status_pages(
        self, integration_id: str, *, cursor: str | None = None, max_pages: int | None = None
    ) -> AsyncGenerator[Page[JobSyncStatus], None]:
        """Every page of an integration's sync history, following ``rel="next"`` until it is gone."""
        links.check_integration_id(integration_id)
        _check_cursor(cursor)
        _check_max_pages(max_pages)
        return self._pages(JOB_SYNC_STATUS, integration_id, cursor, max_pages, JobSyncStatus)

    async def job_sync_status(
        self, integration_id: str, *, cursor: str | None = None, max_pages: int | None = None
    ) -> AsyncGenerator[JobSyncStatus, None]:
        """Every sync of an integration, newest first, across all pages."""
        async for page in self.job_sync_status_pages(integration_id, cursor=cursor, max_pages=max_pages):
            for record in page.results:
                yield record

    # -- integrations ---------------------------------------------------------------------------------

    def integration_pages(
        self, *, cursor: str | None = None, max_pages: int | None = None
    ) -> AsyncGenerator[Page[Integration], None]:
        """Every page of the workspace's CDI integrations."""
        _check_cursor(cursor)
        _check_max_pages(max_pages)
        return self._pages(LIST_INTEGRATIONS, None, cursor, max_pages, Integration)

    async def integrations(
        self, *, cursor: str | None = None, max_pages: int | None = None
    ) -> AsyncGenerator[Integration, None]:
        """Every CDI integration of the workspace."""
        async for page in self.integration_pages(cursor=cursor, max_pages=max_pages):
            for record in page.results:
                yield record

    # -- trigger ------------------------------------------------------------------------------------

    async def trigger_sync(self, integration_id: str) -> None:
        """Start a sync now (``POST .../sync``); raises ``SyncInProgressError`` if one is running."""
        links.check_integration_id(integration_id)
        url = links.endpoint_url(self._base_url, integration_id, "sync")
        await self.request("POST", TRIGGER_SYNC, url, idempotent=False, expect=(200, 201, 202, 204))

    # -- many integrations at once ------------------------------------------------------------------

    @overload
    async def fetch_job_sync_statuses(
        self,
        integration_ids: Iterable[str] | None = ...,
        *,
        max_pages: int | None = ...,
        return_exceptions: Literal[False] = ...,
        max_concurrency: int | None = ...,
        progress: Progress | None = ...,
    ) -> dict[str, list[JobSyncStatus]]: ...

    @overload
    async def fetch_job_sync_statuses(
        self,
        integration_ids: Iterable[str] | None = ...,
        *,
        max_pages: int | None = ...,
        return_exceptions: bool,
        max_concurrency: int | None = ...,
        progress: Progress | None = ...,
    ) -> dict[str, list[JobSyncStatus] | BrazeError]: ...

    async def fetch_job_sync_statuses(
        self,
        integration_ids: Iterable[str] | None = None,
        *,
        max_pages: int | None = None,
        return_exceptions: bool = False,
        max_concurrency: int | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Any]:  # the overloads above give callers the precise type
        """Sync histories of many integrations (all of the workspace's when ``None``), in input order.

        Breadth-first: every first page before any second page. With ``return_exceptions=True`` a failed
        integration maps to its ``BrazeError`` and the rest still arrive; otherwise the first error cancels
        all outstanding requests and is raised.
        """
        ids = await self._resolve_ids(integration_ids)
        _check_max_pages(max_pages)
        results: dict[str, list[JobSyncStatus] | BrazeError] = {i: [] for i in ids}

        async def deliver(integration_id: str, page: Page[JobSyncStatus]) -> None:
            results[integration_id].extend(page.results)  # type: ignore[union-attr]

        fan_out = self._fan_out(ids, max_pages, return_exceptions, max_concurrency, progress)
        await fan_out.run(deliver)
        results.update(fan_out.errors)
        return results

    async def stream_job_sync_statuses(
        self,
        integration_ids: Iterable[str] | None = None,
        *,
        max_pages: int | None = None,
        max_concurrency: int | None = None,
        progress: Progress | None = None,
    ) -> AsyncGenerator[tuple[str, JobSyncStatus], None]:
        """Yield ``(integration_id, sync)`` as pages arrive, breadth-first; memory stays flat.

        Breaking out, ``aclose()`` or cancelling the consumer cancels every in-flight request. The first
        error is raised after the outstanding work is cancelled.
        """
        ids = await self._resolve_ids(integration_ids)
        _check_max_pages(max_pages)
        fan_out = self._fan_out(ids, max_pages, False, max_concurrency, progress)
        pages = stream_pages(fan_out, buffer=2 * fan_out.concurrency)
        try:
            async for integration_id, page in pages:
                for record in page.results:
                    yield integration_id, record
        finally:
            await pages.aclose()

    @overload
    async def latest_job_sync_statuses(
        self,
        integration_ids: Iterable[str] | None = ...,
        *,
        return_exceptions: Literal[False] = ...,
        max_concurrency: int | None = ...,
        progress: Progress | None = ...,
    ) -> dict[str, JobSyncStatus | None]: ...

    @overload
    async def latest_job_sync_statuses(
        self,
        integration_ids: Iterable[str] | None = ...,
        *,
        return_exceptions: bool,
        max_concurrency: int | None = ...,
        progress: Progress | None = ...,
    ) -> dict[str, JobSyncStatus | BrazeError | None]: ...

    async def latest_job_sync_statuses(
        self,
        integration_ids: Iterable[str] | None = None,
        *,
        return_exceptions: bool = False,
        max_concurrency: int | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Any]:  # the overloads above give callers the precise type
        """The newest sync of each integration (one request each); ``None`` for one that never synced."""
        fetched = await self.fetch_job_sync_statuses(
            integration_ids,
            max_pages=1,
            return_exceptions=return_exceptions,
            max_concurrency=max_concurrency,
            progress=progress,
        )
        return {i: (v if isinstance(v, BrazeError) else (v[0] if v else None)) for i, v in fetched.items()}

    async def _resolve_ids(self, integration_ids: Iterable[str] | None) -> list[str]:
        if integration_ids is None:
            self._ensure_session()
            return unique_ids([integration.integration_id async for integration in self.integrations()])
        return unique_ids(integration_ids)

    def _fan_out(
        self,
        ids: list[str],
        max_pages: int | None,
        return_exceptions: bool,
        max_concurrency: int | None,
        progress: Progress | None,
    ) -> FanOut[JobSyncStatus]:
        self._ensure_session()

        async def fetch(integration_id: str, cursor: str | None) -> Page[JobSyncStatus]:
            return await self._page(JOB_SYNC_STATUS, integration_id, cursor, JobSyncStatus)

        return FanOut(
            fetch,
            ids,
            concurrency=self._max_concurrency if max_concurrency is None else max_concurrency,
            max_pages=max_pages,
            page_limit=self._page_limit,
            return_exceptions=return_exceptions,
            progress=progress,
        )

    # -- watching and waiting (implemented in watch.py) -------------------------------------------

    def watch(
        self,
        integration_ids: Iterable[str] | None = None,
        *,
        interval: float | None = None,
        include_existing: bool = False,
    ) -> AsyncGenerator[tuple[str, JobSyncStatus], None]:
        """Poll integrations and yield each new sync once, and again when a running one finishes."""
        from .watch import watch

        return watch(self, integration_ids, interval=interval, include_existing=include_existing)

    async def trigger_and_wait(
        self,
        integration_id: str,
        *,
        timeout: float = 3600.0,
        poll_interval: float = 30.0,
        if_running: str = "raise",
    ) -> JobSyncStatus:
        """Trigger a sync and return its finished ``JobSyncStatus`` (not one listed before the trigger)."""
        from .watch import trigger_and_wait

        return await trigger_and_wait(
            self, integration_id, timeout=timeout, poll_interval=poll_interval, if_running=if_running
        )

    # -- pagination internals ----------------------------------------------------------------------

    async def _page(
        self, endpoint: str, integration_id: str | None, cursor: str | None, item_type: type[T]
    ) -> Page[T]:
        if integration_id is None:
            url = links.endpoint_url(self._base_url, None, None, cursor)
        else:
            path = self._paths.get(integration_id)
            if path is None:
                if len(self._paths) >= 4096:
                    self._paths.clear()
                path = self._paths[integration_id] = links.endpoint_url(
                    self._base_url, integration_id, JOB_SYNC_STATUS
                )
            url = links.with_cursor(path, cursor)
        response = await self.request("GET", endpoint, url)
        results = decode_results(response.body, item_type, integration_id=integration_id)
        try:
            nxt, prv = links.page_cursors(response.headers.get("Link"), base_url=self._base_url)
        except PaginationError as exc:
            where = f" for integration {integration_id!r}" if integration_id else ""
            raise PaginationError(f"{exc}{where}") from None
        self.stats.pages += 1
        self.stats.records += len(results)
        return Page(tuple(results), nxt, prv)

    async def _pages(
        self,
        endpoint: str,
        integration_id: str | None,
        cursor: str | None,
        max_pages: int | None,
        item_type: type[T],
    ) -> AsyncGenerator[Page[T], None]:
        where = f" of integration {integration_id!r}" if integration_id else ""
        guard = CursorGuard(cursor, self._page_limit, where)
        count = 0
        while True:
            page = await self._page(endpoint, integration_id, cursor, item_type)
            count += 1
            yield page
            cursor = page.next_cursor
            if cursor is None or (max_pages is not None and count >= max_pages):
                return
            guard.advance(cursor)


def _reason(error: BaseException) -> str:
    if isinstance(error, BrazeAPIError):
        return f"HTTP {error.status} {error.message[:80]}"
    return f"{type(error).__name__}: {str(error)[:120]}"


def _display_url(url: str) -> str:
    """The URL without its query (cursors are long and uninteresting in messages)."""
    return url.split("?", 1)[0]


def _check_cursor(cursor: object) -> None:
    if cursor is not None and (not isinstance(cursor, str) or not cursor):
        raise ValueError(f"cursor must be a non-empty string or None, got {cursor!r}")


def _check_max_pages(max_pages: object) -> None:
    if max_pages is not None and (
        not isinstance(max_pages, int) or isinstance(max_pages, bool) or max_pages < 1
    ):
        raise ValueError(f"max_pages must be a positive integer or None, got {max_pages!r}")


async def _read_limited(resp: aiohttp.ClientResponse, limit: int, url: str) -> bytes:
    chunks: list[bytes] = []
    total = 0
    async for chunk in resp.content.iter_any():
        total += len(chunk)
        if total > limit:
            raise TransportError(
                f"response body exceeds max_response_bytes={limit}; stopped reading", url=_display_url(url)
            )
        chunks.append(chunk)
    return b"".join(chunks)
