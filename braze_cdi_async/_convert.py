"""The one cattrs converter: datetimes, open enums, strict scalars, lenient extras, readable errors."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import cattrs
from cattrs.errors import ClassValidationError, IterableValidationError
from cattrs.v import format_exception

from .errors import DecodeError
from .models import Integration, JobStatus, JobSyncStatus

__all__ = [
    "converter",
    "parse_datetime",
    "format_datetime",
    "decode_results",
    "loads",
    "unstructure",
]

T = TypeVar("T")

try:  # pragma: no cover - exercised only where orjson is installed
    import orjson  # type: ignore[import-not-found,unused-ignore]

    def loads(data: bytes | str) -> Any:
        """Parse JSON (orjson when installed, else the standard library)."""
        return orjson.loads(data)  # type: ignore[no-any-return,unused-ignore]

except ImportError:  # pragma: no cover - the default
    _json_loads: Callable[..., Any] = json.loads

    def loads(data: bytes | str) -> Any:
        """Parse JSON (orjson when installed, else the standard library)."""
        return _json_loads(data)


_ISO = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}(?::\d{2})?)"
    r"(?:[.,](?P<frac>\d+))?\s*(?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)?"
)


def parse_datetime(value: str) -> datetime:
    """Parse an ISO 8601 timestamp into an aware datetime (``Z``, offsets, any fraction; naive means UTC)."""
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 string, got {type(value).__name__}")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" and text else text)
    except ValueError:
        parsed = _parse_loose(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def _parse_loose(text: str) -> datetime:
    """The slow path for what ``fromisoformat`` on Python 3.10 rejects (odd fractions, ``+0000``)."""
    match = _ISO.fullmatch(text)
    if match is None:
        raise ValueError(f"not an ISO 8601 timestamp: {text[:64]!r}")
    clock = match["time"] if match["time"].count(":") == 2 else match["time"] + ":00"
    frac = (match["frac"] or "")[:6].ljust(6, "0")
    parsed = datetime.fromisoformat(f"{match['date']}T{clock}.{frac}")
    tz = match["tz"]
    if tz is None:
        return parsed
    if tz in ("Z", "z"):
        return parsed.replace(tzinfo=timezone.utc)
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
    return parsed.replace(tzinfo=timezone(sign * offset))


def format_datetime(value: datetime) -> str:
    """ISO 8601 with ``Z`` for UTC: what Braze sends, and what our JSON output uses."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _structure_datetime(value: Any, _: type) -> datetime:
    return parse_datetime(value)


def _structure_int(value: Any, _: type) -> int:
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    raise TypeError(f"expected an integer, got {type(value).__name__} {_excerpt(value)}")


def _structure_str(value: Any, _: type) -> str:
    if type(value) is str:
        return value
    raise TypeError(f"expected a string, got {type(value).__name__} {_excerpt(value)}")


def _structure_status(value: Any, _: type) -> JobStatus:
    if not isinstance(value, str):
        raise TypeError(f"expected a status string, got {type(value).__name__} {_excerpt(value)}")
    return JobStatus(value)


def _excerpt(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _format_exception(exc: BaseException, type_: Any) -> str:
    """Our hooks' own messages say more than cattrs' generic text; keep them."""
    if isinstance(exc, (TypeError, ValueError)) and exc.args:
        return str(exc)
    return format_exception(exc, type_)


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=True, forbid_extra_keys=False)
    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(JobStatus, _structure_status)
    conv.register_unstructure_hook(datetime, format_datetime)
    conv.register_unstructure_hook(JobStatus, lambda s: s.value)
    return conv


#: The library's single converter. Structure with it, or unstructure records to JSON-ready dicts.
converter: cattrs.Converter = _make_converter()

_RESULT_TYPES: dict[type[Any], Any] = {JobSyncStatus: list[JobSyncStatus], Integration: list[Integration]}


def unstructure(record: Any) -> Any:
    """A record (or list of them) as plain JSON-ready data with ISO 8601 times."""
    return converter.unstructure(record)


def decode_results(body: Any, item_type: type[T], *, integration_id: str | None = None) -> list[T]:
    """Validate an envelope ``{"results": [...], "message": ...}`` and structure its results."""
    where = f" (integration {integration_id!r})" if integration_id is not None else ""
    if not isinstance(body, dict):
        raise DecodeError(
            f"expected a JSON object with 'results'{where}, got {type(body).__name__}",
            integration_id=integration_id,
        )
    results = body.get("results")
    if not isinstance(results, list):
        got = "nothing" if results is None else type(results).__name__
        raise DecodeError(
            f"expected 'results' to be a list{where}, got {got}",
            integration_id=integration_id,
            path="results",
        )
    try:
        decoded: list[T] = converter.structure(results, _RESULT_TYPES.get(item_type, list[item_type]))  # type: ignore[valid-type]
    except (ClassValidationError, IterableValidationError) as exc:
        for index, item in enumerate(results):
            if not isinstance(item, dict):
                raise DecodeError(
                    f"cannot decode {item_type.__name__}{where}: expected an object,"
                    f" got {type(item).__name__} @ results[{index}]",
                    integration_id=integration_id,
                    path=f"results[{index}]",
                ) from None
        messages = cattrs.transform_error(exc, path="results", format_exception=_format_exception)
        first = messages[0] if messages else str(exc)
        more = f" (+{len(messages) - 1} more)" if len(messages) > 1 else ""
        path = first.rsplit(" @ ", 1)[-1] if " @ " in first else None
        raise DecodeError(
            f"cannot decode {item_type.__name__}{where}: {first}{more}",
            integration_id=integration_id,
            path=path,
        ) from None
    return decoded
