"""Four OS processes, each with its own client and event loop, share one workspace through Redis."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from redis_support import delete_prefix_sync, require_redis_sync

pytestmark = [pytest.mark.redis, pytest.mark.slow]

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "distributed.py"
PROCESSES, PAGES, LIMIT, WINDOW = 4, 800, 100, 1.0


def test_four_processes_fetch_800_pages_with_zero_429s_at_the_floor() -> None:
    url = require_redis_sync()
    prefix = f"test-mp-{uuid.uuid4().hex[:12]}:"
    argv = [
        *(sys.executable, str(BENCHMARK), "--mode", "redis", "--json", "--redis-url", url),
        *("--prefix", prefix, "--processes", str(PROCESSES), "--pages", str(PAGES)),
        *("--limit", str(LIMIT), "--window", str(WINDOW)),
    ]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)
    finally:
        delete_prefix_sync(url, prefix)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    floor = PAGES / LIMIT * WINDOW

    assert result["processes"] == PROCESSES, result
    assert result["pages"] == PAGES, result
    assert result["records"] == PAGES * 10, result
    assert result["http_429"] == 0, result  # as the emulator (the server) saw them
    assert result["client_429"] == 0, result
    assert result["requests"] == PAGES, result  # no request was wasted or retried
    assert result["per_window"] == [LIMIT] * (PAGES // LIMIT), result  # every window's budget spent whole
    # Started on a window boundary, the run occupies exactly the floor's windows; the last window's budget
    # is spent early in it, so the wall time ends a little before the floor, never more than 10% after.
    assert result["windows_used"] * WINDOW == pytest.approx(floor, rel=0.1), result
    assert (PAGES // LIMIT - 1) * WINDOW <= result["wall"] <= 1.1 * floor, result
