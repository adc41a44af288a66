"""Shared fixtures, and the aioresponses shim for aiohttp >= 3.14."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any
from unittest import mock

import aiohttp
import aioresponses.core as _aioresponses_core
import pytest
from aiohttp import ClientResponse
from aiohttp.client_proto import ResponseHandler
from aiohttp.streams import StreamReader

# --- aioresponses shim -------------------------------------------------------------------------------
# aioresponses 0.7.9 predates aiohttp 3.14 (upstream issue pnuckowski/aioresponses#289):
#  1. ClientResponse.__init__ gained a required keyword-only ``stream_writer``; aioresponses does not pass
#     it, so every mocked request fails with "missing 1 required keyword-only argument: 'stream_writer'".
#  2. Its fake StreamReader has a 64 KiB limit; feeding a larger body pauses a protocol that has no
#     parser and trips ``assert self._parser is not None`` in ``pause_reading``.
# We keep the latest aiohttp (3.14 carries a security fix) and patch aioresponses' two names instead.
# Remove this block once an aioresponses release fixes #289.
if "stream_writer" in inspect.signature(ClientResponse.__init__).parameters:

    class _ShimClientResponse(ClientResponse):
        def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
            kwargs.setdefault("stream_writer", mock.Mock(output_size=0))
            super().__init__(method, url, **kwargs)

    def _stream_reader_factory(loop: Any = None) -> StreamReader:
        # A limit above any body a test feeds, so the reader never asks the parser-less protocol to pause.
        return StreamReader(ResponseHandler(loop=loop), limit=2**30, loop=loop)

    _aioresponses_core.ClientResponse = _ShimClientResponse  # type: ignore[misc]
    _aioresponses_core.stream_reader_factory = _stream_reader_factory


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--soak-size N``: integrations in the fault soak (tests/soak; default 300 or $BRAZE_SOAK_SIZE)."""
    parser.addoption(
        "--soak-size",
        type=int,
        default=None,
        help="integrations in the fault soak (default 300, or $BRAZE_SOAK_SIZE)",
    )


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session, for tests that talk to the emulator without the client."""
    async with aiohttp.ClientSession() as s:
        yield s
