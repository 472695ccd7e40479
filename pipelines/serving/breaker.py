"""Circuit breakers of the signal path, one per instrument (pure: the caller passes the clock).

Closed: requests are answered by the model. After ``failure_threshold`` consecutive failures of
the service itself (model errors, timeouts, invalid model output, internal errors) it opens:
requests for that instrument are answered flat (no trade) without the model. After
``cooldown_seconds`` it lets a request through (half-open): a success closes it, a failure opens
it again (a new trip). Client errors (4xx) are not failures: they never reach a breaker, so no
client can flatten an instrument, let alone every instrument, by sending bad requests.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass
class CircuitBreaker:
    """Consecutive-failure circuit breaker."""

    failure_threshold: int
    cooldown_seconds: float
    failures: int = 0
    opened_at: float | None = None
    trips: int = 0

    def allow(self, now: float) -> bool:
        """True when the model may answer (closed, or half-open after the cool-down)."""
        if self.opened_at is None:
            return True
        return now - self.opened_at >= self.cooldown_seconds

    def is_open(self, now: float) -> bool:
        """True while requests are answered flat."""
        return not self.allow(now)

    def record_success(self) -> None:
        """A request succeeded: reset the failure count and close."""
        self.failures = 0
        self.opened_at = None

    def record_failure(self, now: float) -> bool:
        """A request failed; return True when this failure opened the breaker (a trip)."""
        self.failures += 1
        half_open = self.opened_at is not None and self.allow(now)
        if half_open or (self.opened_at is None and self.failures >= self.failure_threshold):
            self.opened_at = now
            self.trips += 1
            return True
        return False


class InstrumentBreakers:
    """One :class:`CircuitBreaker` per served instrument."""

    def __init__(
        self, instruments: Iterable[str], failure_threshold: int, cooldown_seconds: float
    ) -> None:
        self.by_instrument = {
            name: CircuitBreaker(failure_threshold, cooldown_seconds) for name in instruments
        }

    def __getitem__(self, instrument: str) -> CircuitBreaker:
        """The breaker of one served instrument."""
        return self.by_instrument[instrument]

    @property
    def trips(self) -> int:
        """Trips of every instrument's breaker since start."""
        return sum(b.trips for b in self.by_instrument.values())

    def open_instruments(self, now: float) -> list[str]:
        """Instruments answered flat right now."""
        return [name for name, b in self.by_instrument.items() if b.is_open(now)]
