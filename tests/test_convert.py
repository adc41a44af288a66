"""The converter: datetimes, the open JobStatus enum, strict scalars, and unstructuring."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from braze_cdi_async._convert import converter, format_datetime, parse_datetime, unstructure
from braze_cdi_async.models import JobStatus, JobSyncStatus, Page

UTC = timezone.utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-15T09:45:00Z", datetime(2024, 1, 15, 9, 45, tzinfo=UTC)),
        ("2024-01-15T09:45:00+00:00", datetime(2024, 1, 15, 9, 45, tzinfo=UTC)),
        ("2024-01-15T09:45:00.5Z", datetime(2024, 1, 15, 9, 45, 0, 500000, tzinfo=UTC)),
        ("2024-01-15T09:45:00.123456789Z", datetime(2024, 1, 15, 9, 45, 0, 123456, tzinfo=UTC)),
        ("2024-01-15T11:45:00+02:00", datetime(2024, 1, 15, 9, 45, tzinfo=UTC)),
        ("2024-01-15T04:15:00-0530", datetime(2024, 1, 15, 9, 45, tzinfo=UTC)),
        ("2024-01-15T09:45Z", datetime(2024, 1, 15, 9, 45, tzinfo=UTC)),
        ("2024-01-15 09:45:00z", datetime(2024, 1, 15, 9, 45, tzinfo=UTC)),
        ("2024-01-15T09:45:00", datetime(2024, 1, 15, 9, 45, tzinfo=UTC)),
    ],
)
def test_parse_datetime_forms(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.tzinfo is not None


@pytest.mark.parametrize("text", ["", "yesterday", "2024-13-01T00:00:00Z", "2024-01-15T25:00:00Z"])
def test_parse_datetime_rejects_junk(text: str) -> None:
    with pytest.raises(ValueError):
        parse_datetime(text)


@given(
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
    st.sampled_from(["Z", "+00:00", "offset"]),
    st.integers(min_value=0, max_value=9),
)
def test_generated_iso_8601_strings_parse(naive: datetime, minutes: int, style: str, digits: int) -> None:
    tz = UTC if style != "offset" else timezone(timedelta(minutes=minutes))
    moment = naive.replace(tzinfo=tz)
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{moment.microsecond:06d}{'0' * 3}"[:digits]
    text = base + (f".{frac}" if digits else "")
    if style == "Z":
        text += "Z"
    elif style == "+00:00":
        text += "+00:00"
    else:
        text += moment.strftime("%z")[:3] + ":" + moment.strftime("%z")[3:]
    parsed = parse_datetime(text)
    expected_micro = int(frac.ljust(6, "0")[:6]) if digits else 0
    assert parsed == moment.replace(microsecond=expected_micro)


def test_format_datetime_uses_z_for_utc() -> None:
    assert format_datetime(datetime(2024, 1, 15, 9, 45, tzinfo=UTC)) == "2024-01-15T09:45:00Z"
    assert format_datetime(datetime(2024, 1, 15, 9, 45, tzinfo=timezone(timedelta(hours=2)))).endswith(
        "+02:00"
    )


def test_job_status_is_case_insensitive_and_open() -> None:
    assert JobStatus("Success") is JobStatus.SUCCESS
    assert JobStatus(" PARTIAL ") is JobStatus.PARTIAL
    unknown = JobStatus("canceled")
    assert unknown.value == "canceled" and str(unknown) == "canceled"
    assert not unknown.is_known and not unknown.is_failure
    assert unknown == "canceled"
    assert len(list(JobStatus)) == 5


def test_records_are_frozen_and_slotted() -> None:
    record = converter.structure(
        {
            "job_status": "error",
            "sync_start_time": "2024-01-15T09:45:00Z",
            "rows_synced": 0,
            "rows_failed_with_errors": 3,
        },
        JobSyncStatus,
    )
    assert record.is_failure and record.is_finished
    assert not hasattr(record, "__dict__")
    with pytest.raises(AttributeError):
        record.rows_synced = 5  # type: ignore[misc]


def test_unstructure_round_trips() -> None:
    raw = {
        "job_status": "canceled",
        "sync_start_time": "2024-01-15T09:45:00Z",
        "sync_finish_time": "2024-01-15T09:50:00.250000Z",
        "last_timestamp_synced": None,
        "rows_synced": 10,
        "rows_failed_with_errors": 0,
    }
    record = converter.structure(raw, JobSyncStatus)
    assert unstructure(record) == raw
    assert converter.structure(unstructure(record), JobSyncStatus) == record


def test_page_has_next() -> None:
    assert Page((), "abc").has_next
    assert not Page(()).has_next
