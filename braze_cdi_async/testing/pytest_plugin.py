"""pytest fixtures for the Braze CDI emulator (registered as the ``braze_cdi_emulator`` plugin).

Installed with the package, the plugin is loaded automatically (entry point ``pytest11``).
With pytest-asyncio in auto mode, a test just asks for the fixture::

    async def test_lists_integrations(braze_cdi_emulator, braze_cdi_demo_key):
        url = f"{braze_cdi_emulator.base_url}/cdi/integrations"
        headers = {"Authorization": f"Bearer {braze_cdi_demo_key}"}
        async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
            assert resp.status == 200

``braze_cdi_emulator`` is a running :class:`BrazeCDIEmulator` (function scope) with the demo
workspace (``DEMO_API_KEY``, 12 integrations) and 1-second rate-limit windows; its request log,
fault injector and ground truth (``emulator.history(id)``) are there to assert on.
``braze_cdi_demo_key`` is the demo workspace's API key. Without pytest-asyncio the fixtures
raise a usage error instead of breaking collection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from braze_cdi_async.testing.emulator import DEMO_API_KEY, BrazeCDIEmulator

__all__ = ["braze_cdi_emulator", "braze_cdi_demo_key"]


async def _emulator() -> AsyncIterator[BrazeCDIEmulator]:
    async with BrazeCDIEmulator.with_demo_data(window=1.0) as emulator:
        yield emulator


def _make_fixture() -> Any:
    try:
        import pytest_asyncio
    except ImportError:  # pragma: no cover - depends on the environment

        @pytest.fixture(name="braze_cdi_emulator")
        def missing() -> None:
            raise pytest.UsageError("the braze_cdi_emulator fixture needs pytest-asyncio installed")

        return missing

    return pytest_asyncio.fixture(_emulator, name="braze_cdi_emulator")


braze_cdi_emulator = _make_fixture()


@pytest.fixture
def braze_cdi_demo_key() -> str:
    """The API key of the emulator's demo workspace."""
    return DEMO_API_KEY
