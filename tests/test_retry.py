"""Specification of the retry decisions: what is retried, how long we wait, and the shared retry quota."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from braze_cdi_async.errors import (
    AuthenticationError,
    BadRequestError,
    BrazeAPIError,
    ClientClosedError,
    DecodeError,
    InvalidCursorError,
    InvalidIntegrationIdError,
    NotFoundError,
    PaginationError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    SyncInProgressError,
    TransportError,
    error_for_response,
)
from braze_cdi_async.retry import RetryBudget, RetryPolicy, parse_retry_after
from braze_cdi_async.testing.clock import FakeClock

NOW = FakeClock().time()
OCT_21_2015 = datetime(2015, 10, 21, 7, 28, 0, tzinfo=timezone.utc).timestamp()


def http_date(epoch: float) -> str:
    return format_datetime(datetime.fromtimestamp(epoch, tz=timezone.utc), usegmt=True)


def rate_limited(**headers: str) -> RateLimitedError:
    return RateLimitedError(429, "Rate limit exceeded", headers=headers)


# --------------------------------------------------------------------------- is_retryable


@pytest.mark.parametrize(
    ("error", "idempotent_ok"),
    [
        (error_for_response(429, "Too many requests"), True),
        (error_for_response(429, "Another job is in progress"), False),
        (error_for_response(500, "Internal Server Error"), True),
        (error_for_response(502, "Bad Gateway"), True),
        (error_for_response(503, "Service Unavailable"), True),
        (error_for_response(504, "Gateway Timeout"), True),
        (error_for_response(501, "Not Implemented"), False),
        (error_for_response(505, "HTTP Version Not Supported"), False),
        (error_for_response(400, "Bad request"), False),
        (error_for_response(400, "Invalid cursor"), False),
        (error_for_response(400, "Invalid integration ID"), False),
        (error_for_response(401, "Invalid API key"), False),
        (error_for_response(403, "Forbidden"), False),
        (error_for_response(404, "Integration not found"), False),
        (error_for_response(413, "Payload too large"), False),
        (error_for_response(418, "I'm a teapot"), False),
        (TransportError("connection reset", request_sent=True), True),
        (TransportError("connection refused", request_sent=False), True),
        (DecodeError("results is not a list", path="results"), False),
        (PaginationError("cursor repeats"), False),
        (ClientClosedError("closed"), False),
        (ValueError("not ours"), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_idempotent_requests_retry_only_transient_failures(error: BaseException, idempotent_ok: bool) -> None:
    assert RetryPolicy().is_retryable(error, idempotent=True) is idempotent_ok


def test_error_classes_used_in_the_matrix_are_the_expected_ones() -> None:
    # Guards the matrix above: the mapping must give the classes the policy reasons about.
    assert type(error_for_response(429, "Another job is in progress")) is SyncInProgressError
    assert type(error_for_response(429, "Too many requests")) is RateLimitedError
    assert type(error_for_response(503, "x")) is ServerError
    assert type(error_for_response(400, "Invalid cursor")) is InvalidCursorError
    assert type(error_for_response(400, "Invalid integration ID")) is InvalidIntegrationIdError


@pytest.mark.parametrize(
    "error",
    [
        RateLimitedError(429, "Rate limit exceeded"),
        SyncInProgressError(429, "Another job is in progress"),
        ServerError(500, "oops"),
        ServerError(503, "unavailable"),
        BadRequestError(400, "bad"),
        AuthenticationError(401, "no"),
        PermissionDeniedError(403, "no"),
        NotFoundError(404, "Integration not found"),
        PayloadTooLargeError(413, "big"),
        DecodeError("bad json"),
        TransportError("reset after the request was written", request_sent=True),
        TransportError("read timeout", request_sent=True),
    ],
    ids=lambda e: f"{type(e).__name__}-{getattr(e, 'status', '')}",
)
def test_non_idempotent_requests_never_retry_once_the_request_may_have_arrived(error: BaseException) -> None:
    assert RetryPolicy().is_retryable(error, idempotent=False) is False


def test_non_idempotent_request_retries_when_the_connection_was_never_made() -> None:
    error = TransportError("connection refused", request_sent=False)
    assert RetryPolicy().is_retryable(error, idempotent=False) is True


def test_transport_errors_are_not_retried_when_disabled() -> None:
    policy = RetryPolicy(retry_transport_errors=False)
    assert policy.is_retryable(TransportError("reset"), idempotent=True) is False
    assert policy.is_retryable(TransportError("refused", request_sent=False), idempotent=False) is False
    assert policy.is_retryable(ServerError(503, "unavailable"), idempotent=True) is True


def test_retry_statuses_choose_which_statuses_are_retried() -> None:
    policy = RetryPolicy(retry_statuses={503, 408})
    assert policy.is_retryable(ServerError(503, "x"), idempotent=True) is True
    assert policy.is_retryable(ServerError(500, "x"), idempotent=True) is False
    assert policy.is_retryable(RateLimitedError(429, "x"), idempotent=True) is False
    assert policy.is_retryable(BrazeAPIError(408, "Request Timeout"), idempotent=True) is True
    assert policy.retry_statuses == frozenset({503, 408})


def test_permanent_errors_stay_permanent_even_if_listed_in_retry_statuses() -> None:
    policy = RetryPolicy(retry_statuses={400, 401, 403, 404, 413, 429})
    for error in (
        BadRequestError(400, "x"),
        AuthenticationError(401, "x"),
        PermissionDeniedError(403, "x"),
        NotFoundError(404, "x"),
        PayloadTooLargeError(413, "x"),
        SyncInProgressError(429, "Another job is in progress"),
    ):
        assert policy.is_retryable(error, idempotent=True) is False, error


# --------------------------------------------------------------------------- parse_retry_after


@pytest.mark.parametrize(
    ("value", "expected"),
    [("120", 120.0), ("1.5", 1.5), ("0", 0.0), (" 7 ", 7.0), (".25", 0.25), ("3.", 3.0)],
)
def test_retry_after_delay_seconds(value: str, expected: float) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "soon",
        "-5",
        "-0.5",
        "+5",
        "nan",
        "inf",
        "-inf",
        "1e3",
        "1_000",
        "12 seconds",
        "9" * 400,  # overflows a float to infinity
        "Wed, 32 Oct 2015 07:28:00 GMT",
        "Wed, 21 Oct 2015 25:28:00 GMT",
        "Foo, 21 Bar 2015 07:28:00 GMT",
    ],
)
def test_retry_after_junk_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


@pytest.mark.parametrize(
    "value",
    [
        "Wed, 21 Oct 2015 07:28:00 GMT",  # IMF-fixdate
        "Wednesday, 21-Oct-15 07:28:00 GMT",  # RFC 850
        "Wed Oct 21 07:28:00 2015",  # asctime
    ],
)
def test_retry_after_http_date_counts_from_now(value: str) -> None:
    assert parse_retry_after(value, OCT_21_2015 - 90) == pytest.approx(90.0)


def test_retry_after_http_date_honours_a_numeric_offset() -> None:
    # 09:28 at +02:00 is 07:28 UTC.
    assert parse_retry_after("Wed, 21 Oct 2015 09:28:00 +0200", OCT_21_2015 - 30) == pytest.approx(30.0)


def test_retry_after_http_date_in_the_past_means_now() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", OCT_21_2015 + 3600) == 0.0


def test_retry_after_http_date_defaults_to_the_wall_clock() -> None:
    target = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=365)
    waited = parse_retry_after(format_datetime(target, usegmt=True))
    assert waited is not None
    expected = (target - datetime.now(timezone.utc)).total_seconds()
    assert abs(waited - expected) < 60
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_rate_limited_error_exposes_retry_after_from_any_header_case() -> None:
    assert RateLimitedError(429, "x", headers={"retry-after": "12"}).retry_after == 12.0
    assert RateLimitedError(429, "x", headers={"Retry-After": "2.5"}).retry_after == 2.5
    assert RateLimitedError(429, "x", headers={"RETRY-AFTER": "junk"}).retry_after is None
    assert RateLimitedError(429, "x").retry_after is None


# --------------------------------------------------------------------------- compute_delay: server hints


def test_retry_after_seconds_is_the_delay() -> None:
    delay = RetryPolicy().compute_delay(
        rate_limited(**{"Retry-After": "7"}), 1, now=NOW, rng=random.Random(1)
    )
    assert delay == 7.0


def test_retry_after_header_name_is_case_insensitive() -> None:
    error = ServerError(503, "unavailable", headers={"rEtRy-AfTeR": "4.5"})
    assert RetryPolicy().compute_delay(error, 3, now=NOW, rng=random.Random(1)) == 4.5


def test_retry_after_http_date_is_relative_to_now() -> None:
    error = rate_limited(**{"Retry-After": http_date(NOW + 45)})
    assert RetryPolicy().compute_delay(error, 1, now=NOW, rng=random.Random(1)) == pytest.approx(45.0)


def test_retry_after_wins_over_rate_limit_reset() -> None:
    error = rate_limited(**{"Retry-After": "3", "X-RateLimit-Reset": str(int(NOW) + 50)})
    assert RetryPolicy().compute_delay(error, 1, now=NOW, rng=random.Random(1)) == 3.0


def test_rate_limit_reset_is_used_for_a_429_without_retry_after() -> None:
    error = rate_limited(**{"x-ratelimit-reset": str(int(NOW) + 42)})
    assert RetryPolicy().compute_delay(error, 1, now=NOW + 0.5, rng=random.Random(1)) == pytest.approx(41.5)


def test_rate_limit_reset_is_used_when_retry_after_is_junk() -> None:
    error = rate_limited(**{"Retry-After": "-3", "X-RateLimit-Reset": str(int(NOW) + 10)})
    assert RetryPolicy().compute_delay(error, 1, now=NOW, rng=random.Random(1)) == pytest.approx(10.0)


def test_rate_limit_reset_is_ignored_for_non_429_statuses() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_max=1.0)
    error = ServerError(503, "unavailable", headers={"X-RateLimit-Reset": str(int(NOW) + 100)})
    delay = policy.compute_delay(error, 1, now=NOW, rng=random.Random(1))
    assert delay is not None
    assert 0.0 <= delay <= 1.0


@pytest.mark.parametrize("reset", ["past", "now", "junk", "nan", "inf", "-5"])
def test_unusable_rate_limit_reset_falls_back_to_backoff(reset: str) -> None:
    value = {"past": str(NOW - 10), "now": str(NOW)}.get(reset, reset)
    policy = RetryPolicy(backoff_base=2.0, backoff_max=2.0)
    delay = policy.compute_delay(
        rate_limited(**{"X-RateLimit-Reset": value}), 1, now=NOW, rng=random.Random(3)
    )
    assert delay is not None
    assert 0.0 <= delay <= 2.0


def test_retry_after_of_zero_means_retry_now() -> None:
    error = rate_limited(**{"Retry-After": "0"})
    assert RetryPolicy().compute_delay(error, 4, now=NOW, rng=random.Random(1)) == 0.0


def test_server_wait_longer_than_the_cap_is_not_slept() -> None:
    policy = RetryPolicy(max_server_wait=60.0)
    rng = random.Random(1)
    assert policy.compute_delay(rate_limited(**{"Retry-After": "61"}), 1, now=NOW, rng=rng) is None
    assert (
        policy.compute_delay(rate_limited(**{"Retry-After": http_date(NOW + 3600)}), 1, now=NOW, rng=rng)
        is None
    )
    reset = rate_limited(**{"X-RateLimit-Reset": str(NOW + 60.5)})
    assert policy.compute_delay(reset, 1, now=NOW, rng=rng) is None


def test_server_wait_equal_to_the_cap_is_slept() -> None:
    policy = RetryPolicy(max_server_wait=60.0)
    rng = random.Random(1)
    assert policy.compute_delay(rate_limited(**{"Retry-After": "60"}), 1, now=NOW, rng=rng) == 60.0
    reset = rate_limited(**{"X-RateLimit-Reset": str(NOW + 60)})
    assert policy.compute_delay(reset, 1, now=NOW, rng=rng) == pytest.approx(60.0)


def test_a_server_hint_consumes_no_randomness() -> None:
    rng = random.Random(5)
    state = rng.getstate()
    RetryPolicy().compute_delay(rate_limited(**{"Retry-After": "2"}), 1, now=NOW, rng=rng)
    assert rng.getstate() == state


# --------------------------------------------------------------------------- compute_delay: backoff


def test_backoff_without_hints_draws_from_a_growing_window() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=1000.0)
    rng = random.Random(20240115)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (6, 16.0)]:
        draws = [policy.compute_delay(ServerError(503, "x"), attempt, now=NOW, rng=rng) for _ in range(2000)]
        values = [d for d in draws if d is not None]
        assert len(values) == len(draws)
        assert all(0.0 <= d <= ceiling for d in values), attempt
        # Full jitter: the draws spread over the whole window, not a slice of it.
        assert min(values) < ceiling * 0.05
        assert max(values) > ceiling * 0.95
        assert sum(values) / len(values) == pytest.approx(ceiling / 2, rel=0.1)


def test_backoff_window_stops_growing_at_backoff_max() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=3.0)
    rng = random.Random(7)
    for attempt in (4, 5, 10, 64, 2000):
        draws = [
            policy.compute_delay(TransportError("reset"), attempt, now=NOW, rng=rng) for _ in range(1000)
        ]
        values = [d for d in draws if d is not None]
        assert len(values) == len(draws)
        assert all(0.0 <= d <= 3.0 for d in values)
        assert max(values) > 2.85


def test_backoff_is_reproducible_with_the_same_seed() -> None:
    policy = RetryPolicy()
    first = [
        policy.compute_delay(TransportError("x"), n, now=NOW, rng=random.Random(99)) for n in range(1, 8)
    ]
    again = [
        policy.compute_delay(TransportError("x"), n, now=NOW, rng=random.Random(99)) for n in range(1, 8)
    ]
    assert first == again
    assert len(set(first)) > 1


def test_zero_backoff_base_retries_immediately() -> None:
    policy = RetryPolicy(backoff_base=0.0)
    assert policy.compute_delay(ServerError(500, "x"), 10**6, now=NOW, rng=random.Random(1)) == 0.0


@pytest.mark.parametrize("attempt", [0, -1])
def test_attempt_numbers_start_at_one(attempt: int) -> None:
    with pytest.raises(ValueError, match="attempt"):
        RetryPolicy().compute_delay(ServerError(500, "x"), attempt, now=NOW, rng=random.Random(1))


@given(
    attempt=st.integers(min_value=1, max_value=10**9),
    seed=st.integers(min_value=0, max_value=2**64),
    base=st.floats(min_value=0.0, max_value=100.0),
    cap=st.floats(min_value=0.0, max_value=3600.0),
    transport=st.booleans(),
)
def test_backoff_never_leaves_zero_to_backoff_max(
    attempt: int, seed: int, base: float, cap: float, transport: bool
) -> None:
    policy = RetryPolicy(backoff_base=base, backoff_max=cap)
    error: BaseException = TransportError("reset") if transport else ServerError(503, "unavailable")
    delay = policy.compute_delay(error, attempt, now=NOW, rng=random.Random(seed))
    assert delay is not None
    assert 0.0 <= delay <= cap
    if attempt <= 64:
        assert delay <= base * 2.0 ** (attempt - 1)


# --------------------------------------------------------------------------- validation


def test_defaults() -> None:
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.backoff_base, policy.backoff_max, policy.max_server_wait) == (
        6,
        0.5,
        30.0,
        120.0,
    )
    assert policy.retry_statuses == frozenset({429, 500, 502, 503, 504})
    assert policy.retry_transport_errors is True


def test_policy_is_frozen() -> None:
    policy = RetryPolicy()
    with pytest.raises(AttributeError):
        policy.max_attempts = 2  # type: ignore[misc]


def test_max_attempts_of_one_is_allowed() -> None:
    assert RetryPolicy(max_attempts=1).max_attempts == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": -3}, "max_attempts"),
        ({"backoff_base": -0.1}, "backoff_base"),
        ({"backoff_base": math.nan}, "backoff_base"),
        ({"backoff_base": math.inf}, "backoff_base"),
        ({"backoff_max": -1.0}, "backoff_max"),
        ({"backoff_max": math.inf}, "backoff_max"),
        ({"max_server_wait": 0.0}, "max_server_wait"),
        ({"max_server_wait": -5.0}, "max_server_wait"),
        ({"max_server_wait": math.nan}, "max_server_wait"),
        ({"retry_statuses": {200}}, "retry_statuses"),
        ({"retry_statuses": {600}}, "retry_statuses"),
    ],
)
def test_out_of_range_settings_are_rejected_naming_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_attempts": 2.0}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
        ({"backoff_base": "1"}, "backoff_base"),
        ({"backoff_max": None}, "backoff_max"),
        ({"max_server_wait": "60"}, "max_server_wait"),
        ({"retry_transport_errors": 1}, "retry_transport_errors"),
    ],
)
def test_wrongly_typed_settings_are_rejected_naming_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(TypeError, match=field):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- RetryBudget


def test_budget_starts_full() -> None:
    budget = RetryBudget(capacity=50)
    assert (budget.capacity, budget.available) == (50, 50)


def test_budget_drains_under_repeated_failures_then_refuses() -> None:
    budget = RetryBudget(capacity=23, retry_cost=5, timeout_cost=10, success_refill=1)
    granted = 0
    while budget.try_acquire(ServerError(503, "x")):
        granted += 1
    assert granted == 4  # 4 * 5 = 20 <= 23 < 25
    assert budget.available == 3
    assert budget.try_acquire(ServerError(503, "x")) is False
    assert budget.available == 3  # a refusal spends nothing


def test_transport_errors_cost_more_than_other_retries() -> None:
    budget = RetryBudget(capacity=100, retry_cost=5, timeout_cost=10)
    assert budget.try_acquire(TransportError("timeout")) is True
    assert budget.available == 90
    assert budget.try_acquire(RateLimitedError(429, "x")) is True
    assert budget.available == 85


def test_budget_can_cover_a_retry_costing_exactly_what_is_left() -> None:
    budget = RetryBudget(capacity=10, retry_cost=5, timeout_cost=10)
    assert budget.try_acquire(TransportError("timeout")) is True
    assert budget.available == 0
    assert budget.try_acquire(TransportError("timeout")) is False


def test_budget_recovers_after_successes_up_to_capacity() -> None:
    budget = RetryBudget(capacity=20, retry_cost=5, timeout_cost=10, success_refill=2)
    assert budget.try_acquire(TransportError("a")) is True
    assert budget.try_acquire(TransportError("b")) is True
    assert budget.try_acquire(ServerError(500, "x")) is False
    budget.on_success()
    budget.on_success()
    assert budget.available == 4
    assert budget.try_acquire(ServerError(500, "x")) is False
    budget.on_success()
    assert budget.try_acquire(ServerError(500, "x")) is True
    assert budget.available == 1
    for _ in range(100):
        budget.on_success()
    assert budget.available == 20


def test_success_on_a_full_budget_keeps_it_at_capacity() -> None:
    budget = RetryBudget(capacity=7)
    budget.on_success()
    assert budget.available == 7


def test_zero_capacity_budget_never_allows_a_retry() -> None:
    budget = RetryBudget(capacity=0)
    assert budget.try_acquire(ServerError(503, "x")) is False
    budget.on_success()
    assert budget.available == 0


def test_budget_repr_shows_its_level() -> None:
    budget = RetryBudget(capacity=30, retry_cost=5)
    budget.try_acquire(ServerError(503, "x"))
    assert repr(budget) == "RetryBudget(available=25, capacity=30)"


@pytest.mark.parametrize("name", ["capacity", "retry_cost", "timeout_cost", "success_refill"])
def test_budget_rejects_negative_settings(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        RetryBudget(**{name: -1})


@pytest.mark.parametrize("name", ["capacity", "retry_cost", "timeout_cost", "success_refill"])
def test_budget_rejects_non_integer_settings(name: str) -> None:
    with pytest.raises(TypeError, match=name):
        RetryBudget(**{name: 1.5})  # type: ignore[arg-type]
