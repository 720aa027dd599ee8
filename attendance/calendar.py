"""School calendars: which days are school days, and which weeks are school weeks (SPEC 2, 5.2).

Everything downstream (rolling windows, sessions left in the year, late deliveries, the run date)
is counted in school days and school weeks, so they are computed once here and handed to dbt
as a calendar dimension with integer indexes (`school_day_index`, `school_week_index`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property

import pandas as pd

from attendance.config import CalendarSpec, Trust, load_calendar
from attendance.home import Home


def academic_year_start(d: date) -> date:
    """1 September of the academic year holding `d` (years run 1 Sep to 31 Aug)."""
    return date(d.year if d.month >= 9 else d.year - 1, 9, 1)


def academic_year_label(d: date) -> str:
    start = academic_year_start(d).year
    return f"{start}/{str(start + 1)[2:]}"


def week_start(d: date) -> date:
    return d - timedelta(days=d.weekday())


@dataclass(frozen=True)
class SchoolCalendar:
    spec: CalendarSpec

    @cached_property
    def _holidays(self) -> frozenset[date]:
        days: set[date] = set()
        for start, end in self.spec.holidays:
            days.update(start + timedelta(n) for n in range((end - start).days + 1))
        return frozenset(days)

    @cached_property
    def closures(self) -> dict[date, str]:
        return dict(self.spec.closures)

    def in_term(self, d: date) -> bool:
        return any(start <= d <= end for start, end in self.spec.terms)

    def is_register_day(self, d: date) -> bool:
        """A day a register exists: a weekday in term that is not a holiday (closures included,
        marked `#`)."""
        return d.weekday() < 5 and self.in_term(d) and d not in self._holidays

    def is_school_day(self, d: date) -> bool:
        """A day with school sessions: a register day that is not a planned closure."""
        return self.is_register_day(d) and d not in self.closures

    @cached_property
    def register_days(self) -> tuple[date, ...]:
        days: list[date] = []
        for start, end in sorted(self.spec.terms):
            days.extend(
                d
                for d in (start + timedelta(n) for n in range((end - start).days + 1))
                if self.is_register_day(d)
            )
        return tuple(sorted(set(days)))

    @cached_property
    def school_days(self) -> tuple[date, ...]:
        return tuple(d for d in self.register_days if d not in self.closures)

    def previous_school_day(self, d: date) -> date | None:
        """The latest school day strictly before `d`."""
        earlier = [s for s in self.school_days if s < d]
        return earlier[-1] if earlier else None

    def school_days_left_after(self, d: date) -> int:
        """School days after `d` to the end of `d`'s academic year (for sessions to spare)."""
        end = date(academic_year_start(d).year + 1, 8, 31)
        return sum(1 for s in self.school_days if d < s <= end)


def load_calendars(home: Home, trust: Trust) -> dict[str, SchoolCalendar]:
    """The calendar of each academy, keyed by URN."""
    cache: dict[str, SchoolCalendar] = {}
    out = {}
    for academy in trust.academies:
        if academy.calendar not in cache:
            cache[academy.calendar] = SchoolCalendar(load_calendar(home, academy.calendar))
        out[academy.urn] = cache[academy.calendar]
    return out


def calendar_frame(trust: Trust, calendars: dict[str, SchoolCalendar]) -> pd.DataFrame:
    """The calendar dimension: one row per academy per register day, with school-day and
    school-week ordinals that run across terms and academic years (rolling windows span both).
    """
    rows = []
    for academy in trust.academies:
        cal = calendars[academy.urn]
        school_weeks = sorted({week_start(d) for d in cal.school_days})
        week_number = {wk: i for i, wk in enumerate(school_weeks, start=1)}
        day_index = 0
        for d in cal.register_days:
            school = cal.is_school_day(d)
            day_index += int(school)
            rows.append(
                {
                    "urn": academy.urn,
                    "calendar_date": d,
                    "academic_year": academic_year_start(d).year,
                    "week_start": week_start(d),
                    "is_school_day": school,
                    "closure_reason": cal.closures.get(d),
                    # A closure day carries the index of the school day before it, so "up to
                    # day d" is defined on it too; its week is a school week only if the
                    # academy had a session in that week.
                    "school_day_index": day_index,
                    "school_week_index": week_number.get(week_start(d)),
                }
            )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["calendar_date"] = pd.to_datetime(frame["calendar_date"]).dt.date
    frame["week_start"] = pd.to_datetime(frame["week_start"]).dt.date
    frame["school_week_index"] = frame["school_week_index"].astype("Int64")
    return frame


def trust_previous_school_day(calendars: dict[str, SchoolCalendar], d: date) -> date | None:
    """The run date for a run on day `d`: the latest day before `d` that was a school day at
    any academy of the trust."""
    candidates = [c.previous_school_day(d) for c in calendars.values()]
    found = [c for c in candidates if c is not None]
    return max(found) if found else None
