"""The exception hierarchy, and the mapping from (status, message) to a class."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._headers import header_value

__all__ = [
    "BrazeError",
    "BrazeAPIError",
    "BadRequestError",
    "InvalidCursorError",
    "InvalidIntegrationIdError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "RateLimitedError",
    "SyncInProgressError",
    "ServerError",
    "TransportError",
    "DecodeError",
    "PaginationError",
    "ClientClosedError",
    "ConfigurationError",
    "error_for_response",
]

_EXCERPT = 200


class BrazeError(Exception):
    """Root of every error this library raises on purpose."""


class BrazeAPIError(BrazeError):
    """Braze answered with an error status."""

    status: int
    message: str
    errors: tuple[Any, ...]
    headers: Mapping[str, str]

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: Sequence[Any] = (),
        headers: Mapping[str, str] | None = None,
        url: str | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.errors = tuple(errors)
        self.headers = dict(headers or {})
        self.url = url
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f" for {self.url}" if self.url else ""
        text = f"HTTP {self.status}{where}: {self.message}"
        if self.errors:
            text += f" ({'; '.join(str(e)[:_EXCERPT] for e in self.errors[:5])})"
        hint = _HINTS.get(type(self).__name__)
        return f"{text}. {hint}" if hint else text

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.status, self.message, self.errors, self.headers, self.url))


def _rebuild(
    cls: type[BrazeAPIError],
    status: int,
    message: str,
    errors: Sequence[Any],
    headers: Mapping[str, str],
    url: str | None,
) -> BrazeAPIError:
    return cls(status, message, errors=errors, headers=headers, url=url)


class BadRequestError(BrazeAPIError):
    """400: the request was malformed."""


class InvalidCursorError(BadRequestError):
    """400 ``Invalid cursor``: the pagination cursor was not accepted."""


class InvalidIntegrationIdError(BadRequestError):
    """400 ``Invalid integration ID``."""


class AuthenticationError(BrazeAPIError):
    """401: the API key was not accepted."""


class PermissionDeniedError(BrazeAPIError):
    """403: the key lacks the endpoint's permission, or the plan/account does not allow it."""


class NotFoundError(BrazeAPIError):
    """404: unknown URL, or ``Integration not found``."""


class PayloadTooLargeError(BrazeAPIError):
    """413: the request body was too large."""


class RateLimitedError(BrazeAPIError):
    """429: over the workspace's rate limit for this endpoint."""

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asked us to wait (``Retry-After``), if it said."""
        from .retry import parse_retry_after  # local: retry imports errors

        return parse_retry_after(header_value(self.headers, "retry-after"))


class SyncInProgressError(BrazeAPIError):
    """429 ``Another job is in progress``: a sync already runs for this integration."""


class ServerError(BrazeAPIError):
    """5xx: Braze failed; 502, 503 and 504 are usually transient."""


class TransportError(BrazeError):
    """No usable HTTP response: connection refused or reset, timeout, truncated body."""

    def __init__(self, message: str, *, request_sent: bool = True, url: str | None = None) -> None:
        #: False only when the request provably never reached the server (connect failure).
        self.request_sent = request_sent
        self.url = url
        super().__init__(message)


class DecodeError(BrazeError):
    """The body was not the documented JSON shape."""

    def __init__(self, message: str, *, integration_id: str | None = None, path: str | None = None) -> None:
        self.integration_id = integration_id
        #: Where in the body the problem is, e.g. ``results[3].rows_synced``.
        self.path = path
        super().__init__(message)


class PaginationError(BrazeError):
    """The server's pagination misbehaved: a repeating cursor, or more pages than allowed."""


class ClientClosedError(BrazeError, RuntimeError):
    """The client was used after ``close()`` or after its ``async with`` block ended."""


_HINTS = {
    "AuthenticationError": (
        "Check the API key (unquoted, not revoked) and that the base URL/instance is the"
        " workspace's own REST endpoint"
    ),
    "PermissionDeniedError": (
        "Check that the key has this endpoint's permission (cdi.integration_list,"
        " cdi.integration_job_status or cdi.integration_sync) and any IP allowlist"
    ),
}


def error_for_response(
    status: int,
    message: str,
    *,
    errors: Sequence[Any] = (),
    headers: Mapping[str, str] | None = None,
    url: str | None = None,
) -> BrazeAPIError:
    """Choose the exception class for an error response (pure; compares messages loosely)."""
    norm = " ".join(message.lower().split())
    cls: type[BrazeAPIError]
    if status == 400:
        if "invalid cursor" in norm:
            cls = InvalidCursorError
        elif "invalid integration id" in norm:
            cls = InvalidIntegrationIdError
        else:
            cls = BadRequestError
    elif status == 401:
        cls = AuthenticationError
    elif status == 403:
        cls = PermissionDeniedError
    elif status == 404:
        cls = NotFoundError
    elif status == 413:
        cls = PayloadTooLargeError
    elif status == 429:
        cls = SyncInProgressError if "another job is in progress" in norm else RateLimitedError
    elif 500 <= status <= 599:
        cls = ServerError
    else:
        cls = BrazeAPIError
    return cls(status, message, errors=errors, headers=headers, url=url)


class ConfigurationError(BrazeError, ValueError):
    """The client was configured wrongly: a missing environment variable, a bad URL or instance."""
