"""Several OS processes share one workspace's budget: Redis limiter vs per-process limiters, side by side.

    python benchmarks/distributed.py [--redis-url redis://127.0.0.1:6379/15] [--processes 4] [--pages 800]
                                     [--limit 100] [--window 1.0] [--mode both|redis|local] [--json]

The parent runs the emulator (one workspace, ``--limit`` job-status requests per ``--window``) in a thread;
each worker process has its own client and event loop and fetches its share of the integrations (10 pages
each), starting together at a window boundary. 429s are counted by the emulator (what Braze would see).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

from braze_cdi_async import BrazeCDIClient, BrazeRateLimiter
from braze_cdi_async.ratelimit import RateLimiter
from braze_cdi_async.testing import BrazeCDIEmulator

PAGES_PER_INTEGRATION = 10
SYNCS_PER_INTEGRATION = 100  # 10 pages of 10


class EmulatorThread:
    """A BrazeCDIEmulator served by its own event loop in a background thread."""

    def __init__(self, emulator: BrazeCDIEmulator) -> None:
        self.emulator = emulator
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> BrazeCDIEmulator:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.emulator.start(), self.loop).result(10)
        return self.emulator

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.emulator.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


async def _worker(cfg: dict[str, Any]) -> dict[str, Any]:
    redis_client: Any = None
    limiter: RateLimiter
    if cfg["mode"] == "redis":
        import redis.asyncio as aioredis

        from braze_cdi_async.redis import RedisRateLimiter

        redis_client = aioredis.Redis.from_url(cfg["redis_url"])
        limiter = RedisRateLimiter(redis_client, key_prefix=cfg["prefix"])
    else:
        limiter = BrazeRateLimiter()
    try:
        async with BrazeCDIClient(
            cfg["api_key"],
            base_url=cfg["base_url"],
            rate_limiter=limiter,
            rate_limit_window=cfg["window"],
            max_concurrency=8,
        ) as client:
            await asyncio.sleep(max(0.0, cfg["start"] - time.time()))
            results = await client.fetch_job_sync_statuses(cfg["ids"])
            finished = time.time()
            return {
                "records": sum(len(v) for v in results.values()),
                "pages": client.stats.pages,
                "requests": client.stats.requests,
                "rate_limited": client.stats.rate_limited,
                "finished": finished,
            }
    finally:
        if redis_client is not None:
            await limiter.aclose()  # type: ignore[attr-defined]
            await redis_client.aclose()


def run(
    mode: str,
    *,
    processes: int = 4,
    pages: int = 800,
    limit: int = 100,
    window: float = 1.0,
    redis_url: str = "redis://127.0.0.1:6379/15",
    prefix: str | None = None,
) -> dict[str, Any]:
    """One multi-process run; returns what the emulator and the workers saw."""
    n = math.ceil(pages / PAGES_PER_INTEGRATION)
    emulator = BrazeCDIEmulator(window=window, limits={"job_sync_status": limit}, seed=0)
    ws = emulator.add_workspace()
    ids = [emulator.add_integration(ws, n_syncs=SYNCS_PER_INTEGRATION).integration_id for _ in range(n)]
    prefix = prefix or f"bench-{uuid.uuid4().hex[:8]}:"
    with EmulatorThread(emulator):
        procs = []
        for i in range(processes):
            cfg = {
                "mode": mode,
                "api_key": ws.api_key,
                "base_url": emulator.base_url,
                "window": window,
                "ids": ids[i::processes],
                "redis_url": redis_url,
                "prefix": prefix,
            }
            procs.append(
                subprocess.Popen(
                    [sys.executable, os.path.abspath(__file__), "worker", json.dumps(cfg)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        for proc in procs:  # every worker has imported everything: start together, on a window boundary
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError("a worker failed to start")
        start = (math.floor((time.time() + 0.2) / window) + 1) * window
        workers = []
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(f"{start!r}\n")
            proc.stdin.flush()
        for proc in procs:
            out, _ = proc.communicate(timeout=300)
            if proc.returncode != 0:
                raise RuntimeError(f"worker failed with exit code {proc.returncode}")
            workers.append(json.loads(out.strip().splitlines()[-1]))
        log = [r for r in emulator.requests if r.endpoint == "job_sync_status" and r.started >= start - 1]
    served = [r for r in log if r.status == 200]
    last = max(r.finished for r in log)
    windows_used = math.floor(max(r.started for r in log) / window) - math.floor(start / window) + 1
    floor = pages / limit * window
    wall = last - start
    first_k = math.floor(start / window)
    per_window = [0] * windows_used
    for r in log:
        per_window[math.floor(r.started / window) - first_k] += 1
    return {
        "mode": mode,
        "processes": processes,
        "pages": len(served),
        "records": sum(w["records"] for w in workers),
        "requests": len(log),
        "http_429": sum(1 for r in log if r.status == 429),
        "client_429": sum(w["rate_limited"] for w in workers),
        "wall": wall,
        "windows_used": windows_used,
        "floor": floor,
        "utilization": len(served) / (windows_used * limit),
        "per_window": per_window,
    }


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["worker"]:
        cfg = json.loads(args[1])
        if cfg["mode"] == "redis":
            import braze_cdi_async.redis  # noqa: F401  (imported before the start signal)
        print("ready", flush=True)
        cfg["start"] = float(sys.stdin.readline())
        print(json.dumps(asyncio.run(_worker(cfg))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"))
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--pages", type=int, default=800)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--window", type=float, default=1.0)
    parser.add_argument("--mode", choices=["both", "redis", "local"], default="both")
    parser.add_argument("--prefix", default=None)
    parser.add_argument("--json", action="store_true", help="print one JSON object per run")
    opts = parser.parse_args(args)
    modes = ["redis", "local"] if opts.mode == "both" else [opts.mode]
    results = [
        run(
            m,
            processes=opts.processes,
            pages=opts.pages,
            limit=opts.limit,
            window=opts.window,
            redis_url=opts.redis_url,
            prefix=opts.prefix,
        )
        for m in modes
    ]
    if opts.json:
        for r in results:
            print(json.dumps(r))
        return 0
    print(
        f"{opts.processes} processes, {opts.pages} pages, one workspace limited to "
        f"{opts.limit} job-status requests per {opts.window:g} s window"
    )
    print(f"{'limiter':<24}{'429s':>6}{'requests':>10}{'wall s':>9}{'floor s':>9}{'windows':>9}{'util':>7}")
    print("-" * 74)
    for r in results:
        name = "RedisRateLimiter" if r["mode"] == "redis" else "per-process Braze"
        print(
            f"{name:<24}{r['http_429']:>6}{r['requests']:>10}{r['wall']:>9.2f}{r['floor']:>9.2f}"
            f"{r['windows_used']:>9}{r['utilization']:>7.0%}"
        )
    print(
        "floor = pages / limit x window (runs start on a window boundary, so the last window's budget is\n"
        "spent early in it and wall time can end below the floor); windows = fixed windows in which\n"
        "requests were sent; util = pages served / (windows x limit), budget share that served pages"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
