"""Benchmark: how much of Braze's fixed-window budget three limiters spend, and how many 429s they draw.

Run: ``python benchmarks/ratelimit.py`` (about 40 s). The emulator serves 1 s windows of 100 requests; each
limiter fetches the same 1,000 pages with 40 concurrent fan-out workers, against a fresh emulator.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import best_wall, start_in_window

from braze_cdi_async import NO_RATE_LIMIT, BrazeCDIClient, RetryPolicy
from braze_cdi_async.ratelimit import BrazeRateLimiter, RateLimiter, TokenBucketLimiter
from braze_cdi_async.retry import RetryBudget
from braze_cdi_async.testing import BrazeCDIEmulator

RETRY = RetryPolicy(max_attempts=50)  # the same for all three: 429s are retried after the server's reset


async def run_one(
    name: str,
    limiter: RateLimiter,
    *,
    window: float,
    limit: int,
    pages: int,
    tasks: int,
    offset: float,
    unbounded_budget: bool = False,
) -> dict[str, object]:
    """Fetch ``pages`` pages through ``limiter`` against a fresh emulator; return the figures."""
    integrations = pages // 10  # 100 syncs each: exactly 10 pages
    async with BrazeCDIEmulator(window=window, limits={"job_sync_status": limit}, seed=1) as emulator:
        ws = emulator.add_workspace()
        ids = [emulator.add_integration(ws, n_syncs=100).integration_id for _ in range(integrations)]
        async with BrazeCDIClient(
            ws.api_key,
            base_url=emulator.base_url,
            rate_limiter=limiter,
            rate_limit_window=window,
            max_concurrency=tasks,
            retry=RETRY,
            # Lifting the retry quota shows bare retry-on-429 (the default quota would stop it early).
            retry_budget=RetryBudget(capacity=10**9) if unbounded_budget else None,
        ) as client:
            t0 = await start_in_window(window, offset)
            results = await client.fetch_job_sync_statuses(ids, return_exceptions=True)
            wall = time.time() - t0
        statuses = Counter(r.status for r in emulator.requests)
        errors = Counter(type(v).__name__ for v in results.values() if isinstance(v, BaseException))
        failed = sum(errors.values())
        nominal = pages / limit * window
        best = best_wall(t0, pages, limit, window)
        return {
            "limiter": name,
            "requests": len(emulator.requests),
            "200": statuses.get(200, 0),
            "429": statuses.get(429, 0),
            "failed": failed,
            "errors": dict(errors),
            "wall": wall,
            "floor": nominal,
            "best": best,
            "util_floor": nominal / wall,
            "util_best": best / wall,
            "retries": client.stats.retries,
            "start_offset": t0 % window,
        }


async def main(argv: list[str] | None = None) -> int:
    """Run the three limiters one after another and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--window", type=float, default=1.0)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--offset", type=float, default=0.0, help="start this far into a window (s)")
    args = parser.parse_args(argv)
    rate = args.limit / args.window
    limiters: list[tuple[str, RateLimiter, bool]] = [
        ("BrazeRateLimiter (default)", BrazeRateLimiter(), False),
        (f"TokenBucketLimiter({rate:g}/s, {args.limit})", TokenBucketLimiter(rate, args.limit), False),
        ("NO_RATE_LIMIT + retry 429", NO_RATE_LIMIT, False),
        ("NO_RATE_LIMIT + retry 429, no quota", NO_RATE_LIMIT, True),
    ]
    print(
        f"{args.pages} pages, {args.tasks} concurrent tasks, emulator {args.limit} requests per"
        f" {args.window:g} s fixed window"
    )
    header = (
        f"{'limiter':34} {'requests':>8} {'429s':>5} {'failed':>6} {'wall s':>7} {'floor s':>7}"
        f" {'best s':>7} {'floor/wall':>10} {'best/wall':>9}"
    )
    print(header)
    print("-" * len(header))
    failures: list[str] = []
    for name, limiter, unbounded in limiters:
        row = await run_one(
            name,
            limiter,
            window=args.window,
            limit=args.limit,
            pages=args.pages,
            tasks=args.tasks,
            offset=args.offset,
            unbounded_budget=unbounded,
        )
        if row["failed"]:
            failures.append(f"{name}: {row['failed']} integrations failed {row['errors']}")
        print(
            f"{row['limiter']:34} {row['requests']:>8} {row['429']:>5} {row['failed']:>6} {row['wall']:>7.3f}"
            f" {row['floor']:>7.3f} {row['best']:>7.3f} {row['util_floor']:>10.3f} {row['util_best']:>9.3f}",
            flush=True,
        )
    for line in failures:
        print(line)
    print(
        "floor = pages / limit x window (nominal); best = the clock-aligned bound: the last window can open"
        " no sooner than ceil(pages / limit) - 1 windows after the start's window."
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
