"""The calendar dates a text names, as spans of days (issue 21's query analysis).

A question that names a date ("What did Jon do in January 2022?", "on 9 November, 2022")
asks about what happened then; a memory that names a date (a dated message, "[2:01 pm on
23 January, 2022] Joanna: ...", a note "Deploy on 2024-03-05") says when it happened. The
date signal (fusion.py) counts how close the two are. Written forms: "23 January, 2022",
"January 23, 2022", "2022-01-23" (a day); "January 2022" (a month); "between August 11 and
August 15, 2023" or "from 3 to 10 March 2024" (the days between); a year on its own
(1900-2099, a query's only: in a memory a bare year is too often a count or a model name).
Month names are matched capitalised (or abbreviated: "Jan", "Sept."), so "may" as a verb is
no date.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

_MONTHS = {
    name.lower(): number
    for number in range(1, 13)
    for name in (calendar.month_name[number], calendar.month_abbr[number])
}
_MONTHS["sept"] = 9
_MONTH_NAMES = "|".join(sorted((name.capitalize() for name in _MONTHS), key=len, reverse=True))


def _month(group: str) -> str:
    return rf"(?P<{group}>(?:{_MONTH_NAMES})\b\.?)"


def _day(group: str) -> str:
    return rf"(?P<{group}>[0-3]?\d)(?:st|nd|rd|th)?"


_YEAR = r"(?P<year>(?:19|20)\d\d)\b"
_FORMS = (
    re.compile(rf"\b{_day('day')}\s+(?:of\s+)?{_month('month')},?\s+{_YEAR}"),  # 23 January, 2022
    re.compile(rf"\b{_month('month')}\s+{_day('day')},?\s+{_YEAR}"),  # January 23, 2022
    re.compile(r"\b(?P<year>(?:19|20)\d\d)-(?P<month>[01]\d)-(?P<day>[0-3]\d)\b"),  # ISO
    re.compile(rf"\b{_month('month')},?\s+{_YEAR}"),  # January 2022
)
# The start of a range whose end is one of the first three forms: it takes the end's year,
# and its month if it names none ("between August 11 and ...", "from 3 to 10 March 2024").
_RANGE_START = re.compile(
    rf"\b(?:between|from)\s+(?:{_day('day')}(?:\s+(?:of\s+)?{_month('month')})?"
    rf"|{_month('month2')}\s+{_day('day2')}),?\s+(?:and|to|until|through|-)\s+"
)
_BARE_YEAR = re.compile(r"(?<![\w.:/-])" + _YEAR + r"(?![\w.:/-])")

Span = tuple[date, date]  # first and last day, inclusive


def date_spans(text: str, years: bool = False) -> list[Span]:
    """The dates `text` names: its ranges first, then each form above in turn, each
    stretch of text read once; with `years`, a bare year too, as the span of its days."""
    spans: list[Span] = []
    taken: list[tuple[int, int]] = []
    for match in _RANGE_START.finditer(text):
        for form in _FORMS[:3]:
            end = form.match(text, match.end())
            last = _span(end) if end else None
            if end is None or last is None:
                continue
            first = _range_start(match, last[1])
            if first is not None and first <= last[1]:
                spans.append((first, last[1]))
                taken.append((match.start(), end.end()))
                break
    for form in _FORMS:
        for match in form.finditer(text):
            if any(start < match.end() and match.start() < end for start, end in taken):
                continue
            taken.append(match.span())  # a day that does not exist is no month either
            span = _span(match)
            if span is not None:
                spans.append(span)
    if years:
        for match in _BARE_YEAR.finditer(text):
            if not any(start <= match.start() < end for start, end in taken):
                year = int(match["year"])
                spans.append((date(year, 1, 1), date(year, 12, 31)))
    return spans


def _span(match: re.Match[str]) -> Span | None:
    year = int(match["year"])
    month = _month_number(match["month"])
    if not 1 <= month <= 12:
        return None
    last = calendar.monthrange(year, month)[1]
    day_text = match.groupdict().get("day")
    if day_text is None:
        return date(year, month, 1), date(year, month, last)
    day = int(day_text)
    if not 1 <= day <= last:
        return None
    return date(year, month, day), date(year, month, day)


def _month_number(text: str) -> int:
    """A month's number from its name ("Sept.", "January") or its digits ("03")."""
    name = text.rstrip(".").lower()
    return int(name) if name.isdigit() else _MONTHS[name]


def _range_start(match: re.Match[str], end: date) -> date | None:
    """The first day of a range, taking the year (and the month, if it names none) of its
    last: "between August 11 and ...", "from 3 to 10 March 2024"."""
    day = int(match["day"] or match["day2"])
    named = match["month"] or match["month2"]
    month = _month_number(named) if named else end.month
    try:
        return date(end.year, month, day)
    except ValueError:
        return None


def closeness(asked: list[Span], named: list[Span], reach_days: int) -> float:
    """1 if a date the memory names falls within a date the query asks about, falling off
    linearly to 0 at `reach_days` apart (a message on 2 May tells of "last night", 1 May);
    0 without dates on either side."""
    best = 0.0
    for first, last in asked:
        for start, end in named:
            if start <= last and first <= end:
                return 1.0
            gap = (start - last) if start > last else (first - end)
            best = max(best, 1.0 - gap / timedelta(days=reach_days))
    return best
