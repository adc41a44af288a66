"""Reading HTTP headers: case-insensitive lookup and tolerant number parsing (pure)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["header_value", "parse_number"]

_NUMBER = re.compile(r"[+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name`` (lowercase), in any letter case; None when absent."""
    value = headers.get(name)  # exact hit, or any case for aiohttp's CIMultiDict
    if value is not None:
        return str(value)
    if isinstance(headers, (CIMultiDictProxy, CIMultiDict)):
        return None  # already case-insensitive: absent
    for key, found in headers.items():
        if str(key).lower() == name:
            return str(found)
    return None


def parse_number(raw: str | None) -> float | None:
    """A finite non-negative decimal number from a header value, or None for anything else."""
    if raw is None:
        return None
    text = raw.strip()
    if not _NUMBER.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None
