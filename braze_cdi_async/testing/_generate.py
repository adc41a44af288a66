"""Seeded generators of realistic CDI integrations and sync histories for the emulator."""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "PROFILES",
    "INTEGRATION_TYPES",
    "WAREHOUSE_TYPES",
    "iso",
    "new_uuid",
    "generate_history",
    "generate_integration_fields",
]

# profile name -> weights for success, partial, error, config_error
PROFILES: Mapping[str, tuple[float, float, float, float]] = {
    "healthy": (0.93, 0.05, 0.015, 0.005),
    "flaky": (0.6, 0.2, 0.15, 0.05),
    "failing": (0.1, 0.1, 0.6, 0.2),
}
_STATUSES = ("success", "partial", "error", "config_error")
_INTERVALS = (3600.0, 3 * 3600.0, 6 * 3600.0, 12 * 3600.0, 86400.0)
INTEGRATION_TYPES = ("user_attributes", "custom_events", "purchase_events", "user_deletes", "catalogs")
WAREHOUSE_TYPES = ("snowflake", "redshift", "bigquery", "databricks", "s3", "fabric")
_NOUNS = ("Users", "Orders", "Loyalty", "Subscriptions", "Events", "Products", "Churn scores", "Preferences")


def iso(t: float) -> str:
    """Format epoch seconds as ISO 8601 UTC with a ``Z`` suffix (whole seconds)."""
    return datetime.fromtimestamp(int(t), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_uuid(rng: random.Random) -> str:
    """Return a UUID4-shaped string drawn from ``rng``."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _rows(rng: random.Random) -> int:
    return int(rng.lognormvariate(8.5, 1.6)) + 1


def generate_history(
    rng: random.Random,
    n: int,
    now: float,
    *,
    profile: str = "healthy",
    running: bool = False,
    failing_tail: int = 0,
) -> list[dict[str, Any]]:
    """Return ``n`` sync records, newest first, ending before ``now`` (the newest may be running)."""
    if n <= 0:
        return []
    weights = PROFILES[profile]
    interval = rng.choice(_INTERVALS)
    start = now - n * interval - rng.uniform(600.0, 1800.0)
    synced_upto: float | None = None
    oldest_first: list[dict[str, Any]] = []
    for i in range(n):
        t0 = start + i * interval + rng.uniform(0.0, 300.0)
        newest = i == n - 1
        if newest and running:
            oldest_first.append(
                {
                    "job_status": "running",
                    "sync_start_time": iso(now - rng.uniform(5.0, 240.0)),
                    "sync_finish_time": None,
                    "last_timestamp_synced": None if synced_upto is None else iso(synced_upto),
                    "rows_synced": 0,
                    "rows_failed_with_errors": 0,
                }
            )
            break
        status = "error" if i >= n - failing_tail else rng.choices(_STATUSES, weights)[0]
        t1 = t0 + rng.uniform(20.0, 1500.0)
        rows = _rows(rng)
        if status == "success":
            synced, failed = rows, 0
        elif status == "partial":
            failed = max(1, int(rows * rng.uniform(0.001, 0.05)))
            synced = rows
        elif status == "error":
            synced, failed = 0, rows
        else:
            synced, failed = 0, 0
        if status in ("success", "partial"):
            candidate = t0 - rng.uniform(1.0, 120.0)
            synced_upto = candidate if synced_upto is None else max(synced_upto, candidate)
        oldest_first.append(
            {
                "job_status": status,
                "sync_start_time": iso(t0),
                "sync_finish_time": iso(t1),
                "last_timestamp_synced": None if synced_upto is None else iso(synced_upto),
                "rows_synced": synced,
                "rows_failed_with_errors": failed,
            }
        )
    oldest_first.reverse()
    return oldest_first


def generate_integration_fields(
    rng: random.Random, workspace_id: str, integration_id: str, name: str | None, now: float, index: int
) -> dict[str, Any]:
    """Return a list-integrations record (without the last-job fields) for one integration."""
    itype = rng.choice(INTEGRATION_TYPES)
    paused = rng.random() < 0.1
    return {
        "integration_id": integration_id,
        "app_group_id": workspace_id,
        "integration_name": name or f"{rng.choice(_NOUNS)} {itype.replace('_', ' ')} #{index}",
        "integration_type": itype,
        "integration_status": "paused" if paused else "active",
        "contact_emails": rng.choice(("data-team@example.com", "ops@example.com", "crm@example.com")),
        "last_updated_at": iso(now - rng.uniform(86400.0, 90 * 86400.0)),
        "warehouse_type": rng.choice(WAREHOUSE_TYPES),
        "next_scheduled_run": None if paused else iso(now + rng.uniform(60.0, 6 * 3600.0)),
    }
