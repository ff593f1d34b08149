"""The fixed-window throttle (API-RULES §3): arithmetic with a fake clock, then over HTTP with a short window."""

from __future__ import annotations

import math
import time

import pytest
import requests

from bulkbackup.sandbox import Sandbox
from bulkbackup.sandbox._limiter import FixedWindowLimiter

# --- the arithmetic, with explicit times -------------------------------------------------------------------------


def test_window_starts_at_the_first_counted_request_and_timer_is_whole_seconds():
    limiter = FixedWindowLimiter(60)
    t0 = 1000.3
    for i in range(3):
        assert limiter.attempt("user:1", 3, t0 + i) is None
    assert limiter.remaining("user:1", 3, t0 + 2) == 0
    refusal = limiter.attempt("user:1", 3, 1059.9)
    # timer = floor(t0 + 60) = 1060; Retry-After = 1060 - floor(1059.9) = 1; Reset = 1059 + 1
    assert (refusal.retry_after, refusal.reset) == (1, 1060)
    assert refusal.headers() == [
        ("X-RateLimit-Limit", "3"),
        ("X-RateLimit-Remaining", "0"),
        ("Retry-After", "1"),
        ("X-RateLimit-Reset", "1060"),
    ]


def test_the_last_fraction_of_a_second_is_refused_with_retry_after_zero():
    limiter = FixedWindowLimiter(60)
    limiter.attempt("k", 1, 1000.3)
    refusal = limiter.attempt("k", 1, 1060.2)  # the entries expire at 1060.3, the timer says 1060
    assert (refusal.retry_after, refusal.reset) == (0, 1060)
    assert limiter.attempt("k", 1, 1060.3) is None  # expired: a new window
    assert limiter.remaining("k", 1, 1060.3) == 0


def test_retry_after_can_be_shorter_or_longer_than_the_real_wait():
    limiter = FixedWindowLimiter(2)
    limiter.attempt("k", 1, 1000.7)  # window really ends at 1002.7, timer = 1002
    assert limiter.attempt("k", 1, 1001.1).retry_after == 1  # real wait 1.6 s
    limiter = FixedWindowLimiter(2)
    limiter.attempt("k", 1, 1000.0)  # window ends at 1002.0, timer = 1002
    assert limiter.attempt("k", 1, 1000.9).retry_after == 2  # real wait 1.1 s


def test_refusals_are_not_counted_and_keys_are_separate():
    limiter = FixedWindowLimiter(10)
    limiter.attempt("a", 2, 0.0)
    limiter.attempt("a", 2, 0.1)
    for _ in range(5):
        assert limiter.attempt("a", 2, 0.2) is not None
    assert limiter.remaining("a", 2, 0.2) == 0
    assert limiter.attempt("b", 2, 0.2) is None
    assert limiter.attempt("a", 2, 10.0) is None and limiter.remaining("a", 2, 10.0) == 1


def test_a_bad_window_is_refused():
    with pytest.raises(ValueError):
        FixedWindowLimiter(0)


# --- over HTTP ---------------------------------------------------------------------------------------------------

LIMIT, WINDOW = 5, 2.0


@pytest.fixture
def limited():
    with Sandbox(databases=10, rate_limit=LIMIT, window=WINDOW) as sb:
        yield sb


def get(sb, token=None, accept="application/json", path="/databases"):
    headers = {"Authorization": f"Bearer {token or sb.token}"}
    if accept:
        headers["Accept"] = accept
    return requests.get(f"{sb.endpoint}{path}", headers=headers, timeout=10)


def test_headers_count_down_then_429(limited):
    remaining = []
    for _ in range(LIMIT):
        response = get(limited)
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == str(LIMIT)
        assert "X-RateLimit-Reset" not in response.headers and "Retry-After" not in response.headers
        remaining.append(int(response.headers["X-RateLimit-Remaining"]))
    assert remaining == [4, 3, 2, 1, 0]
    before = math.floor(time.time())
    response = get(limited)
    after = math.floor(time.time())
    assert response.status_code == 429
    assert response.text == '{\n    "message": "Too Many Attempts."\n}'
    assert response.headers["Content-Type"] == "application/json"
    retry_after = int(response.headers["Retry-After"])
    reset = int(response.headers["X-RateLimit-Reset"])
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert 0 <= retry_after <= math.ceil(WINDOW)
    assert before <= reset - retry_after <= after  # Reset = floor(now) + Retry-After


def test_429_is_html_unless_json_is_asked_for(limited):
    for _ in range(LIMIT):
        get(limited)
    for accept in (None, "*/*", "text/html", "text/html, application/json"):
        response = get(limited, accept=accept)
        assert response.status_code == 429
        assert response.headers["Content-Type"] == "text/html; charset=UTF-8"
        assert "Too Many Requests" in response.text
        assert "Retry-After" in response.headers and "X-RateLimit-Reset" in response.headers
    xhr = requests.get(
        f"{limited.endpoint}/databases",
        timeout=10,
        headers={"Authorization": f"Bearer {limited.token}", "X-Requested-With": "XMLHttpRequest"},
    )
    assert xhr.json() == {"message": "Too Many Attempts."}


def test_refused_and_unauthenticated_requests_do_not_count_and_the_window_resets(limited):
    for _ in range(10):
        assert requests.get(f"{limited.endpoint}/databases", timeout=10).status_code == 401
    first = time.monotonic()
    assert get(limited).headers["X-RateLimit-Remaining"] == str(LIMIT - 1)
    for _ in range(LIMIT - 1):
        get(limited)
    for _ in range(5):
        assert get(limited).status_code == 429
    time.sleep(max(0.0, WINDOW - (time.monotonic() - first)) + 0.05)
    response = get(limited)
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Remaining"] == str(LIMIT - 1)  # the 429s added nothing


def test_the_bucket_is_per_user(limited):
    for token in (limited.token, limited.token, limited.read_token, limited.read_token, limited.write_token):
        get(limited, token=token, path="/version")  # the write token's 403 counts too
    assert get(limited, token=limited.read_token).status_code == 429
    assert get(limited, token=limited.other_team_token).status_code == 200  # another user, another bucket


def test_errors_after_the_throttle_count_and_carry_the_headers(limited):
    responses = [
        get(limited, path="/databases/nope/backups"),  # 404
        get(limited, token=limited.write_token),  # 403 ability
        requests.patch(
            f"{limited.endpoint}/databases/x/backups/y",
            data=b"{",
            timeout=10,
            headers={"Authorization": f"Bearer {limited.token}", "Content-Type": "application/json"},
        ),
    ]
    limited.set_api_enabled(False)
    responses.append(get(limited))  # 403 API disabled
    assert [r.status_code for r in responses] == [404, 403, 400, 403]
    assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["4", "3", "2", "1"]


def test_health_has_its_own_limit_by_ip(limited):
    for _ in range(LIMIT):
        get(limited)
    assert get(limited).status_code == 429
    response = requests.get(f"{limited.url}/api/health", timeout=10)
    assert (response.status_code, response.headers["X-RateLimit-Limit"]) == (200, "1000")
    versioned = requests.get(f"{limited.endpoint}/health", timeout=10)
    assert (versioned.status_code, versioned.headers["X-RateLimit-Limit"]) == (200, str(LIMIT))


def test_reset_rate_limit(limited):
    for _ in range(LIMIT + 1):
        get(limited)
    limited.reset_rate_limit()
    assert get(limited).headers["X-RateLimit-Remaining"] == str(LIMIT - 1)


def test_bad_limits_are_refused():
    with pytest.raises(ValueError):
        Sandbox(rate_limit=0)
    with pytest.raises(ValueError):
        Sandbox(window=0)
