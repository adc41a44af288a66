"""A deterministic clock for tests: time moves only when the test says so."""

from __future__ import annotations

import asyncio
import heapq
import itertools

__all__ = ["FakeClock", "InstantClock"]


class FakeClock:
    """Implements :class:`braze_cdi_async._clock.Clock` with virtual time.

    ``sleep`` parks the caller until :meth:`advance` moves time past its deadline;
    no real time passes, so limiter and retry tests are exact and instant.
    """

    def __init__(self, start: float = 1_000_000.0) -> None:
        self._now = float(start)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self._now

    @property
    def now(self) -> float:
        """The current virtual time; assign to jump (sleepers are woken only by :meth:`advance`)."""
        return self._now

    @now.setter
    def now(self, value: float) -> None:
        self._now = float(value)

    def time(self) -> float:
        return self._now

    @property
    def sleepers(self) -> int:
        """How many callers are parked in :meth:`sleep` right now."""
        return sum(1 for _, _, f in self._sleepers if not f.done())

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), fut))
        await fut

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking sleepers in deadline order, and let them run."""
        target = self._now + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, fut = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            if not fut.done():
                fut.set_result(None)
            await _settle()
        self._now = target
        await _settle()


async def _settle(rounds: int = 20) -> None:
    """Give every ready callback a chance to run (no real time passes)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class InstantClock(FakeClock):
    """A fake clock whose ``sleep`` moves time forward by itself: waits cost nothing and are recorded."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        super().__init__(start)
        #: Every delay passed to :meth:`sleep`, in call order.
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if seconds > 0:
            self._now += seconds
        await asyncio.sleep(0)
