"""The standalone ``python -m braze_cdi_async.testing`` entry point and the pytest plugin."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import aiohttp

from braze_cdi_async.testing import DEMO_API_KEY

REPO = Path(__file__).resolve().parent.parent


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


async def test_standalone_serves_demo_data_until_sigint() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "braze_cdi_async.testing",
        "--port",
        "0",
        "--seed",
        "4",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(),
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    try:
        lines: list[str] = []
        url = None
        while url is None:
            line = (await asyncio.wait_for(proc.stdout.readline(), timeout=20)).decode()
            assert line, f"emulator exited early: {(await proc.stderr.read()).decode()}"
            lines.append(line)
            match = re.search(r"(http://127\.0\.0\.1:\d+)\s*$", line)
            url = match.group(1) if match else None
        lines.append((await asyncio.wait_for(proc.stdout.readline(), timeout=5)).decode())
        assert DEMO_API_KEY in lines[-1]
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"{url}/cdi/integrations", headers={"Authorization": f"Bearer {DEMO_API_KEY}"}
            ) as resp,
        ):
            assert resp.status == 200
            body = await resp.json()
        assert len(body["results"]) == 10
        assert resp.headers["X-RateLimit-Limit"] == "50"
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), timeout=20) == 0
        rest = (await proc.stdout.read()).decode()
        assert "curl" in "".join(lines) + rest
        assert "Traceback" not in (await proc.stderr.read()).decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_pytest_plugin_fixture(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\n"
        "asyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n"
    )
    (tmp_path / "test_uses_fixture.py").write_text(
        textwrap.dedent(
            """
            import aiohttp

            async def test_lists(braze_cdi_emulator, braze_cdi_demo_key):
                assert braze_cdi_emulator.window == 1.0
                url = f"{braze_cdi_emulator.base_url}/cdi/integrations"
                headers = {"Authorization": f"Bearer {braze_cdi_demo_key}"}
                async with aiohttp.ClientSession() as s, s.get(url, headers=headers) as resp:
                    assert resp.status == 200
                    assert len((await resp.json())["results"]) == 10
                assert braze_cdi_emulator.requests[-1].api_key == braze_cdi_demo_key

            async def test_fresh_per_test(braze_cdi_emulator):
                assert braze_cdi_emulator.requests == []
                assert braze_cdi_emulator.demo_api_key == "demo-key-0000"
            """
        )
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:braze_cdi_emulator",
            "-p",
            "braze_cdi_async.testing.pytest_plugin",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
