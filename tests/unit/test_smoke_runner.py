"""engram.smoke's own logic: its waits are bounded in polls and in time (an injected clock),
and a failing step skips the rest but never the clean-up."""

from __future__ import annotations

import io

import pytest

from engram.smoke import Smoke, StepFailed


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _smoke(clock: FakeClock, out: io.StringIO | None = None) -> Smoke:
    return Smoke(
        http=None,
        out=out or io.StringIO(),
        wait_seconds=10,
        poll_seconds=2,
        clock=clock,
        sleep=clock.sleep,
    )


def test_until_gives_up_after_its_time_with_a_sentence():
    clock = FakeClock()
    polls = []
    with pytest.raises(StepFailed, match="embedding did not happen within 10 s"):
        _smoke(clock).until(lambda: polls.append(clock.now), "embedding")
    assert polls == [0, 2, 4, 6, 8, 10]
    assert clock.sleeps == [2] * 5


def test_until_is_bounded_in_polls_even_if_the_clock_stands_still():
    clock = FakeClock()
    polls = []
    smoke = _smoke(clock)
    smoke.sleep = polls.append  # time never moves
    with pytest.raises(StepFailed):
        smoke.until(lambda: None, "anything")
    assert len(polls) == 6  # wait_seconds / poll_seconds + 1 checks, no more


def test_until_returns_the_first_true_value():
    clock = FakeClock()
    answers = iter([None, "", {"ok": 1}])
    assert _smoke(clock).until(lambda: next(answers), "x") == {"ok": 1}
    assert clock.sleeps == [2, 2]


def test_a_failed_step_skips_the_rest_but_cleans_up():
    out = io.StringIO()
    smoke = _smoke(FakeClock(), out)
    smoke.health = lambda: "version 1"
    smoke.create_session = lambda: (_ for _ in ()).throw(StepFailed("answered 401, not 201"))
    smoke.cleanup = lambda: "nothing to delete"
    assert smoke.run() is False
    lines = out.getvalue().splitlines()
    assert lines[0] == "PASS  health: version 1"
    assert lines[1] == "FAIL  create a session: answered 401, not 201"
    assert all(line.startswith("SKIP") for line in lines[2:8])
    assert lines[8:] == ["PASS  clean up: nothing to delete", "smoke: FAILED"]


def test_an_unexpected_error_is_a_failed_step_not_a_crash():
    out = io.StringIO()
    smoke = _smoke(FakeClock(), out)
    smoke.health = lambda: {}["status"]
    smoke.cleanup = lambda: "nothing to delete"
    assert smoke.run() is False
    assert out.getvalue().splitlines()[0] == "FAIL  health: KeyError: 'status'"
