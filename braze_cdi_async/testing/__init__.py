"""Test helpers: the embedded Braze CDI emulator and a fake clock (importable without pytest)."""

from __future__ import annotations

from braze_cdi_async.testing._faults import (
    CustomHandler,
    Fault,
    FaultInjector,
    FaultRule,
    RequestInfo,
    ResponseFactory,
)
from braze_cdi_async.testing.emulator import (
    ALL_PERMISSIONS,
    DEFAULT_LIMITS,
    DEMO_API_KEY,
    ENDPOINTS,
    PERMISSIONS,
    BrazeCDIEmulator,
    EmulatedIntegration,
    RequestRecord,
    Workspace,
    encode_cursor,
)

__all__ = [
    "ALL_PERMISSIONS",
    "DEFAULT_LIMITS",
    "DEMO_API_KEY",
    "ENDPOINTS",
    "PERMISSIONS",
    "BrazeCDIEmulator",
    "CustomHandler",
    "EmulatedIntegration",
    "Fault",
    "FaultInjector",
    "FaultRule",
    "RequestInfo",
    "RequestRecord",
    "ResponseFactory",
    "Workspace",
    "encode_cursor",
]
