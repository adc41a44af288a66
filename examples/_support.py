"""Shared helpers of the examples: a client from the environment or the embedded emulator, and tables."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from braze_cdi_async import BrazeCDIClient, BrazeError, ConfigurationError
from braze_cdi_async.testing import BrazeCDIEmulator

__all__ = ["EMULATOR_NOTE", "fmt_duration", "fmt_time", "open_client", "run", "table"]

#: The start of the one line the examples write to stderr when they fall back to the emulator.
EMULATOR_NOTE = "BRAZE_API_KEY is not set: using the embedded Braze CDI emulator with demo data"


@asynccontextmanager
async def open_client() -> AsyncIterator[BrazeCDIClient]:
    """Yield a client for Braze (``BRAZE_API_KEY`` set) or for an embedded demo emulator (not set)."""
    if os.environ.get("BRAZE_API_KEY", "").strip():
        async with BrazeCDIClient.from_env() as client:
            yield client
        return
    async with BrazeCDIEmulator.with_demo_data(log_requests=False) as emulator:
        print(f"{EMULATOR_NOTE} at {emulator.base_url}", file=sys.stderr, flush=True)
        async with BrazeCDIClient(emulator.demo_api_key, base_url=emulator.base_url) as client:
            yield client


def run(main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run an example's ``main`` and turn configuration and API errors into a message and exit status."""
    try:
        return asyncio.run(main())
    except ConfigurationError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except BrazeError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def fmt_time(value: datetime | None) -> str:
    """A time as ``YYYY-MM-DD HH:MM:SS`` in UTC, or ``-``."""
    if value is None:
        return "-"
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def fmt_duration(value: timedelta | None) -> str:
    """A duration as ``1h02m03s`` / ``2m03s`` / ``3s``, or ``-``."""
    if value is None:
        return "-"
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: Sequence[int] = ()) -> str:
    """Render ``rows`` as a plain-text table; columns listed in ``right`` are right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    out = [line(headers), "  ".join("-" * w for w in widths)]
    out.extend(line(row) for row in rows)
    return "\n".join(out)
