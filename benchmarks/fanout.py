"""Benchmark the fan-out: library vs a hand-written aiohttp loop, peak RSS while streaming, time to latest.

Run: ``python benchmarks/fanout.py`` (all three parts, a few minutes), or ``--part compare|memory|latency``.
The emulator always runs in a child process (``_common.RemoteEmulator``) so its CPU cost does not land on
the client; client CPU time is ``time.process_time()`` of this process only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp
from _common import RemoteEmulator, best_wall, current_rss_mb, median, peak_rss_mb, start_in_window
from yarl import URL

from braze_cdi_async import NO_RATE_LIMIT, BrazeCDIClient
from braze_cdi_async._convert import converter
from braze_cdi_async.models import JobSyncStatus

# --- raw vs library ------------------------------------------------------------------------------------


async def raw_fetch(
    base_url: str, api_key: str, ids: list[str], concurrency: int
) -> tuple[dict[str, list[JobSyncStatus]], int]:
    """The hand-written baseline: one session, gather + semaphore, resp.json(), the library's converter."""
    base = URL(base_url)
    headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
    semaphore = asyncio.Semaphore(concurrency)
    requests = 0
    async with aiohttp.ClientSession(headers=headers) as session:

        async def one(integration_id: str) -> list[JobSyncStatus]:
            nonlocal requests
            out: list[JobSyncStatus] = []
            url = base / "cdi" / "integrations" / integration_id / "job_sync_status"
            while True:
                async with semaphore, session.get(url) as resp:
                    resp.raise_for_status()
                    data = await resp.json()
                    nxt = resp.links.get("next")
                requests += 1
                out.extend(converter.structure(data["results"], list[JobSyncStatus]))
                if nxt is None:
                    return out
                url = base.join(nxt["url"])  # type: ignore[arg-type]

        lists = await asyncio.gather(*(one(i) for i in ids))
    return dict(zip(ids, lists, strict=True)), requests


async def library_fetch(
    base_url: str, api_key: str, ids: list[str], concurrency: int
) -> tuple[dict[str, list[JobSyncStatus]], int]:
    """The library: ``fetch_job_sync_statuses`` with the same concurrency and no limiter."""
    async with BrazeCDIClient(
        api_key, base_url=base_url, rate_limiter=NO_RATE_LIMIT, max_concurrency=concurrency
    ) as client:
        results = await client.fetch_job_sync_statuses(ids)
        requests = client.stats.requests
    return results, requests  # type: ignore[return-value]


async def measure(kind: str, emu: RemoteEmulator, ids: list[str], concurrency: int) -> dict[str, float]:
    fetch = raw_fetch if kind == "raw" else library_fetch
    cpu0, t0 = time.process_time(), time.perf_counter()
    results, requests = await fetch(emu.base_url, emu.api_key, ids, concurrency)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    records = sum(len(v) for v in results.values())
    return {
        "requests": requests,
        "records": records,
        "wall": wall,
        "req_s": requests / wall,
        "rec_s": records / wall,
        "cpu_us_per_req": cpu / requests * 1e6,
    }


async def part_compare(integrations: int, syncs: tuple[int, int], concurrency: int, rounds: int) -> None:
    async with RemoteEmulator(integrations=integrations, syncs=syncs, seed=11) as emu:
        ids = emu.ids
        print(
            f"[compare] {len(ids)} integrations, {emu.pages} pages, {emu.records} records; concurrency"
            f" {concurrency}; no rate limit; emulator in a child process"
        )
        raw, _ = await raw_fetch(emu.base_url, emu.api_key, ids[:200], concurrency)
        check, _ = await library_fetch(emu.base_url, emu.api_key, ids[:200], concurrency)
        assert raw == check, "raw loop and library disagree"  # warm-up and a sanity check in one
        runs: dict[str, list[dict[str, float]]] = {"raw": [], "library": []}
        for r in range(rounds):
            order = ("raw", "library") if r % 2 == 0 else ("library", "raw")
            for kind in order:
                row = await measure(kind, emu, ids, concurrency)
                runs[kind].append(row)
                print(
                    f"  round {r + 1} {kind:8} {row['wall']:6.3f} s  {row['req_s']:7.0f} req/s"
                    f"  {row['rec_s']:8.0f} rec/s  client CPU {row['cpu_us_per_req']:6.0f} us/req",
                    flush=True,
                )
        med = {k: {f: median([row[f] for row in v]) for f in v[0]} for k, v in runs.items()}
        print(f"  {'median':8} {'req/s':>8} {'rec/s':>9} {'CPU us/req':>11}")
        for kind in ("raw", "library"):
            m = med[kind]
            print(f"  {kind:8} {m['req_s']:8.0f} {m['rec_s']:9.0f} {m['cpu_us_per_req']:11.0f}")
        ratio_rate = med["library"]["req_s"] / med["raw"]["req_s"]
        ratio_cpu = med["raw"]["cpu_us_per_req"] / med["library"]["cpu_us_per_req"]
        print(f"  ratio library/raw throughput (median req/s): {ratio_rate:.3f}")
        print(f"  ratio raw/library client CPU per request (>1: library cheaper): {ratio_cpu:.3f}")


# --- peak RSS while streaming -----------------------------------------------------------------------------


async def memory_child(integrations: int, syncs: int, concurrency: int) -> dict[str, Any]:
    async with RemoteEmulator(integrations=integrations, syncs=(syncs, syncs), seed=12) as emu:
        ids = emu.ids
        before = current_rss_mb()
        records = 0
        t0, cpu0 = time.perf_counter(), time.process_time()
        async with BrazeCDIClient(
            emu.api_key, base_url=emu.base_url, rate_limiter=NO_RATE_LIMIT, max_concurrency=concurrency
        ) as client:
            async for _integration_id, _record in client.stream_job_sync_statuses(ids):
                records += 1
            requests = client.stats.requests
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        return {
            "integrations": len(ids),
            "records": records,
            "expected": emu.records,
            "requests": requests,
            "wall": wall,
            "cpu": cpu,
            "rss_before_mb": before,
            "peak_rss_mb": peak_rss_mb(),
        }


def part_memory(integrations: int, syncs: int, concurrency: int) -> None:
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--part=_memory_child",
        f"--mem-integrations={integrations}",
        f"--mem-syncs={syncs}",
        f"--concurrency={concurrency}",
    ]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    m = json.loads(out.strip().splitlines()[-1])
    print(
        f"[memory] streamed {m['records']:,} records (expected {m['expected']:,}) from {m['integrations']:,}"
        f" integrations in {m['requests']:,} requests, {m['wall']:.1f} s"
        f" ({m['records'] / m['wall']:,.0f} rec/s,"
        f" client CPU {m['cpu']:.1f} s)"
    )
    print(
        f"  client RSS before streaming {m['rss_before_mb']:.1f} MB; peak RSS (VmHWM, whole client process)"
        f" {m['peak_rss_mb']:.1f} MB"
    )


# --- time to the last integration's first record under a rate limit --------------------------------------


async def part_latency(integrations: int, limit: int, window: float, offset: float) -> None:
    async with RemoteEmulator(
        integrations=integrations, syncs=(11, 35), window=window, limit=limit, rate_limits=True, seed=13
    ) as emu:
        ids = emu.ids
        first: dict[str, float] = {}
        async with BrazeCDIClient(emu.api_key, base_url=emu.base_url, rate_limit_window=window) as client:
            t0 = await start_in_window(window, offset)
            stream = client.stream_job_sync_statuses(ids)
            try:
                async for integration_id, _record in stream:
                    if integration_id not in first:
                        first[integration_id] = time.time() - t0
                        if len(first) == len(ids):
                            break
            finally:
                await stream.aclose()  # type: ignore[attr-defined]
            stats = client.stats
        last = max(first.values())
        nominal = integrations / limit * window
        best = best_wall(t0, integrations, limit, window)
        print(
            f"[latency] {integrations} integrations (11-35 syncs each),"
            f" {limit} requests per {window:g} s window,"
            f" default BrazeRateLimiter; start {t0 % window:.3f} s into a window"
        )
        print(
            f"  last integration's first record after {last:.3f} s; nominal {nominal:.3f} s"
            f" ({last / nominal:.3f}x); clock-aligned best {best:.3f} s ({last / best:.3f}x);"
            f" requests {stats.requests}, 429s {stats.rate_limited}"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the selected parts and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--part", default="all", choices=["all", "compare", "memory", "latency", "_memory_child"]
    )
    parser.add_argument("--integrations", type=int, default=1000)
    parser.add_argument("--syncs", default="0,60", help="LO,HI syncs per integration (compare)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mem-integrations", type=int, default=2000)
    parser.add_argument("--mem-syncs", type=int, default=500)
    parser.add_argument("--lat-integrations", type=int, default=300)
    parser.add_argument("--lat-limit", type=int, default=100)
    parser.add_argument("--lat-window", type=float, default=1.0)
    parser.add_argument("--lat-offset", type=float, default=0.1)
    args = parser.parse_args(argv)
    lo, hi = (int(x) for x in args.syncs.split(","))
    if args.part == "_memory_child":
        result = asyncio.run(memory_child(args.mem_integrations, args.mem_syncs, args.concurrency))
        print(json.dumps(result))
        return 0
    if args.part in ("all", "compare"):
        asyncio.run(part_compare(args.integrations, (lo, hi), args.concurrency, args.rounds))
    if args.part in ("all", "latency"):
        asyncio.run(part_latency(args.lat_integrations, args.lat_limit, args.lat_window, args.lat_offset))
    if args.part in ("all", "memory"):
        part_memory(args.mem_integrations, args.mem_syncs, args.concurrency)
    return 0


if __name__ == "__main__":
    sys.exit(main())
