"""Shared benchmark helpers: an emulator in a child process, window arithmetic, peak RSS, medians."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import signal
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from braze_cdi_async.testing import BrazeCDIEmulator
from braze_cdi_async.testing.timing import fixed_window_floor as best_wall
from braze_cdi_async.testing.timing import start_in_window

__all__ = [
    "RemoteEmulator",
    "best_wall",
    "start_in_window",
    "peak_rss_mb",
    "current_rss_mb",
    "median",
]


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (VmHWM), in MB."""
    return _status_kb("VmHWM") / 1024


def current_rss_mb() -> float:
    """Resident set size of this process now (VmRSS), in MB."""
    return _status_kb("VmRSS") / 1024


def median(values: Sequence[float]) -> float:
    """The median of ``values``."""
    return float(statistics.median(values))


class RemoteEmulator:
    """A ``BrazeCDIEmulator`` served by a child Python process, so it does not share the client's CPU.

    ``async with RemoteEmulator(integrations=..., syncs=(lo, hi)) as emu:`` gives ``emu.base_url``,
    ``emu.api_key`` and ``emu.ids``. The child exits when its stdin closes.
    """

    def __init__(
        self,
        *,
        integrations: int,
        syncs: tuple[int, int],
        window: float = 60.0,
        limit: int = 100,
        rate_limits: bool = False,
        seed: int = 0,
    ) -> None:
        self._argv = [
            sys.executable,
            str(Path(__file__).resolve()),
            "serve",
            f"--integrations={integrations}",
            f"--syncs={syncs[0]},{syncs[1]}",
            f"--window={window}",
            f"--limit={limit}",
            f"--seed={seed}",
        ]
        if not rate_limits:
            self._argv.append("--no-rate-limits")
        self._proc: asyncio.subprocess.Process | None = None
        self.base_url = ""
        self.api_key = ""
        self.ids: list[str] = []
        self.records = 0
        self.pages = 0

    async def __aenter__(self) -> RemoteEmulator:
        proc = await asyncio.create_subprocess_exec(
            *self._argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=2**24
        )
        self._proc = proc
        assert proc.stdout is not None
        line = await proc.stdout.readline()
        if not line:
            raise RuntimeError("the emulator process exited before it was ready")
        info = json.loads(line)
        self.base_url, self.api_key, self.ids = info["base_url"], info["api_key"], info["ids"]
        self.records, self.pages = info["records"], info["pages"]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()


async def _serve(args: argparse.Namespace) -> None:
    lo, hi = (int(x) for x in args.syncs.split(","))
    emulator = BrazeCDIEmulator(
        window=args.window,
        limits={"job_sync_status": args.limit},
        rate_limits=not args.no_rate_limits,
        seed=args.seed,
        log_requests=False,
    )
    ws = emulator.add_workspace()
    if lo == hi:
        ids = [emulator.add_integration(ws, n_syncs=lo).integration_id for _ in range(args.integrations)]
    else:
        ids = [
            i.integration_id for i in emulator.populate(ws, args.integrations, syncs=(lo, hi), seed=args.seed)
        ]
    counts = [len(emulator.history(i)) for i in ids]
    pages = sum(max(1, math.ceil(n / emulator.page_size)) for n in counts)
    async with emulator:
        info: dict[str, Any] = {
            "base_url": emulator.base_url,
            "api_key": ws.api_key,
            "ids": ids,
            "records": sum(counts),
            "pages": pages,
        }
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        reader = asyncio.ensure_future(asyncio.to_thread(sys.stdin.read))
        waiter = asyncio.ensure_future(stop.wait())
        await asyncio.wait([reader, waiter], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the child process: ``_common.py serve --integrations N --syncs LO,HI ...``."""
    parser = argparse.ArgumentParser(prog="_common.py")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--integrations", type=int, required=True)
    parser.add_argument("--syncs", required=True)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-rate-limits", action="store_true")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
