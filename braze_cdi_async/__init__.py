"""Asyncio client for Braze Cloud Data Ingestion: sync statuses of many integrations, within rate limits."""

from ._version import __version__
from .client import BrazeCDIClient, ClientStats
from .errors import (
    AuthenticationError,
    BadRequestError,
    BrazeAPIError,
    BrazeError,
    ClientClosedError,
    ConfigurationError,
    DecodeError,
    InvalidCursorError,
    InvalidIntegrationIdError,
    NotFoundError,
    PaginationError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    SyncInProgressError,
    TransportError,
)
from .instances import INSTANCES
from .models import Integration, JobStatus, JobSyncStatus, Page
from .ratelimit import (
    NO_RATE_LIMIT,
    BrazeRateLimiter,
    NoRateLimit,
    RateLimiter,
    TokenBucket,
    TokenBucketLimiter,
)
from .retry import RetryBudget, RetryPolicy
from .watch import SyncWaitTimeoutError

__all__ = [
    "__version__",
    "BrazeCDIClient",
    "ClientStats",
    "INSTANCES",
    "Integration",
    "JobStatus",
    "JobSyncStatus",
    "Page",
    "RetryPolicy",
    "RetryBudget",
    "RateLimiter",
    "BrazeRateLimiter",
    "TokenBucket",
    "TokenBucketLimiter",
    "NoRateLimit",
    "NO_RATE_LIMIT",
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
    "SyncWaitTimeoutError",
]
