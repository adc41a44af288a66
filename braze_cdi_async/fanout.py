"""The concurrent multi-integration scheduler: breadth-first, latest first, bounded, partial-failure safe."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from typing import Generic, TypeVar

from .errors import BrazeError, PaginationError
from .links import check_integration_id
from .models import Page

__all__ = ["FetchPage", "Progress", "CursorGuard", "unique_ids", "FanOut", "stream_pages"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Fetch one page: ``(integration_id, cursor) -> Page``.
FetchPage = Callable[[str, "str | None"], Awaitable[Page[T]]]
#: Progress hook: ``(integrations_done, integrations_total)``.
Progress = Callable[[int, int], None]
#: Receives each page as it arrives; may wait (backpressure).
Deliver = Callable[[str, Page[T]], Awaitable[None]]


class CursorGuard:
    """Stops a server's endless or looping pagination of one listing (pure bookkeeping)."""

    __slots__ = ("_label", "_limit", "_seen", "pages")

    def __init__(self, first_cursor: str | None, page_limit: int, label: str) -> None:
        self._seen: set[str] = set() if first_cursor is None else {first_cursor}
        self._limit = page_limit
        self._label = label
        self.pages = 0

    def advance(self, next_cursor: str) -> None:
        """Count one more page read; refuse ``next_cursor`` if it repeats or the page limit is reached."""
        self.pages += 1
        if next_cursor in self._seen:
            raise PaginationError(
                f"the server repeated cursor {next_cursor[:40]!r} after {self.pages} pages{self._label};"
                " stopping instead of looping (results so far were delivered)"
            )
        if self.pages >= self._limit:
            raise PaginationError(
                f"read {self.pages} pages{self._label} without reaching the end (page_limit={self._limit});"
                " pass max_pages= to read fewer, or raise page_limit"
            )
        self._seen.add(next_cursor)


def unique_ids(integration_ids: Iterable[str]) -> list[str]:
    """Validate every ID (before any request) and drop duplicates, keeping the first-seen order."""
    if isinstance(integration_ids, str):
        raise TypeError("integration_ids must be an iterable of IDs, not a single string")
    ids = list(dict.fromkeys(integration_ids))
    for integration_id in ids:
        check_integration_id(integration_id)
    return ids


class FanOut(Generic[T]):
    """Fetches the pages of many integrations with ``concurrency`` workers, breadth-first.

    Work items are ordered by (page number, input position): every integration's first page is requested
    before any second page, and one integration's pages are requested one after another, in order.
    Only ``concurrency`` worker tasks exist, whatever the number of IDs.
    """

    def __init__(
        self,
        fetch_page: FetchPage[T],
        integration_ids: list[str],
        *,
        concurrency: int,
        max_pages: int | None,
        page_limit: int,
        return_exceptions: bool,
        progress: Progress | None = None,
    ) -> None:
        if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
            raise ValueError(f"max_concurrency must be a positive integer, got {concurrency!r}")
        self._fetch = fetch_page
        self._ids = integration_ids
        self.concurrency = concurrency
        self._max_pages = max_pages
        self._page_limit = page_limit
        self._return_exceptions = return_exceptions
        self._progress = progress
        self._queue: asyncio.PriorityQueue[tuple[int, int, str, str | None]] = asyncio.PriorityQueue()
        self._guards: dict[str, CursorGuard] = {}
        self._done = 0
        #: Integration → the error that ended it (only with ``return_exceptions``).
        self.errors: dict[str, BrazeError] = {}

    async def run(self, deliver: Deliver[T]) -> None:
        """Fetch every page, handing each to ``deliver``; a first uncollected error cancels the rest."""
        total = len(self._ids)
        if total == 0:
            return
        for position, integration_id in enumerate(self._ids):
            self._queue.put_nowait((0, position, integration_id, None))
        workers = [asyncio.ensure_future(self._worker(deliver)) for _ in range(min(self.concurrency, total))]
        try:
            finished, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
            for task in finished:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _worker(self, deliver: Deliver[T]) -> None:
        queue = self._queue
        while True:
            page_no, position, integration_id, cursor = await queue.get()
            if position < 0:
                return  # the stop signal, sent once every integration is done
            try:
                page = await self._fetch(integration_id, cursor)
            except BrazeError as exc:
                if not self._return_exceptions:
                    raise
                logger.debug("integration %r failed: %s", integration_id, type(exc).__name__)
                self.errors[integration_id] = exc
                self._finish(integration_id)
                continue
            await deliver(integration_id, page)
            pages = page_no + 1
            nxt = page.next_cursor
            if nxt is None or (self._max_pages is not None and pages >= self._max_pages):
                self._finish(integration_id)
                continue
            guard = self._guards.get(integration_id)
            if guard is None:
                guard = self._guards[integration_id] = CursorGuard(
                    cursor, self._page_limit, f" of integration {integration_id!r}"
                )
            try:
                guard.advance(nxt)
            except PaginationError as exc:
                if not self._return_exceptions:
                    raise
                self.errors[integration_id] = exc
                self._finish(integration_id)
                continue
            queue.put_nowait((pages, position, integration_id, nxt))

    def _finish(self, integration_id: str) -> None:
        self._guards.pop(integration_id, None)
        self._done += 1
        total = len(self._ids)
        if self._progress is not None:
            self._progress(self._done, total)
        if self._done == total:
            for _ in range(self.concurrency):
                self._queue.put_nowait((-1, -1, "", None))


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()


async def stream_pages(fan_out: FanOut[T], *, buffer: int) -> AsyncGenerator[tuple[str, Page[T]], None]:
    """Yield ``(integration_id, page)`` as pages arrive; closing or cancelling it stops every request.

    At most ``buffer`` pages wait for the consumer, so memory stays flat however much is streamed.
    """
    out: asyncio.Queue[tuple[str, Page[T]] | _Failed | object] = asyncio.Queue(maxsize=buffer)

    async def deliver(integration_id: str, page: Page[T]) -> None:
        await out.put((integration_id, page))

    async def drive() -> None:
        try:
            await fan_out.run(deliver)
        except Exception as exc:
            await out.put(_Failed(exc))
            return
        await out.put(_END)

    driver = asyncio.ensure_future(drive())
    try:
        while True:
            item = await out.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        driver.cancel()
        await asyncio.gather(driver, return_exceptions=True)
