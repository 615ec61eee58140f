"""The search index's circuit breaker, on an injected clock."""

from engram.search.breaker import CircuitBreaker


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_it_opens_after_the_threshold_and_lets_one_probe_through_after_the_cooldown():
    ticks = Ticks()
    breaker = CircuitBreaker(failures=3, cooldown=10.0, clock=ticks)
    for _ in range(2):
        assert breaker.wait() == 0
        breaker.failed()
    assert breaker.wait() == 0  # still closed: two failures
    assert breaker.failed() == 5  # the third opens it; Retry-After is half the cool-down
    assert breaker.wait() == 10
    ticks.now = 9.5
    assert breaker.wait() == 1  # never 0 while open
    ticks.now = 10.0
    assert breaker.wait() == 0  # the probe
    assert breaker.wait() == 10  # the others wait for it
    breaker.failed()  # the probe failed: open for another cool-down
    assert breaker.wait() == 10
    ticks.now = 21.0
    assert breaker.wait() == 0
    breaker.succeeded()  # the probe succeeded: closed
    assert breaker.wait() == 0 and breaker.wait() == 0


def test_a_success_resets_the_count():
    breaker = CircuitBreaker(failures=2, cooldown=10.0, clock=Ticks())
    breaker.failed()
    breaker.succeeded()
    breaker.failed()
    assert breaker.wait() == 0
