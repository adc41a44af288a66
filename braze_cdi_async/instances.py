"""Braze instance names (``US-03``, ``EU-01`` …) and their REST base URLs."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["INSTANCES", "instance_url"]


def _table() -> dict[str, str]:
    table = {f"US-0{n}": f"https://rest.iad-0{n}.braze.com" for n in range(1, 9)}
    table.update(
        {
            "US-10": "https://rest.us-10.braze.com",
            "EU-01": "https://rest.fra-01.braze.eu",
            "EU-02": "https://rest.fra-02.braze.eu",
            "AU-01": "https://rest.au-01.braze.com",
            "ID-01": "https://rest.id-01.braze.com",
            "JP-01": "https://rest.jp-01.braze.com",
            "KR-01": "https://rest.kr-01.braze.com",
        }
    )
    return table


#: Braze instance name → REST base URL (there is no US-09).
INSTANCES: Mapping[str, str] = MappingProxyType(_table())


def instance_url(name: str) -> str:
    """Return the REST base URL of a Braze instance name, case-insensitively (``"us-03"`` works)."""
    key = name.strip().upper().replace("_", "-")
    try:
        return INSTANCES[key]
    except KeyError:
        valid = ", ".join(INSTANCES)
        raise ValueError(f"unknown Braze instance {name!r}; valid instances are: {valid}") from None
