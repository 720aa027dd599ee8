"""The school days of the benchmark year: day k is the trust's k-th school day (1-based)."""

from __future__ import annotations

from datetime import date

from attendance.calendar import load_calendars
from attendance.config import load_trust
from attendance.home import Home


def school_days(home: Home, start: date, end: date) -> list[date]:
    """Days on which at least one academy of the trust had school, in order."""
    trust = load_trust(home)
    days: set[date] = set()
    for cal in load_calendars(home, trust).values():
        days |= {d for d in cal.school_days if start <= d <= end}
    return sorted(days)
