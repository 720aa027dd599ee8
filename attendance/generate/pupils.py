"""The pupils of one academy over the generated range: who is on roll when, and who they are.

A pupil's NC year follows from the academic year they were (or will be) in Reception, so a range
that crosses September moves everybody up a year, sends the top year away at the end of the
summer term and brings a new intake in; joiners and leavers during the year give the roll files
something to change. Everything is held as numpy columns so the daily simulation can index it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from attendance.calendar import SchoolCalendar, academic_year_start
from attendance.generate.calendars import year_dates
from attendance.generate.names import FORMULA_SURNAMES, draw_ethnicities, draw_names
from attendance.generate.registry import LA_CODES, AcademyPlan
from attendance.upn import make_upn

NO_LEAVE = date.max.toordinal()  # leaving-date sentinel: still on roll
FORM_LETTERS = "BKMSHWTDRLCFGJNPVAEZ"
OTHER_LAS = LA_CODES + ("925", "855", "886", "909")


def nc_label(nc: int) -> str:
    """NC year as the roll writes it: N1, N2, R, 1..14."""
    return {-2: "N1", -1: "N2", 0: "R"}.get(nc, str(nc))


@dataclass
class Roll:
    """Every pupil who is on roll at some point in the range, one array element per pupil."""

    upn: np.ndarray  # object (str)
    surname: np.ndarray  # object (str)
    forename: np.ndarray  # object (str)
    dob: np.ndarray  # int date ordinals
    gender: np.ndarray  # 'M' / 'F'
    r_year: np.ndarray  # academic year (September's calendar year) the pupil is in Reception
    form: np.ndarray  # form letter, kept from year to year
    entry: np.ndarray  # int date ordinal of the entry date
    leave: np.ndarray  # int date ordinal of the leaving date (last day on roll), or NO_LEAVE
    fsm: np.ndarray  # bool
    sen: np.ndarray  # 'N' / 'K' / 'E'
    eal: np.ndarray  # bool
    ethnicity: np.ndarray  # DfE code
    home_la: np.ndarray  # 3 digits
    student_id: np.ndarray  # the MIS's own id (Arbor exports carry it)

    def __len__(self) -> int:
        return len(self.upn)

    def nc(self, year: int) -> np.ndarray:
        """NC year of every pupil in the academic year starting in `year` (-2 = N1, 0 = R)."""
        return year - self.r_year

    def on_roll(self, day: int) -> np.ndarray:
        """Mask of pupils on roll on date ordinal `day` (entry and leaving dates inclusive)."""
        return (self.entry <= day) & (day <= self.leave)

    def reg_groups(self, year: int) -> np.ndarray:
        """Registration group such as '3B' or '10K' for the academic year starting in `year`."""
        labels = [nc_label(n) for n in self.nc(year).tolist()]
        return np.array(
            [lab + f for lab, f in zip(labels, self.form.tolist(), strict=True)], dtype=object
        )

    def order(self, year: int, members: np.ndarray) -> np.ndarray:
        """`members` (pupil indices) in MIS export order: year, form, surname, forename, UPN."""
        nc = self.nc(year)
        keys = [
            (int(nc[p]), self.form[p], self.surname[p], self.forename[p], self.upn[p], int(p))
            for p in members.tolist()
        ]
        keys.sort()
        return np.array([k[-1] for k in keys], dtype=np.int64)


class _RollBuilder:
    """Accumulates pupils cohort by cohort; demographics are drawn once at the end."""

    def __init__(self, rng: np.random.Generator, plan: AcademyPlan) -> None:
        self.rng = rng
        self.plan = plan
        weights = {
            nc: (0.7 if nc < 0 else 0.55 if nc >= 12 else 1.0)
            for nc in range(plan.nc_low, plan.nc_high + 1)
        }
        self.base = plan.size / sum(weights.values())
        self.weights = weights
        self.n_forms = max(1, min(len(FORM_LETTERS), round(self.base / 28)))
        self.r_year = np.zeros(0, dtype=np.int64)
        self.entry = np.zeros(0, dtype=np.int64)
        self.leave = np.zeros(0, dtype=np.int64)
        self.form = np.zeros(0, dtype="<U1")

    def cohort_size(self, nc: int, scale: float = 1.0) -> int:
        return max(1, round(self.base * self.weights[nc] * scale * self.rng.uniform(0.92, 1.08)))

    def add(self, nc: int, year: int, entries: np.ndarray) -> None:
        n = len(entries)
        forms = np.array(list(FORM_LETTERS[: self.n_forms]))[self.rng.permutation(n) % self.n_forms]
        self.r_year = np.concatenate([self.r_year, np.full(n, year - nc, dtype=np.int64)])
        self.entry = np.concatenate([self.entry, entries.astype(np.int64)])
        self.leave = np.concatenate([self.leave, np.full(n, NO_LEAVE, dtype=np.int64)])
        self.form = np.concatenate([self.form, forms])


def _school_days(cal: SchoolCalendar, year: int) -> np.ndarray:
    yd = year_dates(year)
    return np.array(
        [d.toordinal() for d in cal.school_days if yd.first_day <= d <= yd.last_day], dtype=np.int64
    )


def build_roll(
    rng: np.random.Generator, plan: AcademyPlan, cal: SchoolCalendar, years: list[int]
) -> Roll:
    """All pupils of `plan`'s academy over the academic years `years` (ascending)."""
    b = _RollBuilder(rng, plan)
    lo, hi = plan.nc_low, plan.nc_high
    first = years[0]
    for nc in range(lo, hi + 1):
        n = b.cohort_size(nc)
        joined = first - (nc - lo)  # the year this cohort started at the academy
        years_in = rng.integers(joined, first + 1, size=n)
        years_in[rng.random(n) > 0.12] = joined  # most have been here since the bottom year
        entries = np.array([year_dates(int(y)).first_day.toordinal() for y in years_in])
        later = years_in > joined
        entries[later] += 7 * rng.integers(0, 25, size=int(later.sum()))
        entries = np.minimum(entries, year_dates(first).first_day.toordinal())
        b.add(nc, first, entries)
    for year in years:
        yd = year_dates(year)
        start, last = yd.first_day.toordinal(), yd.last_day.toordinal()
        if year != first:
            b.add(lo, year, np.full(b.cohort_size(lo), start))
            if hi >= 12 and lo <= 11:  # a few external sixth-form entrants
                b.add(12, year, np.full(b.cohort_size(12, 0.15), start))
        days = _school_days(cal, year)
        if len(days) > 2:
            joiners = int(rng.poisson(0.035 * plan.size))
            for nc in rng.integers(lo, hi + 1, size=joiners).tolist():
                b.add(int(nc), year, np.array([days[rng.integers(1, len(days))]]))
            on = np.flatnonzero((b.entry <= last) & (b.leave == NO_LEAVE))
            leavers = rng.choice(
                on, size=min(len(on), int(rng.poisson(0.03 * plan.size))), replace=False
            )
            for p in np.sort(leavers).tolist():
                options = days[days >= max(b.entry[p], start)]
                if len(options) > 1:
                    b.leave[p] = options[rng.integers(1, len(options))]
        on = (b.entry <= last) & (b.leave == NO_LEAVE)
        nc_now = year - b.r_year
        finishing = on & (nc_now >= hi)
        if hi >= 12:  # many leave after Year 11 even where there is a sixth form
            finishing |= on & (nc_now == 11) & (rng.random(len(on)) < 0.4)
        b.leave[finishing] = last
    return _finish(rng, plan, b)


def _finish(rng: np.random.Generator, plan: AcademyPlan, b: _RollBuilder) -> Roll:
    n = len(b.r_year)
    gender = np.where(rng.random(n) < 0.5, "M", "F")
    ethnicity = draw_ethnicities(rng, n)
    surnames, forenames, eal = draw_names(rng, ethnicity, gender, plan.encoding == "cp1252")
    if plan.index % 2 == 0 and n > 20:  # make sure formula-like names reach the exports
        surnames[7] = FORMULA_SURNAMES[(plan.index // 2) % len(FORMULA_SURNAMES)]
    # Born between 1 September five years before Reception and 31 August four years before.
    born_from = np.array([date(int(y) - 5, 9, 1).toordinal() for y in b.r_year])
    born_to = np.array([date(int(y) - 4, 8, 31).toordinal() for y in b.r_year])
    dob = born_from + (rng.random(n) * (born_to - born_from + 1)).astype(np.int64)
    fsm = rng.random(n) < (0.27 if plan.phase != "primary" else 0.24)
    sen_p = [0.05, 0.25, 0.70] if plan.phase == "special" else [0.83, 0.13, 0.04]
    sen = np.array(["N", "K", "E"])[rng.choice(3, size=n, p=sen_p)]
    home_la = np.where(
        rng.random(n) < 0.88,
        plan.la_code,
        np.array(OTHER_LAS)[rng.integers(0, len(OTHER_LAS), size=n)],
    )
    upns = _allocate_upns(plan, b.r_year, b.entry)
    return Roll(
        upn=np.array(upns, dtype=object),
        surname=np.array(surnames, dtype=object),
        forename=np.array(forenames, dtype=object),
        dob=dob,
        gender=gender,
        r_year=b.r_year,
        form=b.form,
        entry=b.entry,
        leave=b.leave,
        fsm=fsm,
        sen=sen,
        eal=eal,
        ethnicity=ethnicity,
        home_la=home_la,
        student_id=100000 + 37 * np.arange(n, dtype=np.int64) + plan.index,
    )


def _allocate_upns(plan: AcademyPlan, r_year: np.ndarray, entry: np.ndarray) -> list[str]:
    """Permanent UPNs: this academy's LAESTAB, the year of first admission and a serial.

    The LAESTAB makes them unique across the trust; when a year's 1000 serials run out the
    allocation borrows the previous year's, which a real LA would never need to do.
    """
    used: dict[int, int] = {}
    out = []
    for ry, e in zip(r_year.tolist(), entry.tolist(), strict=True):
        year = min(ry, academic_year_start(date.fromordinal(e)).year) % 100
        while used.get(year, 0) >= 1000:
            year = (year - 1) % 100
        serial = used.get(year, 0)
        used[year] = serial + 1
        out.append(make_upn(plan.la_code, plan.estab, year, serial))
    return out
