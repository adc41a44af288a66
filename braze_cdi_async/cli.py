"""The ``braze-cdi`` command line: sync statuses, history, integrations, trigger, watch, and the emulator."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import logging
import os
import sys
import traceback
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, TextIO

from ._convert import format_datetime, parse_datetime, unstructure
from ._signals import stop_on_signals
from ._version import __version__
from .client import BrazeCDIClient
from .errors import (
    AuthenticationError,
    BrazeError,
    ConfigurationError,
    InvalidIntegrationIdError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    SyncInProgressError,
    TransportError,
)
from .models import Integration, JobStatus, JobSyncStatus
from .watch import SyncWaitTimeoutError

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_USAGE", "EXIT_API", "EXIT_SYNC_FAILED"]

PROG = "braze-cdi"
EXIT_OK = 0
EXIT_USAGE = 1
EXIT_API = 2
EXIT_SYNC_FAILED = 3
EXIT_INTERRUPTED = 130

FORMATS = ("table", "json", "ndjson", "csv")
#: Field names of a sync row in every machine format, in this order.
SYNC_FIELDS = (
    "integration_id",
    "job_status",
    "sync_start_time",
    "sync_finish_time",
    "last_timestamp_synced",
    "rows_synced",
    "rows_failed_with_errors",
)
#: Field names of an integration row in every machine format, in this order.
INTEGRATION_FIELDS = (
    "integration_id",
    "integration_name",
    "integration_type",
    "integration_status",
    "app_group_id",
    "contact_emails",
    "last_updated_at",
    "warehouse_type",
    "last_job_start_time",
    "last_job_status",
    "next_scheduled_run",
)
TRIGGER_FIELDS = ("integration_id", "triggered_at")

EPILOG = """\
credentials:
  BRAZE_API_KEY        the REST API key (or --api-key-file PATH, '-' for stdin; never on the command line)
  BRAZE_REST_ENDPOINT  https://rest.iad-03.braze.com or an instance name such as US-03 (or --endpoint)
  --demo               run against an embedded emulator with demo data, no credentials needed

exit status:
  0  success, and every reported sync is healthy
  1  usage or configuration error (bad option, missing credentials, unknown instance)
  2  API or network error (rejected key, missing permission, unknown integration, Braze unreachable,
     a sync already running, or trigger --wait timed out); also when only some integrations could be read
  3  a reported sync ended in error or config_error (or partial, with --fail-on-partial): the latest
     sync of each integration for status, the triggered sync for trigger --wait, any event for watch
"""


class UsageError(Exception):
    """A command-line or configuration mistake (exit status 1)."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors exit with status 1 (not 2), without abbreviations."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False  # "--api-key" must never be read as "--api-key-file"
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        raise UsageError(message)


def _common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """Options accepted both before and after the command (the command's copy wins when given)."""
    default: Any = (lambda value: value) if top else (lambda value: argparse.SUPPRESS)
    group = parser.add_argument_group("common options")
    group.add_argument(
        "--format",
        choices=FORMATS,
        default=default("table"),
        help="output format: a table for people (default) or json, ndjson, csv for machines",
    )
    group.add_argument("--endpoint", default=default(None), help="REST endpoint URL or instance name (US-03)")
    group.add_argument(
        "--api-key-file",
        metavar="PATH",
        default=default(None),
        help="read the API key from PATH ('-': stdin)",
    )
    group.add_argument("--api-key", nargs="?", action=_RefuseKey, help=argparse.SUPPRESS)
    group.add_argument(
        "--demo", action="store_true", default=default(False), help="use an embedded emulator with demo data"
    )
    group.add_argument(
        "--debug", action="store_true", default=default(False), help="log requests and show tracebacks"
    )


class _RefuseKey(argparse.Action):
    """``--api-key`` exists only to refuse it without echoing the key."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        raise UsageError(
            "there is no --api-key option (a key on the command line lands in shell history and ps);"
            " set BRAZE_API_KEY or pass --api-key-file PATH"
        )


def _fail_on_partial(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fail-on-partial", action="store_true", help="exit with status 3 on a partial sync as well"
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the ``braze-cdi`` argument parser."""
    parser = _Parser(
        prog=PROG,
        description="Check and trigger Braze Cloud Data Ingestion syncs.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _common(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _common(sub, top=False)
        return sub

    status = command("status", "latest sync of the given integrations (all when none are given)")
    status.add_argument("ids", nargs="*", metavar="ID", help="integration IDs")
    _fail_on_partial(status)

    history = command("history", "sync history of one integration, newest first")
    history.add_argument("id", metavar="ID", help="integration ID")
    history.add_argument(
        "--limit", type=_positive_int, help="show at most N syncs (default 10, or all since --since)"
    )
    history.add_argument("--since", type=_timestamp, metavar="ISO", help="only syncs started at or after ISO")

    command("integrations", "the workspace's CDI integrations")

    trigger = command("trigger", "start a sync now")
    trigger.add_argument("id", metavar="ID", help="integration ID")
    trigger.add_argument("--wait", action="store_true", help="wait for the sync to finish and show it")
    trigger.add_argument(
        "--timeout", type=_positive_float, metavar="S", help="give up waiting after S seconds"
    )
    trigger.add_argument(
        "--poll-interval", type=_positive_float, metavar="S", help="seconds between polls (default 10)"
    )
    trigger.add_argument(
        "--if-running",
        choices=("raise", "wait"),
        default="raise",
        help="when a sync is already running: fail (default) or wait for that one",
    )
    _fail_on_partial(trigger)

    watch = command("watch", "print syncs as they start and finish, until interrupted")
    watch.add_argument("ids", nargs="*", metavar="ID", help="integration IDs (default: all)")
    watch.add_argument(
        "--interval", type=_positive_float, metavar="S", help="seconds between polls of one integration"
    )
    watch.add_argument(
        "--include-existing", action="store_true", help="first print the latest sync of each integration"
    )
    watch.add_argument("--max-events", type=_positive_int, metavar="N", help="stop after N events")
    _fail_on_partial(watch)

    from .testing.__main__ import build_parser as emulator_parser

    commands.add_parser(
        "emulator",
        parents=[emulator_parser()],  # type: ignore[list-item]
        conflict_handler="resolve",
        help="run the embedded Braze CDI emulator in the foreground",
        description="Serve a local Braze CDI emulator with demo data until Ctrl-C.",
    )
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _timestamp(text: str) -> datetime:
    candidate = f"{text}T00:00:00Z" if len(text.strip()) == 10 else text
    try:
        return parse_datetime(candidate)
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 time like 2024-01-15T09:45:00Z or a date, got {text!r}"
        ) from None


# -- output ---------------------------------------------------------------------------------------


def sync_row(integration_id: str, sync: JobSyncStatus | None) -> dict[str, Any]:
    """One sync as a machine row: ``integration_id`` then the ``JobSyncStatus`` fields (ISO 8601 times)."""
    row: dict[str, Any] = dict.fromkeys(SYNC_FIELDS)
    row["integration_id"] = integration_id
    if sync is not None:
        row.update(unstructure(sync))
    return row


def integration_row(integration: Integration) -> dict[str, Any]:
    """One integration as a machine row (the documented fields, ISO 8601 times)."""
    data = unstructure(integration)
    return {name: data.get(name) for name in INTEGRATION_FIELDS}


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return format_datetime(value)
    return str(value)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Iterable[int] = ()) -> str:
    """Aligned plain-text columns with a header line."""
    right = set(numeric)
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if i in right else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(list(headers)), *(line(r) for r in cells)])


def _duration(sync: JobSyncStatus | None) -> str | None:
    if sync is None or sync.duration is None:
        return None
    seconds = int(sync.duration.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


SYNC_HEADERS = ("STATUS", "STARTED", "FINISHED", "DURATION", "ROWS", "FAILED ROWS")


def _sync_cells(sync: JobSyncStatus | None) -> list[Any]:
    if sync is None:
        return ["never synced", None, None, None, None, None]
    return [
        sync.job_status.value,
        sync.sync_start_time,
        sync.sync_finish_time,
        _duration(sync),
        sync.rows_synced,
        sync.rows_failed_with_errors,
    ]


def write_records(out: TextIO, fmt: str, fields: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
    """Write rows as json (an array), ndjson (one object a line) or csv (a header line, then rows)."""
    if fmt == "json":
        out.write(json.dumps(list(rows), indent=2) + "\n")
    elif fmt == "ndjson":
        for row in rows:
            out.write(json.dumps(row, separators=(",", ":")) + "\n")
    else:
        writer = csv.DictWriter(out, fieldnames=list(fields), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in fields})


def _bad(sync: JobSyncStatus | None, fail_on_partial: bool) -> bool:
    if sync is None:
        return False
    return sync.is_failure or (fail_on_partial and sync.job_status is JobStatus.PARTIAL)


# -- errors ---------------------------------------------------------------------------------------


def describe_error(exc: BaseException) -> str:
    """One line saying what failed and what to check (never the API key)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, (AuthenticationError, PermissionDeniedError)):
        return text  # their messages already say what to check
    hint = ""
    if isinstance(exc, SyncInProgressError):
        hint = "a sync of this integration is already running; try later, or pass --wait --if-running wait"
    elif isinstance(exc, (InvalidIntegrationIdError, NotFoundError)):
        hint = "check the integration ID ('braze-cdi integrations' lists them)"
    elif isinstance(exc, RateLimitedError):
        hint = "the workspace's rate limit is spent (other clients share it); try again later"
    elif isinstance(exc, ServerError):
        hint = "Braze is having trouble; try again later"
    elif isinstance(exc, TransportError):
        hint = "check the endpoint (BRAZE_REST_ENDPOINT / --endpoint) and the network"
    elif isinstance(exc, SyncWaitTimeoutError):
        hint = "raise --timeout, or check the sync in the Braze dashboard"
    return f"{text}; {hint}" if hint else text


def _error(message: str) -> None:
    sys.stderr.write(f"{PROG}: error: {message}\n")
    sys.stderr.flush()


# -- progress -------------------------------------------------------------------------------------


class _Progress:
    """A one-line counter on stderr, only when stderr is a terminal."""

    def __init__(self, label: str) -> None:
        self.enabled = sys.stderr.isatty()
        self.label = label
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        if self.enabled:
            sys.stderr.write(f"\r\033[K{self.label} {done}/{total}")
            sys.stderr.flush()
            self.shown = True

    def note(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write(f"\r\033[K{text}")
            sys.stderr.flush()
            self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self.shown = False


# -- credentials ----------------------------------------------------------------------------------


def _read_key_file(path: str) -> str:
    try:
        if path == "-":
            text = sys.stdin.readline()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.readline()
    except OSError as exc:
        raise UsageError(f"cannot read the API key file {path!r}: {exc.strerror or exc}") from None
    key = text.strip()
    if not key:
        raise UsageError(f"the API key file {path!r} is empty")
    return key


def make_client(args: argparse.Namespace, environ: Mapping[str, str]) -> BrazeCDIClient:
    """Build the client from --api-key-file/--endpoint, else BRAZE_API_KEY/BRAZE_REST_ENDPOINT."""
    key = _read_key_file(args.api_key_file) if args.api_key_file else environ.get("BRAZE_API_KEY", "").strip()
    endpoint = (args.endpoint or environ.get("BRAZE_REST_ENDPOINT", "")).strip()
    missing = []
    if not key:
        missing.append("no API key: set BRAZE_API_KEY or pass --api-key-file PATH")
    if not endpoint:
        missing.append(
            "no endpoint: set BRAZE_REST_ENDPOINT (a URL or an instance such as US-03) or --endpoint"
        )
    if missing:
        raise UsageError("; ".join(missing) + " (or try --demo)")
    try:
        if "://" in endpoint:
            return BrazeCDIClient(key, base_url=endpoint)
        return BrazeCDIClient(key, instance=endpoint)
    except ValueError as exc:
        source = "--endpoint" if args.endpoint else "BRAZE_REST_ENDPOINT"
        raise UsageError(f"{source}: {exc}") from None


@contextlib.asynccontextmanager
async def _client(args: argparse.Namespace, environ: Mapping[str, str]) -> AsyncIterator[BrazeCDIClient]:
    if not args.demo:
        async with make_client(args, environ) as client:
            yield client
        return
    from .testing.emulator import BrazeCDIEmulator

    emulator = BrazeCDIEmulator.with_demo_data(log_requests=False)
    async with emulator, BrazeCDIClient(emulator.demo_api_key, base_url=emulator.base_url) as client:
        yield client


# -- commands -------------------------------------------------------------------------------------


async def cmd_status(client: BrazeCDIClient, args: argparse.Namespace, out: TextIO) -> int:
    """``status [ID ...]``: the latest sync of each integration."""
    names: dict[str, str | None] = {}
    if args.ids:
        ids = list(dict.fromkeys(args.ids))
    else:
        async for integration in client.integrations():
            names[integration.integration_id] = integration.integration_name
        ids = list(names)
    progress = _Progress("reading integrations")
    try:
        latest = await client.latest_job_sync_statuses(ids, return_exceptions=True, progress=progress)
    finally:
        progress.clear()
    ok: dict[str, JobSyncStatus | None] = {}
    errors: dict[str, BrazeError] = {}
    for integration_id, value in latest.items():
        if isinstance(value, BrazeError):
            errors[integration_id] = value
        else:
            ok[integration_id] = value
    fatal = next(
        (e for e in errors.values() if isinstance(e, (AuthenticationError, PermissionDeniedError))), None
    )
    if fatal is not None:
        raise fatal
    if args.format == "table":
        if not ok and not errors:
            out.write("No integrations.\n")
        elif ok:
            headers = ["INTEGRATION", *(["NAME"] if names else []), *SYNC_HEADERS]
            rows = [[i, *([names.get(i)] if names else []), *_sync_cells(sync)] for i, sync in ok.items()]
            out.write(render_table(headers, rows, numeric=(len(headers) - 2, len(headers) - 1)) + "\n")
    else:
        write_records(out, args.format, SYNC_FIELDS, [sync_row(i, s) for i, s in ok.items()])
    out.flush()
    for integration_id, error in errors.items():
        _error(f"integration {integration_id}: {describe_error(error)}")
    if errors:
        return EXIT_API
    return EXIT_SYNC_FAILED if any(_bad(s, args.fail_on_partial) for s in ok.values()) else EXIT_OK


async def cmd_history(client: BrazeCDIClient, args: argparse.Namespace, out: TextIO) -> int:
    """``history ID``: syncs of one integration, newest first."""
    limit = args.limit if args.limit is not None else (None if args.since is not None else 10)
    syncs: list[JobSyncStatus] = []
    if limit is None or limit > 0:
        async for sync in client.job_sync_status(args.id):
            if args.since is not None and sync.sync_start_time < args.since:
                break
            syncs.append(sync)
            if limit is not None and len(syncs) >= limit:
                break
    if args.format == "table":
        if syncs:
            rows = [_sync_cells(s) for s in syncs]
            out.write(render_table(SYNC_HEADERS, rows, numeric=(4, 5)) + "\n")
        else:
            out.write(f"No syncs of integration {args.id}.\n")
    else:
        write_records(out, args.format, SYNC_FIELDS, [sync_row(args.id, s) for s in syncs])
    return EXIT_OK


async def cmd_integrations(client: BrazeCDIClient, args: argparse.Namespace, out: TextIO) -> int:
    """``integrations``: the workspace's integrations."""
    items = [integration async for integration in client.integrations()]
    if args.format == "table":
        if not items:
            out.write("No integrations.\n")
            return EXIT_OK
        headers = ("INTEGRATION", "NAME", "TYPE", "STATUS", "WAREHOUSE", "LAST SYNC", "LAST STARTED")
        rows = [
            [
                i.integration_id,
                i.integration_name,
                i.integration_type,
                i.integration_status,
                i.warehouse_type,
                i.last_job_status.value if i.last_job_status is not None else None,
                i.last_job_start_time,
            ]
            for i in items
        ]
        out.write(render_table(headers, rows) + "\n")
    else:
        write_records(out, args.format, INTEGRATION_FIELDS, [integration_row(i) for i in items])
    return EXIT_OK


async def cmd_trigger(client: BrazeCDIClient, args: argparse.Namespace, out: TextIO) -> int:
    """``trigger ID [--wait]``: start a sync, and optionally wait for its outcome."""
    if not args.wait:
        if args.timeout is not None or args.poll_interval is not None or args.if_running != "raise":
            raise UsageError("--timeout, --poll-interval and --if-running need --wait")
        await client.trigger_sync(args.id)
        now = datetime.now(timezone.utc).replace(microsecond=0)
        if args.format == "table":
            out.write(f"Triggered a sync of integration {args.id} at {format_datetime(now)}.\n")
        else:
            write_records(
                out,
                args.format,
                TRIGGER_FIELDS,
                [{"integration_id": args.id, "triggered_at": format_datetime(now)}],
            )
        return EXIT_OK
    poll = args.poll_interval if args.poll_interval is not None else (1.0 if args.demo else 10.0)
    progress = _Progress("")
    progress.note(f"waiting for the sync of {args.id} to finish...")
    try:
        sync = await client.trigger_and_wait(
            args.id, timeout=args.timeout or 3600.0, poll_interval=poll, if_running=args.if_running
        )
    finally:
        progress.clear()
    if args.format == "table":
        out.write(
            render_table(["INTEGRATION", *SYNC_HEADERS], [[args.id, *_sync_cells(sync)]], (5, 6)) + "\n"
        )
    else:
        write_records(out, args.format, SYNC_FIELDS, [sync_row(args.id, sync)])
    return EXIT_SYNC_FAILED if _bad(sync, args.fail_on_partial) else EXIT_OK


class _StreamWriter:
    """Writes watch events as they come, in the chosen format (a JSON array is closed at the end)."""

    WIDTHS = (36, 12, 20, 20, 8, 10, 11)

    def __init__(self, out: TextIO, fmt: str) -> None:
        self.out = out
        self.fmt = fmt
        self.count = 0
        self.csv = csv.DictWriter(out, fieldnames=list(SYNC_FIELDS), lineterminator="\n")

    def _line(self, values: Sequence[Any]) -> str:
        cells = [_cell(v) for v in values]
        parts = [
            c.rjust(w) if i >= 5 else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, self.WIDTHS, strict=True))
        ]
        return "  ".join(parts).rstrip() + "\n"

    def start(self) -> None:
        if self.fmt == "table":
            self.out.write(self._line(["INTEGRATION", *SYNC_HEADERS]))
        elif self.fmt == "csv":
            self.csv.writeheader()
        elif self.fmt == "json":
            self.out.write("[")
        self.out.flush()

    def event(self, integration_id: str, sync: JobSyncStatus) -> None:
        row = sync_row(integration_id, sync)
        if self.fmt == "table":
            self.out.write(self._line([integration_id, *_sync_cells(sync)]))
        elif self.fmt == "csv":
            self.csv.writerow({k: ("" if v is None else v) for k, v in row.items()})
        elif self.fmt == "ndjson":
            self.out.write(json.dumps(row, separators=(",", ":")) + "\n")
        else:
            text = json.dumps(row, indent=2).replace("\n", "\n  ")
            self.out.write(("," if self.count else "") + "\n  " + text)
        self.count += 1
        self.out.flush()

    def finish(self) -> None:
        if self.fmt == "json":
            self.out.write("\n]\n" if self.count else "]\n")
            self.out.flush()


async def cmd_watch(client: BrazeCDIClient, args: argparse.Namespace, out: TextIO) -> int:
    """``watch [ID ...]``: print syncs as they appear and finish, until interrupted or ``--max-events``."""
    writer = _StreamWriter(out, args.format)
    failed = False

    async def consume() -> None:
        nonlocal failed
        events = client.watch(
            args.ids or None, interval=args.interval, include_existing=args.include_existing
        )
        async with contextlib.aclosing(events):
            async for integration_id, sync in events:
                writer.event(integration_id, sync)
                failed = failed or _bad(sync, args.fail_on_partial)
                if args.max_events is not None and writer.count >= args.max_events:
                    return

    writer.start()
    with stop_on_signals() as stop:
        consumer = asyncio.ensure_future(consume())
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({consumer, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (consumer, stopper):
                task.cancel()
            await asyncio.gather(consumer, stopper, return_exceptions=True)
            writer.finish()
    if consumer.done() and not consumer.cancelled() and consumer.exception() is not None:
        raise consumer.exception()  # type: ignore[misc]
    return EXIT_SYNC_FAILED if failed else EXIT_OK


COMMANDS: dict[str, Callable[[BrazeCDIClient, argparse.Namespace, TextIO], Any]] = {
    "status": cmd_status,
    "history": cmd_history,
    "integrations": cmd_integrations,
    "trigger": cmd_trigger,
    "watch": cmd_watch,
}


async def run(args: argparse.Namespace, environ: Mapping[str, str], out: TextIO) -> int:
    """Run one API command; return its exit status."""
    async with _client(args, environ) as client:
        result: int = await COMMANDS[args.command](client, args, out)
        return result


def _run_emulator(args: argparse.Namespace) -> int:
    from .testing.__main__ import emulator_from_args, serve_forever

    emulator = emulator_from_args(args)
    try:
        asyncio.run(serve_forever(emulator))
    except OSError as exc:
        _error(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}; choose another --port")
        return EXIT_USAGE
    return EXIT_OK


def _configure_logging(debug: bool) -> None:
    if not debug:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    package = logging.getLogger("braze_cdi_async")
    package.addHandler(handler)
    package.setLevel(logging.DEBUG)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``braze-cdi``; returns the exit status."""
    args: argparse.Namespace | None = None
    debug = False
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help, --version
            return exc.code if isinstance(exc.code, int) else EXIT_OK
        debug = bool(args.debug)
        _configure_logging(debug)
        if args.command == "emulator":
            return _run_emulator(args)
        return asyncio.run(run(args, os.environ, sys.stdout))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except UsageError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except ConfigurationError as exc:
        if debug:
            traceback.print_exc()
        _error(f"{' '.join(str(exc).split())} (or try --demo)")
        return EXIT_USAGE
    except BrazeError as exc:
        if debug:
            traceback.print_exc()
        _error(describe_error(exc))
        return EXIT_API
    except BrokenPipeError:
        # The reader went away (``| head``): silence the final flush of stdout, as Python's docs advise.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
