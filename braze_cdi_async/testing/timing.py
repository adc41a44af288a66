"""Helpers for measuring a client against fixed clock-aligned windows, and for leak checks."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

__all__ = ["fixed_window_floor", "start_in_window", "client_tasks"]


def fixed_window_floor(t0: float, requests: int, limit: int, window: float) -> float:
    """Shortest possible run of ``requests`` started at epoch ``t0`` against clock-aligned fixed windows.

    The run starts in window ``k0 = floor(t0 / window)`` with its whole budget and needs
    ``ceil(requests / limit)`` windows, so its last request cannot be sent before window
    ``k0 + ceil(requests / limit) - 1`` opens. The nominal floor ``requests / limit * window`` ignores that
    the first window is partial, so a perfect limiter beats it by up to one window.
    """
    k0 = math.floor(t0 / window)
    return (k0 + math.ceil(requests / limit) - 1) * window - t0


async def start_in_window(window: float, offset: float) -> float:
    """Sleep until ``offset`` seconds into the next clock-aligned window; return the epoch time then."""
    now = time.time()
    await asyncio.sleep((math.floor(now / window) + 1) * window + offset - now)
    return time.time()


def client_tasks() -> set[asyncio.Task[Any]]:
    """The running loop's tasks, less the emulator's own per-connection server tasks (for leak checks)."""
    return {
        task
        for task in asyncio.all_tasks()
        if "RequestHandler" not in getattr(task.get_coro(), "__qualname__", "")
    }
