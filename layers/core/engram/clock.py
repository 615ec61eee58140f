"""An injectable clock, so tests can fix time and services never call datetime.now()."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to (tests)."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> None:
        self._now += timedelta(**delta)


def iso(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds and a trailing Z, the API's one timestamp format."""
    utc = moment.astimezone(UTC)
    # %Y is not zero-padded below year 1000 on every platform: the year is formatted here
    return f"{utc.year:04d}-" + utc.strftime("%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text)  # Python 3.11 reads a trailing Z
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
