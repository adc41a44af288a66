"""Link header parsing, cursor extraction and URL building: pure functions."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from braze_cdi_async.errors import BrazeError, PaginationError
from braze_cdi_async.links import (
    build_url,
    check_integration_id,
    cursor_from_link,
    endpoint_url,
    next_cursor,
    parse_link_header,
    prev_cursor,
)

DOC = (
    '</cdi/integrations/00000000-0000-0000-0000-000000000000/job_sync_status?cursor=c2tpcDow>; rel="prev",'
    '</cdi/integrations00000000-0000-0000-0000-000000000000/job_sync_status?cursor=c2tpcDoxMDA=>; rel="next"'
)


def test_documented_example_with_its_missing_slash() -> None:
    assert next_cursor(DOC) == "c2tpcDoxMDA="
    assert prev_cursor(DOC) == "c2tpcDow"


def test_no_header_means_no_cursor() -> None:
    assert next_cursor(None) is None
    assert next_cursor("") is None


def test_first_page_has_only_next_and_last_page_only_prev() -> None:
    assert prev_cursor('</x?cursor=YQ==>; rel="next"') is None
    assert next_cursor('</x?cursor=YQ==>; rel="prev"') is None


def test_unquoted_rel_multiple_rels_and_extra_params() -> None:
    header = '<https://h/x?a=1&cursor=Zm9v&b=2>; title="a, b; c"; rel="next last", </y?cursor=YmFy>; rel=prev'
    links = parse_link_header(header)
    assert links == {
        "next": "https://h/x?a=1&cursor=Zm9v&b=2",
        "last": "https://h/x?a=1&cursor=Zm9v&b=2",
        "prev": "/y?cursor=YmFy",
    }
    assert next_cursor(header) == "Zm9v"


def test_plus_slash_and_equals_survive_in_cursors() -> None:
    assert cursor_from_link("/x?cursor=a+b/c==") == "a+b/c=="
    assert cursor_from_link("/x?cursor=a%2Bb%2Fc%3D%3D") == "a+b/c=="


def test_foreign_host_yields_only_the_cursor(caplog: pytest.LogCaptureFixture) -> None:
    header = '<https://evil.example/x?cursor=abc>; rel="next"'
    assert next_cursor(header, base_url="https://rest.iad-01.braze.com") == "abc"
    assert "another host" in caplog.text


@pytest.mark.parametrize(
    "header",
    ["garbage", "<unterminated; rel=next", '</x?cursor=a>; rel="next', "</x?cursor=a> rel=next"],
)
def test_malformed_headers_raise_a_typed_error(header: str) -> None:
    with pytest.raises(PaginationError):
        parse_link_header(header)


def test_next_link_without_a_cursor_is_an_error_not_the_end() -> None:
    with pytest.raises(PaginationError, match="no cursor"):
        next_cursor('</cdi/integrations/x/job_sync_status?page=2>; rel="next"')


def test_oversized_link_header_is_refused() -> None:
    with pytest.raises(PaginationError, match="characters long"):
        parse_link_header("<" + "a" * 20000 + '>; rel="next"')


@given(st.text(max_size=200))
def test_any_header_string_parses_or_raises_our_typed_error(header: str) -> None:
    try:
        links = parse_link_header(header)
    except BrazeError:
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in links.items())


cursors = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=60)


@given(next_c=cursors, prev_c=cursors)
def test_well_formed_links_round_trip(next_c: str, prev_c: str) -> None:
    header = (
        f'</cdi/integrations/i/job_sync_status?cursor={quote(prev_c, safe="")}>; rel="prev",'
        " <https://rest.iad-01.braze.com/cdi/integrations/i/job_sync_status"
        f"?cursor={quote(next_c, safe='')}>;"
        ' rel="next"'
    )
    assert next_cursor(header, base_url="https://rest.iad-01.braze.com") == next_c
    assert prev_cursor(header) == prev_c


@given(cursors)
def test_cursor_encoding_round_trips_through_build_url(cursor: str) -> None:
    url = build_url("https://h", ("cdi", "integrations"), cursor)
    assert url.count("?") == 1
    assert cursor_from_link(url) == cursor


@pytest.mark.parametrize("bad", ["", " ", "a b", "a\tb", "a\nb", "\x00", "\x7f", ".", ".."])
def test_check_integration_id_refuses(bad: str) -> None:
    with pytest.raises(ValueError, match="integration_id"):
        check_integration_id(bad)


def test_check_integration_id_refuses_non_strings() -> None:
    with pytest.raises(TypeError, match="must be a str"):
        check_integration_id(123)


@given(
    st.text(min_size=1, max_size=40).filter(
        lambda s: (
            s.strip() == s and s not in (".", "..") and s.isprintable() and not any(c.isspace() for c in s)
        )
    )
)
def test_any_valid_id_stays_one_path_segment(integration_id: str) -> None:
    url = endpoint_url("https://h", integration_id, "job_sync_status")
    path = url[len("https://h") :]
    segments = path.split("/")
    assert segments[:3] == ["", "cdi", "integrations"]
    assert segments[4] == "job_sync_status" and len(segments) == 5
    assert "?" not in url and "#" not in url
