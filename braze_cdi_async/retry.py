"""Retry decisions: which failures to retry, how long to wait, and a shared retry quota (pure, no I/O)."""

from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from email.utils import parsedate_tz
from typing import Any

import attrs

from ._headers import header_value, parse_number
from .errors import (
    AuthenticationError,
    BadRequestError,
    BrazeAPIError,
    DecodeError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    SyncInProgressError,
    TransportError,
)

__all__ = ["RetryPolicy", "RetryBudget", "parse_retry_after"]

_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")

#: Errors a retry cannot fix, whatever ``retry_statuses`` says.
_NEVER_RETRY: tuple[type[BaseException], ...] = (
    SyncInProgressError,
    BadRequestError,
    AuthenticationError,
    PermissionDeniedError,
    NotFoundError,
    PayloadTooLargeError,
    DecodeError,
)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or HTTP-date); None if absent or junk."""
    if value is None:
        return None
    text = value.strip()
    if _SECONDS.fullmatch(text):
        seconds = float(text)
        return seconds if math.isfinite(seconds) else None
    when = _parse_http_date(text)
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when - current)


def _parse_http_date(text: str) -> float | None:
    """Epoch seconds of an HTTP-date (IMF-fixdate, RFC 850 or asctime), or None."""
    try:
        parts = parsedate_tz(text)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
    if parts is None:
        return None
    year, month, day, hour, minute, second = parts[:6]
    offset = parts[9] or 0
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    except (ValueError, OverflowError):
        return None
    return moment.timestamp() - offset


def _non_negative(name: str) -> Any:
    """attrs validator: a finite real number >= 0."""

    def check(_instance: Any, _attribute: Any, value: Any) -> None:
        _check_number(name, value)
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value!r}")

    return check


def _check_number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")


def _check_max_attempts(_instance: Any, _attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"max_attempts must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"max_attempts must be >= 1, got {value!r}")


def _check_max_server_wait(_instance: Any, _attribute: Any, value: Any) -> None:
    _check_number("max_server_wait", value)
    if value <= 0:
        raise ValueError(f"max_server_wait must be > 0, got {value!r}")


def _to_statuses(value: Iterable[int]) -> frozenset[int]:
    """Freeze the retry statuses, checking each is an HTTP error status."""
    statuses = frozenset(value)
    for status in statuses:
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError(f"retry_statuses must hold HTTP error statuses (400-599), got {status!r}")
    return statuses


@attrs.frozen
class RetryPolicy:
    """When to retry a failed request and how long to wait before the next try."""

    max_attempts: int = attrs.field(default=6, validator=_check_max_attempts)
    backoff_base: float = attrs.field(default=0.5, validator=_non_negative("backoff_base"))
    backoff_max: float = attrs.field(default=30.0, validator=_non_negative("backoff_max"))
    max_server_wait: float = attrs.field(default=120.0, validator=_check_max_server_wait)
    retry_statuses: frozenset[int] = attrs.field(
        default=frozenset({429, 500, 502, 503, 504}), converter=_to_statuses
    )
    retry_transport_errors: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))

    def is_retryable(self, error: BaseException, *, idempotent: bool) -> bool:
        """Whether a request that failed with ``error`` may be tried again."""
        if isinstance(error, TransportError):
            if not self.retry_transport_errors:
                return False
            return idempotent or not error.request_sent
        if not idempotent or isinstance(error, _NEVER_RETRY):
            return False
        return isinstance(error, BrazeAPIError) and error.status in self.retry_statuses

    def compute_delay(
        self, error: BaseException, attempt: int, *, now: float, rng: random.Random
    ) -> float | None:
        """Seconds to wait after failed ``attempt`` (1-based); None if the server asks for too long a wait."""
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise ValueError(f"attempt must be an int >= 1, got {attempt!r}")
        hint = self._server_hint(error, now)
        if hint is not None:
            return hint if hint <= self.max_server_wait else None
        return rng.uniform(0.0, self._backoff_ceiling(attempt))

    def _server_hint(self, error: BaseException, now: float) -> float | None:
        """The wait the server asked for (Retry-After, else a 429's X-RateLimit-Reset), if usable."""
        if not isinstance(error, BrazeAPIError):
            return None
        retry_after = parse_retry_after(header_value(error.headers, "retry-after"), now)
        if retry_after is not None:
            return retry_after
        if error.status == 429:
            reset = parse_number(header_value(error.headers, "x-ratelimit-reset"))
            if reset is not None and reset > now:
                return reset - now
        return None

    def _backoff_ceiling(self, attempt: int) -> float:
        """Upper bound of the jittered delay after ``attempt``: base * 2**(attempt-1), capped."""
        if self.backoff_base == 0:
            return 0.0
        try:
            raw = math.ldexp(self.backoff_base, attempt - 1)
        except OverflowError:
            return float(self.backoff_max)
        return float(min(self.backoff_max, raw))


class RetryBudget:
    """Retry quota shared by every request of a client: retries spend tokens, successes refill them.

    With the defaults (100 tokens, 2 a retry, 1 back per success) retries keep up while fewer than a third
    of requests fail; during an outage a client makes at most 50 retries in all before errors surface
    without retrying, so it does not multiply load on a service that is down.
    """

    __slots__ = ("_available", "_capacity", "_retry_cost", "_success_refill", "_timeout_cost")

    def __init__(
        self, capacity: int = 100, retry_cost: int = 2, timeout_cost: int = 2, success_refill: int = 1
    ) -> None:
        for name, value in (
            ("capacity", capacity),
            ("retry_cost", retry_cost),
            ("timeout_cost", timeout_cost),
            ("success_refill", success_refill),
        ):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
        self._capacity = capacity
        self._available = capacity
        self._retry_cost = retry_cost
        self._timeout_cost = timeout_cost
        self._success_refill = success_refill

    @property
    def capacity(self) -> int:
        """Most tokens the budget holds."""
        return self._capacity

    @property
    def available(self) -> int:
        """Tokens left to spend on retries."""
        return self._available

    def try_acquire(self, error: BaseException) -> bool:
        """Spend the cost of retrying after ``error``; False (nothing spent) if the budget cannot cover it."""
        cost = self._timeout_cost if isinstance(error, TransportError) else self._retry_cost
        if cost > self._available:
            return False
        self._available -= cost
        return True

    def on_success(self) -> None:
        """Refill after a successful request, up to capacity."""
        self._available = min(self._capacity, self._available + self._success_refill)

    def __repr__(self) -> str:
        return f"RetryBudget(available={self._available}, capacity={self._capacity})"
