"""The dates a query asks about and a memory names (search/dates.py, issue 21)."""

from __future__ import annotations

from datetime import date

import pytest

from engram.search.dates import closeness, date_spans


def day(y, m, d):
    return (date(y, m, d), date(y, m, d))


@pytest.mark.parametrize(
    ("text", "spans"),
    [
        ("[2:01 pm on 23 January, 2022] Joanna: I finished it", [day(2022, 1, 23)]),
        ("What did Nate make on 9 November, 2022?", [day(2022, 11, 9)]),
        ("the 3rd of March 2024", [day(2024, 3, 3)]),
        ("Due March 3rd, 2024 and Jan 5 2025", [day(2024, 3, 3), day(2025, 1, 5)]),
        ("Deploy on 2024-03-05 at noon", [day(2024, 3, 5)]),
        ("in January 2022", [(date(2022, 1, 1), date(2022, 1, 31))]),
        ("in Sept. 2023", [(date(2023, 9, 1), date(2023, 9, 30))]),
        ("between August 11 and August 15 2023", [(date(2023, 8, 11), date(2023, 8, 15))]),
        ("from 3 to 10 March 2024", [(date(2024, 3, 3), date(2024, 3, 10))]),
        ("from May 30 to June 2, 2023", [(date(2023, 5, 30), date(2023, 6, 2))]),
    ],
)
def test_the_written_forms_of_a_day_a_month_and_a_range(text, spans):
    assert date_spans(text) == spans


def test_no_date_where_there_is_none():
    assert date_spans("I may come by in may 2023") == []  # a month is capitalised
    assert date_spans("on 30 February, 2023 or 2023-13-01") == []  # no such days
    assert date_spans("between 40 and 50 people") == []
    assert date_spans("We sold 2023 units") == []  # a bare year only in a query


def test_a_query_names_a_bare_year_as_its_days():
    assert date_spans("What did John organise in 2024?", years=True) == [
        (date(2024, 1, 1), date(2024, 12, 31))
    ]
    # a year already read as part of a date is not read again
    assert date_spans("on 9 November, 2022", years=True) == [day(2022, 11, 9)]


def test_closeness_is_one_within_the_asked_span_and_falls_off_to_zero_at_the_reach():
    january = [(date(2022, 1, 1), date(2022, 1, 31))]
    assert closeness(january, [day(2022, 1, 23)], 7) == 1.0
    assert closeness([day(2022, 5, 1)], [day(2022, 5, 2)], 7) == pytest.approx(6 / 7)
    assert closeness([day(2022, 5, 8)], [day(2022, 5, 1)], 7) == 0.0
    assert closeness(january, [day(2022, 3, 1), day(2022, 1, 30)], 7) == 1.0  # the best
    assert closeness([], [day(2022, 1, 1)], 7) == 0.0
    assert closeness(january, [], 7) == 0.0
