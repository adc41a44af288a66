"""Client-side rate limiting: a general token bucket, and a limiter kept in step with Braze's fixed windows.

``BrazeRateLimiter`` (the client's default) reads ``X-RateLimit-*`` headers so that it spends a workspace's
whole per-window budget without a 429, even when other processes share the budget. ``TokenBucket`` and
``TokenBucketLimiter`` are the plain rolling-rate alternative.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from types import MappingProxyType, TracebackType
from typing import Any, Protocol, runtime_checkable

import attrs

from ._clock import SYSTEM_CLOCK, Clock
from ._headers import header_value, parse_number

__all__ = [
    "DOCUMENTED_LIMITS",
    "DEFAULT_WINDOW",
    "RateLimitInfo",
    "parse_rate_limit_headers",
    "LimitScope",
    "RateLimiter",
    "TokenBucket",
    "TokenBucketLimiter",
    "WindowState",
    "BrazeRateLimiter",
    "NoRateLimit",
    "NO_RATE_LIMIT",
    "workspace_id",
]

logger = logging.getLogger(__name__)

DOCUMENTED_LIMITS: Mapping[str, int] = MappingProxyType(
    {"job_sync_status": 100, "list_integrations": 50, "trigger_sync": 20}
)
"""Braze's documented requests per window, per workspace, by endpoint."""

DEFAULT_WINDOW: float = 60.0
"""Braze's documented window length in seconds."""

_MAX_COUNT = 10**9
_EPS = 1e-9  # float slack when comparing token levels
_MIN_SLEEP = 1e-6  # shortest timer sleep: always moves the clock forward
_SAME_RESET = 1e-3  # two reset stamps closer than this name the same window


# --- headers ---------------------------------------------------------------------------------------------


@attrs.frozen
class RateLimitInfo:
    """The ``X-RateLimit-*`` headers of one response; None where absent or junk."""

    limit: int | None
    remaining: int | None
    reset: float | None  # epoch seconds when the current window ends


def _parse_count(raw: str | None) -> int | None:
    value = parse_number(raw)
    if value is None or not value.is_integer() or value > _MAX_COUNT:
        return None
    return int(value)


def parse_rate_limit_headers(headers: Mapping[str, str]) -> RateLimitInfo:
    """Read the rate-limit headers (any letter case); junk values become None."""
    return RateLimitInfo(
        limit=_parse_count(header_value(headers, "x-ratelimit-limit")),
        remaining=_parse_count(header_value(headers, "x-ratelimit-remaining")),
        reset=parse_number(header_value(headers, "x-ratelimit-reset")),
    )


def workspace_id(base_url: str, api_key: str) -> str:
    """Opaque id of a workspace (base URL + API key) that never reveals the key."""
    return hashlib.sha256(f"{base_url}\0{api_key}".encode()).hexdigest()[:16]


# --- protocol --------------------------------------------------------------------------------------------


@attrs.frozen
class LimitScope:
    """What a request counts against: one endpoint of one workspace, with its documented limit."""

    workspace: str  # opaque id of (base URL + API key): a hash, never the key itself
    endpoint: str
    limit: int  # documented requests per window (used until the server says otherwise)
    window: float  # documented window length in seconds


@runtime_checkable
class RateLimiter(Protocol):
    """What the client needs from a rate limiter."""

    async def acquire(self, scope: LimitScope) -> object:
        """Wait until one request in `scope` may be sent now; returns a ticket to hand to `record`."""
        ...

    async def record(
        self, scope: LimitScope, ticket: object, info: RateLimitInfo | None, status: int | None
    ) -> None:
        """Report the outcome of the request sent under `ticket` (exactly once per ticket)."""
        ...


# --- token bucket ----------------------------------------------------------------------------------------


def _check_positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _alive(fut: asyncio.Future[Any]) -> bool:
    return not fut.done() and not fut.get_loop().is_closed()


class _Timer:
    """The one timer task of a waiter queue (never one sleep per waiter: aiolimiter#73).

    ``step`` serves whoever can be served and returns when to look again (None: nobody waits);
    ``sleep_until`` sleeps until that time. The task lives on the loop that last armed it.
    """

    __slots__ = ("_due", "_sleep_until", "_step", "_task")

    def __init__(
        self, step: Callable[[], float | None], sleep_until: Callable[[float], Awaitable[None]]
    ) -> None:
        self._step = step
        self._sleep_until = sleep_until
        self._task: asyncio.Task[None] | None = None
        self._due: float | None = None

    def arm(self, due: float | None) -> None:
        """Keep a timer that wakes by ``due`` (an early wake-up just sleeps again); None stops it."""
        task = self._task
        if due is None:
            self._task, self._due = None, None
            _stop(task)
            return
        loop = asyncio.get_running_loop()
        if (
            task is not None
            and not task.done()
            and task.get_loop() is loop
            and self._due is not None
            and self._due <= due + _EPS
        ):
            return
        _stop(task)
        self._due = due
        self._task = loop.create_task(self._run())

    async def _run(self) -> None:
        me = asyncio.current_task()
        try:
            while True:
                due = self._step()
                if due is None:
                    return
                self._due = due
                await self._sleep_until(due)
        finally:
            if self._task is me:
                self._task, self._due = None, None


def _stop(task: asyncio.Task[None] | None) -> None:
    if task is not None and not task.done() and not task.get_loop().is_closed():
        task.cancel()


class _BucketWaiter:
    __slots__ = ("fut", "tokens")

    def __init__(self, tokens: float, fut: asyncio.Future[None]) -> None:
        self.tokens = tokens
        self.fut = fut


class TokenBucket:
    """An asyncio token bucket: FIFO-fair, one timer for all waiters, cancellation-safe, not bound to a loop.

    The bucket starts full, so the first ``capacity`` tokens are granted at once (the burst); after that
    tokens come back at ``rate`` per second, never above ``capacity``. A waiter cancelled before its grant
    takes nothing; one cancelled after its grant but before it resumes gives its tokens back.
    """

    __slots__ = ("_capacity", "_clock", "_last", "_rate", "_timer", "_tokens", "_waiters")

    def __init__(self, rate: float, capacity: float, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._rate = _check_positive("rate", rate)
        self._capacity = _check_positive("capacity", capacity)
        self._clock = clock
        self._tokens = self._capacity
        self._last = clock.monotonic()
        self._waiters: deque[_BucketWaiter] = deque()
        self._timer = _Timer(self._step, self._sleep_until)

    @property
    def rate(self) -> float:
        """Tokens added per second."""
        return self._rate

    @property
    def capacity(self) -> float:
        """Most tokens the bucket holds (the burst size)."""
        return self._capacity

    @property
    def tokens(self) -> float:
        """Tokens available now."""
        self._refill()
        return self._tokens

    @property
    def waiting(self) -> int:
        """How many callers are queued in :meth:`acquire`."""
        return sum(1 for w in self._waiters if _alive(w.fut))

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self._rate!r}, capacity={self._capacity!r})"

    def _check_request(self, tokens: float) -> float:
        amount = _check_positive("tokens", tokens)
        if amount > self._capacity:
            raise ValueError(f"cannot acquire {amount} tokens from a bucket of capacity {self._capacity}")
        return amount

    def _refill(self) -> None:
        now = self._clock.monotonic()
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
            self._last = now

    def _prune(self) -> None:
        while self._waiters and not _alive(self._waiters[0].fut):
            self._waiters.popleft()

    def _take(self, amount: float) -> bool:
        if self._tokens + _EPS < amount:
            return False
        self._tokens = max(0.0, self._tokens - amount)
        return True

    def _serve(self) -> None:
        self._refill()
        while True:
            self._prune()
            if not self._waiters or not self._take(self._waiters[0].tokens):
                return
            self._waiters.popleft().fut.set_result(None)

    def _due(self) -> float | None:
        self._prune()
        if not self._waiters:
            return None
        deficit = max(0.0, self._waiters[0].tokens - self._tokens)
        return self._last + max(deficit / self._rate, _MIN_SLEEP)

    def _step(self) -> float | None:
        self._serve()
        return self._due()

    async def _sleep_until(self, due: float) -> None:
        await self._clock.sleep(max(due - self._clock.monotonic(), _MIN_SLEEP))

    def _kick(self) -> None:
        """Serve what can be served now, and keep exactly one timer for the rest."""
        self._timer.arm(self._step())

    async def acquire(self, tokens: float = 1) -> None:
        """Wait until ``tokens`` can be taken, in arrival order, and take them."""
        amount = self._check_request(tokens)
        loop = asyncio.get_running_loop()
        self._refill()
        self._prune()
        if not self._waiters and self._take(amount):
            return
        fut: asyncio.Future[None] = loop.create_future()
        self._waiters.append(_BucketWaiter(amount, fut))
        self._kick()
        try:
            await fut
        except BaseException:
            if fut.done() and not fut.cancelled():
                # Granted, but cancelled before it could resume: the tokens go back, once.
                self._refill()
                self._tokens = min(self._capacity, self._tokens + amount)
            self._kick()
            raise

    def try_acquire(self, tokens: float = 1) -> bool:
        """Take ``tokens`` now if available and nobody is queued; never waits."""
        amount = self._check_request(tokens)
        self._refill()
        self._prune()
        return not self._waiters and self._take(amount)

    async def __aenter__(self) -> None:
        await self.acquire(1)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class NoRateLimit:
    """A :class:`RateLimiter` that never waits: for servers without limits (the emulator, benchmarks).

    Against Braze it would collect 429s; the retry policy then backs off blindly.
    """

    __slots__ = ()

    async def acquire(self, scope: LimitScope) -> object:
        """Return at once."""
        return None

    async def record(
        self, scope: LimitScope, ticket: object, info: RateLimitInfo | None, status: int | None
    ) -> None:
        """Ignore the outcome."""
        return None

    def __repr__(self) -> str:
        return "NoRateLimit()"


#: The shared no-op limiter: ``BrazeCDIClient(..., rate_limiter=NO_RATE_LIMIT)``.
NO_RATE_LIMIT = NoRateLimit()


class TokenBucketLimiter:
    """A :class:`RateLimiter` with one rolling-rate :class:`TokenBucket` per scope; ignores headers."""

    __slots__ = ("_buckets", "_capacity", "_clock", "_rate")

    def __init__(self, rate: float, capacity: float, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._rate: float | None = _check_positive("rate", rate)
        self._capacity: float | None = _check_positive("capacity", capacity)
        self._clock = clock
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    @classmethod
    def for_scope_defaults(cls, *, clock: Clock = SYSTEM_CLOCK) -> TokenBucketLimiter:
        """A limiter whose bucket per scope refills ``limit / window`` per second and holds ``limit``."""
        self = cls(1.0, 1.0, clock=clock)
        self._rate = None
        self._capacity = None
        return self

    def bucket(self, scope: LimitScope) -> TokenBucket:
        """The bucket of ``scope`` (created on first use)."""
        key = (scope.workspace, scope.endpoint)
        found = self._buckets.get(key)
        if found is None:
            rate = self._rate if self._rate is not None else scope.limit / scope.window
            capacity = self._capacity if self._capacity is not None else float(scope.limit)
            found = self._buckets[key] = TokenBucket(rate, capacity, clock=self._clock)
        return found

    async def acquire(self, scope: LimitScope) -> object:
        """Wait for one token of the scope's bucket."""
        await self.bucket(scope).acquire(1)
        return object()

    async def record(
        self, scope: LimitScope, ticket: object, info: RateLimitInfo | None, status: int | None
    ) -> None:
        """Ignore the outcome: a token bucket does not listen to the server."""
        return None


# --- Braze fixed-window limiter --------------------------------------------------------------------------


@attrs.frozen
class WindowState:
    """A snapshot of one scope's limiter state."""

    limit: int
    remaining: int | None  # estimate; None while probing
    reset: float | None  # epoch end of the current window, when known
    in_flight: int
    waiting: int
    mode: str  # "probe" | "headers" | "fallback"


_PROBE, _HEADERS, _FALLBACK = "probe", "headers", "fallback"


class _Ticket:
    __slots__ = ("done", "granted_at", "key", "owner", "probe", "seq")

    def __init__(
        self, owner: BrazeRateLimiter, key: tuple[str, str], seq: int, probe: bool, now: float
    ) -> None:
        self.owner = owner
        self.key = key
        self.seq = seq
        self.probe = probe
        self.granted_at = now
        self.done = False

    def __repr__(self) -> str:
        return f"<rate-limit ticket {self.key[1]} #{self.seq}>"


class _State:
    """One scope's window: what we spent in it, what the server said, who waits."""

    __slots__ = (
        "answered",
        "block_until",
        "confirmed",
        "endpoint",
        "exhausted",
        "ext",
        "fallback_k",
        "floor_reset",
        "limit",
        "lost",
        "mode",
        "outstanding",
        "probing",
        "remaining",
        "reset",
        "seq",
        "seqs",
        "timer",
        "waiters",
        "window",
    )

    def __init__(self, scope: LimitScope) -> None:
        self.endpoint = scope.endpoint
        self.window = _check_positive("scope.window", scope.window)
        self.limit = max(1, int(scope.limit))
        self.mode = _PROBE
        self.reset: float | None = None
        self.confirmed = False
        self.floor_reset: float | None = None  # after a local roll: resets up to this are older windows
        self.block_until: float | None = None
        self.probing = False
        self.seq = 0
        self.outstanding: dict[int, _Ticket] = {}
        self.seqs: list[int] = []  # outstanding ticket numbers, ascending
        # headers mode, current window: (ticket seq, server count) of our answered requests, requests of
        # unknown fate, the external use the answers imply, and whether a 429 closed the window
        self.answered: list[tuple[int, int]] = []
        self.lost = 0
        self.ext = 0
        self.exhausted = False
        # fallback mode: clock-aligned window index and what is left in it
        self.fallback_k = 0
        self.remaining = 0
        self.waiters: deque[asyncio.Future[_Ticket]] = deque()
        self.timer: _Timer | None = None  # set by the limiter that owns this state

    @property
    def horizon(self) -> float:
        """Longest wait any header can impose."""
        return 2.0 * max(self.window, 60.0)

    def left(self) -> int:
        """Requests that may still be sent in the current window."""
        if self.mode == _FALLBACK:
            return self.remaining
        if self.mode == _PROBE or self.exhausted:
            return 0
        spent = len(self.answered) + len(self.seqs) + self.lost
        return max(0, self.limit - spent - self.ext)

    def recompute_ext(self) -> None:
        """Use by others that the answers imply: a count less our requests that could precede it."""
        if not self.answered:
            self.ext = 0
            return
        known = sorted(count for _, count in self.answered)
        best = 0
        for seq, count in self.answered:
            ours_before = bisect.bisect_right(known, count) + bisect.bisect_left(self.seqs, seq)
            best = max(best, count - ours_before)
        self.ext = best

    def new_window(self) -> None:
        """Start counting a window: every request still in flight is charged to it until answered."""
        self.answered = []
        self.lost = 0
        self.ext = 0
        self.exhausted = False

    def prune(self) -> None:
        while self.waiters and not _alive(self.waiters[0]):
            self.waiters.popleft()

    def release(self, ticket: _Ticket) -> None:
        if self.outstanding.pop(ticket.seq, None) is not None:
            i = bisect.bisect_left(self.seqs, ticket.seq)
            if i < len(self.seqs) and self.seqs[i] == ticket.seq:
                del self.seqs[i]


class BrazeRateLimiter:
    """The client's default limiter: kept in step with Braze's clock-aligned fixed windows by its headers.

    Per (workspace, endpoint): the first request is a lone probe whose response tells the real window state
    (other processes may share the budget). Then a request may go while the window has budget left: the
    server's ``Limit``, less our requests charged to the window (answered, in flight, or of unknown fate),
    less the use by others that the answers' ``Remaining`` imply (a request granted after the one answered
    and still in flight is assumed not yet counted). When it is spent, waiters sleep until ``Reset``
    (+ ``safety_margin``) and the next window is granted at once, except for requests still in flight from
    the old window until their answers show which window counted them. Without headers it counts
    ``scope.limit`` per clock-aligned ``scope.window``. A 429 that reports ``Remaining`` 0 (or none) closes
    the window until its reset, or for one ``scope.window`` when it has none; a 429 reporting
    ``Remaining`` > 0 is not about the rate limit ("Another job is in progress") and counts like any
    response. Junk headers never cause a wait longer than ``2 * max(scope.window, 60)`` seconds. Waiters
    are served first come, first served, by one timer per scope; a waiter cancelled after its grant gives
    the slot back. Not bound to an event loop; not thread-safe.
    """

    __slots__ = ("_clock", "_margin", "_states")

    def __init__(self, *, clock: Clock = SYSTEM_CLOCK, safety_margin: float = 0.0) -> None:
        if not math.isfinite(safety_margin) or safety_margin < 0:
            raise ValueError(f"safety_margin must be a non-negative finite number, got {safety_margin!r}")
        self._clock = clock
        self._margin = float(safety_margin)
        self._states: dict[tuple[str, str], _State] = {}

    def __repr__(self) -> str:
        return f"BrazeRateLimiter(safety_margin={self._margin!r}, scopes={len(self._states)})"

    def _state(self, scope: LimitScope) -> _State:
        key = (scope.workspace, scope.endpoint)
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = _State(scope)
            state.timer = _Timer(partial(self._step, state, key), partial(self._sleep_until, state))
        return state

    def snapshot(self, scope: LimitScope) -> WindowState:
        """The current state of ``scope`` (for tests and statistics)."""
        state = self._state(scope)
        self._roll_if_due(state, self._clock.time())
        return WindowState(
            limit=state.limit,
            remaining=None if state.mode == _PROBE else state.left(),
            reset=state.reset,
            in_flight=len(state.seqs),
            waiting=sum(1 for f in state.waiters if _alive(f)),
            mode=state.mode,
        )

    # -- windows --

    def _roll_if_due(self, state: _State, now: float) -> None:
        if state.block_until is not None:
            if now < state.block_until - _EPS:
                return
            state.block_until = None
            state.exhausted = False
        if state.mode == _FALLBACK:
            k = math.floor(now / state.window)
            if k > state.fallback_k:
                state.fallback_k = k
                state.reset = (k + 1) * state.window
                state.remaining = state.limit
        elif state.mode == _HEADERS and state.reset is not None and now >= state.reset + self._margin - _EPS:
            prev = state.reset
            state.new_window()
            steps = max(1, math.ceil((now - prev) / state.window))
            nxt = prev + steps * state.window
            state.reset = nxt if nxt > now else nxt + state.window
            state.confirmed = False
            state.floor_reset = prev

    def _can_grant(self, state: _State) -> bool:
        if state.block_until is not None:
            return False
        if state.mode == _PROBE:
            return not state.probing
        return state.left() > 0

    def _grant(self, state: _State, key: tuple[str, str], now: float) -> _Ticket:
        state.seq += 1
        ticket = _Ticket(self, key, state.seq, state.mode == _PROBE, now)
        if ticket.probe:
            state.probing = True
        elif state.mode == _FALLBACK:
            state.remaining -= 1
        state.outstanding[ticket.seq] = ticket
        state.seqs.append(ticket.seq)
        return ticket

    def _serve(self, state: _State, key: tuple[str, str]) -> None:
        now = self._clock.time()
        self._roll_if_due(state, now)
        while True:
            state.prune()
            if not state.waiters or not self._can_grant(state):
                return
            state.waiters.popleft().set_result(self._grant(state, key, now))

    def _due(self, state: _State) -> float | None:
        """Epoch time at which waiting requests may next be granted; None when nobody waits on time."""
        state.prune()
        if not state.waiters:
            return None
        if state.block_until is not None:
            return state.block_until
        if state.mode == _PROBE:
            return None  # the probe's answer wakes the queue
        if state.mode == _FALLBACK:
            return (state.fallback_k + 1) * state.window
        assert state.reset is not None
        return state.reset + self._margin

    def _step(self, state: _State, key: tuple[str, str]) -> float | None:
        self._serve(state, key)
        return self._due(state)

    async def _sleep_until(self, state: _State, due: float) -> None:
        delay = min(max(due - self._clock.time(), _MIN_SLEEP), state.horizon)
        logger.debug(
            "rate limit: %s waits %.3fs (%s; %d queued)",
            state.endpoint,
            delay,
            "paused after a 429" if state.block_until is not None else f"{state.mode} window spent",
            len(state.waiters),
        )
        await self._clock.sleep(delay)

    def _kick(self, state: _State, key: tuple[str, str]) -> None:
        """Serve what can be served now, and keep exactly one timer for the rest."""
        assert state.timer is not None
        state.timer.arm(self._step(state, key))

    # -- the RateLimiter protocol --

    async def acquire(self, scope: LimitScope) -> object:
        """Wait until one request in ``scope`` may be sent now; returns the ticket for :meth:`record`."""
        key = (scope.workspace, scope.endpoint)
        state = self._state(scope)
        fut: asyncio.Future[_Ticket] = asyncio.get_running_loop().create_future()
        state.waiters.append(fut)
        self._kick(state, key)
        if not fut.done():
            logger.debug(
                "rate limit: %s request queued (%s mode, %d in flight)",
                scope.endpoint,
                state.mode,
                len(state.seqs),
            )
        try:
            return await fut
        except BaseException:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self._give_back(state, fut.result())
            self._kick(state, key)
            raise

    def _give_back(self, state: _State, ticket: _Ticket) -> None:
        """Undo the grant of a ticket whose request was never sent."""
        ticket.done = True
        state.release(ticket)
        if ticket.probe:
            state.probing = False
        elif state.mode == _FALLBACK:
            if math.floor(ticket.granted_at / state.window) == state.fallback_k:
                state.remaining = min(state.limit, state.remaining + 1)
        else:
            state.recompute_ext()

    async def record(
        self, scope: LimitScope, ticket: object, info: RateLimitInfo | None, status: int | None
    ) -> None:
        """Learn from the response to ``ticket`` (None: no response) and wake whoever it lets through."""
        if not isinstance(ticket, _Ticket) or ticket.owner is not self:
            raise ValueError("record() needs a ticket returned by this limiter's acquire()")
        if ticket.done:
            logger.debug("rate limit: %s ticket recorded twice; ignored", scope.endpoint)
            return
        ticket.done = True
        state = self._states[ticket.key]
        self._learn(state, ticket, info if status is not None else None, status, self._clock.time())
        self._kick(state, ticket.key)

    def _learn(
        self, state: _State, ticket: _Ticket, info: RateLimitInfo | None, status: int | None, now: float
    ) -> None:
        if info is not None and info.limit is not None and info.limit >= 1:
            state.limit = info.limit
        remaining = None if info is None or info.remaining is None else min(info.remaining, state.limit)
        reset = None if info is None else info.reset
        if reset is not None:
            # Far in the past: stale or junk, says nothing of the current window. Far ahead: clamped.
            reset = None if reset < now - 2 * state.window else min(reset, now + state.horizon)
        if ticket.probe:
            state.probing = False
        if status == 429 and not (remaining is not None and remaining > 0):
            state.release(ticket)
            self._on_rate_limited(state, ticket, reset, now)
            return
        if remaining is None or reset is None:
            # No response, or no usable headers: the slot stays spent (it may have been counted).
            state.release(ticket)
            if state.mode == _HEADERS:
                state.lost += 1
                state.recompute_ext()
            elif ticket.probe and info is not None:
                self._start_fallback(state, ticket, now)
            return
        count = state.limit - remaining  # the server's count in its window, this request included
        if state.mode != _HEADERS:
            self._adopt(state, ticket, reset, count)
            return
        window = self._which_window(state, reset)
        if window == "new":
            self._adopt(state, ticket, reset, count)
            return
        state.release(ticket)
        if window == "current":
            state.reset, state.confirmed = reset, True
            state.answered.append((ticket.seq, count))
        # "old": counted in a window that has ended; the slot it held in this one is free again.
        state.recompute_ext()

    def _which_window(self, state: _State, reset: float) -> str:
        assert state.reset is not None
        if state.confirmed:
            if reset > state.reset + _SAME_RESET:
                return "new"
            return "current" if reset >= state.reset - _SAME_RESET else "old"
        if state.floor_reset is not None and reset <= state.floor_reset + _SAME_RESET:
            return "old"
        return "current"

    def _adopt(self, state: _State, ticket: _Ticket, reset: float, count: int) -> None:
        """Take the server's word for a window we had not seen: it ends at ``reset``."""
        state.release(ticket)
        state.mode = _HEADERS
        state.new_window()
        state.reset, state.confirmed, state.floor_reset = reset, True, None
        state.answered.append((ticket.seq, count))
        state.recompute_ext()

    def _start_fallback(self, state: _State, probe: _Ticket, now: float) -> None:
        k = math.floor(now / state.window)
        counted = 1 if math.floor(probe.granted_at / state.window) == k else 0
        state.mode = _FALLBACK
        state.fallback_k = k
        state.reset = (k + 1) * state.window
        state.remaining = max(0, state.limit - counted - len(state.seqs))
        logger.debug(
            "rate limit: %s has no rate-limit headers; counting clock-aligned windows", state.endpoint
        )

    def _on_rate_limited(self, state: _State, ticket: _Ticket, reset: float | None, now: float) -> None:
        if reset is None:
            if state.mode == _PROBE:
                self._start_fallback(state, ticket, now)
            state.remaining = 0
            state.exhausted = True
            state.block_until = now + state.window
            logger.debug("rate limit: %s got 429 without reset; pausing %.3fs", state.endpoint, state.window)
            return
        if state.mode == _HEADERS:
            window = self._which_window(state, reset)
            if window == "old":
                return  # a late 429 from a window that has already ended
            if window == "current":
                state.reset, state.confirmed = reset, True
                state.exhausted = True
                logger.debug("rate limit: %s got 429; window spent until %.3f", state.endpoint, reset)
                return
        state.mode = _HEADERS
        state.new_window()
        state.reset, state.confirmed, state.floor_reset = reset, True, None
        state.exhausted = True
        logger.debug("rate limit: %s got 429; window spent until %.3f", state.endpoint, reset)
