"""A rate limiter shared through Redis: one Braze workspace budget for many processes and hosts.

Needs the ``redis`` extra (``pip install 'braze-cdi-async[redis]'``); the core package never imports it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections import deque
from collections.abc import Coroutine
from typing import Any, Literal

import attrs
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ._clock import SYSTEM_CLOCK, Clock
from .errors import BrazeError
from .ratelimit import BrazeRateLimiter, LimitScope, RateLimiter, RateLimitInfo

__all__ = ["RedisLimiterUnavailableError", "RedisRateLimiter", "RedisWindowState"]

logger = logging.getLogger(__name__)

_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
_MIN_SLEEP = 1e-3

# Shared prologue. KEYS: state hash, in-flight zset (score = ticket seq, member = "seq:granted_at"), answered
# zset of this window (member = seq, score = the server's count). State: reset, limit, block, seq, lost,
# ext, exhausted. In-flight tickets are always charged to the current window; a ticket older than the
# ticket TTL (its holder died) is dropped and counted as lost.
_PROLOGUE = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local margin = tonumber(ARGV[3])
local dlimit = tonumber(ARGV[4])
local ticket_ttl = tonumber(ARGV[5])
local ttl_ms = tonumber(ARGV[6])
local function fmt(x) return string.format('%.6f', x) end
local s = redis.call('HMGET', KEYS[1], 'reset', 'limit', 'block', 'seq', 'lost', 'ext', 'exhausted')
local reset = tonumber(s[1])
local limit = tonumber(s[2]) or dlimit
local block = tonumber(s[3])
local seq = tonumber(s[4]) or 0
local lost = tonumber(s[5]) or 0
local ext = tonumber(s[6]) or 0
local exhausted = tonumber(s[7]) or 0
while true do
  local head = redis.call('ZRANGE', KEYS[2], 0, 0)
  if #head == 0 then break end
  local t = tonumber(string.match(head[1], ':(.*)$'))
  if t ~= nil and t >= now - ticket_ttl then break end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, 0)
  lost = lost + 1
end
local function used()
  return redis.call('ZCARD', KEYS[3]) + redis.call('ZCARD', KEYS[2]) + lost + ext
end
local function left()
  if exhausted == 1 or (block ~= nil and now < block) then return 0 end
  return math.max(0, limit - used())
end
local function new_window(r)
  reset = r
  redis.call('DEL', KEYS[3])
  lost = 0
  ext = 0
  exhausted = 0
end
-- use by others the answers imply: a count, less our requests that could precede it
local function recompute_ext()
  ext = 0
  local answered = redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')
  for i = 1, #answered, 2 do
    local count = tonumber(answered[i + 1])
    local before = redis.call('ZCOUNT', KEYS[3], '-inf', count)
      + redis.call('ZCOUNT', KEYS[2], '-inf', '(' .. answered[i])
    ext = math.max(ext, count - before)
  end
end
local function save()
  redis.call('HSET', KEYS[1], 'limit', limit, 'seq', seq, 'lost', lost, 'ext', ext,
    'exhausted', exhausted, 'used', used())
  if reset ~= nil then redis.call('HSET', KEYS[1], 'reset', fmt(reset)) end
  if block ~= nil then redis.call('HSET', KEYS[1], 'block', fmt(block))
  else redis.call('HDEL', KEYS[1], 'block') end
  for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ttl_ms) end
end
"""

# acquire: ARGV[7] = how many grants are wanted. Returns {granted, first seq, retry_at}.
_ACQUIRE = (
    _PROLOGUE
    + """
local want = tonumber(ARGV[7])
if block ~= nil then
  if now < block then save(); return {0, 0, fmt(block)} end
  block = nil
  exhausted = 0
end
if reset == nil then
  new_window((math.floor(now / window) + 1) * window)
elseif now >= reset + margin then
  local steps = math.max(1, math.ceil((now - reset) / window))
  local nxt = reset + steps * window
  if nxt <= now then nxt = nxt + window end
  new_window(nxt)
end
local g = math.min(want, left())
local first = seq + 1
for _ = 1, g do
  seq = seq + 1
  redis.call('ZADD', KEYS[2], seq, seq .. ':' .. ARGV[1])
end
save()
return {g, first, fmt(reset + margin)}
"""
)

# record: ARGV[7] member, ARGV[8] seq, ARGV[9] status (-1 never sent, 0 no response), ARGV[10..12] the
# header limit, remaining, reset ('' when absent), ARGV[13] horizon. Returns 1 if budget came free, and
# then also publishes on '<state key>:freed' so that processes sleeping on this scope ask again.
_RECORD = (
    _PROLOGUE
    + """
local before = left()
local removed = redis.call('ZREM', KEYS[2], ARGV[7])
local tseq = ARGV[8]
local status = tonumber(ARGV[9])
local hlimit = tonumber(ARGV[10])
local remaining = tonumber(ARGV[11])
local r = tonumber(ARGV[12])
local horizon = tonumber(ARGV[13])
local function finish()
  recompute_ext()
  save()
  if left() > before then
    redis.call('PUBLISH', KEYS[1] .. ':freed', '1')
    return 1
  end
  return 0
end
if status == -1 then return finish() end
if hlimit ~= nil and hlimit >= 1 and status ~= 0 then limit = hlimit end
if remaining ~= nil then remaining = math.min(remaining, limit) end
if r ~= nil then
  if r < now - 2 * window then r = nil else r = math.min(r, now + horizon) end
end
local which = nil
if r ~= nil then
  if reset == nil or r > reset + 0.001 then which = 'new'
  elseif r >= reset - 0.001 then which = 'current'
  else which = 'old' end
end
if status ~= 0 and status == 429 and not (remaining ~= nil and remaining > 0) then
  if which == nil then
    block = now + window
    exhausted = 1
  elseif which == 'new' then
    new_window(r)
    exhausted = 1
  elseif which == 'current' then
    reset = r
    exhausted = 1
  end
  return finish()
end
if status == 0 or remaining == nil or which == nil then
  -- no response, or no usable headers: the slot stays spent (it may have been counted)
  if removed == 1 then lost = lost + 1 end
  return finish()
end
if which == 'new' then new_window(r) end
if which ~= 'old' then
  reset = r
  redis.call('ZADD', KEYS[3], limit - remaining, tseq)
end
return finish()
"""
)


class RedisLimiterUnavailableError(BrazeError):
    """Redis could not be reached and the limiter was told to raise rather than fall back."""


@attrs.frozen
class RedisWindowState:
    """A snapshot of one scope's shared state in Redis."""

    limit: int | None
    used: int
    reset: float | None  # epoch end of the current window, when known
    in_flight: int
    blocked_until: float | None


@attrs.frozen
class _Ticket:
    owner: RedisRateLimiter
    key: tuple[str, str]
    seq: int
    member: str


@attrs.frozen
class _LocalTicket:
    owner: RedisRateLimiter
    inner: object


_LOCAL = object()  # a waiter's result that sends it to the in-process fallback


class _Queue:
    """The local waiters of one scope and the single task that asks Redis for them."""

    __slots__ = ("driver", "sleeping", "waiters")

    def __init__(self) -> None:
        self.waiters: deque[asyncio.Future[object]] = deque()
        self.driver: asyncio.Task[None] | None = None
        self.sleeping = False

    def alive(self) -> list[asyncio.Future[object]]:
        while self.waiters and self.waiters[0].done():
            self.waiters.popleft()
        return [f for f in self.waiters if not f.done()]


def _check_prefix(key_prefix: str) -> str:
    if "{" in key_prefix or "}" in key_prefix:
        raise ValueError("key_prefix must not contain '{' or '}' (the hash tag is added per scope)")
    return key_prefix


class RedisRateLimiter:
    """A :class:`RateLimiter` whose fixed-window state lives in Redis, shared by every process that uses it.

    Same semantics as :class:`BrazeRateLimiter`, minus the probe: per (workspace, endpoint), a request may go
    while the clock-aligned window has budget left (``scope.limit``, or the server's ``Limit`` once seen);
    every response's ``X-RateLimit-Remaining``/``Reset`` is adopted atomically, so use by processes outside
    Redis is seen too; requests still in flight at a roll-over are charged to the new window until their
    answers show which window counted them; a 429 closes the window until its reset (one window without one).
    Each decision is one Lua script on three keys that share the hash tag ``{braze:<workspace>:<endpoint>}``
    (Redis Cluster safe); the API key is never stored. Time is the caller's clock (``clock.time()``): the wait
    is slept on it and the server's ``Reset`` is compared with it, as in the in-process limiter; keep hosts
    NTP-synced or set ``safety_margin``. Waiting is one task per scope and process, sleeping until the
    window's end or until a record in any process frees budget (published on ``<state key>:freed``; one
    pub/sub connection per limiter). When Redis is unreachable the limiter falls back to an in-process
    :class:`BrazeRateLimiter` with a warning (``on_unavailable="fallback"``) or raises
    :class:`RedisLimiterUnavailableError` (``"raise"``), and tries Redis again after ``retry_after`` seconds.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        key_prefix: str = "braze-cdi:",
        clock: Clock = SYSTEM_CLOCK,
        safety_margin: float = 0.0,
        on_unavailable: Literal["fallback", "raise"] = "fallback",
        retry_after: float = 5.0,
        max_batch: int = 10,
        ticket_ttl: float = 300.0,
        fallback: RateLimiter | None = None,
        seed: int | None = None,
    ) -> None:
        if on_unavailable not in ("fallback", "raise"):
            raise ValueError(f"on_unavailable must be 'fallback' or 'raise', got {on_unavailable!r}")
        if not math.isfinite(safety_margin) or safety_margin < 0:
            raise ValueError(f"safety_margin must be a non-negative finite number, got {safety_margin!r}")
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self._redis = redis
        self._prefix = _check_prefix(key_prefix)
        self._clock = clock
        self._margin = float(safety_margin)
        self._on_unavailable = on_unavailable
        self._retry_after = float(retry_after)
        self._max_batch = max_batch
        self._ticket_ttl = float(ticket_ttl)
        self._fallback: RateLimiter = (
            fallback if fallback is not None else BrazeRateLimiter(clock=clock, safety_margin=safety_margin)
        )
        self._rng = random.Random(seed)
        self._acquire = redis.register_script(_ACQUIRE)
        self._record = redis.register_script(_RECORD)
        self._queues: dict[tuple[str, str], _Queue] = {}
        self._down_since: float | None = None  # monotonic time of the last failure, while down
        self._background: set[asyncio.Task[None]] = set()
        self._pubsub: PubSub | None = None
        self._listener: asyncio.Task[None] | None = None
        self._channels: dict[str, LimitScope] = {}

    def __repr__(self) -> str:
        return f"RedisRateLimiter(key_prefix={self._prefix!r}, on_unavailable={self._on_unavailable!r})"

    @property
    def using_fallback(self) -> bool:
        """Whether Redis was unreachable at the last attempt (requests go through the fallback)."""
        return self._down_since is not None

    def keys(self, scope: LimitScope) -> list[str]:
        """The Redis keys of ``scope``: its state, in-flight and answered sets (one hash tag)."""
        tag = f"{self._prefix}{{braze:{scope.workspace}:{scope.endpoint}}}"
        return [f"{tag}:state", f"{tag}:inflight", f"{tag}:answered"]

    def _common(self, scope: LimitScope) -> list[str]:
        horizon = 2.0 * max(scope.window, 60.0)
        ttl_ms = math.ceil(2 * max(horizon, self._ticket_ttl) * 1000)
        return [
            repr(self._clock.time()),
            repr(float(scope.window)),
            repr(self._margin),
            str(int(scope.limit)),
            repr(self._ticket_ttl),
            str(ttl_ms),
        ]

    async def snapshot(self, scope: LimitScope) -> RedisWindowState:
        """The shared state of ``scope`` as Redis holds it (for tests and statistics)."""
        state, inflight, _ = self.keys(scope)
        raw = await self._redis.hmget(state, ["reset", "used", "limit", "block"])
        count = await self._redis.zcard(inflight)
        values = [None if v is None else float(v) for v in raw]
        return RedisWindowState(
            limit=None if values[2] is None else int(values[2]),
            used=0 if values[1] is None else int(values[1]),
            reset=values[0],
            in_flight=int(count),
            blocked_until=values[3],
        )

    async def aclose(self) -> None:
        """Stop this limiter's timers and pending give-backs (the Redis client stays open: it is yours)."""
        tasks = [q.driver for q in self._queues.values() if q.driver is not None] + list(self._background)
        for task in tasks:
            task.cancel()
        for queue in self._queues.values():
            for fut in queue.alive():
                fut.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._unsubscribe_all()

    # -- wake-ups from other processes --

    def _channel(self, scope: LimitScope) -> str:
        return f"{self.keys(scope)[0]}:freed"

    async def _subscribe(self, scope: LimitScope) -> bool:
        """Listen for budget freed by other processes in ``scope``; True if newly subscribed."""
        channel = self._channel(scope)
        if channel in self._channels and self._listener is not None and not self._listener.done():
            return False
        try:
            if self._pubsub is None:
                self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            await self._pubsub.subscribe(channel)
        except _UNREACHABLE as exc:
            logger.debug(
                "rate limit: cannot subscribe to %s wake-ups (%s)", scope.endpoint, type(exc).__name__
            )
            await self._unsubscribe_all()
            return False
        self._channels[channel] = scope
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(self._listen(self._pubsub))
        return True

    async def _listen(self, pubsub: PubSub) -> None:
        try:
            async for message in pubsub.listen():
                channel = message.get("channel")
                name = channel.decode() if isinstance(channel, bytes) else str(channel)
                scope = self._channels.get(name)
                if scope is not None:
                    self._wake(scope)
        except _UNREACHABLE as exc:
            logger.debug("rate limit: wake-up subscription lost (%s)", type(exc).__name__)
        self._channels.clear()

    async def _unsubscribe_all(self) -> None:
        listener, pubsub = self._listener, self._pubsub
        self._listener, self._pubsub = None, None
        self._channels.clear()
        if listener is not None and listener is not asyncio.current_task():
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
        if pubsub is not None:
            try:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            except _UNREACHABLE:
                pass

    # -- availability --

    def _redis_allowed(self) -> bool:
        if self._down_since is None:
            return True
        return self._clock.monotonic() - self._down_since >= self._retry_after

    def _mark_down(self, exc: BaseException) -> None:
        first = self._down_since is None
        self._down_since = self._clock.monotonic()
        if first and self._on_unavailable == "fallback":
            logger.warning(
                "Redis rate limiter unreachable (%s); falling back to a per-process limiter,"
                " retrying Redis every %.1fs",
                type(exc).__name__,
                self._retry_after,
            )

    def _mark_up(self) -> None:
        if self._down_since is not None:
            self._down_since = None
            logger.warning("Redis rate limiter reachable again; the shared limit applies")

    def _unavailable(self, exc: BaseException) -> RedisLimiterUnavailableError:
        return RedisLimiterUnavailableError(f"Redis rate limiter unreachable: {type(exc).__name__}: {exc}")

    # -- the RateLimiter protocol --

    async def acquire(self, scope: LimitScope) -> object:
        """Wait until one request in ``scope`` may be sent now; returns the ticket for :meth:`record`."""
        if not self._redis_allowed():
            if self._on_unavailable == "raise":
                raise RedisLimiterUnavailableError("Redis rate limiter unreachable (retrying later)")
            return _LocalTicket(self, await self._fallback.acquire(scope))
        key = (scope.workspace, scope.endpoint)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = _Queue()
        fut: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        queue.waiters.append(fut)
        self._kick(scope, queue)
        try:
            result = await fut
        except BaseException:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                granted = fut.result()
                if isinstance(granted, _Ticket):
                    self._spawn(self._give_back(scope, granted))
            raise
        if result is _LOCAL:
            return _LocalTicket(self, await self._fallback.acquire(scope))
        return result

    async def record(
        self, scope: LimitScope, ticket: object, info: RateLimitInfo | None, status: int | None
    ) -> None:
        """Learn from the response to ``ticket`` (None: no response); never raises for a Redis outage."""
        if isinstance(ticket, _LocalTicket) and ticket.owner is self:
            await self._fallback.record(scope, ticket.inner, info, status)
            return
        if not isinstance(ticket, _Ticket) or ticket.owner is not self:
            raise ValueError("record() needs a ticket returned by this limiter's acquire()")
        if not self._redis_allowed():
            return  # Redis is down: the ticket's charge expires with ticket_ttl
        code = 0 if status is None else int(status)
        info = info if status is not None else None
        freed = await self._run_record(scope, ticket, code, info)
        if freed:
            self._wake(scope)

    async def _give_back(self, scope: LimitScope, ticket: _Ticket) -> None:
        if await self._run_record(scope, ticket, -1, None):
            self._wake(scope)

    async def _run_record(
        self, scope: LimitScope, ticket: _Ticket, code: int, info: RateLimitInfo | None
    ) -> bool:
        def text(value: float | None) -> str:
            return "" if value is None else repr(value)

        args = [
            *self._common(scope),
            ticket.member,
            str(ticket.seq),
            str(code),
            text(None if info is None else info.limit),
            text(None if info is None else info.remaining),
            text(None if info is None else info.reset),
            repr(2.0 * max(scope.window, 60.0)),
        ]
        try:
            freed = await self._record(keys=self.keys(scope), args=args)
        except _UNREACHABLE as exc:
            logger.debug("rate limit: cannot record %s in Redis (%s)", scope.endpoint, type(exc).__name__)
            self._mark_down(exc)
            return False
        return bool(int(freed))

    # -- waiting --

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _kick(self, scope: LimitScope, queue: _Queue) -> None:
        driver = queue.driver
        loop = asyncio.get_running_loop()
        if driver is not None and not driver.done() and driver.get_loop() is loop:
            return
        queue.driver = loop.create_task(self._drive(scope, queue))

    def _wake(self, scope: LimitScope) -> None:
        """Cut a sleeping timer short: budget came back before the window's end."""
        queue = self._queues.get((scope.workspace, scope.endpoint))
        if queue is None or not queue.alive():
            return
        driver = queue.driver
        if driver is not None and not driver.done() and queue.sleeping:
            driver.cancel()
            queue.driver = None
        self._kick(scope, queue)

    async def _drive(self, scope: LimitScope, queue: _Queue) -> None:
        me = asyncio.current_task()
        try:
            while True:
                waiting = queue.alive()
                if not waiting:
                    return
                want = min(len(waiting), self._max_batch)
                args = [*self._common(scope), str(want)]
                try:
                    granted, first, retry_at = await self._acquire(keys=self.keys(scope), args=args)
                except _UNREACHABLE as exc:
                    self._mark_down(exc)
                    self._fail_all(queue, exc)
                    return
                self._mark_up()
                granted, first = int(granted), int(first)
                for seq in range(first, first + granted):
                    ticket = _Ticket(self, (scope.workspace, scope.endpoint), seq, f"{seq}:{args[0]}")
                    waiting = queue.alive()
                    if waiting:
                        waiting[0].set_result(ticket)
                    else:  # its waiter was cancelled while Redis decided
                        self._spawn(self._give_back(scope, ticket))
                if granted >= want:
                    continue
                if not queue.alive():
                    return
                if await self._subscribe(scope):
                    continue  # budget freed before the subscription would be missed: ask once more
                delay = max(float(retry_at) - self._clock.time(), _MIN_SLEEP)
                delay += self._rng.uniform(0.0, min(0.005, scope.window / 200))
                logger.debug(
                    "rate limit: %s window spent; %d waiting sleep %.3fs",
                    scope.endpoint,
                    len(queue.alive()),
                    delay,
                )
                queue.sleeping = True
                try:
                    await self._clock.sleep(delay)
                finally:
                    queue.sleeping = False
        finally:
            if queue.driver is me:
                queue.driver = None

    def _fail_all(self, queue: _Queue, exc: BaseException) -> None:
        for fut in queue.alive():
            if self._on_unavailable == "raise":
                fut.set_exception(self._unavailable(exc))
            else:
                fut.set_result(_LOCAL)
        queue.waiters.clear()
