"""A circuit breaker for the search index: after a few failures in a row it opens, and
searches fail at once (503 with Retry-After) instead of each waiting out a timeout; after
a cool-down one request is let through to probe, and a success closes it again."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class CircuitBreaker:
    def __init__(
        self,
        failures: int = 3,
        cooldown: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = failures
        self._cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._open_until = 0.0

    def wait(self) -> int:
        """Seconds until a request may go through (0: now). While open, one caller per
        cool-down gets 0 (the probe); the others wait."""
        with self._lock:
            if self._failures < self._threshold:
                return 0
            left = self._open_until - self._clock()
            if left <= 0:
                self._open_until = self._clock() + self._cooldown  # this caller probes
                return 0
            return max(1, math.ceil(left))

    def succeeded(self) -> None:
        with self._lock:
            self._failures = 0

    def failed(self) -> int:
        """Records a failure; answers the Retry-After to give (seconds)."""
        with self._lock:
            self._failures += 1
            if self._failures >= self._threshold:
                self._open_until = self._clock() + self._cooldown
            return max(1, math.ceil(self._cooldown / 2))
