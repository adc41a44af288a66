"""The records this library returns: frozen, slotted attrs classes."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Generic, TypeVar

import attrs

__all__ = ["JobStatus", "JobSyncStatus", "Integration", "Page"]

T = TypeVar("T")


class JobStatus(str, enum.Enum):
    """Outcome of one CDI sync job; an open set (unknown values decode, keeping their text)."""

    RUNNING = "running"
    SUCCESS = "success"
    PARTIAL = "partial"
    ERROR = "error"
    CONFIG_ERROR = "config_error"

    @classmethod
    def _missing_(cls, value: object) -> JobStatus | None:
        if not isinstance(value, str):
            return None
        folded = value.strip().lower()
        known = cls._value2member_map_.get(folded)
        if known is not None:
            return known  # type: ignore[return-value]
        # An unknown status (Braze adds values over time): a pseudo-member that keeps the original text.
        member = str.__new__(cls, value)
        member._name_ = "UNKNOWN"
        member._value_ = value
        return member

    @property
    def is_known(self) -> bool:
        """True for the five documented statuses."""
        return self._name_ != "UNKNOWN"

    @property
    def is_failure(self) -> bool:
        """True for ``error`` and ``config_error`` (no rows synced, or a broken setup)."""
        return self in (JobStatus.ERROR, JobStatus.CONFIG_ERROR)

    def __str__(self) -> str:
        return str(self._value_)


@attrs.frozen(slots=True, kw_only=True)
class JobSyncStatus:
    """One sync of one CDI integration, as ``job_sync_status`` reports it."""

    job_status: JobStatus
    sync_start_time: datetime
    sync_finish_time: datetime | None = None
    last_timestamp_synced: datetime | None = None
    rows_synced: int
    rows_failed_with_errors: int

    @property
    def is_finished(self) -> bool:
        """True once the job is no longer running."""
        return self.job_status is not JobStatus.RUNNING

    @property
    def is_failure(self) -> bool:
        """True when the job ended in ``error`` or ``config_error``."""
        return self.job_status.is_failure

    @property
    def duration(self) -> timedelta | None:
        """How long the sync took; None while it runs (or when Braze sent no finish time)."""
        if self.sync_finish_time is None:
            return None
        return self.sync_finish_time - self.sync_start_time


@attrs.frozen(slots=True, kw_only=True)
class Integration:
    """One CDI integration, as ``GET /cdi/integrations`` lists it."""

    integration_id: str
    integration_name: str | None = None
    integration_type: str | None = None
    integration_status: str | None = None
    app_group_id: str | None = None
    contact_emails: str | None = None
    last_updated_at: datetime | None = None
    warehouse_type: str | None = None
    last_job_start_time: datetime | None = None
    last_job_status: JobStatus | None = None
    next_scheduled_run: datetime | None = None


@attrs.frozen(slots=True)
class Page(Generic[T]):
    """One page of results, with the cursors to its neighbours."""

    results: tuple[T, ...]
    next_cursor: str | None = None
    prev_cursor: str | None = None

    @property
    def has_next(self) -> bool:
        """True when the server said there is another page."""
        return self.next_cursor is not None
