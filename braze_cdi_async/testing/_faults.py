"""Fault descriptions and the injector that decides which request gets which fault."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence

import attrs
from aiohttp import web

__all__ = [
    "ENDPOINTS",
    "ResponseFactory",
    "CustomHandler",
    "RequestInfo",
    "Fault",
    "FaultRule",
    "FaultInjector",
]

ENDPOINTS = ("job_sync_status", "list_integrations", "trigger_sync")

ResponseFactory = Callable[[], Awaitable[web.StreamResponse]]
"""Builds the response the emulator would have sent without the fault (counts against the rate limit)."""

CustomHandler = Callable[[web.Request, ResponseFactory], Awaitable[web.StreamResponse]]
"""A test-supplied responder: gets the request and the default response factory."""


@attrs.frozen
class RequestInfo:
    """What a fault rule can match on: the parsed request before any response."""

    method: str
    path: str
    query: Mapping[str, str]
    api_key: str | None
    workspace_id: str | None
    endpoint: str | None
    integration_id: str | None
    cursor: str | None
    headers: Mapping[str, str]


def _retry_after(value: float | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else str(value)


@attrs.frozen
class Fault:
    """One injected misbehaviour; build with the class methods, not the constructor."""

    kind: str
    name: str
    status: int = 200
    html: bool = False
    retry_after: str | None = None
    delay: float = 0.0
    fraction: float = 0.5
    body: bytes = b""
    content_type: str = "text/html"
    link_style: str = "relative"
    host: str = ""
    job_status: str = ""
    handler: CustomHandler | None = attrs.field(default=None, eq=False)

    @classmethod
    def server_error(cls, status: int = 503, *, html: bool = False, name: str | None = None) -> Fault:
        """A 5xx with a Braze-shaped JSON body, or an HTML gateway page when ``html``."""
        if not 500 <= status <= 599:
            raise ValueError(f"server_error needs a 5xx status, got {status}")
        default = f"html_{status}" if html else f"server_error_{status}"
        return cls("status", name or default, status=status, html=html)

    @classmethod
    def rate_limited(cls, retry_after: float | str | None = None, *, name: str | None = None) -> Fault:
        """A 429 ``Rate limit exceeded``, with ``Retry-After`` only when ``retry_after`` is given."""
        default = "rate_limited" if retry_after is None else "rate_limited_retry_after"
        return cls("rate_limited", name or default, status=429, retry_after=_retry_after(retry_after))

    @classmethod
    def latency(cls, seconds: float, *, name: str = "latency") -> Fault:
        """Wait ``seconds`` (real time), then answer normally."""
        return cls("latency", name, delay=float(seconds))

    @classmethod
    def connection_reset(cls, fraction: float = 0.5, *, name: str = "connection_reset") -> Fault:
        """Send the headers and ``fraction`` of the normal body, then reset the TCP connection."""
        return cls("reset", name, fraction=fraction)

    @classmethod
    def truncated_json(cls, fraction: float = 0.5, *, name: str = "truncated_json") -> Fault:
        """Send only ``fraction`` of the normal JSON body, with an honest ``Content-Length``."""
        return cls("truncated", name, fraction=fraction)

    @classmethod
    def non_json(
        cls,
        body: bytes = b"<html><body><h1>Service temporarily unavailable</h1></body></html>",
        content_type: str = "text/html",
        *,
        name: str = "non_json",
    ) -> Fault:
        """Answer with the normal status and headers but a body that is not JSON."""
        return cls("non_json", name, body=body, content_type=content_type)

    @classmethod
    def repeating_cursor(cls, *, name: str = "repeating_cursor") -> Fault:
        """Give a ``next`` link whose cursor equals the cursor of the page just served."""
        return cls("link", name, link_style="repeat")

    @classmethod
    def absolute_link(cls, *, name: str = "absolute_link") -> Fault:
        """Render the ``Link`` URLs as absolute URLs on the emulator's own base URL."""
        return cls("link", name, link_style="absolute")

    @classmethod
    def missing_slash_link(cls, *, name: str = "missing_slash_link") -> Fault:
        """Render the ``next`` link as in Braze's documented example (``/cdi/integrations{ID}/...``)."""
        return cls("link", name, link_style="missing_slash")

    @classmethod
    def foreign_link(cls, host: str = "evil.example.com", *, name: str = "foreign_link") -> Fault:
        """Render the ``Link`` URLs as absolute URLs on another host (``http://{host}/...``)."""
        return cls("link", name, link_style="foreign", host=host)

    @classmethod
    def capitalised_status(cls, *, name: str = "capitalised_status") -> Fault:
        """Capitalise every job status in the page (``Success``, ``Running``...)."""
        return cls("job_status", name)

    @classmethod
    def unknown_status(cls, value: str = "canceled", *, name: str = "unknown_status") -> Fault:
        """Replace every job status in the page with ``value``."""
        return cls("job_status", name, job_status=value)

    @classmethod
    def custom(cls, handler: CustomHandler, *, name: str = "custom") -> Fault:
        """Let ``handler(request, default_response_factory)`` produce the response."""
        return cls("custom", name, handler=handler)


def _check_endpoint(endpoint: str | None) -> None:
    if endpoint is not None and endpoint not in ENDPOINTS:
        raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {ENDPOINTS}")


@attrs.define(eq=False)
class FaultRule:
    """A registered scripted (``remaining`` counts down) or probabilistic (``probability``) rule."""

    faults: tuple[Fault, ...]
    endpoint: str | None = None
    integration_id: str | None = None
    match: Callable[[RequestInfo], bool] | None = None
    remaining: int | None = None
    probability: float | None = None
    rng: random.Random = attrs.field(factory=random.Random)
    hits: int = 0

    def matches(self, info: RequestInfo) -> bool:
        """Whether this rule applies to ``info`` (ignoring count and probability)."""
        if self.endpoint is not None and info.endpoint != self.endpoint:
            return False
        if self.integration_id is not None and info.integration_id != self.integration_id:
            return False
        return self.match is None or self.match(info)


class FaultInjector:
    """Holds the outage switch and the fault rules; :meth:`pick` chooses a request's fault."""

    def __init__(self, seed: int = 0) -> None:
        self.down: Fault | None = None
        self._rules: list[FaultRule] = []
        self._seed = seed
        self._count = 0

    @property
    def active(self) -> bool:
        """True when any rule or the outage switch could fault a request."""
        return self.down is not None or bool(self._rules)

    @property
    def rules(self) -> list[FaultRule]:
        """The registered rules, in evaluation order."""
        return list(self._rules)

    def script(
        self,
        fault: Fault,
        *,
        times: int = 1,
        endpoint: str | None = None,
        integration_id: str | None = None,
        match: Callable[[RequestInfo], bool] | None = None,
    ) -> FaultRule:
        """Give ``fault`` to the next ``times`` requests that match."""
        _check_endpoint(endpoint)
        if times < 1:
            raise ValueError("times must be >= 1")
        rule = FaultRule((fault,), endpoint, integration_id, match, remaining=times)
        self._rules.append(rule)
        return rule

    def random(
        self,
        faults: Fault | Sequence[Fault],
        p: float,
        *,
        endpoint: str | None = None,
        integration_id: str | None = None,
        match: Callable[[RequestInfo], bool] | None = None,
        seed: int | None = None,
    ) -> FaultRule:
        """Give each matching request, with probability ``p``, one of ``faults`` (seeded RNG)."""
        _check_endpoint(endpoint)
        if not 0.0 <= p <= 1.0:
            raise ValueError("p must be within [0, 1]")
        chosen = (faults,) if isinstance(faults, Fault) else tuple(faults)
        if not chosen:
            raise ValueError("faults must not be empty")
        if seed is None:
            seed = self._seed * 1_000_003 + self._count
        self._count += 1
        rule = FaultRule(chosen, endpoint, integration_id, match, probability=p, rng=random.Random(seed))
        self._rules.append(rule)
        return rule

    @contextlib.contextmanager
    def outage(self, fault: Fault | None = None) -> Iterator[None]:
        """Within the block every request gets ``fault`` (default: JSON 503)."""
        previous = self.down
        self.down = fault or Fault.server_error(503)
        try:
            yield
        finally:
            self.down = previous

    def remove(self, rule: FaultRule) -> None:
        """Unregister ``rule``."""
        self._rules.remove(rule)

    def clear(self) -> None:
        """Remove every rule and end any outage."""
        self._rules.clear()
        self.down = None

    def pick(self, info: RequestInfo) -> Fault | None:
        """Choose the fault for one request: outage first, then scripted, then probabilistic rules."""
        if self.down is not None:
            return self.down
        for rule in self._rules:
            if rule.remaining is not None and rule.matches(info):
                rule.remaining -= 1
                rule.hits += 1
                if rule.remaining <= 0:
                    self._rules.remove(rule)
                return rule.faults[0]
        for rule in self._rules:
            if rule.probability is not None and rule.matches(info) and rule.rng.random() < rule.probability:
                rule.hits += 1
                return rule.faults[0] if len(rule.faults) == 1 else rule.rng.choice(rule.faults)
        return None
