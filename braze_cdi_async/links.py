"""Link headers, cursors and request URLs: pure functions, no I/O."""

from __future__ import annotations

import logging
from urllib.parse import quote, unquote, urlsplit

from .errors import PaginationError

__all__ = [
    "parse_link_header",
    "cursor_from_link",
    "next_cursor",
    "prev_cursor",
    "page_cursors",
    "check_integration_id",
    "quote_segment",
    "build_url",
    "with_cursor",
    "endpoint_url",
    "MAX_LINK_HEADER",
]

logger = logging.getLogger(__name__)

#: Longer Link headers are refused (a hostile server could send megabytes).
MAX_LINK_HEADER = 16 * 1024


class LinkHeaderError(PaginationError, ValueError):
    """A Link header that cannot be read."""


def parse_link_header(value: str) -> dict[str, str]:
    """Map each ``rel`` of an RFC 8288 Link header to its URI reference (the first one wins)."""
    if len(value) > MAX_LINK_HEADER:
        raise LinkHeaderError(f"Link header is {len(value)} characters long (limit {MAX_LINK_HEADER})")
    links: dict[str, str] = {}
    pos, end = 0, len(value)
    while pos < end:
        while pos < end and value[pos] in " \t,":
            pos += 1
        if pos >= end:
            break
        if value[pos] != "<":
            raise LinkHeaderError(f"malformed Link header near {value[pos : pos + 30]!r}: expected '<'")
        close = value.find(">", pos + 1)
        if close < 0:
            raise LinkHeaderError("malformed Link header: '<' without '>'")
        target = value[pos + 1 : close].strip()
        pos, params = _parse_params(value, close + 1)
        for rel in params.get("rel", "").split():
            links.setdefault(rel.lower(), target)
    return links


def _parse_params(value: str, pos: int) -> tuple[int, dict[str, str]]:
    """Read ``; name=value; name="quoted"`` parameters up to the next link-value's comma."""
    params: dict[str, str] = {}
    end = len(value)
    while True:
        while pos < end and value[pos] in " \t":
            pos += 1
        if pos >= end or value[pos] == ",":
            return pos, params
        if value[pos] != ";":
            raise LinkHeaderError(
                f"malformed Link header near {value[pos : pos + 30]!r}: expected ';' or ','"
            )
        pos += 1
        eq = pos
        while eq < end and value[eq] not in "=;,":
            eq += 1
        name = value[pos:eq].strip().lower()
        if eq >= end or value[eq] != "=":
            params.setdefault(name, "")
            pos = eq
            continue
        pos = eq + 1
        while pos < end and value[pos] in " \t":
            pos += 1
        if pos < end and value[pos] == '"':
            chars: list[str] = []
            pos += 1
            while pos < end and value[pos] != '"':
                if value[pos] == "\\" and pos + 1 < end:
                    pos += 1
                chars.append(value[pos])
                pos += 1
            if pos >= end:
                raise LinkHeaderError("malformed Link header: unterminated quoted string")
            pos += 1
            param = "".join(chars)
        else:
            start = pos
            while pos < end and value[pos] not in ";,":
                pos += 1
            param = value[start:pos].strip()
        params.setdefault(name, param)


def cursor_from_link(target: str) -> str | None:
    """The ``cursor`` query value of a link target (relative, absolute, or Braze's slash-less one).

    ``+`` is kept as ``+`` (cursors are base64; a space is never meant), ``%XX`` is decoded.
    """
    query = urlsplit(target).query
    for pair in query.split("&"):
        name, sep, raw = pair.partition("=")
        if sep and unquote(name) == "cursor":
            return unquote(raw)
    return None


def _cursor_for(header: str | None, rel: str, base_url: str | None) -> str | None:
    if not header:
        return None
    return _cursor_in(parse_link_header(header), rel, base_url)


def _cursor_in(links: dict[str, str], rel: str, base_url: str | None) -> str | None:
    target = links.get(rel)
    if target is None:
        return None
    if base_url is not None and _is_foreign(target, base_url):
        # We never follow the link itself (it would carry the API key elsewhere); only its cursor is used,
        # against our own base URL.
        logger.warning(
            "Link rel=%s points to another host; using only its cursor against the configured host", rel
        )
    cursor = cursor_from_link(target)
    if cursor is None:
        raise LinkHeaderError(f"Link rel={rel!r} has no cursor parameter")
    if cursor == "":
        raise LinkHeaderError(f"Link rel={rel!r} has an empty cursor")
    return cursor


def _is_foreign(target: str, base_url: str) -> bool:
    if target.startswith("/") and not target.startswith("//"):
        return False  # relative: the usual case, no parsing needed
    link = urlsplit(target)
    if not link.netloc and not link.scheme:
        return False
    base = urlsplit(base_url)
    return (link.scheme.lower(), link.netloc.lower()) != (base.scheme.lower(), base.netloc.lower())


def page_cursors(link_header: str | None, *, base_url: str | None = None) -> tuple[str | None, str | None]:
    """``(next, prev)`` cursors of one response's Link header, parsing it once."""
    if not link_header:
        return None, None
    links = parse_link_header(link_header)
    return _cursor_in(links, "next", base_url), _cursor_in(links, "prev", base_url)


def next_cursor(link_header: str | None, *, base_url: str | None = None) -> str | None:
    """The cursor of the ``rel="next"`` link, or None on the last page / without a Link header."""
    return _cursor_for(link_header, "next", base_url)


def prev_cursor(link_header: str | None, *, base_url: str | None = None) -> str | None:
    """The cursor of the ``rel="prev"`` link, or None."""
    return _cursor_for(link_header, "prev", base_url)


def check_integration_id(integration_id: object) -> str:
    """Return the ID if it can name one integration; else a ValueError saying what is wrong."""
    if not isinstance(integration_id, str):
        raise TypeError(f"integration_id must be a str, not {type(integration_id).__name__}")
    if not integration_id:
        raise ValueError("integration_id is empty")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in integration_id):
        raise ValueError(f"integration_id {integration_id!r} contains whitespace or control characters")
    if integration_id in (".", ".."):
        raise ValueError(f"integration_id {integration_id!r} is a relative path segment")
    return integration_id


def quote_segment(segment: str) -> str:
    """Percent-encode one path segment: ``/``, ``?``, ``#``, ``%`` and non-ASCII can never escape it."""
    return quote(segment, safe="-_.~")


def build_url(base_url: str, segments: tuple[str, ...], cursor: str | None = None) -> str:
    """An already-encoded URL: base, each segment encoded alone, and an encoded ``cursor`` query."""
    return with_cursor(base_url + "/" + "/".join(quote_segment(s) for s in segments), cursor)


def with_cursor(url: str, cursor: str | None) -> str:
    """``url`` (without a query) plus the ``cursor`` query value, percent-encoded."""
    return url if cursor is None else url + "?cursor=" + quote(cursor, safe="")


def endpoint_url(
    base_url: str, integration_id: str | None, action: str | None, cursor: str | None = None
) -> str:
    """URL of a CDI endpoint: ``/cdi/integrations[/{id}/{action}]``."""
    if integration_id is None:
        return build_url(base_url, ("cdi", "integrations"), cursor)
    return build_url(base_url, ("cdi", "integrations", integration_id, action or ""), cursor)
