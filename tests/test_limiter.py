"""The shared rate limiter, driven by a fake clock: every wait and every decision is checked exactly."""

from __future__ import annotations

import math
import random
import threading
import time

import pytest

from bulkbackup._coolify.limiter import RateLimiter, header, parse_retry_after


class FakeClock:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self, start: float = 1000.0):
        self.t = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        assert seconds > 0, f"asked to sleep {seconds!r}: that is a busy loop"
        self.sleeps.append(seconds)
        self.t += seconds


def ok(remaining: int, limit: int = 200) -> dict[str, str]:
    return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining)}


def too_many(retry_after: str | None) -> dict[str, str]:
    headers = {"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "0"}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    return headers


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limiter(clock: FakeClock) -> RateLimiter:
    return RateLimiter(clock=clock, sleep=clock.sleep, probe_interval=0.2)


def learn(limiter: RateLimiter, remaining: int) -> None:
    """Send the first (probe) request and learn the budget from its answer."""
    assert limiter.acquire()
    limiter.observe(200, ok(remaining))


# --- the budget ----------------------------------------------------------------------------------------------------


def test_the_first_request_goes_alone_until_the_budget_is_known(limiter):
    assert limiter.decision().action == "probe"
    assert limiter.acquire()
    assert limiter.decision().action == "probe_in_flight"
    limiter.observe(200, ok(57))
    assert limiter.budget == 57
    assert limiter.decision().action == "go"


def test_the_budget_is_spent_then_exactly_one_probe_goes(limiter, clock):
    learn(limiter, 3)
    for expected in (2, 1, 0):
        assert limiter.decision().action == "go"
        assert limiter.acquire()
        assert limiter.budget == expected
    assert limiter.decision().action == "probe"
    assert limiter.acquire()
    assert limiter.decision().action == "probe_in_flight"
    assert limiter.in_flight == 4
    assert limiter.stats.probes == 2  # the very first request, and this one
    assert clock.sleeps == []


def test_an_answer_overtaken_by_a_later_request_can_only_lower_the_estimate(limiter):
    learn(limiter, 10)
    limiter.acquire()  # A
    limiter.acquire()  # B, sent after A
    # Observed in the same thread, so in acquisition order; simulate B answering first by swapping the tickets.
    tickets = limiter._tickets()
    tickets.reverse()
    limiter.observe(200, ok(8))  # B: A is still in flight
    assert limiter.budget == 7
    limiter.observe(200, ok(9))  # A, overtaken: its 9 is older than B's 8
    assert limiter.budget == 7
    limiter.acquire()
    limiter.acquire()
    tickets.reverse()
    limiter.observe(200, ok(7))  # the later one first: 7 - 1 in flight
    assert limiter.budget == 6
    limiter.observe(200, ok(3))  # the earlier one says less (someone else spends too): lower wins
    assert limiter.budget == 3


def test_the_estimate_is_remaining_minus_the_other_requests_in_flight(limiter):
    learn(limiter, 10)
    for _ in range(3):
        limiter.acquire()
    assert limiter.budget == 7
    limiter.observe(200, ok(8))  # two others still in flight: they may not be counted in the 8 yet
    assert limiter.budget == 6
    limiter.observe(200, ok(7))
    assert limiter.budget == 6
    limiter.observe(200, ok(6))
    assert limiter.budget == 6
    assert limiter.in_flight == 0


def test_a_successful_probe_restores_the_flow(limiter):
    learn(limiter, 1)
    limiter.acquire()
    limiter.observe(200, ok(0))
    assert limiter.decision().action == "probe"
    limiter.acquire()
    limiter.observe(200, ok(199))  # a new window had started
    assert limiter.budget == 199
    assert limiter.decision().action == "go"


def test_a_server_without_budget_headers_is_not_throttled_by_us(limiter, clock):
    assert limiter.acquire()
    limiter.observe(200, {})
    for _ in range(50):
        assert limiter.acquire()
    assert limiter.stats.probes == 1
    assert clock.sleeps == []


def test_a_proxy_error_without_headers_keeps_probing(limiter):
    limiter.acquire()
    limiter.observe(502, {})
    assert limiter.budget is None
    assert limiter.decision().action == "probe"


def test_a_transport_error_only_releases_the_slot(limiter):
    learn(limiter, 5)
    limiter.acquire()
    limiter.observe(None, None)
    assert limiter.in_flight == 0
    assert limiter.budget == 4
    assert limiter.stats.transport_errors == 1


def test_a_failed_probe_lets_the_next_probe_go(limiter):
    limiter.acquire()
    limiter.observe(None, None)
    assert limiter.decision().action == "probe"


def test_headers_are_read_case_insensitively():
    assert header({"x-ratelimit-remaining": "5"}, "X-RateLimit-Remaining") == "5"
    assert header(None, "Retry-After") is None


# --- 429 and the pause -------------------------------------------------------------------------------------------


def test_a_429_pauses_everybody_for_exactly_retry_after(limiter, clock):
    learn(limiter, 50)
    limiter.acquire()
    limiter.observe(429, too_many("7"))
    assert limiter.paused_until == 1007.0
    assert limiter.decision() == ("paused", 7.0)
    assert limiter.acquire()
    assert clock.sleeps == [7.0]
    assert clock.t == 1007.0
    # After the pause only one request goes: the budget is unknown until its answer.
    assert limiter.decision().action == "probe_in_flight"
    stats = limiter.stats
    assert (stats.throttled, stats.paused_seconds) == (1, 7.0)


def test_the_pause_is_measured_from_the_answer_not_from_the_request(limiter, clock):
    limiter.acquire()
    clock.t += 2.5  # the 429 took a while to come back
    limiter.observe(429, too_many("4"))
    assert limiter.paused_until == pytest.approx(1006.5)


def test_a_missing_retry_after_means_one_second(limiter, clock):
    limiter.acquire()
    limiter.observe(429, {"X-RateLimit-Remaining": "0"})
    limiter.acquire()
    assert clock.sleeps == [1.0]


@pytest.mark.parametrize("retry_after", ["0", "0.0", "-3"])
def test_a_zero_retry_after_never_busy_loops(limiter, clock, retry_after):
    for _ in range(10):
        assert limiter.acquire()
        limiter.observe(429, too_many(retry_after))
    assert limiter.acquire()
    assert clock.sleeps == pytest.approx([0.2] * 10)
    assert clock.t == pytest.approx(1002.0)


def test_a_429_right_after_a_pause_waits_only_the_probe_interval(limiter, clock):
    learn(limiter, 3)
    limiter.acquire()
    limiter.observe(429, too_many("5"))
    limiter.acquire()  # waits 5 s: the probe
    # Whole-second rounding: the window had a fraction of a second left.
    limiter.observe(429, too_many("1"))
    limiter.acquire()
    limiter.observe(429, too_many("0"))
    limiter.acquire()
    assert clock.sleeps == pytest.approx([5.0, 0.2, 0.2])
    limiter.observe(200, ok(199))
    assert limiter.budget == 199
    # Throttled again later in the new window: a full Retry-After applies again.
    limiter.acquire()
    limiter.observe(429, too_many("1"))
    limiter.acquire()
    assert clock.sleeps[-1] == 1.0


def test_a_retry_after_smaller_than_the_probe_interval_is_used(clock):
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, probe_interval=2.0)
    limiter.acquire()
    limiter.observe(429, too_many("3"))
    limiter.acquire()
    limiter.observe(429, too_many("1"))
    limiter.acquire()
    assert clock.sleeps == [3.0, 1.0]


def test_a_long_retry_after_after_a_pause_is_honoured(limiter, clock):
    # Another client of the same user spent the new window: that is a real pause, not rounding.
    limiter.acquire()
    limiter.observe(429, too_many("5"))
    limiter.acquire()
    limiter.observe(429, too_many("42"))
    limiter.acquire()
    assert clock.sleeps == [5.0, 42.0]


def test_a_first_429_of_one_second_is_a_full_second(limiter, clock):
    learn(limiter, 10)
    limiter.acquire()
    limiter.observe(429, too_many("1"))
    limiter.acquire()
    assert clock.sleeps == [1.0]


def test_pauses_are_clamped_to_max_pause(clock):
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, max_pause=90.0)
    limiter.acquire()
    limiter.observe(429, too_many("86400"))
    limiter.acquire()
    assert clock.sleeps == [90.0]


def test_retry_after_as_an_http_date():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412500.0) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412500.0) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("12") == 12.0


def test_429s_of_requests_sent_before_an_earlier_429_do_not_extend_the_pause(limiter, clock):
    learn(limiter, 10)
    limiter.acquire()
    limiter.acquire()
    limiter.observe(429, too_many("30"))
    clock.t += 1
    limiter.observe(429, too_many("30"))  # same window, same news (whole-second rounding made it 30 again)
    assert limiter.paused_until == 1030.0
    assert limiter.stats.throttled == 2
    assert limiter.stats.paused_seconds == 30.0


def test_stale_budget_figures_after_a_429_are_ignored(limiter, clock):
    learn(limiter, 10)
    limiter.acquire()  # A
    limiter.acquire()  # B
    limiter.observe(429, too_many("3"))  # A was refused
    limiter.observe(200, ok(4))  # B was counted earlier: its 4 is out of date
    assert limiter.budget == 0
    limiter.acquire()
    assert clock.sleeps == [3.0]
    assert limiter.decision().action == "probe_in_flight"


# --- the optional rate cap -----------------------------------------------------------------------------------------


def test_the_rate_cap_spaces_requests_evenly(clock):
    limiter = RateLimiter(4.0, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.observe(200, ok(100))
    granted = []
    for _ in range(4):
        limiter.acquire()
        granted.append(clock.t)
    assert granted == pytest.approx([1000.25, 1000.5, 1000.75, 1001.0])
    assert limiter.decision() == pytest.approx(("rate", 0.25))


def test_a_late_worker_does_not_earn_a_burst(clock):
    limiter = RateLimiter(2.0, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.observe(200, ok(100))
    clock.t += 10  # nobody asked for 10 s
    limiter.acquire()
    assert limiter.decision() == ("rate", 0.5)


def test_the_rate_cap_can_be_changed_and_removed(clock):
    limiter = RateLimiter(1.0, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.observe(200, ok(100))
    limiter.rate = None
    for _ in range(5):
        limiter.acquire()
    assert clock.sleeps == []
    with pytest.raises(ValueError):
        limiter.rate = 0


# --- stopping ------------------------------------------------------------------------------------------------------


def test_a_set_stop_event_returns_false_without_reserving(limiter):
    stop = threading.Event()
    stop.set()
    assert limiter.acquire(stop) is False
    assert limiter.in_flight == 0
    assert limiter.stats.requests == 0


def test_stop_during_a_pause_ends_the_wait(clock):
    stop = threading.Event()

    def sleep(seconds):
        clock.sleep(min(seconds, 1.0))
        stop.set()  # Ctrl-C arrives during the first second of the wait

    limiter = RateLimiter(clock=clock, sleep=sleep)
    limiter.acquire()
    limiter.observe(429, too_many("60"))
    assert limiter.acquire(stop) is False
    assert clock.t == 1001.0


def test_stop_releases_a_waiter_on_the_real_clock():
    limiter = RateLimiter()
    limiter.acquire()
    limiter.observe(429, too_many("3600"))  # without the stop, the waiter would wait an hour
    stop = threading.Event()
    result = []
    waiter = threading.Thread(target=lambda: result.append(limiter.acquire(stop)), daemon=True)
    waiter.start()
    time.sleep(0.05)
    assert waiter.is_alive()
    stop.set()
    waiter.join(60)
    assert result == [False]


def test_stop_releases_a_worker_waiting_for_the_probe():
    limiter = RateLimiter()
    assert limiter.acquire()  # the probe, never answered
    stop = threading.Event()
    result = []
    waiter = threading.Thread(target=lambda: result.append(limiter.acquire(stop)))
    waiter.start()
    time.sleep(0.05)
    assert waiter.is_alive()
    stop.set()
    waiter.join(2.0)
    assert result == [False]


# --- threads -------------------------------------------------------------------------------------------------------


def test_only_one_probe_goes_and_the_others_follow_its_answer():
    limiter = RateLimiter()
    assert limiter.acquire()  # the probe
    granted = []
    waiters = [threading.Thread(target=lambda: granted.append(limiter.acquire())) for _ in range(3)]
    for w in waiters:
        w.start()
    time.sleep(0.05)
    assert granted == []
    limiter.observe(200, ok(100))
    for w in waiters:
        w.join(2.0)
    assert granted == [True, True, True]
    assert limiter.in_flight == 3
    assert limiter.budget == 97


def test_in_flight_accounting_with_four_threads():
    """Each thread observes its own request: the estimate subtracts exactly the others still in flight."""
    limiter = RateLimiter()
    learn(limiter, 10)
    acquired = threading.Barrier(5)
    turn = [threading.Event() for _ in range(4)]
    seen: list[float | None] = [None] * 4

    def worker(n: int) -> None:
        limiter.acquire()
        acquired.wait()
        turn[n].wait(2.0)
        limiter.observe(200, ok(9 - n))  # the server counted this request and those observed before it
        seen[n] = limiter.budget
        if n < 3:
            turn[n + 1].set()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    acquired.wait(2.0)
    assert limiter.in_flight == 4
    assert limiter.budget == 6
    turn[0].set()
    for t in threads:
        t.join(2.0)
    assert seen == [6, 6, 6, 6]
    assert limiter.in_flight == 0


class WindowServer:
    """A fixed-window rate limiter like Coolify's, on a fake clock: `limit` requests per `window` seconds."""

    def __init__(self, clock: FakeClock, limit: int, window: float):
        self.clock, self.limit, self.window = clock, limit, window
        self.lock = threading.Lock()
        self.start: float | None = None
        self.count = 0
        self.accepted = 0
        self.refused = 0
        self.concurrent = 0
        self.max_concurrent = 0

    def hit(self) -> tuple[int, dict[str, str]]:
        with self.lock:
            now = self.clock()
            if self.start is None or now >= self.start + self.window:
                self.start, self.count = now, 0
            if self.count >= self.limit:
                self.refused += 1
                retry_after = int(self.start + self.window) - int(now)
                return 429, too_many(str(max(0, retry_after)))
            self.count += 1
            self.accepted += 1
            return 200, ok(self.limit - self.count, self.limit)


def test_four_threads_spend_windows_without_losing_track():
    clock = FakeClock()
    clock_lock = threading.Lock()

    def sleep(seconds: float) -> None:
        # Several threads may sleep on the same pause: the clock moves to the latest wake-up, not the sum.
        target = clock.t + seconds
        time.sleep(0.001)
        with clock_lock:
            clock.t = max(clock.t, target)

    limiter = RateLimiter(clock=clock, sleep=sleep, probe_interval=0.2)
    server = WindowServer(clock, limit=20, window=10.0)
    rng = random.Random(7)
    done = []

    def worker() -> None:
        sent = 0
        while sent < 30:
            assert limiter.acquire()
            status, headers = server.hit()
            time.sleep(rng.random() / 2000)
            limiter.observe(status, headers)
            if status == 200:
                sent += 1
        done.append(sent)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20.0)
    assert done == [30, 30, 30, 30]
    assert limiter.in_flight == 0
    assert server.accepted == 120
    # 6 windows of 20: each of the first 5 ends with exactly one refused probe, however the answers interleave.
    assert server.refused == 5
    assert limiter.stats.throttled == 5
    # The run takes exactly the time the server's limit allows: 5 full windows, then the sixth.
    assert clock.t - 1000.0 == pytest.approx(50.0)


def windows_opened(limiter: RateLimiter, server: WindowServer, requests: int) -> list[float]:
    """Send `requests` counted requests one after the other; the times the server's windows opened."""
    opened: list[float] = []
    sent = 0
    while sent < requests:
        assert limiter.acquire()
        status, headers = server.hit()
        if server.start not in opened:
            opened.append(server.start)
        limiter.observe(status, headers)
        sent += status == 200
    return opened


def test_once_a_window_was_watched_whole_the_next_ones_open_without_waste(clock):
    # 5.2 s windows: every Retry-After is whole seconds, up to a second off the window's real end.
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, probe_interval=0.2)
    server = WindowServer(clock, limit=5, window=5.2)
    opened = windows_opened(limiter, server, 5 * 8)
    late = [later - (earlier + 5.2) for earlier, later in zip(opened, opened[1:], strict=False)]
    assert len(late) == 7
    assert all(x >= -1e-9 for x in late)  # the server opens no window early: a check of the simulation
    # The first two ends are found from Retry-After and probes 0.2 s apart; from then on the length is known.
    assert max(late[2:]) < 0.05, late
    assert sum(late) < 1.0, late
    # A few probes refused per window at most, never a busy loop.
    assert server.refused <= 4 * 7
    assert min(clock.sleeps) >= 0.02 - 1e-9


def test_the_window_length_is_learned_from_three_windows(clock):
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, probe_interval=0.2)
    server = WindowServer(clock, limit=5, window=5.2)
    windows_opened(limiter, server, 5 * 3)
    learned = limiter.window_length
    assert 5.0 < learned[0] <= 5.2 <= learned[1] < 5.4


def test_a_retry_after_contradicting_the_learned_window_is_honoured(clock):
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, probe_interval=0.2)
    server = WindowServer(clock, limit=5, window=5.2)
    windows_opened(limiter, server, 5 * 4)
    assert math.isfinite(limiter.window_length[1])
    for _ in range(4):  # spend the window
        assert limiter.acquire()
        limiter.observe(200, ok(3))
    # Another client of the same user spent the next window as well: the server says 42 s, and it is right.
    assert limiter.acquire()
    limiter.observe(429, too_many("42"))
    assert limiter.acquire()
    assert clock.sleeps[-1] == 42.0
    assert limiter.window_length == (0.0, math.inf)  # what was known is dropped, learned again from here


def test_a_window_opened_by_someone_else_teaches_nothing(clock):
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, probe_interval=0.2)
    learn(limiter, 199)  # this request opened a window
    limiter.acquire()
    limiter.observe(429, too_many("5"))
    limiter.acquire()  # after 5 s: another client's request was counted first in the new window
    limiter.observe(200, ok(150))
    limiter.acquire()
    limiter.observe(429, too_many("3"))
    limiter.acquire()
    assert clock.sleeps == [5.0, 3.0]  # Retry-After, as before anything was learned
    assert limiter.window_length == (0.0, math.inf)


# --- telling a display about waits, and a run's own cap --------------------------------------------------------------


def test_on_wait_hears_of_each_wait_for_the_window_and_not_of_going(limiter, clock):
    learn(limiter, 5)
    heard: list[float] = []
    assert limiter.acquire(on_wait=heard.append)
    assert heard == []  # budget left: no wait to report
    limiter.observe(429, too_many("7"))
    assert limiter.acquire(on_wait=heard.append)
    assert heard == [7.0]
    assert clock.sleeps == [7.0]


def test_on_wait_is_not_told_of_the_short_waits_of_a_rate_cap(clock):
    limiter = RateLimiter(10.0, clock=clock, sleep=clock.sleep)
    heard: list[float] = []
    for _ in range(3):
        assert limiter.acquire(on_wait=heard.append)
        limiter.observe(200, ok(100))
    assert heard == []
    assert clock.sleeps  # it did wait, for the cap


def test_on_wait_is_called_without_the_lock_held(limiter, clock):
    learn(limiter, 5)
    limiter.acquire()
    limiter.observe(429, too_many("2"))
    seen: list[float | None] = []
    assert limiter.acquire(on_wait=lambda s: seen.append(limiter.budget))  # would deadlock if the lock were held
    assert seen == [0]


def test_a_run_cap_spaces_its_own_requests_only(clock):
    from bulkbackup._coolify.limiter import RateCap

    cap = RateCap(4.0, clock=clock, sleep=clock.sleep)
    assert all(cap.wait() for _ in range(5))
    assert clock.sleeps == [0.25, 0.25, 0.25, 0.25]
    stop = threading.Event()
    stop.set()
    assert cap.wait(stop) is False
    with pytest.raises(ValueError):
        RateCap(0)
