"""Run every example as a subprocess and check its output against the emulator's demo data."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from braze_cdi_async.testing import DEMO_API_KEY, BrazeCDIEmulator

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
UUID = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\s")
FAILING = {"error", "config_error", "partial"}
TIMEOUT = 60.0


def demo_truth() -> tuple[list[tuple[str, str]], dict[str, list[dict[str, Any]]]]:
    """(id, name) of the demo integrations in list order, and each one's history (newest first)."""
    emulator = BrazeCDIEmulator.with_demo_data()
    assert emulator.demo_workspace is not None
    integrations = emulator.integrations(emulator.demo_workspace)
    listed = [(i.integration_id, i.name) for i in integrations]
    return listed, {iid: emulator.history(iid) for iid, _ in listed}


INTEGRATIONS, HISTORIES = demo_truth()


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAZE_")}
    env.update(extra)
    return env


async def run_example(script: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run ``examples/script`` with warnings as errors; return (exit status, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-W",
        "error",
        str(EXAMPLES / script),
        *args,
        env=clean_env() if env is None else env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def assert_emulator_note(stderr: str) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("BRAZE_API_KEY is not set: using the embedded Braze CDI emulator")
    assert re.search(r"http://127\.0\.0\.1:\d+$", lines[0])


def rows_by_id(stdout: str) -> dict[str, str]:
    return {m.group(1): line for line in stdout.splitlines() if (m := UUID.match(line))}


def history_rows(stdout: str) -> list[list[str]]:
    """The data rows of sync_history's table, split into columns (status is one word)."""
    return [line.split() for line in stdout.splitlines() if re.match(r"^\s*\d+\s+[a-z_]+\s", line)]


async def test_latest_status_runs_on_the_embedded_emulator() -> None:
    code, out, err = await run_example("latest_status.py")
    assert code == 0, err
    assert_emulator_note(err)
    rows = rows_by_id(out)
    assert list(rows) == [iid for iid, _ in INTEGRATIONS]
    for iid, name in INTEGRATIONS:
        line, history = rows[iid], HISTORIES[iid]
        assert name in line
        if not history:
            assert "never synced" in line
            continue
        latest = history[0]
        cells = line.split()
        assert latest["job_status"] in cells
        assert cells[-2:] == [f"{latest['rows_synced']:,}", f"{latest['rows_failed_with_errors']:,}"]
        if latest["sync_finish_time"] is None:
            assert cells[-3] == "-"
    statuses = [h[0]["job_status"] for h in HISTORIES.values() if h]
    assert f"\n{len(INTEGRATIONS)} integrations: " in out
    assert f"{statuses.count('success')} success" in out
    assert "1 running" in out and "1 never synced" in out


async def test_sync_history_defaults_to_the_first_integration() -> None:
    code, out, err = await run_example("sync_history.py")
    assert code == 0, err
    assert_emulator_note(err)
    first_id, first_name = INTEGRATIONS[0]
    assert out.splitlines()[0] == f"Sync history of integration {first_id} ({first_name}), newest first"
    history = HISTORIES[first_id]
    assert len(history) > 10  # spans several pages
    rows = history_rows(out)
    assert [r[0] for r in rows] == [str(n) for n in range(1, len(history) + 1)]
    assert [r[1] for r in rows] == [h["job_status"] for h in history]
    assert [r[-2] for r in rows] == [f"{h['rows_synced']:,}" for h in history]
    assert f"\n{len(history)} syncs: " in out


async def test_sync_history_of_a_given_integration() -> None:
    iid = max(HISTORIES, key=lambda i: len(HISTORIES[i]))
    history = HISTORIES[iid]
    code, out, err = await run_example("sync_history.py", iid)
    assert code == 0, err
    assert_emulator_note(err)
    rows = history_rows(out)
    assert [r[1] for r in rows] == [h["job_status"] for h in history]
    assert [r[-1] for r in rows] == [f"{h['rows_failed_with_errors']:,}" for h in history]


async def test_sync_history_of_an_unknown_integration_fails_with_a_message() -> None:
    code, out, err = await run_example("sync_history.py", "no-such-integration")
    assert code == 1
    assert out == ""
    assert "InvalidIntegrationIdError" in err.splitlines()[-1]


def expected_failures() -> set[tuple[str, str, int]]:
    """Failing syncs among each demo integration's newest page (10 syncs)."""
    return {
        (iid, sync["job_status"], sync["rows_failed_with_errors"])
        for iid, history in HISTORIES.items()
        for sync in history[:10]
        if sync["job_status"] in FAILING
    }


REPORT = re.compile(r"^(FAILED |PARTIAL) (\S+)  '[^']*'  status=(\S+)  .*rows_failed=(\d+)$")


def reported(stdout: str) -> list[tuple[str, str, int]]:
    return [
        (m.group(2), m.group(3), int(m.group(4))) for line in stdout.splitlines() if (m := REPORT.match(line))
    ]


async def test_monitor_failures_once_reports_every_failing_sync() -> None:
    code, out, err = await run_example("monitor_failures.py", "--once")
    assert code == 0, err
    assert_emulator_note(err)
    found = reported(out)
    expected = expected_failures()
    assert len(found) == len(expected) > 0  # each reported once
    assert set(found) == expected
    assert {status for _, status, _ in found} == FAILING  # the demo data has all three kinds
    last = out.splitlines()[-1]
    assert last.endswith(f"checked {len(INTEGRATIONS)} integrations: {len(expected)} new failing syncs")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_monitor_failures_loop_reports_once_and_stops_on_signal(sig: signal.Signals) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-W",
        "error",
        str(EXAMPLES / "monitor_failures.py"),
        "--interval",
        "0.2",
        env=clean_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        passes: list[str] = []
        while len(passes) < 2:
            line = (await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)).decode()
            assert line, "monitor exited before two passes"
            if " checked " in line:
                passes.append(line)
        proc.send_signal(sig)
        rest, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert passes[0].rstrip().endswith(f"{len(expected_failures())} new failing syncs")
    assert passes[1].rstrip().endswith(": 0 new failing syncs")  # nothing reported twice
    assert reported(rest.decode()) == []
    lines = err.decode().splitlines()
    assert_emulator_note(lines[0])
    assert lines[1:] == ["stopped"]


def pages(n: int) -> int:
    return max(1, -(-n // 10))


@pytest.mark.parametrize(
    ("script", "args", "list_requests", "job_status_requests"),
    [
        # every integration listed (12 = 2 pages), then one job-status request per integration
        ("latest_status.py", (), pages(len(INTEGRATIONS)), len(INTEGRATIONS)),
        ("monitor_failures.py", ("--once",), pages(len(INTEGRATIONS)), len(INTEGRATIONS)),
        # only the first list page, then every page of the first integration's history
        ("sync_history.py", (), 1, pages(len(HISTORIES[INTEGRATIONS[0][0]]))),
    ],
)
async def test_examples_use_braze_api_key_from_the_environment(
    braze_cdi_emulator: BrazeCDIEmulator,
    script: str,
    args: tuple[str, ...],
    list_requests: int,
    job_status_requests: int,
) -> None:
    env = clean_env(BRAZE_API_KEY=DEMO_API_KEY, BRAZE_REST_ENDPOINT=braze_cdi_emulator.base_url)
    code, out, err = await run_example(script, *args, env=env)
    assert code == 0, err
    assert err == ""  # no emulator note: it talked to the server it was configured for
    assert any(iid in out for iid, _ in INTEGRATIONS)
    log = braze_cdi_emulator.requests
    assert {r.api_key for r in log} == {DEMO_API_KEY}
    assert {r.status for r in log} == {200}
    endpoints = [r.endpoint for r in log]
    assert endpoints.count("list_integrations") == list_requests
    assert endpoints.count("job_sync_status") == job_status_requests


async def test_examples_report_an_incomplete_configuration() -> None:
    code, out, err = await run_example("latest_status.py", env=clean_env(BRAZE_API_KEY="some-key"))
    assert code == 2
    assert out == ""
    assert "BRAZE_REST_ENDPOINT" in err and "some-key" not in err
