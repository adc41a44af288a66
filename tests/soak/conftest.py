"""The soak's size: bounded for CI by default; larger with ``--soak-size N`` or ``BRAZE_SOAK_SIZE=N``."""

from __future__ import annotations

import os

import pytest

#: Integrations in the CI soak (keeps the whole soak to a few seconds of wall time on 2 cores).
DEFAULT_SOAK_SIZE = 300


@pytest.fixture
def soak_size(request: pytest.FixtureRequest) -> int:
    """Integrations to fan out over: ``--soak-size``, else ``$BRAZE_SOAK_SIZE``, else the CI default."""
    option = request.config.getoption("--soak-size", default=None)
    if option is None:
        option = int(os.environ.get("BRAZE_SOAK_SIZE", DEFAULT_SOAK_SIZE))
    if option < 10:
        raise pytest.UsageError("--soak-size must be at least 10")
    return int(option)
