"""Service hours of the specialists."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.handoff.hours import HoursConfigError, ServiceHours

MONDAY = dt.date(2026, 11, 23)


def at(day: dt.date, hh: int, mm: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hh, mm))


def test_default_is_working_days_8_30_to_17_30(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HANDOFF_HOURS", "HANDOFF_CLOSED_DATES", "HANDOFF_OPEN_DATES"):
        monkeypatch.delenv(name, raising=False)
    hours = ServiceHours.from_env()
    assert hours.describe() == "周一至周五 8:30–17:30"
    assert hours.is_open(at(MONDAY, 8, 30)) and hours.is_open(at(MONDAY, 17, 29))
    assert not hours.is_open(at(MONDAY, 8, 29)) and not hours.is_open(at(MONDAY, 17, 30))
    saturday = MONDAY + dt.timedelta(days=5)
    assert not hours.is_open(at(saturday, 10))
    assert hours.next_opening(at(saturday, 10)) == at(MONDAY + dt.timedelta(days=7), 8, 30)
    assert hours.next_opening(at(MONDAY, 7)) == at(MONDAY, 8, 30)


def test_lunch_break_holidays_and_working_weekends() -> None:
    hours = ServiceHours.parse(
        "mon-fri 08:30-12:00,13:30-17:30; sat 09:00-12:00", "2026-11-24", "2026-11-29"
    )
    assert hours.describe() == "周一至周五 8:30–12:00、13:30–17:30；周六 9:00–12:00"
    assert not hours.is_open(at(MONDAY, 12, 30))
    assert hours.next_opening(at(MONDAY, 12, 30)) == at(MONDAY, 13, 30)
    tuesday = MONDAY + dt.timedelta(days=1)
    assert not hours.is_open(at(tuesday, 10))  # a holiday
    sunday = MONDAY + dt.timedelta(days=6)
    assert hours.is_open(at(sunday, 14))  # 调休: Monday's hours


@pytest.mark.parametrize(
    "hours, closed",
    [
        ("", ""),
        ("weekdays 08:30-17:30", ""),
        ("mon-fri 8:30", ""),
        ("mon-fri 17:30-08:30", ""),
        ("fri-mon 08:30-17:30", ""),
        ("mon-fri 25:00-26:00", ""),
        ("mon-fri 08:30-17:30", "2026-13-01"),
    ],
)
def test_bad_configuration_is_named(hours: str, closed: str) -> None:
    with pytest.raises(HoursConfigError):
        ServiceHours.parse(hours, closed)


def test_round_the_clock() -> None:
    hours = ServiceHours.parse("mon-sun 00:00-24:00")
    assert hours.describe() == "周一至周日 0:00–24:00"
    assert hours.is_open(at(MONDAY, 23, 59)) and hours.is_open(at(MONDAY, 0, 0))
