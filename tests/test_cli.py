"""The ``braze-cdi`` console script, run as a subprocess against an emulator served by the test process."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from braze_cdi_async.testing import BrazeCDIEmulator

KEY = "cli-secret-key-7f3a"
SCRIPT = Path(sys.executable).with_name("braze-cdi")


def rec(start: str, status: str = "success", finish: str | None = "auto", rows: int = 100) -> dict[str, Any]:
    """One sync record as Braze sends it (finish 30 s after start unless given)."""
    if finish == "auto":
        finish = None if status == "running" else start[:-3] + "30Z"
    failed = 7 if status in ("partial", "error") else 0
    return {
        "job_status": status,
        "sync_start_time": start,
        "sync_finish_time": finish,
        "last_timestamp_synced": "2024-01-15T08:00:00Z",
        "rows_synced": rows,
        "rows_failed_with_errors": failed,
    }


LONG = [rec(f"2024-01-{d:02d}T09:00:00Z") for d in range(15, 0, -1)]  # 15 syncs, newest first: 2 pages


@attrs.define
class Result:
    rc: int
    out: str
    err: str


@pytest.fixture
async def emulator() -> AsyncIterator[BrazeCDIEmulator]:
    async with BrazeCDIEmulator(window=1.0, sync_duration=0.3, seed=3) as emu:
        ws = emu.add_workspace(KEY)
        emu.add_integration(
            ws, integration_id="healthy", name="Healthy", history=[rec("2024-01-15T09:00:00Z")]
        )
        emu.add_integration(
            ws,
            integration_id="failing",
            name="Failing",
            history=[rec("2024-01-15T10:00:00Z", "error", rows=0), rec("2024-01-14T10:00:00Z")],
        )
        emu.add_integration(
            ws, integration_id="partly", name="Partly", history=[rec("2024-01-15T11:00:00Z", "partial")]
        )
        emu.add_integration(ws, integration_id="empty", name="Never synced", history=[])
        emu.add_integration(ws, integration_id="long", name="Long", history=LONG)
        yield emu


def env_for(emulator: BrazeCDIEmulator | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAZE_")}
    if emulator is not None:
        env["BRAZE_API_KEY"] = KEY
        env["BRAZE_REST_ENDPOINT"] = emulator.base_url
    env.update(extra)
    return env


async def run(*args: str, env: dict[str, str], script: bool = False, stdin: bytes | None = None) -> Result:
    """Run the console script (or ``python -m braze_cdi_async``) and collect its exit status and output."""
    cmd = [str(SCRIPT)] if script else [sys.executable, "-m", "braze_cdi_async"]
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), 30)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


def row(integration_id: str, r: dict[str, Any]) -> dict[str, Any]:
    return {"integration_id": integration_id, **r}


# -- status ---------------------------------------------------------------------------------------


async def test_status_table_of_all_integrations_exits_3_on_a_failing_one(emulator: BrazeCDIEmulator) -> None:
    result = await run("status", env=env_for(emulator), script=True)
    assert result.rc == 3
    assert result.err == ""
    lines = result.out.splitlines()
    assert lines[0].split() == [
        "INTEGRATION",
        "NAME",
        "STATUS",
        "STARTED",
        "FINISHED",
        "DURATION",
        "ROWS",
        "FAILED",
        "ROWS",
    ]
    by_id = {line.split()[0]: line for line in lines[1:]}
    assert list(by_id) == ["healthy", "failing", "partly", "empty", "long"]
    assert "error" in by_id["failing"].split()
    assert "2024-01-15T10:00:00Z" in by_id["failing"]
    assert "never synced" in by_id["empty"]
    assert "0m30s" in by_id["healthy"]


async def test_status_json_is_exact(emulator: BrazeCDIEmulator) -> None:
    result = await run("status", "healthy", "empty", "--format", "json", env=env_for(emulator))
    assert result.rc == 0, result.err
    none = dict.fromkeys(rec("2024-01-01T00:00:00Z"))
    assert json.loads(result.out) == [
        row("healthy", rec("2024-01-15T09:00:00Z")),
        row("empty", none),
    ]


async def test_status_ndjson_partial_passes_unless_fail_on_partial(emulator: BrazeCDIEmulator) -> None:
    result = await run("--format", "ndjson", "status", "partly", "healthy", env=env_for(emulator))
    assert result.rc == 0, result.err
    assert [json.loads(line) for line in result.out.splitlines()] == [
        row("partly", rec("2024-01-15T11:00:00Z", "partial")),
        row("healthy", rec("2024-01-15T09:00:00Z")),
    ]
    strict = await run("status", "partly", "--fail-on-partial", "--format", "ndjson", env=env_for(emulator))
    assert strict.rc == 3
    assert strict.out == result.out.splitlines(keepends=True)[0]


async def test_status_csv_is_exact(emulator: BrazeCDIEmulator) -> None:
    result = await run("status", "failing", "empty", "--format", "csv", env=env_for(emulator))
    assert result.rc == 3
    assert result.out == (
        "integration_id,job_status,sync_start_time,sync_finish_time,last_timestamp_synced,rows_synced,"
        "rows_failed_with_errors\n"
        "failing,error,2024-01-15T10:00:00Z,2024-01-15T10:00:30Z,2024-01-15T08:00:00Z,0,7\n"
        "empty,,,,,,\n"
    )


async def test_status_with_an_unknown_integration_reports_it_and_exits_2(emulator: BrazeCDIEmulator) -> None:
    result = await run("status", "healthy", "ghost", "--format", "ndjson", env=env_for(emulator))
    assert result.rc == 2
    assert [json.loads(line)["integration_id"] for line in result.out.splitlines()] == ["healthy"]
    assert result.err.count("\n") == 1
    assert result.err.startswith("braze-cdi: error: integration ghost: HTTP 400")
    assert "braze-cdi integrations" in result.err


# -- history and integrations ------------------------------------------------------------------


async def test_history_json_follows_pages_up_to_the_limit(emulator: BrazeCDIEmulator) -> None:
    result = await run("history", "long", "--limit", "12", "--format", "json", env=env_for(emulator))
    assert result.rc == 0, result.err
    assert json.loads(result.out) == [row("long", r) for r in LONG[:12]]
    cursors = [r.cursor for r in emulator.requests if r.integration_id == "long"]
    assert len(cursors) == 2
    assert cursors[0] is None
    assert cursors[1] is not None


async def test_history_since_and_default_limit(emulator: BrazeCDIEmulator) -> None:
    since, default = await asyncio.gather(
        run("history", "long", "--since", "2024-01-12", "--format", "csv", env=env_for(emulator)),
        run("history", "long", env=env_for(emulator)),
    )
    assert since.rc == 0, since.err
    starts = [r["sync_start_time"] for r in csv.DictReader(io.StringIO(since.out))]
    assert starts == [f"2024-01-{d}T09:00:00Z" for d in (15, 14, 13, 12)]
    assert default.rc == 0
    assert len(default.out.splitlines()) == 1 + 10  # header and the 10 newest
    assert default.out.splitlines()[1].split()[:2] == ["success", "2024-01-15T09:00:00Z"]


async def test_integrations_in_every_format(emulator: BrazeCDIEmulator) -> None:
    env = env_for(emulator)
    as_json, as_csv, table = await asyncio.gather(
        run("integrations", "--format", "json", env=env),
        run("integrations", "--format", "csv", env=env),
        run("integrations", env=env),
    )
    assert as_json.rc == 0, as_json.err
    records = json.loads(as_json.out)
    assert records == [emulator.list_record(i) for i in ("healthy", "failing", "partly", "empty", "long")]
    parsed = list(csv.DictReader(io.StringIO(as_csv.out)))
    assert [r["integration_name"] for r in parsed] == ["Healthy", "Failing", "Partly", "Never synced", "Long"]
    assert parsed[1]["last_job_status"] == "error"
    assert parsed[3]["last_job_start_time"] == ""
    assert table.out.splitlines()[0].split()[:3] == ["INTEGRATION", "NAME", "TYPE"]
    assert table.out.splitlines()[4].startswith("empty")
    assert "Never synced" in table.out


# -- trigger and watch --------------------------------------------------------------------------


async def test_trigger_starts_a_sync(emulator: BrazeCDIEmulator) -> None:
    result, table = await asyncio.gather(
        run("trigger", "healthy", "--format", "json", env=env_for(emulator)),
        run("trigger", "partly", env=env_for(emulator)),
    )
    assert result.rc == 0, result.err
    [printed] = json.loads(result.out)
    assert printed["integration_id"] == "healthy"
    assert printed["triggered_at"].endswith("Z")
    for integration_id, old in (("healthy", "2024-01-15T09:00:00Z"), ("partly", "2024-01-15T11:00:00Z")):
        history = emulator.history(integration_id)
        assert len(history) == 2
        assert history[1]["sync_start_time"] == old
    assert table.rc == 0, table.err
    assert table.out.startswith("Triggered a sync of integration partly at 20")


async def test_trigger_wait_prints_the_finished_sync_it_started(emulator: BrazeCDIEmulator) -> None:
    result = await run(
        "trigger",
        "failing",
        "--wait",
        "--poll-interval",
        "0.1",
        "--timeout",
        "10",
        "--format",
        "ndjson",
        env=env_for(emulator),
    )
    assert result.rc == 0, result.err  # the new sync succeeded, though the previous one had failed
    [printed] = [json.loads(line) for line in result.out.splitlines()]
    head = emulator.history("failing")[0]
    assert printed == row("failing", head)
    assert head["job_status"] == "success"
    assert head["sync_start_time"] != "2024-01-15T10:00:00Z"


async def test_trigger_while_running_fails_with_one_line(emulator: BrazeCDIEmulator) -> None:
    [ws] = emulator.workspaces()
    emulator.add_integration(ws, integration_id="busy", history=[rec("2024-01-15T12:00:00Z", "running")])
    result = await run("trigger", "busy", env=env_for(emulator))
    assert result.rc == 2
    assert result.out == ""
    assert result.err.count("\n") == 1
    assert "Another job is in progress" in result.err
    assert "--if-running wait" in result.err


async def test_trigger_options_without_wait_are_a_usage_error(emulator: BrazeCDIEmulator) -> None:
    result = await run("trigger", "healthy", "--timeout", "5", env=env_for(emulator))
    assert result.rc == 1
    assert "need --wait" in result.err
    assert [r for r in emulator.requests if r.endpoint == "trigger_sync"] == []


async def test_watch_prints_a_triggered_sync_starting_and_finishing(emulator: BrazeCDIEmulator) -> None:
    task = asyncio.ensure_future(
        run(
            "watch",
            "healthy",
            "long",
            "--interval",
            "0.1",
            "--max-events",
            "2",
            "--format",
            "ndjson",
            env=env_for(emulator),
        )
    )
    while not any(r.integration_id == "long" for r in emulator.requests):
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    env = env_for(emulator)
    assert (await run("trigger", "long", env=env)).rc == 0
    result = await task
    assert result.rc == 0, result.err
    events = [json.loads(line) for line in result.out.splitlines()]
    head = emulator.history("long")[0]
    assert [(e["integration_id"], e["job_status"], e["sync_start_time"]) for e in events] == [
        ("long", "running", head["sync_start_time"]),
        ("long", "success", head["sync_start_time"]),
    ]
    assert events[1] == row("long", head)


async def test_watch_json_is_a_valid_array_after_sigint(emulator: BrazeCDIEmulator) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "braze_cdi_async",
        "watch",
        "failing",
        "healthy",
        "--include-existing",
        "--interval",
        "0.1",
        "--format",
        "json",
        env=env_for(emulator),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    while sum(r.endpoint == "job_sync_status" for r in emulator.requests) < 4:
        await asyncio.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(proc.communicate(), 10)
    assert err == b""
    assert proc.returncode == 3  # the failing integration's latest sync was reported
    assert json.loads(out) == [
        row("failing", rec("2024-01-15T10:00:00Z", "error", rows=0)),
        row("healthy", rec("2024-01-15T09:00:00Z")),
    ]


# -- credentials and errors --------------------------------------------------------------------


@pytest.mark.parametrize("debug", [False, True])
async def test_a_rejected_key_is_one_line_and_exit_2_and_never_shown(
    emulator: BrazeCDIEmulator, debug: bool
) -> None:
    bad = "wrong-secret-9c1e"
    env = env_for(emulator, BRAZE_API_KEY=bad)
    result = await run(*(["--debug"] if debug else []), "status", env=env)
    assert result.rc == 2
    assert result.out == ""
    assert bad not in result.err
    last = result.err.splitlines()[-1]
    assert last.startswith("braze-cdi: error: HTTP 401")
    assert "Check the API key" in last
    if debug:
        assert "Traceback" in result.err
        assert "AuthenticationError" in result.err
    else:
        assert result.err.count("\n") == 1


async def test_unknown_instance_is_a_configuration_error() -> None:
    result = await run("status", env=env_for(None, BRAZE_API_KEY=KEY, BRAZE_REST_ENDPOINT="US-99"))
    assert result.rc == 1
    assert result.err.count("\n") == 1
    assert "BRAZE_REST_ENDPOINT: unknown Braze instance 'US-99'" in result.err
    assert KEY not in result.err


async def test_missing_environment_says_what_to_set() -> None:
    result = await run("integrations", env=env_for(None))
    assert result.rc == 1
    assert result.out == ""
    assert result.err.count("\n") == 1
    assert "BRAZE_API_KEY" in result.err
    assert "BRAZE_REST_ENDPOINT" in result.err
    assert "--demo" in result.err


async def test_api_key_file_and_endpoint_option(emulator: BrazeCDIEmulator, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    env = env_for(None)
    ok = await run(
        "status",
        "healthy",
        "--api-key-file",
        str(key_file),
        "--endpoint",
        emulator.base_url,
        "--format",
        "ndjson",
        env=env,
    )
    assert ok.rc == 0, ok.err
    assert json.loads(ok.out)["integration_id"] == "healthy"
    from_stdin, missing = await asyncio.gather(
        run(
            "--api-key-file",
            "-",
            "--endpoint",
            emulator.base_url,
            "status",
            "healthy",
            env=env,
            stdin=KEY.encode(),
        ),
        run("status", "--api-key-file", str(tmp_path / "nope"), "--endpoint", "US-01", env=env),
    )
    assert from_stdin.rc == 0, from_stdin.err
    assert missing.rc == 1
    assert "cannot read the API key file" in missing.err


async def test_there_is_no_api_key_option_and_usage_errors_exit_1() -> None:
    result = await run("status", "--api-key", KEY, env=env_for(None))
    assert result.rc == 1
    assert result.err.count("\n") == 1
    assert KEY not in result.err
    assert "there is no --api-key option" in result.err
    assert "BRAZE_API_KEY" in result.err
    help_text = await run("--help", env=env_for(None))
    assert help_text.rc == 0
    assert "exit status:" in help_text.out
    for code in ("0  success", "1  usage", "2  API or network", "3  a reported sync"):
        assert code in help_text.out


# -- demo and emulator ------------------------------------------------------------------------------


async def test_demo_runs_every_command_without_credentials() -> None:
    env = env_for(None)
    status, listed = await asyncio.gather(
        run("--demo", "status", "--format", "json", env=env, script=True),
        run("--demo", "integrations", env=env),
    )
    assert status.rc == 3  # the demo has a failing integration
    statuses = json.loads(status.out)
    assert len(statuses) == 12
    assert {s["job_status"] for s in statuses} >= {"success", "error", "running", None}
    assert listed.rc == 0
    assert "Churn scores (failing)" in listed.out


async def test_emulator_command_serves_until_sigterm() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "braze_cdi_async",
        "emulator",
        "--port",
        "0",
        "--window",
        "1",
        env=env_for(None),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    first = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
    assert first.startswith("Braze CDI emulator listening on http://127.0.0.1:")
    url = first.rsplit(" ", 1)[1].strip()
    listed = await run(
        "integrations",
        "--format",
        "json",
        env=env_for(None, BRAZE_API_KEY="demo-key-0000", BRAZE_REST_ENDPOINT=url),
    )
    assert listed.rc == 0, listed.err
    assert len(json.loads(listed.out)) == 12
    proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0


# -- progress on a terminal ----------------------------------------------------------------------------


async def test_progress_goes_to_stderr_only_when_it_is_a_terminal(emulator: BrazeCDIEmulator) -> None:
    import pty

    leader, follower = pty.openpty()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "braze_cdi_async",
            "status",
            "--format",
            "ndjson",
            env=env_for(emulator),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=follower,
        )
        os.close(follower)
        follower = -1
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    terminal = b"".join(chunks).decode()
    assert proc.returncode == 3  # the failing integration
    assert "5/5" in terminal  # the counter reached every integration
    assert all(line.startswith("{") for line in out.decode().splitlines())  # stdout stays machine-readable

    piped = await run("status", "--format", "ndjson", env=env_for(emulator))
    assert piped.rc == 3
    assert piped.err == ""  # nothing extra when stderr is not a terminal
    assert piped.out == out.decode()
