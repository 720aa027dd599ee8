"""English school term dates computed by rule, written as SPEC 2 calendar files.

Real trusts copy term dates from their local authority; a generator cannot, so the dates come
from simple rules that reproduce the usual English pattern (for 2025/26 they give the dates in
the SPEC example). Every academic year touched by the generated range, and the year before it,
gets dates, so rolling ten-week windows can reach back across the summer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import yaml

from attendance.calendar import academic_year_start

MON, WED, FRI, SUN = 0, 2, 4, 6


def on_or_after(d: date, weekday: int) -> date:
    """The first `weekday` (0 = Monday) on or after `d`."""
    return d + timedelta((weekday - d.weekday()) % 7)


def on_or_before(d: date, weekday: int) -> date:
    """The last `weekday` (0 = Monday) on or before `d`."""
    return d - timedelta((d.weekday() - weekday) % 7)


def easter_sunday(year: int) -> date:
    """Western Easter Sunday (Gregorian computus), because the Easter break moves with it."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return date(year, month, day + 1)


@dataclass(frozen=True)
class YearDates:
    """One academic year's terms, holidays inside terms and INSET closures."""

    year: int
    terms: tuple[tuple[date, date], ...]
    holidays: tuple[tuple[date, date], ...]
    insets: tuple[date, ...] = field(default_factory=tuple)

    @property
    def first_day(self) -> date:
        return self.terms[0][0]

    @property
    def last_day(self) -> date:
        return self.terms[-1][1]


def year_dates(year: int, inset_variant: bool = False) -> YearDates:
    """Term dates for the academic year starting in September of `year`.

    `inset_variant` moves the November INSET day to the Monday after October half term: the one
    academy with its own calendar differs from the default by exactly that day, which is enough
    to catch code that assumes one calendar for the whole trust.
    """
    nxt = year + 1
    autumn = (on_or_after(date(year, 9, 2), WED), on_or_before(date(year, 12, 19), FRI))
    oct_half = on_or_before(date(year, 10, 31), MON)
    spring_start = on_or_after(date(nxt, 1, 5), MON)
    feb_half = on_or_after(date(nxt, 2, 12), MON)
    easter = easter_sunday(nxt)
    # Two weeks round Easter, but never starting later than the second week of April, so a
    # late Easter leaves Good Friday / Easter Monday as bank holidays inside the summer term.
    break_start = min(easter - timedelta(6), on_or_after(date(nxt, 4, 6), MON))
    spring = (spring_start, break_start - timedelta(3))
    summer_end = date(nxt, 7, 22)
    if summer_end.weekday() >= 5:
        summer_end = on_or_before(summer_end, FRI)
    summer = (break_start + timedelta(14), summer_end)
    holidays = [
        (oct_half, oct_half + timedelta(4)),
        (feb_half, feb_half + timedelta(4)),
    ]
    for bank in (easter - timedelta(2), easter + timedelta(1)):
        if any(s <= bank <= e for s, e in (spring, summer)):
            holidays.append((bank, bank))
    early_may = on_or_after(date(nxt, 5, 1), MON)
    late_may = on_or_before(date(nxt, 5, 31), MON)
    holidays += [(early_may, early_may), (late_may, late_may + timedelta(4))]
    november = oct_half + timedelta(7) if inset_variant else on_or_after(date(year, 11, 12), FRI)
    return YearDates(
        year=year,
        terms=(autumn, spring, summer),
        holidays=tuple(sorted(holidays)),
        insets=(november, spring_start),
    )


def years_touched(start: date, end: date) -> list[int]:
    """Academic years (by starting calendar year) from the year before `start` to `end`'s."""
    first = academic_year_start(start).year - 1
    last = academic_year_start(end).year
    return list(range(first, last + 1))


def calendar_document(years: list[int], inset_variant: bool = False) -> dict[str, list]:
    """The SPEC 2 calendar mapping (terms, holidays, closures) for `years`."""
    terms: list[dict] = []
    holidays: list[dict] = []
    closures: list[dict] = []
    for y in years:
        yd = year_dates(y, inset_variant)
        terms += [{"start": s, "end": e} for s, e in yd.terms]
        holidays += [{"start": s, "end": e} for s, e in yd.holidays]
        closures += [{"date": d, "reason": "INSET"} for d in yd.insets]
    return {"terms": terms, "holidays": holidays, "closures": closures}


class _PlainDumper(yaml.SafeDumper):
    """A safe dumper that never writes anchors: a date reused in two ranges stays readable."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def dump_yaml(doc: object) -> str:
    """Deterministic, alias-free YAML in flow style for short mappings (like the SPEC)."""
    return yaml.dump(
        doc,
        Dumper=_PlainDumper,
        sort_keys=False,
        default_flow_style=None,
        width=100,
        allow_unicode=True,
    )


def write_calendar(path: Path, years: list[int], inset_variant: bool = False) -> None:
    """Write one calendar file; block YAML so an operator can read and edit it by hand."""
    doc = calendar_document(years, inset_variant)
    header = (
        "# Term dates generated by rule (attendance.generate.calendars); edit freely.\n"
        "# terms/holidays: inclusive date ranges; closures: planned closures marked '#'.\n"
    )
    body = dump_yaml(doc)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + body, encoding="utf-8")
