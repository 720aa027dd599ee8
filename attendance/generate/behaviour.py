"""How pupils attend: one academy's marks, day by day, vectorised over its pupils.

The model is built to exercise every rule downstream with realistic proportions: most pupils
attend 94-99%, a persistent-absence tail (more in secondaries) and a few severely absent pupils;
illness comes in episodes, more in winter and on Mondays and Fridays; unexplained absences are
marked `N` on the day and amended later; some pupils take term-time holidays, arrive late, go
home at lunchtime, are dual registered or in nursery part time; INSET days are `#`, and one
academy has an unplanned closure. The code written depends on the code set in force on the
mark's date (the DfE changed it on 19 August 2024).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import IntEnum

import numpy as np

from attendance.calendar import academic_year_start
from attendance.generate.pupils import Roll
from attendance.generate.registry import AcademyPlan

CODE_CHANGE = date(2024, 8, 19)
CHANGE_ORD = CODE_CHANGE.toordinal()


class Kind(IntEnum):
    """What happened in a session; turned into a DfE code by the date's code set."""

    PRESENT_AM = 0
    PRESENT_PM = 1
    LATE = 2
    LATE_AFTER_CLOSE = 3
    NOT_ESTABLISHED = 4
    ILLNESS = 5
    UNAUTHORISED_OTHER = 6
    MEDICAL = 7
    HOLIDAY_NOT_AGREED = 8
    HOLIDAY_AGREED = 9
    EXCEPTIONAL = 10
    VISIT = 11
    SPORT = 12
    LA_PROVISION = 13
    OTHER_AEA = 14
    INTERVIEW = 15
    RELIGIOUS = 16
    EXCLUDED = 17
    DUAL = 18
    NOT_REQUIRED = 19
    CLOSURE = 20
    UNPLANNED_CLOSURE = 21
    MISSING = 22  # weekly grid only: register due, no mark entered ('-'); not a DfE code


# The handful of codes the generator emits, per kind: (before 19 Aug 2024, from 19 Aug 2024).
# Taken from shared/domain/codes.md; `check_codes_against_seed` verifies them against the dbt
# seed dfe_codes.csv (the platform's single source of code sets) when it is present.
_CODES: dict[Kind, tuple[str, str]] = {
    Kind.PRESENT_AM: ("/", "/"),
    Kind.PRESENT_PM: ("\\", "\\"),
    Kind.LATE: ("L", "L"),
    Kind.LATE_AFTER_CLOSE: ("U", "U"),
    Kind.NOT_ESTABLISHED: ("N", "N"),
    Kind.ILLNESS: ("I", "I"),
    Kind.UNAUTHORISED_OTHER: ("O", "O"),
    Kind.MEDICAL: ("M", "M"),
    Kind.HOLIDAY_NOT_AGREED: ("G", "G"),
    Kind.HOLIDAY_AGREED: ("H", "C"),  # authorised holiday was withdrawn in 2024: leave is C
    Kind.EXCEPTIONAL: ("C", "C"),
    Kind.VISIT: ("V", "V"),
    Kind.SPORT: ("P", "P"),
    Kind.LA_PROVISION: ("B", "K"),  # K is new in 2024; before, off-site education was B
    Kind.OTHER_AEA: ("B", "B"),
    Kind.INTERVIEW: ("J", "J1"),  # J (attended) became J1 (authorised absence)
    Kind.RELIGIOUS: ("R", "R"),
    Kind.EXCLUDED: ("E", "E"),
    Kind.DUAL: ("D", "D"),
    Kind.NOT_REQUIRED: ("X", "X"),
    Kind.CLOSURE: ("#", "#"),
    Kind.UNPLANNED_CLOSURE: ("Y", "Y4"),  # Y was split into Y1-Y7; whole site closed is Y4
}

CODE_STRINGS: tuple[str, ...] = tuple(sorted({c for pair in _CODES.values() for c in pair}))
MISSING_ID = len(CODE_STRINGS)  # string id of '-' in DISPLAY
DISPLAY: tuple[str, ...] = CODE_STRINGS + ("-",)
_PRE = np.array(
    [CODE_STRINGS.index(_CODES[k][0]) if k in _CODES else MISSING_ID for k in Kind], dtype=np.int16
)
_POST = np.array(
    [CODE_STRINGS.index(_CODES[k][1]) if k in _CODES else MISSING_ID for k in Kind], dtype=np.int16
)

SEASON = {
    9: 0.6,
    10: 0.9,
    11: 1.05,
    12: 1.35,
    1: 1.35,
    2: 1.2,
    3: 1.0,
    4: 0.85,
    5: 0.85,
    6: 0.9,
    7: 1.1,
    8: 1.0,
}
WEEKDAY = (1.15, 0.93, 0.9, 0.95, 1.12)  # Monday and Friday absence is higher


def codes_in_force(day: date) -> frozenset[str]:
    """The codes this generator may write on `day` (a subset of that day's DfE code set)."""
    table = _PRE if day < CODE_CHANGE else _POST
    return frozenset(DISPLAY[i] for i in table.tolist() if i != MISSING_ID)


def code_ids(kinds: np.ndarray, day_ords: np.ndarray | int) -> np.ndarray:
    """String ids (into DISPLAY) of `kinds` read with the code set in force on each date."""
    return np.where(np.asarray(day_ords) < CHANGE_ORD, _PRE[kinds], _POST[kinds])


def check_codes_against_seed() -> list[str]:
    """Emitted codes missing from the platform's code-set seed; empty when all are known (or
    when the seed is not there to check against)."""
    from attendance.codes import CODES_SEED, code_sets

    if not CODES_SEED.exists():
        return []
    problems = []
    for label, day in (("before", date(2024, 8, 18)), ("from", CODE_CHANGE)):
        allowed = next((c for s, e, c in code_sets() if s <= day <= e), frozenset())
        problems += [
            f"{code!r} not in the code set {label} {CODE_CHANGE}"
            for code in sorted(codes_in_force(day) - allowed)
        ]
    return problems


@dataclass
class Traits:
    """Per-pupil propensities, drawn once per academy."""

    hazard: np.ndarray  # daily chance an illness/absence episode starts (before factors)
    duration: np.ndarray  # mean episode length in school days
    unauthorised: np.ndarray  # share of episodes that end up unauthorised
    late: np.ndarray  # chance of a late AM arrival
    nursery_mode: np.ndarray  # 0 full time, 1 mornings only, 2 afternoons only
    dual_day: np.ndarray  # weekday at another setting (dual registration), -1 none
    provision_day: np.ndarray  # weekday at LA-arranged provision, -1 none


_PHASE_TAILS = {  # (severely absent share, persistent-absence tail share)
    "primary": (0.008, 0.085),
    "secondary": (0.017, 0.15),
    "all-through": (0.012, 0.12),
    "special": (0.030, 0.27),
}


def draw_traits(rng: np.random.Generator, plan: AcademyPlan, roll: Roll) -> Traits:
    n = len(roll)
    severe_p, tail_p = _PHASE_TAILS[plan.phase]
    # Disadvantage raises absence (FSM and SEN pupils are over-represented in PA nationally).
    mult = (1 + 0.7 * roll.fsm) * (1 + 0.4 * (roll.sen != "N")) / 1.23
    u = rng.random(n)
    severe = u < severe_p * mult
    tail = ~severe & (u < (severe_p + tail_p) * mult)
    rate = rng.beta(1.6, 45.0, size=n)
    rate[tail] = rng.uniform(0.085, 0.28, size=int(tail.sum()))
    rate[severe] = rng.uniform(0.5, 0.85, size=int(severe.sum()))
    duration = np.where(severe, 6.0, np.where(tail, 2.5, 1.8))
    # Stationary share of days in an episode is h*d / (1 + h*d); solve for h.
    hazard = rate / (duration * (1 - rate))
    unauthorised = np.where(severe, 0.55, np.where(tail, 0.3, 0.08))
    lu = rng.random(n)
    late = np.where(lu < 0.7, 0.004, np.where(lu < 0.95, 0.025, 0.10))
    if plan.phase != "primary":
        late = late * 1.3
    nursery_mode = rng.choice(3, size=n, p=[0.45, 0.45, 0.10]).astype(np.int8)
    dual_day = np.full(n, -1, dtype=np.int8)
    if n >= 100:
        dual = rng.choice(n, size=2, replace=False)
        dual_day[dual] = rng.integers(0, 5, size=2)
    provision_day = np.full(n, -1, dtype=np.int8)
    if plan.nc_high >= 9:
        older = roll.r_year <= roll.r_year.max() - 9
        pick = older & (rng.random(n) < 0.006)
        provision_day[pick] = rng.integers(0, 5, size=int(pick.sum()))
    return Traits(hazard, duration, unauthorised, late, nursery_mode, dual_day, provision_day)


@dataclass
class DayMarks:
    """What one delivery carries: the day's marks and the amendments due that day.

    Codes are string ids into DISPLAY (MISSING_ID only in weekly-grid deliveries); minutes late
    are minutes after the session's start time, -1 where the export says nothing.
    """

    day: date
    pupils: np.ndarray  # on roll today, in export order
    am: np.ndarray
    pm: np.ndarray
    am_min: np.ndarray
    pm_min: np.ndarray
    amend_pupil: np.ndarray
    amend_date: np.ndarray  # date ordinals
    amend_session: np.ndarray  # 0 AM, 1 PM
    amend_code: np.ndarray


_Event = tuple[np.ndarray, int, int, int]  # pupils, AM kind, PM kind, kind an N becomes


class AcademySimulation:
    """Marks for one academy over its register days in the range, one day per `step`."""

    def __init__(
        self,
        rng: np.random.Generator,
        plan: AcademyPlan,
        roll: Roll,
        days: list[date],
        closures: set[date],
        unplanned: date | None,
    ) -> None:
        self.rng, self.plan, self.roll, self.days = rng, plan, roll, days
        self.closures = closures
        self.unplanned = unplanned
        self.traits = draw_traits(rng, plan, roll)
        self.carries_times = plan.source_format != "weekly_grid_csv"
        self.grid = plan.source_format == "weekly_grid_csv"
        n = len(roll)
        self.ill_left = np.zeros(n, dtype=np.int32)
        self.ill_kind = np.zeros(n, dtype=np.int8)
        self.ill_target = np.zeros(n, dtype=np.int8)
        self.unexplained_yesterday = np.zeros(n, dtype=bool)
        self.pending: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]] = {}
        self.school_idx = [k for k, d in enumerate(days) if d not in closures and d != unplanned]
        self.planned: dict[int, list[_Event]] = {}
        self._year_cache: dict[int, tuple[np.ndarray, np.ndarray, int, np.ndarray]] = {}
        self._waves: dict[int, tuple[int, float]] = {}
        am = (plan.minutes("am_start"), plan.minutes("am_late"), plan.minutes("am_close"))
        pm = (plan.minutes("pm_start"), plan.minutes("pm_late"), plan.minutes("pm_close"))
        self.am_late_off, self.am_close_off = am[1] - am[0], max(am[2] - am[0], am[1] - am[0] + 1)
        self.pm_late_off, self.pm_close_off = pm[1] - pm[0], max(pm[2] - pm[0], pm[1] - pm[0] + 1)
        self._plan_holidays()
        self._plan_chronic()

    # ----- planned events -------------------------------------------------------------------
    def _add_event(self, k: int, pupils: list[int], am: int, pm: int, target: int) -> None:
        self.planned.setdefault(k, []).append((np.array(pupils, dtype=np.int64), am, pm, target))

    def _plan_holidays(self) -> None:
        """Term-time holidays: blocks of 3-5 school days for a few % of pupils each year."""
        rate = 0.06 if self.plan.phase == "primary" else 0.035
        by_year: dict[int, list[int]] = {}
        for pos, k in enumerate(self.school_idx):
            by_year.setdefault(academic_year_start(self.days[k]).year, []).append(pos)
        per_day: dict[tuple[int, int], list[int]] = {}
        for _year, positions in sorted(by_year.items()):
            if len(positions) < 6:
                continue
            takers = np.flatnonzero(self.rng.random(len(self.roll)) < rate)
            lengths = self.rng.integers(3, 6, size=len(takers))
            starts = self.rng.integers(0, len(positions) - 5, size=len(takers))
            agreed = self.rng.random(len(takers))
            for p, n, s, a in zip(
                takers.tolist(), lengths.tolist(), starts.tolist(), agreed.tolist(), strict=True
            ):
                for pos in positions[s : s + n]:
                    k = self.school_idx[pos]
                    pre = self.days[k] < CODE_CHANGE
                    kind = (
                        Kind.HOLIDAY_AGREED
                        if a < (0.35 if pre else 0.08)
                        else Kind.HOLIDAY_NOT_AGREED
                    )
                    per_day.setdefault((k, int(kind)), []).append(p)
        for (k, kind), pupils in sorted(per_day.items()):
            self._add_event(k, pupils, kind, kind, kind)

    def _plan_chronic(self) -> None:
        """A few pupils with a run of 11-20 school days of unexplained absence (N, later O):
        the children-missing-education rule (10 consecutive days) must fire for them."""
        size = self.plan.size
        count = size // 800 + int(self.rng.random() < (size % 800) / 800)
        n_days = len(self.school_idx)
        if n_days < 12:
            return
        for _ in range(count):
            run = int(self.rng.integers(11, 21))
            run = min(run, n_days)
            first = int(self.rng.integers(0, n_days - run + 1))
            d0 = self.days[self.school_idx[first]].toordinal()
            d1 = self.days[self.school_idx[first + run - 1]].toordinal()
            eligible = np.flatnonzero(
                (self.roll.entry <= d0) & (self.roll.leave >= d1) & (self.traits.dual_day < 0)
            )
            if len(eligible) == 0:
                continue
            p = int(self.rng.choice(eligible))
            self.traits.hazard[p] = max(self.traits.hazard[p], 0.08)
            for pos in range(first, first + run):
                self._add_event(
                    self.school_idx[pos],
                    [p],
                    Kind.NOT_ESTABLISHED,
                    Kind.NOT_ESTABLISHED,
                    Kind.UNAUTHORISED_OTHER,
                )

    # ----- per-year and per-day helpers -----------------------------------------------------
    def _year(self, year: int) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
        """(NC years, reg-group ids, number of groups, export order of all pupils) for a year."""
        if year not in self._year_cache:
            nc = self.roll.nc(year)
            _, group, counts = np.unique(
                self.roll.reg_groups(year).astype(str), return_inverse=True, return_counts=True
            )
            order = self.roll.order(year, np.arange(len(self.roll)))
            self._year_cache = {year: (nc, group, len(counts), order)}
        return self._year_cache[year]

    def _wave(self, d: date) -> float:
        """A winter illness wave: a bump of a few weeks centred somewhere in Dec-Feb."""
        year = academic_year_start(d).year
        if year not in self._waves:
            centre = date(year, 12, 1).toordinal() + int(self.rng.integers(0, 75))
            self._waves[year] = (centre, float(self.rng.uniform(0.2, 0.6)))
        centre, amp = self._waves[year]
        return 1.0 + amp * float(np.exp(-0.5 * ((d.toordinal() - centre) / 9.0) ** 2))

    def _school_day(self, k: int, d: date, year: int) -> tuple[np.ndarray, ...]:
        rng, t = self.rng, self.traits
        n = len(self.roll)
        nc, group, n_groups, _ = self._year(year)
        wd = d.weekday()
        am = np.full(n, Kind.PRESENT_AM, dtype=np.int8)
        pm = np.full(n, Kind.PRESENT_PM, dtype=np.int8)
        target_am = np.full(n, Kind.ILLNESS, dtype=np.int8)
        target_pm = np.full(n, Kind.ILLNESS, dtype=np.int8)
        u = rng.random((12, n))  # row 7 is spare
        # Approved educational activity: class trips, sport fixtures, off-site provision.
        trip = (rng.random(n_groups) < 1.2 / 190)[group]
        am[trip] = Kind.VISIT
        pm[trip] = Kind.VISIT
        pm[u[0] < np.where(nc >= 7, 0.0015, 0.0004)] = Kind.SPORT
        other = u[1] < 0.0002
        am[other] = Kind.OTHER_AEA
        pm[other] = Kind.OTHER_AEA
        provision = t.provision_day == wd
        am[provision] = Kind.LA_PROVISION
        pm[provision] = Kind.LA_PROVISION
        am[(nc >= 11) & (u[2] < 0.001)] = Kind.INTERVIEW
        # Single sessions off: appointments, going home at lunchtime (more on Fridays).
        am[u[3] < 0.004] = Kind.MEDICAL
        pm_off = u[4] < (0.002 + 0.02 * t.hazard * t.duration) * (1.6 if wd == 4 else 1.0)
        pm_kind = np.where(
            u[5] < 0.55, Kind.ILLNESS, np.where(u[5] < 0.7, Kind.MEDICAL, Kind.NOT_ESTABLISHED)
        )
        pm[pm_off] = pm_kind[pm_off]
        target_pm[pm_off] = np.where(u[6][pm_off] < 0.3, Kind.UNAUTHORISED_OTHER, Kind.ILLNESS)
        rare = rng.random((3, n))
        for row, (kind, p) in enumerate(
            (
                (Kind.RELIGIOUS, 0.0002),
                (Kind.EXCEPTIONAL, 0.0002),
                (Kind.EXCLUDED, np.where(nc >= 7, 0.0004, 0.00005)),
            )
        ):
            hit = rare[row] < p
            am[hit] = kind
            pm[hit] = kind
        # Lates on sessions still present: L before the register closes, U after.
        late_p = t.late * (1.2 if wd == 0 else 1.0)
        am[(am == Kind.PRESENT_AM) & (u[8] < late_p)] = Kind.LATE
        am[(am == Kind.PRESENT_AM) & (u[8] >= late_p) & (u[8] < late_p * 1.12)] = (
            Kind.LATE_AFTER_CLOSE
        )
        pm[(pm == Kind.PRESENT_PM) & (u[9] < t.late * 0.08)] = Kind.LATE
        pm[(pm == Kind.PRESENT_PM) & (u[9] >= t.late * 0.08) & (u[9] < t.late * 0.09)] = (
            Kind.LATE_AFTER_CLOSE
        )
        # Illness and other whole-day absence episodes (a two-state chain per pupil).
        factor = SEASON[d.month] * WEEKDAY[wd] * self._wave(d)
        idle = self.ill_left == 0
        start = np.flatnonzero(idle & (u[10] < np.minimum(t.hazard * factor, 0.95)))
        if len(start):
            length = rng.geometric(1.0 / t.duration[start])
            r = rng.random((2, len(start)))
            # An unauthorised episode never follows another directly and lasts at most 5 days:
            # runs of 10+ unexplained days come only from the planned chronic cases, so the CME
            # rule fires for a realistic handful of pupils.
            unauth = (r[0] < t.unauthorised[start]) & ~self.unexplained_yesterday[start]
            self.ill_left[start] = np.where(unauth, np.minimum(length, 5), length)
            first_n = r[1] < np.where(unauth, 0.85, 0.25)
            self.ill_kind[start] = np.where(
                first_n,
                Kind.NOT_ESTABLISHED,
                np.where(unauth, Kind.UNAUTHORISED_OTHER, Kind.ILLNESS),
            )
            self.ill_target[start] = np.where(unauth, Kind.UNAUTHORISED_OTHER, Kind.ILLNESS)
        ill = self.ill_left > 0
        am[ill] = self.ill_kind[ill]
        pm[ill] = self.ill_kind[ill]
        target_am[ill] = self.ill_target[ill]
        target_pm[ill] = self.ill_target[ill]
        self.unexplained_yesterday = ill & (self.ill_target == Kind.UNAUTHORISED_OTHER)
        self.ill_left[ill] -= 1
        for pupils, ak, pk, tk in self.planned.get(k, []):
            am[pupils], pm[pupils] = ak, pk
            target_am[pupils], target_pm[pupils] = tk, tk
        dual = t.dual_day == wd
        am[dual] = Kind.DUAL
        pm[dual] = Kind.DUAL
        nursery = nc < 0
        pm[nursery & (t.nursery_mode == 1)] = Kind.NOT_REQUIRED
        am[nursery & (t.nursery_mode == 2)] = Kind.NOT_REQUIRED
        am_min, pm_min = self._minutes(am, pm, u[11])
        return am, pm, am_min, pm_min, target_am, target_pm

    def _minutes(self, am: np.ndarray, pm: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, ...]:
        """Minutes after the session start for late marks; and, in formats that carry times,
        ~0.1% of AM present marks with an arrival after the late time (a contradiction the
        data-quality report must flag, never rewrite)."""
        rng, n = self.rng, len(am)
        lo, hi = self.am_late_off, self.am_close_off
        am_min = np.full(n, -1, dtype=np.int32)
        pm_min = np.full(n, -1, dtype=np.int32)
        if not self.carries_times:
            return am_min, pm_min
        late_draw = rng.integers(lo, hi, size=n)
        after = hi + np.minimum(rng.geometric(0.08, size=n), 120)
        am_min = np.where(
            am == Kind.LATE, late_draw, np.where(am == Kind.LATE_AFTER_CLOSE, after, -1)
        ).astype(np.int32)
        contradiction = (am == Kind.PRESENT_AM) & (u < 0.001)
        am_min[contradiction] = rng.integers(lo + 1, max(hi, lo + 2), size=n)[contradiction]
        pl, ph = self.pm_late_off, self.pm_close_off
        pm_min = np.where(
            pm == Kind.LATE,
            rng.integers(pl, ph, size=n),
            np.where(pm == Kind.LATE_AFTER_CLOSE, after, -1),
        ).astype(np.int32)
        return am_min, pm_min

    # ----- the day ----------------------------------------------------------------------------
    def step(self, k: int) -> DayMarks:
        """Marks for register day `k` (index into `days`) and the amendments due with them."""
        d = self.days[k]
        o = d.toordinal()
        year = academic_year_start(d).year
        members = self._year(year)[3]
        members = members[self.roll.on_roll(o)[members]]
        m = len(members)
        if d in self.closures or d == self.unplanned:
            kind = Kind.CLOSURE if d in self.closures else Kind.UNPLANNED_CLOSURE
            am = np.full(m, kind, dtype=np.int8)
            pm = am.copy()
            am_min = np.full(m, -1, dtype=np.int32)
            pm_min = am_min.copy()
            am_ids = code_ids(am.astype(np.int64), o).astype(np.int16)
            pm_ids = code_ids(pm.astype(np.int64), o).astype(np.int16)
        else:
            full = self._school_day(k, d, year)
            am, pm, am_min, pm_min, t_am, t_pm = (a[members] for a in full)
            self._schedule_n(k, o, members, am, t_am, 0)
            self._schedule_n(k, o, members, pm, t_pm, 1)
            am_ids = code_ids(am.astype(np.int64), o).astype(np.int16)
            pm_ids = code_ids(pm.astype(np.int64), o).astype(np.int16)
            if self.grid and k + 1 < len(self.days):
                self._mark_missing(k, o, members, am, am_ids, 0)
                self._mark_missing(k, o, members, pm, pm_ids, 1)
        due = self.pending.pop(k, [])
        if due:
            ap = np.concatenate([x[0] for x in due])
            ad = np.concatenate([x[1] for x in due])
            a_s = np.concatenate([x[2] for x in due])
            ak = np.concatenate([x[3] for x in due])
            order = np.lexsort((a_s, ap, ad))
            ap, ad, a_s, ak = ap[order], ad[order], a_s[order], ak[order]
            ac = code_ids(ak.astype(np.int64), ad).astype(np.int16)
        else:
            ap = ad = a_s = np.zeros(0, dtype=np.int64)
            ac = np.zeros(0, dtype=np.int16)
        return DayMarks(d, members, am_ids, pm_ids, am_min, pm_min, ap, ad, a_s, ac)

    def _push(self, k: int, pupils: np.ndarray, o: int, session: int, kinds: np.ndarray) -> None:
        if k < len(self.days) and len(pupils):
            n = len(pupils)
            self.pending.setdefault(k, []).append(
                (
                    pupils,
                    np.full(n, o, dtype=np.int64),
                    np.full(n, session, dtype=np.int64),
                    kinds.astype(np.int64),
                )
            )

    def _schedule_n(
        self,
        k: int,
        o: int,
        members: np.ndarray,
        kinds: np.ndarray,
        targets: np.ndarray,
        session: int,
    ) -> None:
        """`N` marks are recoded 1-5 register days later (mostly `I`, else `O`); the new code
        travels in that later day's delivery."""
        hit = np.flatnonzero(kinds == Kind.NOT_ESTABLISHED)
        if not len(hit):
            return
        lags = self.rng.integers(1, 6, size=len(hit))
        for lag in np.unique(lags).tolist():
            sel = hit[lags == lag]
            self._push(k + lag, members[sel], o, session, targets[sel])

    def _mark_missing(
        self, k: int, o: int, members: np.ndarray, kinds: np.ndarray, ids: np.ndarray, session: int
    ) -> None:
        """Weekly grids: a rare register left unmarked ('-'), filled in the next delivery."""
        hit = np.flatnonzero(
            (kinds != Kind.NOT_ESTABLISHED) & (self.rng.random(len(kinds)) < 0.0005)
        )
        if len(hit):
            self._push(k + 1, members[hit], o, session, kinds[hit])
            ids[hit] = MISSING_ID


def pick_unplanned_closure(rng: np.random.Generator, school_days: list[date]) -> date | None:
    """One unexpected whole-school closure (snow, heating failure) when the range is long
    enough to hold one: a winter day if the range has one, else mid-range."""
    if len(school_days) < 30:
        return None
    winter = [d for d in school_days[5:-5] if d.month in (1, 2)]
    pool = winter or school_days[len(school_days) // 3 : 2 * len(school_days) // 3]
    return pool[int(rng.integers(len(pool)))]
