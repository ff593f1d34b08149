"""One pace for every worker: the server's own rate-limit budget, learned from its headers, plus an optional cap.

Coolify (Laravel's `ThrottleRequests`) counts every authenticated request in fixed windows that start at the first
request, reports `X-RateLimit-Remaining` on every answer, and refuses with 429 + `Retry-After` once the budget is
spent (a 429 itself is not counted). There is no reset time on successful answers, so the limiter cannot know when
a window will end until the server refuses: it spends the budget as fast as the workers allow, lets a single
"probe" request find out whether the budget is really gone, and on a 429 holds everybody for `Retry-After`.

`Retry-After` is whole seconds computed from whole-second timestamps, so it can be up to a second early or late
and can even be 0; after a pause the limiter therefore probes again at short intervals instead of trusting it
blindly, and never sends back-to-back on a 0.

A second late at every window is a sixtieth of the time lost (more, when an admin shortens the window), so the
limiter also learns the window's length from what it sees: the request whose answer says `limit - 1` remain
opened a window, the window ended between the last refusal and the next opening, and windows are all equally
long. After one window watched from opening to end, the next pause ends when the window can end at the earliest,
and the probes that follow are spaced by a third of what is still uncertain (so a few of them at most per window).
What the server says wins: knowledge that contradicts an answer is dropped and `Retry-After` rules again.

Every decision is a function of `clock()` and the headers seen, so tests drive it with a fake clock.
"""

from __future__ import annotations

import email.utils
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import NamedTuple

__all__ = ["Decision", "LimiterStats", "RateCap", "RateLimiter", "WaitHearing", "header", "parse_retry_after"]

# How long a waiter blocks on the condition before looking at its stop event again: the stop event cannot wake a
# Condition, so this bounds how late a stopped worker notices.
_STOP_POLL = 0.05
# Without a stop event nothing but observe() can release a waiter; the timeout only guards against a caller that
# acquired and never observed.
_IDLE_POLL = 1.0
# The shortest gap between two probes at a window's end, however well its end is known: never a busy loop.
_MIN_PROBE_GAP = 0.02


@dataclass
class LimiterStats:
    """Counters for benchmarks and tests (a snapshot: reading it twice gives two independent copies)."""

    requests: int = 0  # acquire() calls that were let through
    throttled: int = 0  # 429 answers observed
    paused_seconds: float = 0.0  # total length of the pauses the 429s imposed (overlaps counted once)
    probes: int = 0  # requests let through alone because the budget was unknown or spent
    transport_errors: int = 0  # attempts that ended without an HTTP answer


class Decision(NamedTuple):
    """What acquire() would do right now: `action` is one of go, probe, paused, probe_in_flight, rate; `wait` is the
    number of seconds until the time-based obstacle (paused, rate) is gone, else 0."""

    action: str
    wait: float = 0.0


@dataclass
class _Ticket:
    generation: int  # the limiter's generation (bumped by every 429) when the request was let through
    seq: int  # order of acquisition: a request let through later almost always reaches the server later
    probe: bool
    after_pause: bool  # a probe sent while the server has been refusing us: its 429 says "just a bit longer"
    granted: float = 0.0  # clock() when it was let through: it reached the server after this


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """`headers[name]`, case-insensitively, for plain dicts as well as requests' CaseInsensitiveDict."""
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return None if value is None else str(value).strip()


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` value (delta-seconds or an HTTP date); None when absent or unreadable.

    `now` is the wall-clock time (`time.time()`) used for the HTTP-date form only.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None or when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _remaining(headers: Mapping[str, str] | None) -> int | None:
    return _whole(headers, "X-RateLimit-Remaining")


def _whole(headers: Mapping[str, str] | None, name: str) -> int | None:
    value = header(headers, name)
    if value is None:
        return None
    try:
        return max(0, int(float(value)))
    except (ValueError, OverflowError):
        return None


class RateLimiter:
    """The pace shared by all worker threads of a client.

    Call `acquire(stop)` before each HTTP attempt and `observe(status, headers)` after it, from the same thread
    (status and headers None when the attempt raised). `rate` (requests per second, evenly spaced) may be changed
    at any time through the `rate` property.
    """

    def __init__(
        self,
        rate: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
        probe_interval: float = 0.2,
        max_pause: float = 3600.0,
    ):
        if not (probe_interval > 0 and math.isfinite(probe_interval)):
            raise ValueError("probe_interval must be a positive number of seconds")
        if not max_pause > 0:
            raise ValueError("max_pause must be a positive number of seconds")
        self._clock = clock
        self._sleep = sleep
        self.probe_interval = float(probe_interval)
        self.max_pause = float(max_pause)
        self._cond = threading.Condition()
        self._local = threading.local()
        self._rate: float | None = None
        self.rate = rate
        # None: nothing learned yet, so the first request goes alone to learn it. math.inf: the server reports no
        # budget at all (no X-RateLimit-Remaining), so only 429s slow us down.
        self._budget: float | None = None
        self._in_flight = 0
        self._probe_out = False
        self._pause_until: float | None = None
        self._next_slot = -math.inf
        self._generation = 0
        self._seq = 0
        self._applied_seq = -1  # seq of the latest-acquired request whose budget figure is in use
        self._refused = False  # a 429 was seen and no budget has been reported since
        # What is known of the server's windows (see the module's docstring), all in clock() time:
        self._opened: tuple[float, float] | None = None  # (sent, answered) of the request that opened this window
        self._refused_at: float | None = None  # when the latest request refused in this window was sent
        self._length = (0.0, math.inf)  # a window lasts more than [0] and at most [1] seconds
        self._ends: tuple[float, float] | None = None  # this spent window ends after [0] and by [1]
        self._stats = LimiterStats()
        self._limit: int | None = None  # the latest X-RateLimit-Limit the server sent: its requests per window
        self._hearers: list[Callable[[float], object]] = []  # hear the waits of acquires that pass no on_wait

    # --- configuration and introspection ---------------------------------------------------------------------

    @property
    def rate(self) -> float | None:
        return self._rate

    @rate.setter
    def rate(self, value: float | None) -> None:
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise ValueError(f"rate must be a positive number of requests per second or None, not {value!r}")
        with self._cond:
            self._rate = None if value is None else float(value)
            self._cond.notify_all()

    @property
    def stats(self) -> LimiterStats:
        with self._cond:
            return replace(self._stats)

    @property
    def budget(self) -> float | None:
        """The estimated number of requests the server still accepts in this window (None: not known yet)."""
        with self._cond:
            return self._budget

    @property
    def window_length(self) -> tuple[float, float]:
        """What is known of the server's window: it lasts more than [0] and at most [1] seconds (inf: unknown)."""
        with self._cond:
            return self._length

    @property
    def limit(self) -> int | None:
        """The server's budget per window (its latest `X-RateLimit-Limit`); None until an answer said it."""
        with self._cond:
            return self._limit

    def hear_waits(self, callback: Callable[[float], object]) -> WaitHearing:
        """Let `callback(seconds)` hear every wait for the server's window of a request that passes no `on_wait`
        of its own (the reads of a plan, an inventory, the start of a run), until the returned hearing is closed
        (it is a context manager too). A run's own `on_wait` wins: its waits are its listeners' to say."""
        with self._cond:
            self._hearers.append(callback)
        return WaitHearing(self, callback)

    def _stop_hearing(self, callback: Callable[[float], object]) -> None:
        with self._cond:
            if callback in self._hearers:
                self._hearers.remove(callback)

    @property
    def in_flight(self) -> int:
        with self._cond:
            return self._in_flight

    @property
    def paused_until(self) -> float | None:
        """The `clock()` time a 429 pause ends, if one is in effect."""
        with self._cond:
            if self._pause_until is not None and self._clock() < self._pause_until:
                return self._pause_until
            return None

    def decision(self) -> Decision:
        """What `acquire()` would do now, without reserving anything."""
        with self._cond:
            return self._decide(self._clock())

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self._rate!r}, budget={self._budget!r}, in_flight={self._in_flight})"

    # --- the two calls every attempt makes -------------------------------------------------------------------

    def acquire(self, stop: threading.Event | None = None, *, on_wait: Callable[[float], object] | None = None) -> bool:
        """Block until this request may go and reserve it; False at once when `stop` is set while waiting.

        `on_wait(seconds)` is called (without the lock held) before each wait for the server's window to reopen,
        so a progress display can say why nothing moves; the short waits of a `rate` cap are not reported.
        """
        with self._cond:
            while True:
                if stop is not None and stop.is_set():
                    return False
                now = self._clock()
                decision = self._decide(now)
                if decision.action in ("go", "probe"):
                    self._grant(now, probe=decision.action == "probe")
                    return True
                if decision.action == "probe_in_flight":
                    self._cond.wait(_STOP_POLL if stop is not None else _IDLE_POLL)
                    continue
                hearers = [on_wait] if on_wait is not None else list(self._hearers)
                if decision.action == "paused" and hearers:
                    self._cond.release()
                    try:
                        for hear in hearers:
                            hear(decision.wait)
                    finally:
                        self._cond.acquire()
                self._sleep_unlocked(decision.wait, stop)

    def observe(self, status: int | None, headers: Mapping[str, str] | None) -> None:
        """Record the answer to an acquired attempt (None, None for a transport error) and release its slot."""
        with self._cond:
            try:
                self._observe(status, headers)
            finally:
                self._cond.notify_all()

    # --- the rules --------------------------------------------------------------------------------------------

    def _decide(self, now: float) -> Decision:
        if self._pause_until is not None and now < self._pause_until:
            return Decision("paused", self._pause_until - now)
        probe = self._budget is None or self._budget < 1
        if probe and self._probe_out:
            return Decision("probe_in_flight")
        if self._rate is not None and now < self._next_slot:
            return Decision("rate", self._next_slot - now)
        return Decision("probe" if probe else "go")

    def _grant(self, now: float, *, probe: bool) -> None:
        self._in_flight += 1
        self._stats.requests += 1
        if probe:
            self._probe_out = True
            self._stats.probes += 1
        elif self._budget is not None and math.isfinite(self._budget):
            self._budget -= 1
        if self._rate is not None:
            # From max(slot, now): a worker that comes late does not earn a burst of catch-up slots.
            self._next_slot = max(self._next_slot, now) + 1.0 / self._rate
        self._seq += 1
        self._tickets().append(
            _Ticket(self._generation, self._seq, probe, after_pause=probe and self._refused, granted=now)
        )

    def _observe(self, status: int | None, headers: Mapping[str, str] | None) -> None:
        tickets = self._tickets()
        if tickets:
            ticket = tickets.pop(0)
        else:
            # observe() from a thread that did not acquire: account for it as well as we can.
            ticket = _Ticket(self._generation, self._seq, probe=self._probe_out, after_pause=self._refused)
        self._in_flight = max(0, self._in_flight - 1)
        if ticket.probe:
            self._probe_out = False
        if status is None:
            self._stats.transport_errors += 1
            return
        limit = _whole(headers, "X-RateLimit-Limit")
        if limit:
            self._limit = limit
        now = self._clock()
        if status == 429:
            self._stats.throttled += 1
            if ticket.generation != self._generation:
                return  # sent before an earlier 429 that already set the pause: it says nothing new
            retry_after = parse_retry_after(header(headers, "Retry-After"))
            self._refused_at = ticket.granted
            wait = self._learned_wait(ticket, now, retry_after)
            if wait is None:
                wait = self._pause_length(retry_after, ticket.after_pause)
            start = self._pause_until if self._pause_until is not None and self._pause_until > now else now
            end = now + wait
            if end > start:
                self._stats.paused_seconds += end - start
                self._pause_until = end
            self._budget = 0
            self._generation += 1
            self._refused = True
            return
        if ticket.generation != self._generation:
            return  # its budget figure predates the last 429
        remaining = _remaining(headers)
        self._learn_window(ticket, now, remaining, headers)
        if remaining is not None:
            # The other requests in flight may not be counted in `remaining` yet: assume they are not.
            estimate = max(0, remaining - self._in_flight)
            if ticket.seq >= self._applied_seq:
                self._budget = estimate
                self._applied_seq = ticket.seq
            elif self._budget is None or estimate < self._budget:
                # Overtaken by the answer to a later request: its figure is newer, this one may only lower ours.
                self._budget = estimate
            self._refused = False
        elif self._budget is None and status < 500:
            # A real answer without budget headers: this server (or a proxy in front) does not report one.
            self._budget = math.inf

    def _pause_length(self, retry_after: float | None, after_pause: bool) -> float:
        if retry_after is None:
            wait = 1.0
        elif after_pause and retry_after <= 1:
            # We already waited a Retry-After: what is left is the rounding of whole seconds (< 1 s). Probe again
            # soon rather than wait a full second more. A larger value means a new window was spent meanwhile
            # (another client of the same user) and is honoured like any first 429.
            wait = min(self.probe_interval, retry_after) if retry_after > 0 else self.probe_interval
        elif retry_after <= 0:
            wait = self.probe_interval  # "0" comes in the window's last fraction of a second: never hammer on it
        else:
            wait = retry_after
        return min(wait, self.max_pause)

    # --- the window's length ------------------------------------------------------------------------------------

    def _learn_window(self, ticket: _Ticket, now: float, remaining: int | None, headers: Mapping[str, str]) -> None:
        """After an answer that was counted: did this request open a window, and what does that say of the last?"""
        limit = _whole(headers, "X-RateLimit-Limit")
        if remaining is None or limit is None or remaining != limit - 1:
            if self._refused_at is not None:
                # Refused, then counted, without our seeing the window open (another client of the same user, an
                # answer counted after others): when this window opened is unknown.
                self._opened = self._refused_at = self._ends = None
            return
        if self._opened is not None:
            # The window before ended by the time this request was counted, and after the last refusal in it.
            more_than, at_most = self._length
            at_most = min(at_most, now - self._opened[0])
            if self._refused_at is not None:
                more_than = max(more_than, self._refused_at - self._opened[1])
            self._length = (more_than, at_most) if more_than <= at_most else (0.0, math.inf)
        self._opened = (ticket.granted, now)
        self._refused_at = self._ends = None

    def _learned_wait(self, ticket: _Ticket, now: float, retry_after: float | None) -> float | None:
        """How long to wait after a 429, from what is known of when this window ends; None: as `Retry-After` says.

        The first refusal of a window waits `Retry-After` unless the window is known to end before that; the
        probes refused after it are spaced by a third of the time the end is still uncertain.
        """
        first = self._ends is None
        if not first:
            earliest, latest = self._ends
        elif self._opened is not None and math.isfinite(self._length[1]):
            earliest, latest = self._opened[0] + self._length[0], self._opened[1] + self._length[1]
        else:
            return None
        if retry_after is not None:
            # Whole seconds on both sides: the window ends within a second of `retry_after` from the refusal.
            earliest = max(earliest, ticket.granted + retry_after - 1)
            latest = min(latest, now + retry_after + 1)
        earliest = max(earliest, ticket.granted)  # it was refused, so the window had not ended when it was sent
        if earliest > latest or now > latest:
            self._length, self._opened, self._ends = (0.0, math.inf), None, None  # contradicted: start over
            return None
        self._ends = (earliest, latest)
        if first and retry_after is not None and now + retry_after <= latest:
            return None  # Retry-After does not overshoot what is known: the server's own figure it is
        if earliest > now:
            return earliest - now
        return min(self.probe_interval, max(_MIN_PROBE_GAP, (latest - now) / 3))

    # --- helpers ----------------------------------------------------------------------------------------------

    def _tickets(self) -> list[_Ticket]:
        tickets = getattr(self._local, "tickets", None)
        if tickets is None:
            tickets = self._local.tickets = []
        return tickets

    def _sleep_unlocked(self, seconds: float, stop: threading.Event | None) -> None:
        self._cond.release()
        try:
            if self._sleep is time.sleep and stop is not None:
                stop.wait(seconds)  # the real clock: wake at once on stop
            else:
                self._sleep(seconds)
        finally:
            self._cond.acquire()


class WaitHearing:
    """A callback hearing a limiter's waits (`RateLimiter.hear_waits`), until `close()` or the end of a `with`."""

    def __init__(self, limiter: RateLimiter, callback: Callable[[float], object]):
        self._limiter, self._callback = limiter, callback

    def close(self) -> None:
        self._limiter._stop_hearing(self._callback)

    def __enter__(self) -> WaitHearing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RateCap:
    """A cap of `rate` requests per second, evenly spaced, for one run only.

    It sits in front of the client's shared `RateLimiter`, so a run's `rate=` never changes the pace of the client
    (which another run, or a notebook's next cell, may be using at the same time).
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ):
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"rate must be a positive number of requests per second, not {rate!r}")
        self.rate = float(rate)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = -math.inf

    def wait(self, stop: threading.Event | None = None) -> bool:
        """Take the next slot, waiting for it; False (and no slot taken) when `stop` is set first."""
        with self._lock:
            now = self._clock()
            slot = max(self._next_slot, now)  # a late caller earns no burst of catch-up slots
            self._next_slot = slot + 1.0 / self.rate
        delay = slot - now
        if delay > 0:
            if self._sleep is time.sleep and stop is not None:
                stop.wait(delay)
            else:
                self._sleep(delay)
        return not (stop is not None and stop.is_set())

    def __repr__(self) -> str:
        return f"RateCap(rate={self.rate!r})"
