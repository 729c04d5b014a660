"""Service hours of the specialists (Beijing time), e.g. 工作日 8:30–17:30.

Configured by environment variables (docs/configuration.md):
- ``HANDOFF_HOURS``: days and times, e.g. ``mon-fri 08:30-17:30`` (default) or
  ``mon-fri 08:30-12:00,13:30-17:30; sat 09:00-12:00``;
- ``HANDOFF_CLOSED_DATES``: public holidays, ISO dates separated by commas;
- ``HANDOFF_OPEN_DATES``: working weekend days (调休), served with the Monday hours.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Optional, Tuple

DEFAULT_HOURS = "mon-fri 08:30-17:30"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")

Window = Tuple[dt.time, dt.time]


class HoursConfigError(ValueError):
    pass


def _days(spec: str) -> List[int]:
    days: List[int] = []
    for part in spec.split(","):
        part = part.strip().lower()
        if "-" in part:
            first, last = part.split("-", 1)
            if first not in DAYS or last not in DAYS:
                raise HoursConfigError(f"无法识别的星期：{part!r}（应为 mon…sun）")
            a, b = DAYS.index(first), DAYS.index(last)
            if a > b:
                raise HoursConfigError(f"星期范围颠倒：{part!r}")
            days.extend(range(a, b + 1))
        elif part in DAYS:
            days.append(DAYS.index(part))
        else:
            raise HoursConfigError(f"无法识别的星期：{part!r}（应为 mon…sun）")
    return days


def _windows(spec: str) -> List[Window]:
    windows: List[Window] = []
    for part in spec.split(","):
        match = _RANGE.match(part.strip())
        if not match:
            raise HoursConfigError(f"无法识别的时间段：{part.strip()!r}（应为 08:30-17:30）")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        try:
            # "24:00" ends the day (round-the-clock service is "00:00-24:00").
            end = dt.time.max if (h2, m2) == (24, 0) else dt.time(h2, m2)
            start = dt.time(h1, m1)
        except ValueError as exc:
            raise HoursConfigError(f"时间无效：{part.strip()!r}") from exc
        if start >= end:
            raise HoursConfigError(f"时间段须先早后晚：{part.strip()!r}")
        windows.append((start, end))
    return sorted(windows)


def _dates(raw: str, name: str) -> FrozenSet[dt.date]:
    dates = set()
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            dates.add(dt.date.fromisoformat(part))
        except ValueError as exc:
            raise HoursConfigError(f"{name} 中的日期无效：{part!r}（应为 2026-10-01）") from exc
    return frozenset(dates)


@dataclass(frozen=True)
class ServiceHours:
    weekly: Dict[int, List[Window]]
    closed: FrozenSet[dt.date] = field(default_factory=frozenset)
    extra_open: FrozenSet[dt.date] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, hours: str, closed: str = "", extra_open: str = "") -> ServiceHours:
        weekly: Dict[int, List[Window]] = {}
        for clause in (c.strip() for c in (hours or "").split(";")):
            if not clause:
                continue
            try:
                day_spec, time_spec = clause.split(None, 1)
            except ValueError as exc:
                raise HoursConfigError(
                    f"服务时间格式应为“mon-fri 08:30-17:30”：{clause!r}"
                ) from exc
            for day in _days(day_spec):
                weekly[day] = _windows(time_spec)
        if not weekly:
            raise HoursConfigError("HANDOFF_HOURS 为空")
        return cls(
            weekly,
            _dates(closed, "HANDOFF_CLOSED_DATES"),
            _dates(extra_open, "HANDOFF_OPEN_DATES"),
        )

    @classmethod
    def from_env(cls) -> ServiceHours:
        return cls.parse(
            os.environ.get("HANDOFF_HOURS") or DEFAULT_HOURS,
            os.environ.get("HANDOFF_CLOSED_DATES", ""),
            os.environ.get("HANDOFF_OPEN_DATES", ""),
        )

    def windows_on(self, day: dt.date) -> List[Window]:
        if day in self.closed:
            return []
        if day in self.extra_open:
            return self.weekly.get(0, [])
        return self.weekly.get(day.weekday(), [])

    def is_open(self, now: dt.datetime) -> bool:
        return any(start <= now.time() < end for start, end in self.windows_on(now.date()))

    def next_opening(self, now: dt.datetime) -> Optional[dt.datetime]:
        """The next moment the service opens after ``now`` (within two months)."""
        for offset in range(0, 62):
            day = now.date() + dt.timedelta(days=offset)
            for start, _ in self.windows_on(day):
                moment = dt.datetime.combine(day, start)
                if moment > now:
                    return moment
        return None

    def describe(self) -> str:
        """The weekly hours in Chinese, e.g. “周一至周五 8:30–17:30”."""
        groups: List[Tuple[List[int], List[Window]]] = []
        for day in range(7):
            windows = self.weekly.get(day)
            if not windows:
                continue
            if groups and groups[-1][1] == windows and groups[-1][0][-1] == day - 1:
                groups[-1][0].append(day)
            else:
                groups.append(([day], windows))
        parts = []
        for days, windows in groups:
            names = DAY_NAMES_ZH[days[0]]
            if len(days) > 1:
                names += "至" + DAY_NAMES_ZH[days[-1]]
            times = "、".join(f"{_hm(a)}–{_hm(b)}" for a, b in windows)
            parts.append(f"{names} {times}")
        return "；".join(parts)


def _hm(value: dt.time) -> str:
    if value == dt.time.max:
        return "24:00"
    return f"{value.hour}:{value.minute:02d}"
