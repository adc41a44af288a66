"""An in-process Braze CDI API served over loopback HTTP by ``aiohttp.web`` (like moto or fakeredis)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import random
import re
import socket
import struct
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

import attrs
from aiohttp import web

from braze_cdi_async.testing._faults import ENDPOINTS, Fault, FaultInjector, RequestInfo
from braze_cdi_async.testing._generate import (
    PROFILES,
    generate_history,
    generate_integration_fields,
    iso,
    new_uuid,
)

__all__ = [
    "ALL_PERMISSIONS",
    "DEFAULT_LIMITS",
    "DEMO_API_KEY",
    "ENDPOINTS",
    "PERMISSIONS",
    "BrazeCDIEmulator",
    "EmulatedIntegration",
    "RequestRecord",
    "Workspace",
    "encode_cursor",
]

logger = logging.getLogger(__name__)

DEMO_API_KEY = "demo-key-0000"
ALL_PERMISSIONS: tuple[str, ...] = (
    "cdi.integration_list",
    "cdi.integration_job_status",
    "cdi.integration_sync",
)
PERMISSIONS: Mapping[str, str] = {
    "list_integrations": "cdi.integration_list",
    "job_sync_status": "cdi.integration_job_status",
    "trigger_sync": "cdi.integration_sync",
}
DEFAULT_LIMITS: Mapping[str, int] = {"job_sync_status": 100, "list_integrations": 50, "trigger_sync": 20}

_VALID_ID = re.compile(r"[A-Za-z0-9_-]+")
_JSON = "application/json"
_SUCCESS = b'{"message":"success"}'


@attrs.frozen
class Workspace:
    """An emulated Braze workspace (app group) and its primary API key."""

    id: str
    api_key: str
    name: str


@attrs.frozen
class EmulatedIntegration:
    """An emulated CDI integration (its mutable history lives in the emulator)."""

    integration_id: str
    workspace_id: str
    name: str


@attrs.frozen
class RequestRecord:
    """One request the emulator handled, as seen on the wire."""

    started: float
    finished: float
    method: str
    path: str
    query: dict[str, str]
    status: int
    api_key: str | None
    workspace_id: str | None
    endpoint: str | None
    integration_id: str | None
    cursor: str | None
    fault: str | None
    headers: dict[str, str]


def encode_cursor(skip: int) -> str:
    """Return the opaque cursor Braze uses for an offset (base64 of ``skip:N``)."""
    return base64.b64encode(f"skip:{skip}".encode("ascii")).decode("ascii")


def _decode_cursor(cursor: str) -> int | None:
    try:
        raw = base64.b64decode(cursor.encode("ascii"), validate=True).decode("ascii")
    except (ValueError, UnicodeError):
        return None
    if not raw.startswith("skip:"):
        return None
    digits = raw[5:]
    if not digits or not digits.isdigit():
        return None
    return int(digits)


def _format_reset(value: float) -> str:
    text = f"{value:.6f}".rstrip("0")
    return text.rstrip(".")


def _error_body(message: str, errors: Sequence[str] | None = None) -> bytes:
    payload: dict[str, Any] = {"message": message}
    if errors:
        payload["errors"] = list(errors)
    return json.dumps(payload, separators=(",", ":")).encode()


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class _Page:
    """A precomputed page: its body, the cursors of its links and its results."""

    __slots__ = ("body", "current_cursor", "link", "next_cursor", "prev_cursor", "results")

    def __init__(
        self,
        body: bytes,
        prev_cursor: str | None,
        next_cursor: str | None,
        current_cursor: str,
        results: list[dict[str, Any]],
        link: str | None,
    ) -> None:
        self.body = body
        self.prev_cursor = prev_cursor
        self.next_cursor = next_cursor
        self.current_cursor = current_cursor
        self.results = results
        self.link = link


class _Reply:
    """A response under construction (before fault transforms)."""

    __slots__ = ("body", "headers", "link_path", "page", "status", "status_field")

    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.status = status
        self.body = body
        self.headers = headers
        self.page: _Page | None = None
        self.link_path = ""
        self.status_field = "job_status"

    def response(self) -> web.Response:
        """The finished aiohttp response."""
        return web.Response(body=self.body, status=self.status, headers=self.headers)


class _Integration:
    __slots__ = ("fields", "history", "pages", "record", "running_until", "workspace")

    def __init__(self, record: EmulatedIntegration, fields: dict[str, Any], workspace: _Workspace) -> None:
        self.record = record
        self.fields = fields
        self.history: list[dict[str, Any]] = []
        self.running_until: float | None = None
        self.pages: dict[tuple[int, bool], _Page] = {}
        self.workspace = workspace


class _Workspace:
    __slots__ = ("counters", "integrations", "pages", "pending", "record")

    def __init__(self, record: Workspace) -> None:
        self.record = record
        self.integrations: dict[str, _Integration] = {}
        self.pages: dict[tuple[int, bool], _Page] = {}
        self.pending: set[str] = set()
        self.counters: dict[str, list[float]] = {}


def _route(method: str, path: str) -> tuple[str | None, str | None]:
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "" or parts[1] != "cdi" or parts[2] != "integrations":
        return None, None
    if len(parts) == 3:
        return ("list_integrations" if method == "GET" else None), None
    if len(parts) == 5:
        if parts[4] == "job_sync_status" and method == "GET":
            return "job_sync_status", parts[3]
        if parts[4] == "sync" and method == "POST":
            return "trigger_sync", parts[3]
    return None, None


def _bearer(header: str | None) -> str | None:
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


class BrazeCDIEmulator:
    """A faithful local stand-in for Braze's three CDI endpoints, over real loopback HTTP."""

    DEMO_API_KEY = DEMO_API_KEY

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        window: float = 60.0,
        limits: Mapping[str, int] | None = None,
        rate_limits: bool = True,
        sync_duration: float = 2.0,
        seed: int = 0,
        page_size: int = 10,
        clock: Callable[[], float] | Any = time.time,
        log_requests: bool = True,
    ) -> None:
        if window <= 0:
            raise ValueError("window must be > 0")
        if page_size < 1:
            raise ValueError("page_size must be >= 1")
        self.host = host
        self.window = float(window)
        merged = dict(DEFAULT_LIMITS)
        for key, value in (limits or {}).items():
            if key not in DEFAULT_LIMITS:
                raise ValueError(f"unknown endpoint {key!r} in limits; expected one of {ENDPOINTS}")
            merged[key] = int(value)
        self.limits: Mapping[str, int] = merged
        self.rate_limits = rate_limits
        self.sync_duration = float(sync_duration)
        self.seed = seed
        self.page_size = page_size
        if not callable(clock) and callable(getattr(clock, "time", None)):
            clock = clock.time
        self.clock: Callable[[], float] = clock
        self.log_requests = log_requests
        self.faults = FaultInjector(seed)
        self.requests: list[RequestRecord] = []
        self.max_in_flight = 0
        self.in_flight = 0
        self.demo_workspace: Workspace | None = None
        self._rng = random.Random(seed)
        self._port = port
        self._base_url: str | None = None
        self._keys: dict[str, tuple[str, frozenset[str]]] = {}
        self._workspaces: dict[str, _Workspace] = {}
        self._integrations: dict[str, _Integration] = {}
        self._runner: web.AppRunner | None = None
        self._app = web.Application()
        self._app.router.add_route("*", "/{tail:.*}", self._handle)

    # ----- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def with_demo_data(cls, **kwargs: Any) -> BrazeCDIEmulator:
        """Return an emulator with one workspace (key ``DEMO_API_KEY``) and ~12 varied integrations."""
        emulator = cls(**kwargs)
        emulator.add_demo_workspace()
        return emulator

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` of the running server (no trailing slash)."""
        if self._base_url is None:
            raise RuntimeError("the emulator is not started; use 'async with' or await start()")
        return self._base_url

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        if self._base_url is None:
            raise RuntimeError("the emulator is not started")
        return self._port

    @property
    def demo_api_key(self) -> str:
        """The demo workspace's API key."""
        if self.demo_workspace is None:
            raise RuntimeError("no demo workspace; use with_demo_data() or add_demo_workspace()")
        return self.demo_workspace.api_key

    async def start(self) -> None:
        """Start serving on ``host:port`` (port 0 picks a free port)."""
        if self._runner is not None:
            return
        runner = web.AppRunner(self._app, handle_signals=False, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        host = f"[{self.host}]" if ":" in self.host else self.host
        self._base_url = f"http://{host}:{self._port}"
        logger.debug("Braze CDI emulator listening on %s", self._base_url)

    async def stop(self) -> None:
        """Stop serving and close every connection."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        self._base_url = None

    async def __aenter__(self) -> BrazeCDIEmulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ----- state -------------------------------------------------------------------------------

    def add_workspace(
        self,
        api_key: str | None = None,
        *,
        permissions: Iterable[str] = ALL_PERMISSIONS,
        name: str = "Emulated workspace",
        workspace_id: str | None = None,
    ) -> Workspace:
        """Create a workspace with a primary key (generated when ``api_key`` is None)."""
        ws_id = workspace_id or new_uuid(self._rng)
        if ws_id in self._workspaces:
            raise ValueError(f"workspace {ws_id!r} already exists")
        key = api_key if api_key is not None else f"emu-{self._rng.getrandbits(128):032x}"
        record = Workspace(id=ws_id, api_key=key, name=name)
        self._workspaces[ws_id] = _Workspace(record)
        self.add_api_key(record, key, permissions)
        return record

    def add_api_key(self, workspace: Workspace, api_key: str, permissions: Iterable[str]) -> None:
        """Add a (possibly scoped) API key to ``workspace``."""
        if api_key in self._keys:
            raise ValueError("this API key already exists")
        if workspace.id not in self._workspaces:
            raise ValueError(f"unknown workspace {workspace.id!r}")
        self._keys[api_key] = (workspace.id, frozenset(permissions))

    def add_integration(
        self,
        workspace: Workspace,
        *,
        integration_id: str | None = None,
        name: str | None = None,
        history: Sequence[Mapping[str, Any]] | None = None,
        n_syncs: int | None = None,
        profile: str = "healthy",
        running: bool = False,
        **fields: Any,
    ) -> EmulatedIntegration:
        """Add an integration with a given ``history`` (newest first) or ``n_syncs`` generated syncs."""
        ws = self._workspaces[workspace.id]
        if history is not None and n_syncs is not None:
            raise ValueError("give history or n_syncs, not both")
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; expected one of {sorted(PROFILES)}")
        iid = integration_id or new_uuid(self._rng)
        if iid in self._integrations:
            raise ValueError(f"integration {iid!r} already exists")
        now = self.clock()
        base = generate_integration_fields(self._rng, workspace.id, iid, name, now, len(ws.integrations) + 1)
        base.update(fields)
        record = EmulatedIntegration(iid, workspace.id, str(base["integration_name"]))
        integ = _Integration(record, base, ws)
        if history is not None:
            integ.history = [dict(item) for item in history]
        elif n_syncs:
            integ.history = generate_history(self._rng, n_syncs, now, profile=profile, running=running)
        ws.integrations[iid] = integ
        self._integrations[iid] = integ
        self._changed(integ)
        return record

    def populate(
        self,
        workspace: Workspace,
        n_integrations: int,
        *,
        syncs: tuple[int, int] = (0, 35),
        seed: int | None = None,
    ) -> list[EmulatedIntegration]:
        """Add ``n_integrations`` realistic integrations (seeded): mixed statuses, some running."""
        rng = random.Random(self.seed if seed is None else seed)
        saved, self._rng = self._rng, rng
        try:
            out = []
            for _ in range(n_integrations):
                n = rng.randint(syncs[0], syncs[1])
                profile = rng.choices(("healthy", "flaky", "failing"), (0.7, 0.2, 0.1))[0]
                running = rng.random() < 0.15
                out.append(self.add_integration(workspace, n_syncs=n, profile=profile, running=running))
            return out
        finally:
            self._rng = saved

    def add_demo_workspace(self, api_key: str = DEMO_API_KEY) -> Workspace:
        """Add the demo workspace: 12 integrations with varied, seeded histories."""
        rng = random.Random(self.seed)
        saved, self._rng = self._rng, rng
        try:
            ws = self.add_workspace(api_key, name="Demo workspace", workspace_id=new_uuid(rng))
            now = self.clock()
            specs: list[tuple[str, str, int, str, bool, int]] = [
                ("Users attributes (nightly)", "user_attributes", 35, "healthy", False, 0),
                ("Purchases (hourly)", "purchase_events", 23, "healthy", False, 0),
                ("Custom events (flaky)", "custom_events", 12, "flaky", False, 0),
                ("Loyalty tiers", "user_attributes", 10, "healthy", False, 0),
                ("Subscriptions", "user_attributes", 11, "healthy", False, 0),
                ("Product catalog (running now)", "catalogs", 17, "healthy", True, 0),
                ("Churn scores (failing)", "user_attributes", 15, "healthy", False, 4),
                ("Preferences", "user_attributes", 3, "healthy", False, 0),
                ("New integration (never synced)", "custom_events", 0, "healthy", False, 0),
                ("Orders backfill", "purchase_events", 48, "flaky", False, 0),
                ("User deletes", "user_deletes", 1, "healthy", False, 0),
                ("Misconfigured warehouse", "custom_events", 7, "failing", False, 0),
            ]
            for name, itype, n, profile, running, failing_tail in specs:
                history = generate_history(
                    rng, n, now, profile=profile, running=running, failing_tail=failing_tail
                )
                self.add_integration(ws, name=name, history=history, integration_type=itype)
            self.demo_workspace = ws
            return ws
        finally:
            self._rng = saved

    def workspaces(self) -> list[Workspace]:
        """Every workspace, in creation order."""
        return [w.record for w in self._workspaces.values()]

    def integrations(self, workspace: Workspace) -> list[EmulatedIntegration]:
        """The integrations of ``workspace``, in list order."""
        return [i.record for i in self._workspaces[workspace.id].integrations.values()]

    def history(self, integration_id: str) -> list[dict[str, Any]]:
        """Ground truth: the integration's sync history, newest first, as JSON dicts (copies)."""
        integ = self._integrations[integration_id]
        self._settle(integ)
        return [dict(item) for item in integ.history]

    def list_record(self, integration_id: str) -> dict[str, Any]:
        """Ground truth: the list-integrations record of one integration."""
        integ = self._integrations[integration_id]
        self._settle(integ)
        return self._list_record(integ)

    def reset_log(self) -> None:
        """Clear the request log and the in-flight peak."""
        self.requests.clear()
        self.max_in_flight = self.in_flight

    def reset_rate_limits(self) -> None:
        """Forget every rate-limit counter (a fresh window for everyone)."""
        for ws in self._workspaces.values():
            ws.counters.clear()

    # ----- internals: state --------------------------------------------------------------------

    def _changed(self, integ: _Integration) -> None:
        integ.pages.clear()
        integ.workspace.pages.clear()

    def _settle(self, integ: _Integration) -> None:
        until = integ.running_until
        if until is None or self.clock() < until:
            return
        integ.running_until = None
        integ.workspace.pending.discard(integ.record.integration_id)
        head = integ.history[0]
        start = until - self.sync_duration
        integ.history[0] = {
            "job_status": "success",
            "sync_start_time": head["sync_start_time"],
            "sync_finish_time": iso(until),
            "last_timestamp_synced": iso(start),
            "rows_synced": self._rng.randint(1, 50_000),
            "rows_failed_with_errors": 0,
        }
        self._changed(integ)

    def _list_record(self, integ: _Integration) -> dict[str, Any]:
        f = integ.fields
        head = integ.history[0] if integ.history else None
        record = {
            "integration_id": f["integration_id"],
            "app_group_id": f["app_group_id"],
            "integration_name": f["integration_name"],
            "integration_type": f["integration_type"],
            "integration_status": f["integration_status"],
            "contact_emails": f["contact_emails"],
            "last_updated_at": f["last_updated_at"],
            "warehouse_type": f["warehouse_type"],
            "last_job_start_time": head.get("sync_start_time") if head else None,
            "last_job_status": head.get("job_status") if head else None,
            "next_scheduled_run": f["next_scheduled_run"],
        }
        for key, value in f.items():
            if key not in record:
                record[key] = value
        return record

    def _page(
        self, items: Callable[[], list[dict[str, Any]]], total: int, skip: int, had_cursor: bool, path: str
    ) -> _Page:
        size = self.page_size
        results = items()[skip : skip + size]
        prev_c = encode_cursor(max(0, skip - size)) if had_cursor and skip > 0 and total > size else None
        next_c = encode_cursor(skip + size) if skip + size < total else None
        parts = []
        if prev_c is not None:
            parts.append(f'<{path}?cursor={quote(prev_c, safe="")}>; rel="prev"')
        if next_c is not None:
            parts.append(f'<{path}?cursor={quote(next_c, safe="")}>; rel="next"')
        body = _dump({"results": results, "message": "success"})
        return _Page(body, prev_c, next_c, encode_cursor(skip), results, ",".join(parts) or None)

    # ----- internals: HTTP ---------------------------------------------------------------------

    def _take(self, ws: _Workspace, endpoint: str, consume: bool = True) -> tuple[bool, dict[str, str]]:
        """Count one request against the workspace's window; return (allowed, rate-limit headers)."""
        if not self.rate_limits:
            return True, {}
        window = self.window
        k = math.floor(self.clock() / window)
        limit = self.limits[endpoint]
        counter = ws.counters.get(endpoint)
        if counter is None or counter[0] != k:
            counter = [k, 0]
            ws.counters[endpoint] = counter
        allowed = counter[1] < limit
        if allowed and consume:
            counter[1] += 1
        remaining = int(limit - counter[1]) if consume else 0
        return allowed, {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": _format_reset((k + 1) * window),
        }

    def _process(
        self,
        endpoint: str | None,
        raw_id: str | None,
        integration_id: str | None,
        key: tuple[str, frozenset[str]] | None,
        cursor: str | None,
    ) -> _Reply:
        if endpoint is None:
            return _Reply(404, _error_body("Resource not found"), {"Content-Type": _JSON})
        if key is None:
            return _Reply(401, _error_body("Invalid API key"), {"Content-Type": _JSON})
        ws = self._workspaces[key[0]]
        allowed, headers = self._take(ws, endpoint)
        headers["Content-Type"] = _JSON
        if not allowed:
            return _Reply(429, _error_body("Rate limit exceeded"), headers)
        permission = PERMISSIONS[endpoint]
        if permission not in key[1]:
            body = _error_body(
                "The API key does not have the permission required by this endpoint",
                [f"missing permission {permission}"],
            )
            return _Reply(403, body, headers)
        if endpoint == "list_integrations":
            return self._list(ws, cursor, headers)
        assert integration_id is not None
        if not _VALID_ID.fullmatch(integration_id):
            return _Reply(400, _error_body("Invalid integration ID"), headers)
        integ = ws.integrations.get(integration_id)
        if endpoint == "job_sync_status":
            if integ is None:
                return _Reply(400, _error_body("Invalid integration ID"), headers)
            return self._job_status(integ, cursor, headers)
        if integ is None:
            return _Reply(404, _error_body("Integration not found"), headers)
        return self._trigger(integ, headers)

    def _skip(self, cursor: str | None, total: int) -> int | None:
        if cursor is None:
            return 0
        skip = _decode_cursor(cursor)
        if skip is None or (skip >= total and skip != 0):
            return None
        return skip

    def _list(self, ws: _Workspace, cursor: str | None, headers: dict[str, str]) -> _Reply:
        for iid in list(ws.pending):
            self._settle(ws.integrations[iid])
        total = len(ws.integrations)
        skip = self._skip(cursor, total)
        if skip is None:
            return _Reply(400, _error_body("Invalid cursor"), headers)
        key = (skip, cursor is not None)
        page = ws.pages.get(key)
        if page is None:
            page = self._page(
                lambda: [self._list_record(i) for i in ws.integrations.values()],
                total,
                skip,
                cursor is not None,
                "/cdi/integrations",
            )
            ws.pages[key] = page
        reply = _Reply(200, page.body, headers)
        reply.page = page
        reply.link_path = "/cdi/integrations"
        reply.status_field = "last_job_status"
        if page.link is not None:
            headers["Link"] = page.link
        return reply

    def _job_status(self, integ: _Integration, cursor: str | None, headers: dict[str, str]) -> _Reply:
        if integ.running_until is not None:
            self._settle(integ)
        total = len(integ.history)
        skip = self._skip(cursor, total)
        if skip is None:
            return _Reply(400, _error_body("Invalid cursor"), headers)
        path = f"/cdi/integrations/{integ.record.integration_id}/job_sync_status"
        key = (skip, cursor is not None)
        page = integ.pages.get(key)
        if page is None:
            page = self._page(lambda: integ.history, total, skip, cursor is not None, path)
            integ.pages[key] = page
        reply = _Reply(200, page.body, headers)
        reply.page = page
        reply.link_path = path
        if page.link is not None:
            headers["Link"] = page.link
        return reply

    def _trigger(self, integ: _Integration, headers: dict[str, str]) -> _Reply:
        self._settle(integ)
        head = integ.history[0] if integ.history else None
        if head is not None and str(head.get("job_status", "")).lower() == "running":
            return _Reply(429, _error_body("Another job is in progress"), headers)
        now = self.clock()
        integ.history.insert(
            0,
            {
                "job_status": "running",
                "sync_start_time": iso(now),
                "sync_finish_time": None,
                "last_timestamp_synced": head.get("last_timestamp_synced") if head else None,
                "rows_synced": 0,
                "rows_failed_with_errors": 0,
            },
        )
        integ.running_until = now + self.sync_duration
        integ.workspace.pending.add(integ.record.integration_id)
        self._changed(integ)
        return _Reply(202, _SUCCESS, headers)

    def _fault_reply(
        self, fault: Fault, endpoint: str | None, key: tuple[str, frozenset[str]] | None
    ) -> _Reply:
        headers: dict[str, str] = {}
        if key is not None and endpoint is not None:
            ws = self._workspaces[key[0]]
            _, headers = self._take(ws, endpoint, consume=fault.kind != "rate_limited")
        if fault.kind == "rate_limited":
            if fault.retry_after is not None:
                headers["Retry-After"] = fault.retry_after
            headers["Content-Type"] = _JSON
            return _Reply(429, _error_body("Rate limit exceeded"), headers)
        if fault.html:
            page = (
                f"<html><head><title>{fault.status} Error</title></head><body><center><h1>{fault.status}"
                " Error</h1></center><hr><center>nginx</center></body></html>"
            )
            return _Reply(fault.status, page.encode(), {"Content-Type": "text/html"})
        headers["Content-Type"] = _JSON
        return _Reply(fault.status, _error_body("Internal server error"), headers)

    def _transform(self, reply: _Reply, fault: Fault) -> None:
        page = reply.page
        if fault.kind == "non_json":
            reply.body = fault.body
            reply.headers["Content-Type"] = fault.content_type
        elif fault.kind == "job_status" and page is not None:
            field = reply.status_field
            results = []
            for item in page.results:
                item = dict(item)
                value = item.get(field)
                if isinstance(value, str):
                    item[field] = fault.job_status or value.capitalize()
                results.append(item)
            reply.body = _dump({"results": results, "message": "success"})
        elif fault.kind == "link" and page is not None:
            reply.headers.pop("Link", None)
            link = self._fault_link(reply, page, fault)
            if link:
                reply.headers["Link"] = link

    def _fault_link(self, reply: _Reply, page: _Page, fault: Fault) -> str:
        style = fault.link_style
        path = reply.link_path
        prefix = ""
        if style == "absolute":
            prefix = self.base_url
        elif style == "foreign":
            prefix = f"http://{fault.host}"
        next_c = page.current_cursor if style == "repeat" else page.next_cursor
        parts = []
        if page.prev_cursor is not None:
            parts.append(f'<{prefix}{path}?cursor={quote(page.prev_cursor, safe="")}>; rel="prev"')
        if next_c is not None:
            next_path = path
            if style == "missing_slash":
                next_path = path.replace("/cdi/integrations/", "/cdi/integrations", 1)
            parts.append(f'<{prefix}{next_path}?cursor={quote(next_c, safe="")}>; rel="next"')
        return ",".join(parts)

    async def _reset(self, request: web.Request, reply: _Reply, fraction: float) -> web.StreamResponse:
        resp = web.StreamResponse(status=reply.status, headers=reply.headers)
        resp.content_length = len(reply.body)
        await resp.prepare(request)
        await resp.write(reply.body[: int(len(reply.body) * fraction)])
        transport = request.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        return resp

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        clock = self.clock
        started = clock()
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight
        method = request.method
        raw = request.raw_path
        path, _, qs = raw.partition("?")
        query = dict(parse_qsl(qs, keep_blank_values=True)) if qs else {}
        endpoint, raw_id = _route(method, path)
        integration_id = unquote(raw_id) if raw_id is not None else None
        api_key = _bearer(request.headers.get("Authorization"))
        key = self._keys.get(api_key) if api_key is not None else None
        cursor = query.get("cursor")
        fault: Fault | None = None
        status = 0
        try:
            if self.faults.active:
                info = RequestInfo(
                    method,
                    path,
                    query,
                    api_key,
                    key[0] if key else None,
                    endpoint,
                    integration_id,
                    cursor,
                    dict(request.headers),
                )
                fault = self.faults.pick(info)
            resp = await self._respond(request, fault, endpoint, raw_id, integration_id, key, cursor)
            status = resp.status
            return resp
        except ConnectionError:
            logger.debug("client went away during %s %s", method, path)
            status = 499
            return web.Response(status=499)
        finally:
            self.in_flight -= 1
            if self.log_requests:
                self.requests.append(
                    RequestRecord(
                        started,
                        clock(),
                        method,
                        path,
                        query,
                        status,
                        api_key,
                        key[0] if key else None,
                        endpoint,
                        integration_id,
                        cursor,
                        fault.name if fault is not None else None,
                        dict(request.headers),
                    )
                )

    async def _respond(
        self,
        request: web.Request,
        fault: Fault | None,
        endpoint: str | None,
        raw_id: str | None,
        integration_id: str | None,
        key: tuple[str, frozenset[str]] | None,
        cursor: str | None,
    ) -> web.StreamResponse:
        if fault is not None:
            kind = fault.kind
            if kind in ("status", "rate_limited"):
                reply = self._fault_reply(fault, endpoint, key)
                return reply.response()
            if kind == "latency":
                await asyncio.sleep(fault.delay)
            elif kind == "custom" and fault.handler is not None:

                async def default() -> web.StreamResponse:
                    reply = self._process(endpoint, raw_id, integration_id, key, cursor)
                    return reply.response()

                return await fault.handler(request, default)
        reply = self._process(endpoint, raw_id, integration_id, key, cursor)
        if fault is not None:
            kind = fault.kind
            if kind in ("non_json", "job_status", "link"):
                self._transform(reply, fault)
            elif kind == "reset":
                return await self._reset(request, reply, fault.fraction)
            elif kind == "truncated":
                reply.body = reply.body[: int(len(reply.body) * fault.fraction)]
        return reply.response()
