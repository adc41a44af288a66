"""Run the Braze CDI emulator with demo data: ``python -m braze_cdi_async.testing``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from braze_cdi_async._signals import stop_on_signals
from braze_cdi_async.testing.emulator import BrazeCDIEmulator

__all__ = ["build_parser", "main", "serve_forever"]


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser of the standalone emulator."""
    parser = argparse.ArgumentParser(
        prog="python -m braze_cdi_async.testing",
        description="Serve a local Braze CDI emulator with demo data.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8787, help="TCP port, 0 for any free port (default 8787)")
    parser.add_argument(
        "--window", type=float, default=60.0, help="rate-limit window in seconds (default 60)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the demo data (default 0)")
    parser.add_argument("--sync-duration", type=float, default=2.0, help="seconds a triggered sync runs")
    parser.add_argument("--no-rate-limits", action="store_true", help="disable rate limiting")
    return parser


async def serve_forever(emulator: BrazeCDIEmulator, *, announce: bool = True) -> None:
    """Start ``emulator``, print how to reach it, and serve until SIGINT/SIGTERM or cancellation."""
    with stop_on_signals() as stop:
        async with emulator:
            if announce:
                url = emulator.base_url
                print(f"Braze CDI emulator listening on {url}", flush=True)
                if emulator.demo_workspace is not None:
                    key = emulator.demo_api_key
                    print(f"Demo API key: {key}", flush=True)
                    print(
                        f"Try: curl -H 'Authorization: Bearer {key}' {url}/cdi/integrations",
                        flush=True,
                    )
                print("Press Ctrl-C to stop.", flush=True)
            await stop.wait()


def emulator_from_args(args: argparse.Namespace) -> BrazeCDIEmulator:
    """The demo emulator configured by :func:`build_parser`'s options (shared with ``braze-cdi emulator``)."""
    return BrazeCDIEmulator.with_demo_data(
        host=args.host,
        port=args.port,
        window=args.window,
        seed=args.seed,
        sync_duration=args.sync_duration,
        rate_limits=not args.no_rate_limits,
        log_requests=False,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: serve the demo emulator until interrupted; return the exit status."""
    args = build_parser().parse_args(argv)
    emulator = emulator_from_args(args)
    try:
        asyncio.run(serve_forever(emulator))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"error: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
