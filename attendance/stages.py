"""Escalation stages: which step of its academy's attendance policy each pupil is on (SPEC 6).

Schools act on the *newly due* letter, meeting or referral, so every pupil's stage is computed
for every school day from the measures of SPEC 5.2 and the academy's policy file, and every
move is recorded as a dated event with a reason a parent could be told. The rules live in
`config/policies/<key>.yml` (data, not code) so a trust can change a threshold without a release.

Policy file
-----------
    name: <title>            seed: <seed file name>
    stages:                  # ordered, numbered 1..n; stage 0 is "No action"
      - stage: 1
        name: <short name>
        action: <the letter / meeting / referral the policy names>
        entry: <condition>                 # a threshold stage, or ...
      - stage: 3
        ...
        escalation:                        # ... an escalation stage
          from_stage: 2                    # int or list of ints, all below this stage
          after_school_days: 20            # review period at the from-stage
          when: <condition>                # optional; always true if omitted
    exit: <condition>                      # back to stage 0
    exit_action: <text>                    # optional, what the school does on exit
    flags: {severely_absent: <text>, persistent_absentee: <text>, ...}   # optional

Condition grammar
-----------------
    {measure: M, op: "<"|"<="|">"|">="|"=="|"!=", value: V}
        today's figure of M against a number (or true/false for the flag measures);
    {measure: M, since_entry: not_improved | worsened | increased}
        today's figure of M against its figure on the day the pupil entered the current stage:
        `not_improved` = no better, `worsened` = strictly worse, `increased` = strictly greater.
        "Better" is the direction given for M in MEASURES (the one table of directions).
        Only allowed in an escalation's `when` and in `exit` (stage 0 has no entry day).
        False when either figure is undefined (a percentage with no possible sessions);
    {all: [condition, ...]}   every one holds;
    {any: [condition, ...]}   at least one holds.
A percentage measure is compared on exact fractions (SPEC 5.2: flags are decided on exact
fractions), from its integer numerator and denominator columns when the frame has them.

Day semantics (deterministic, one academy)
------------------------------------------
For each school day in order, for every pupil with a row that day:
  1. on the first school day of a new academic year every pupil is reset to stage 0 with
     `stage_since` that day; no event is written for the reset (a September full of
     "exit" events would bury the real ones). Rolling windows are not reset (SPEC 5.2).
  2. exit: a pupil above stage 0 whose policy exit condition holds returns to 0 (event 'exit');
     that is the day's only move.
  3. otherwise the pupil moves UP to the highest stage that is either a threshold stage whose
     `entry` holds, or an escalation stage whose `from_stage` is the pupil's stage at the start
     of the day, whose review period has run (`school_days_at_stage >= after_school_days`,
     counted in the academy's school days) and whose `when` holds. So thresholds may jump
     several stages, escalations go at most one step per day, and nothing moves a pupil down
     except the exit rule and the new year. An escalation whose `when` fails on the review day
     is checked again every later day (monitoring continues).
A pupil with no row on a day (not on roll) keeps their state; their days at stage still count.
The loop can also start from each pupil's state on an earlier day instead of the year's first
school day (`compute_stages(..., initial=...)`): a daily run then computes only the changed days.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import pandas as pd

NO_ACTION = "No action"
DEFAULT_EXIT_ACTION = "No further action"
EXIT_REASON_SUFFIX = " (exit rule)"

# SPEC 6 wording, used where a policy file does not give its own text for a flag.
DEFAULT_FLAG_TEXTS = {
    "severely_absent": "Individual plan; consider referral to children's social care",
    "persistent_absentee": "Notify the LA attendance team",
    "cme_referral_due": "Children missing education: refer to the local authority",
    "penalty_threshold_met": "Penalty-notice threshold met: consider a request to the LA",
}


class PolicyError(ValueError):
    """A policy file breaks the grammar above; the message names the policy and the place."""


@dataclass(frozen=True)
class Measure:
    """How the engine reads and words one measure column of the daily frame.

    `better` is the direction of improvement used by `since_entry` (None: not comparable).
    `words` renders a figure for a reason ({v} the figure, {s} a plural "s").
    `fraction` names integer numerator/denominator columns for exact percentage comparisons.
    """

    kind: Literal["pct", "count", "flag"]
    better: Literal["higher", "lower"] | None
    words: str
    fraction: tuple[str, str] | None = None


# The one table of measures the engine reads, with each one's better direction.
MEASURES: dict[str, Measure] = {
    "attendance_pct_ytd": Measure(
        "pct", "higher", "attendance {v} this year", ("attended_ytd", "possible_ytd")
    ),
    "absence_pct_ytd": Measure(
        "pct", "lower", "absence {v} this year", ("absence_ytd", "possible_ytd")
    ),
    "rolling_absence": Measure(
        "count", "lower", "{v} session{s} of absence in the last 10 school weeks"
    ),
    "rolling_unauthorised": Measure(
        "count", "lower", "{v} session{s} of unauthorised absence in the last 10 school weeks"
    ),
    "unauthorised_ytd": Measure(
        "count", "lower", "{v} session{s} of unauthorised absence this year"
    ),
    "absence_ytd": Measure("count", "lower", "{v} session{s} of absence this year"),
    "attended_ytd": Measure("count", "higher", "{v} session{s} attended this year"),
    "possible_ytd": Measure("count", None, "{v} possible session{s} this year"),
    "consecutive_unexplained_days": Measure(
        "count", "lower", "{v} school day{s} in a row of unexplained absence"
    ),
    "penalty_threshold_met": Measure(
        "flag",
        None,
        "unauthorised absence has reached the penalty-notice threshold "
        "(10 or more sessions in the last 10 school weeks)",
    ),
    "persistent_absentee": Measure(
        "flag", None, "absence this year is 10% or more (persistent absence)"
    ),
    "severely_absent": Measure("flag", None, "absence this year is 50% or more (severe absence)"),
    "cme_referral_due": Measure(
        "flag",
        None,
        "10 or more school days in a row of unexplained absence "
        "(a children missing education referral is due)",
    ),
}

OPS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
OP_WORDS = {
    "<": "below",
    "<=": "at or below",
    ">": "above",
    ">=": "at or above",
    "==": "equal to",
    "!=": "not equal to",
}
SINCE_ENTRY = ("not_improved", "worsened", "increased")

KEY_COLUMNS = ("urn", "upn", "calendar_date", "academic_year", "school_day_index")
STAGE_DAILY_COLUMNS = [
    "urn",
    "upn",
    "calendar_date",
    "stage",
    "stage_name",
    "stage_since",
    "school_days_at_stage",
    "action_due",
]
# A resumed pupil's state (see compute_stages), plus the measure columns on its entry day.
INITIAL_COLUMNS = ["urn", "upn", "stage", "stage_since", "stage_since_school_day_index"]
EVENT_COLUMNS = [
    "urn",
    "upn",
    "event_date",
    "from_stage",
    "to_stage",
    "stage_name",
    "action",
    "kind",
    "reason",
]


# --------------------------------------------------------------------------- validation


def _check_condition(cond: Any, where: str, since_ok: bool, used: set[str]) -> None:
    """Reject anything outside the grammar now, so a typo fails at load and not mid-run."""
    if not isinstance(cond, dict):
        raise PolicyError(f"{where}: a condition must be a mapping, got {cond!r}")
    if set(cond) in ({"all"}, {"any"}):
        parts = next(iter(cond.values()))
        if not isinstance(parts, list) or not parts:
            raise PolicyError(f"{where}: 'all'/'any' needs a non-empty list")
        for i, part in enumerate(parts):
            _check_condition(part, f"{where}[{i}]", since_ok, used)
        return
    name = cond.get("measure")
    if name not in MEASURES:
        raise PolicyError(f"{where}: unknown measure {name!r}; known: {sorted(MEASURES)}")
    measure = MEASURES[name]
    used.add(name)
    if set(cond) == {"measure", "since_entry"}:
        if not since_ok:
            raise PolicyError(f"{where}: since_entry is only allowed in 'when' and 'exit'")
        if cond["since_entry"] not in SINCE_ENTRY:
            raise PolicyError(f"{where}: since_entry must be one of {SINCE_ENTRY}")
        if measure.better is None and cond["since_entry"] != "increased":
            raise PolicyError(f"{where}: {name} has no better direction; use 'increased'")
        if measure.kind == "flag":
            raise PolicyError(f"{where}: since_entry does not apply to the flag {name}")
        return
    if set(cond) != {"measure", "op", "value"}:
        raise PolicyError(f"{where}: expected measure/op/value or measure/since_entry: {cond}")
    if cond["op"] not in OPS:
        raise PolicyError(f"{where}: unknown op {cond['op']!r}; known: {list(OPS)}")
    value = cond["value"]
    if measure.kind == "flag":
        if not isinstance(value, bool) or cond["op"] not in ("==", "!="):
            raise PolicyError(f"{where}: {name} is a flag: use op == or != with true/false")
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise PolicyError(f"{where}: {name} needs a number, got {value!r}")


def validate_policy(policy: dict[str, Any]) -> set[str]:
    """Check a loaded policy against the grammar; return the measure names it reads."""
    key = policy.get("key") or policy.get("name") or "policy"
    stages = policy.get("stages")
    if not isinstance(stages, list) or not stages:
        raise PolicyError(f"{key}: needs a non-empty list 'stages'")
    used: set[str] = set()
    for i, st in enumerate(stages, start=1):
        where = f"{key}: stages[{i - 1}]"
        if not isinstance(st, dict) or st.get("stage") != i:
            raise PolicyError(f"{where}: stages must be numbered 1..n in order")
        for text in ("name", "action"):
            if not isinstance(st.get(text), str) or not st[text].strip():
                raise PolicyError(f"{where}: missing '{text}'")
        if ("entry" in st) == ("escalation" in st):
            raise PolicyError(f"{where}: give exactly one of 'entry' or 'escalation'")
        if "entry" in st:
            _check_condition(st["entry"], f"{where}.entry", False, used)
            continue
        esc = st["escalation"]
        if not isinstance(esc, dict):
            raise PolicyError(f"{where}.escalation: must be a mapping")
        froms = _from_stages(esc.get("from_stage"))
        if not froms or any(not 1 <= f < i for f in froms):
            raise PolicyError(f"{where}.escalation.from_stage: stages between 1 and {i - 1}")
        after = esc.get("after_school_days")
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            raise PolicyError(f"{where}.escalation.after_school_days: a whole number >= 0")
        if esc.get("when") is not None:
            _check_condition(esc["when"], f"{where}.escalation.when", True, used)
    if "exit" not in policy:
        raise PolicyError(f"{key}: needs an 'exit' condition")
    _check_condition(policy["exit"], f"{key}: exit", True, used)
    unknown = set(policy.get("flags") or {}) - set(DEFAULT_FLAG_TEXTS)
    if unknown:
        raise PolicyError(f"{key}: unknown flags {sorted(unknown)}")
    return used


def _from_stages(value: Any) -> list[int]:
    values = value if isinstance(value, list) else [value]
    if any(isinstance(v, bool) or not isinstance(v, int) for v in values):
        return []
    return [int(v) for v in values]


def flag_texts(policy: dict[str, Any]) -> dict[str, str]:
    """What the school does for each flag: the policy's own words, else SPEC 6's."""
    return {**DEFAULT_FLAG_TEXTS, **(policy.get("flags") or {})}


# --------------------------------------------------------------------------- conditions

Rows = slice | np.ndarray
Evaluator = Callable[[Rows, np.ndarray], np.ndarray]


class _Columns:
    """The measure columns in the engine's row order, plus exact-fraction helpers."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays

    def has_fraction(self, measure: Measure) -> bool:
        return measure.fraction is not None and all(c in self.arrays for c in measure.fraction)

    def numden(self, measure: Measure, rows: Rows) -> tuple[np.ndarray, np.ndarray]:
        assert measure.fraction is not None
        num, den = measure.fraction
        return self.arrays[num][rows], self.arrays[den][rows]

    def compare(self, name: str, cond: dict[str, Any], rows: Rows) -> np.ndarray:
        """Today's figure against a constant, exactly for percentages."""
        measure, op = MEASURES[name], OPS[cond["op"]]
        if measure.kind == "flag":
            return op(self.arrays[name][rows], bool(cond["value"]))
        if measure.kind == "pct" and self.has_fraction(measure):
            num, den = self.numden(measure, rows)
            frac = Fraction(str(cond["value"]))
            lhs = num * (100 * frac.denominator)
            return op(lhs, den * frac.numerator) & (den > 0)
        col = self.arrays[name][rows]
        if measure.kind == "pct":
            with np.errstate(invalid="ignore"):
                return op(col, cond["value"]) & ~np.isnan(col)
        return op(col, cond["value"])

    def sign_since(self, name: str, rows: Rows, then: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sign of (now - at entry) per row, and whether both figures are defined."""
        measure = MEASURES[name]
        if measure.kind == "pct" and self.has_fraction(measure):
            n1, d1 = self.numden(measure, rows)
            n0, d0 = self.numden(measure, then)
            return np.sign(n1 * d0 - n0 * d1), (d1 > 0) & (d0 > 0)
        now, old = self.arrays[name][rows], self.arrays[name][then]
        if measure.kind == "pct":
            with np.errstate(invalid="ignore"):
                return np.sign(now - old), ~np.isnan(now) & ~np.isnan(old)
        return np.sign(now.astype(np.int64) - old), np.ones(len(now), dtype=bool)


def _since_holds(how: str, better: str | None, sign: np.ndarray) -> np.ndarray:
    if how == "increased":
        return sign > 0
    improved = sign > 0 if better == "higher" else sign < 0
    return ~improved if how == "not_improved" else (sign < 0 if better == "higher" else sign > 0)


def _compile(cond: dict[str, Any] | None, cols: _Columns) -> Evaluator:
    """Turn a condition into a vectorised function of (rows, entry rows of those pupils)."""
    if cond is None:
        return lambda rows, ent: np.ones(len(ent), dtype=bool)
    if "all" in cond or "any" in cond:
        parts = [_compile(c, cols) for c in next(iter(cond.values()))]
        reduce = np.logical_and.reduce if "all" in cond else np.logical_or.reduce
        return lambda rows, ent: reduce([p(rows, ent) for p in parts])
    name = cond["measure"]
    if "since_entry" in cond:
        how, better = cond["since_entry"], MEASURES[name].better

        def since(rows: Rows, ent: np.ndarray) -> np.ndarray:
            known = ent >= 0
            sign, valid = cols.sign_since(name, rows, np.where(known, ent, 0))
            return _since_holds(how, better, sign) & valid & known

        return since
    return lambda rows, ent: cols.compare(name, cond, rows)


# --------------------------------------------------------------------------- reasons


def _fmt_pct(num: int, den: int) -> str:
    """Percentage to 1 dp, rounding halves up on the exact fraction (SPEC 5.2)."""
    tenths = (2000 * int(num) + int(den)) // (2 * int(den))
    return f"{tenths // 10}.{tenths % 10}%"


def _figures(name: str, cols: _Columns, rows: np.ndarray) -> list[str]:
    """Each row's figure of a measure as a parent would read it."""
    measure = MEASURES[name]
    if measure.kind == "pct":
        if cols.has_fraction(measure):
            num, den = cols.numden(measure, rows)
            return [_fmt_pct(n, d) if d > 0 else "n/a" for n, d in zip(num, den, strict=True)]
        return [f"{v:.1f}%" if v == v else "n/a" for v in cols.arrays[name][rows]]
    return [str(int(v)) for v in cols.arrays[name][rows]]


def _say(name: str, figure: str) -> str:
    plural = "" if figure == "1" else "s"
    return MEASURES[name].words.format(v=figure, s=plural)


def _describe(
    cond: dict[str, Any] | None, cols: _Columns, rows: np.ndarray, ent: np.ndarray, dates: Any
) -> list[str]:
    """One phrase per row saying which rule held and with which figures."""
    n = len(rows)
    if cond is None:
        return ["the review period has ended"] * n
    if "all" in cond or "any" in cond:
        parts = cond.get("all") or cond.get("any") or []
        texts = [_describe(p, cols, rows, ent, dates) for p in parts]
        if "all" in cond:
            return [" and ".join(t[i] for t in texts) for i in range(n)]
        held = [_compile(p, cols)(rows, ent) for p in parts]
        return [
            " and ".join(t[i] for t, h in zip(texts, held, strict=True) if h[i]) or texts[0][i]
            for i in range(n)
        ]
    name = cond["measure"]
    measure = MEASURES[name]
    if measure.kind == "flag":
        holds = (cond["op"] == "==") == bool(cond["value"])
        return [measure.words if holds else f"it is not the case that {measure.words}"] * n
    now = _figures(name, cols, rows)
    if "since_entry" in cond:
        then = _figures(name, cols, np.where(ent >= 0, ent, 0))
        how = cond["since_entry"]
        if how == "increased":
            link = "up from"
        elif how == "worsened":
            link = "down from" if measure.better == "higher" else "up from"
        else:
            link = "no higher than" if measure.better == "higher" else "no lower than"
        return [
            f"{_say(name, a)}, {link} {b} on {_iso(dates[e])}"
            for a, b, e in zip(now, then, ent, strict=True)
        ]
    words, value = OP_WORDS[cond["op"]], f"{cond['value']:g}"
    if measure.kind == "pct":
        return [f"{_say(name, a)} is {words} {value}%" for a in now]
    return [f"{_say(name, a)}, {words} {value}" for a in now]


def _iso(value: Any) -> str:
    return str(pd.Timestamp(value).date())


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


# --------------------------------------------------------------------------- engine


@dataclass
class _Events:
    """Moves collected during the day loop; reasons are worded once at the end."""

    row: list[np.ndarray]
    before: list[np.ndarray]
    after: list[np.ndarray]
    entry_row: list[np.ndarray]
    days_at: list[np.ndarray]

    def add(self, *arrays: np.ndarray) -> None:
        for store, arr in zip(
            (self.row, self.before, self.after, self.entry_row, self.days_at), arrays, strict=True
        ):
            store.append(arr)

    def stacked(self) -> list[np.ndarray]:
        parts = (self.row, self.before, self.after, self.entry_row, self.days_at)
        return [np.concatenate(p) if p else np.zeros(0, np.int64) for p in parts]


def columns_read(policy: dict[str, Any], available: Iterable[str]) -> list[str]:
    """The columns of a daily frame with `available` columns that `compute_stages` reads for
    this policy: the keys and the measures its rules use. Lets a caller fetch only these from
    the warehouse (the full pupil-day table would not fit in memory for a large trust)."""
    return list(KEY_COLUMNS) + _needed_columns(validate_policy(policy), list(available))


def _needed_columns(used: Iterable[str], available: Iterable[str]) -> list[str]:
    columns = set(available)
    names: set[str] = set()
    for name in used:
        measure = MEASURES[name]
        if measure.fraction and all(c in columns for c in measure.fraction):
            names.update(measure.fraction)
        else:
            names.add(name)
    missing = sorted((names | set(KEY_COLUMNS)) - columns)
    if missing:
        raise ValueError(f"daily frame is missing columns the policy needs: {missing}")
    return sorted(names)


def compute_stages(
    daily: pd.DataFrame, policy: dict[str, Any], initial: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stage of every pupil on every school day of one academy, and the dated action events.

    `daily` holds one row per pupil per school day (any order) with KEY_COLUMNS and the
    measure columns the policy reads. Returns (stage_daily, events):
    - stage_daily, one row per input row, sorted by urn, upn, calendar_date: STAGE_DAILY_COLUMNS.
      `stage_since` is the date the current stage was entered (for stage 0: the exit date or
      the year's first school day); `school_days_at_stage` counts the academy's school days
      since then (0 on the entry day); `action_due` is the stage's action on its entry day,
      else "". The text columns (urn, upn, stage_name, action_due) are categoricals, because
      a string per row would cost more than the computation at 7.6M rows;
    - events, one row per move, sorted by event_date, urn, upn: EVENT_COLUMNS, `kind` 'entry'
      or 'exit', `reason` a sentence naming the rule and the figures.

    `initial` resumes the day loop instead of starting it at the year's first school day, so
    a daily run recomputes only the days that changed (issue #4). It holds one row per pupil
    of `daily` (INITIAL_COLUMNS plus the policy's measure columns): the pupil's state at the
    end of their last school day before their first row in `daily`, as the stage_daily row of
    that day says it: `stage`, `stage_since` (same type as `calendar_date`) and
    `stage_since_school_day_index` (that row's school_day_index minus its
    school_days_at_stage), and for a pupil above stage 0 the measures as they stood on the
    `stage_since` day (what "since entry" conditions and event reasons compare against; unread
    for stage 0). A pupil with no earlier day is at stage 0 since the year's first school day.
    The states are taken to be in the academic year of the first day in `daily`: no reset
    happens on that day, so a resume must not cross into a new year (compute that year from
    its first school day instead); later new years in `daily` still reset as usual. With the
    state of the full computation, the rows and events returned are exactly those the full
    computation gives for the same pupil-days.
    """
    used = validate_policy(policy)
    stages = policy["stages"]
    n_stages = len(stages)
    names = np.array([NO_ACTION] + [s["name"] for s in stages], dtype=object)
    actions = np.array([""] + [s["action"] for s in stages], dtype=object)
    needed = _needed_columns(used, daily.columns)
    n = len(daily)
    if n == 0:
        return (
            pd.DataFrame(columns=STAGE_DAILY_COLUMNS),
            pd.DataFrame(columns=EVENT_COLUMNS),
        )

    # Pupils numbered in (urn, upn) order; days numbered by school_day_index.
    urn_code, urn_vals = _factorize_text(daily["urn"])
    upn_code, upn_vals = _factorize_text(daily["upn"])
    pupil, pupil_keys = pd.factorize(urn_code * len(upn_vals) + upn_code, sort=True)
    n_pupils = int(pupil.max()) + 1
    day, day_sdi = pd.factorize(daily["school_day_index"].to_numpy(dtype=np.int64), sort=True)
    day_sdi = np.asarray(day_sdi, dtype=np.int64)
    n_days = len(day_sdi)

    # The output order (urn, upn, date); it also proves one row per pupil per day.
    pupil_day = pupil.astype(np.int64) * n_days + day
    perm = np.argsort(pupil_day, kind="stable")
    if (np.diff(pupil_day[perm]) == 0).any():
        raise ValueError("daily frame has more than one row for a pupil on a day")
    # The loop's order: day by day (a linear-time stable sort; order within a day is free).
    order = np.argsort(day.astype(np.int16 if n_days < 2**15 else np.int64), kind="stable")
    in_order = _is_identity(order)  # already day by day (as a warehouse query returns it)
    pos_all = pupil[order].astype(np.int64)
    bounds = np.searchsorted(day[order], np.arange(n_days + 1))
    first_row = order[bounds[:-1]]
    dates_in = daily["calendar_date"].to_numpy()
    day_dates = dates_in[first_row]
    day_year = daily["academic_year"].to_numpy(dtype=np.int64)[first_row]

    arrays: dict[str, np.ndarray] = {}
    for name in needed:
        values = _measure_values(name, daily[name])
        arrays[name] = values if in_order else values[order]
    cols = _Columns(arrays)
    row_dates = dates_in if in_order else dates_in[order]

    thresholds = [(s["stage"], _compile(s["entry"], cols)) for s in stages if "entry" in s]
    escalations = [
        (
            s["stage"],
            np.array(_from_stages(s["escalation"]["from_stage"])),
            int(s["escalation"]["after_school_days"]),
            _compile(s["escalation"].get("when"), cols),
        )
        for s in stages
        if "escalation" in s
    ]
    exit_rule = _compile(policy["exit"], cols)

    stage = np.zeros(n_pupils, np.int16)
    since_day = np.zeros(n_pupils, np.int64)
    entry_row = np.full(n_pupils, -1, np.int64)
    out_stage = np.zeros(n, np.int16)
    out_since = np.zeros(n, np.int64)
    out_new = np.zeros(n, dtype=bool)
    events = _Events([], [], [], [], [])
    year = None
    if initial is not None:
        first_day = day[perm][np.searchsorted(pupil[perm], np.arange(n_pupils))]
        start = _Resume.read(
            initial, needed, n_stages, (urn_vals, upn_vals, np.asarray(pupil_keys)), dates_in
        )
        start.check(day_sdi[first_day])
        stage[:] = start.stage
        since_day[:] = n_days + np.arange(n_pupils)
        entry_row[:] = np.where(start.stage > 0, n + start.entry, -1)
        # The entry days live after the frame's own rows and days: an entry row index >= n
        # and a since_day index >= n_days point at them, so conditions, reasons and the
        # output read them as they would read a day of the frame.
        for name, extra in start.measures.items():
            cols.arrays[name] = np.concatenate([cols.arrays[name], extra])
        row_dates = np.concatenate([row_dates, start.entry_dates])
        day_sdi = np.concatenate([day_sdi, start.since_sdi])
        day_dates = np.concatenate([day_dates, start.since_dates])
        year = day_year[0]  # the states are of the first day's year: no reset on it

    for d in range(n_days):
        if day_year[d] != year:  # new academic year: everyone back to stage 0, no event
            year = day_year[d]
            stage[:] = 0
            since_day[:] = d
            entry_row[:] = -1
        r0, r1 = int(bounds[d]), int(bounds[d + 1])
        rows = slice(r0, r1)
        pos = pos_all[rows]
        cur = stage[pos]
        ent = entry_row[pos]
        days_at = day_sdi[d] - day_sdi[since_day[pos]]

        leave = (cur > 0) & exit_rule(rows, ent)
        target = np.zeros(r1 - r0, np.int16)
        for number, rule in thresholds:
            target[rule(rows, ent)] = number
        for number, froms, after, rule in escalations:
            ready = np.isin(cur, froms) & (days_at >= after)
            if ready.any():
                sel = ready & rule(rows, ent)
                target[sel] = np.maximum(target[sel], number)
        up = ~leave & (target > cur)
        moved = np.flatnonzero(leave | up)
        if len(moved):
            new = np.where(leave[moved], 0, target[moved]).astype(np.int16)
            events.add(r0 + moved, cur[moved], new, ent[moved], days_at[moved])
            who = pos[moved]
            stage[who] = new
            since_day[who] = d
            entry_row[who] = np.where(new > 0, r0 + moved, -1)
        out_stage[rows] = stage[pos]
        out_since[rows] = since_day[pos]
        out_new[rows] = up

    # Back to (urn, upn, date) order for the caller. Text columns are built from codes into
    # small tables: at 7.6M rows gathering Python strings would dominate the run time.
    if in_order:
        back = perm
    else:
        inverse = np.empty(n, np.int64)
        inverse[order] = np.arange(n)
        back = inverse[perm]
    st = out_stage[back].astype(np.int64)
    since = out_since[back]
    due = np.where(out_new[back], st + 1, 0)
    # copy=False: every column is a new array of this call's own, so the frame can hold them
    # as they are (a copy stacked the int64 and the date columns into blocks: about 0.1 s
    # per million rows, on a full build's single-threaded path)
    stage_daily = pd.DataFrame(
        {
            "urn": _text_codes(urn_vals, urn_code[perm]),
            "upn": _text_codes(upn_vals, upn_code[perm]),
            "calendar_date": dates_in[perm],
            "stage": st,
            "stage_name": _text_codes(names, st),
            "stage_since": day_dates[since],
            "school_days_at_stage": day_sdi[day[perm]] - day_sdi[since],
            "action_due": _text_codes(np.concatenate([[""], actions]), due),
        },
        copy=False,
    )
    return stage_daily, _event_frame(
        events, policy, cols, daily, order, row_dates, names, actions, n_stages
    )


def _measure_values(name: str, column: pd.Series) -> np.ndarray:
    """A measure column as the engine compares it: flags as bools, percentages as floats,
    counts as integers."""
    kind = MEASURES[name].kind if name in MEASURES else "count"
    if kind == "flag":
        return column.eq(True).to_numpy(dtype=bool)  # a missing flag counts as not set
    if kind == "pct":
        return column.to_numpy(dtype=np.float64)
    return column.to_numpy(dtype=np.int64)


@dataclass
class _Resume:
    """The `initial` frame of `compute_stages`, one entry per pupil of the frame, in pupil
    number order: each pupil's stage, the day it was entered (index and date, which the day
    loop appends after the frame's days) and, for pupils above stage 0, the entry day's
    measures (appended after the frame's rows; `entry` numbers those pupils 0, 1, ...)."""

    stage: np.ndarray
    since_sdi: np.ndarray
    since_dates: np.ndarray
    entry: np.ndarray
    entry_dates: np.ndarray
    measures: dict[str, np.ndarray]

    @classmethod
    def read(
        cls,
        initial: pd.DataFrame,
        needed: list[str],
        n_stages: int,
        pupils: tuple[np.ndarray, np.ndarray, np.ndarray],
        dates_in: np.ndarray,
    ) -> _Resume:
        urn_vals, upn_vals, pupil_keys = pupils
        missing = sorted(set(INITIAL_COLUMNS) - set(initial.columns))
        if missing:
            raise ValueError(f"initial frame is missing columns: {missing}")
        urn_i = pd.Index(urn_vals).get_indexer(initial["urn"].astype(str))
        upn_i = pd.Index(upn_vals).get_indexer(initial["upn"].astype(str))
        key = np.where((urn_i >= 0) & (upn_i >= 0), urn_i * len(upn_vals) + upn_i, -1)
        pupil = pd.Index(pupil_keys).get_indexer(key)
        keep = np.flatnonzero(pupil >= 0)  # a state for a pupil not in the frame is unused
        pupil = pupil[keep]
        if len(pupil) != len(pupil_keys) or len(np.unique(pupil)) != len(pupil):
            raise ValueError("initial frame needs exactly one row per pupil of the daily frame")
        rows = initial.iloc[keep[np.argsort(pupil)]]
        stage = rows["stage"].to_numpy(dtype=np.int64)
        if ((stage < 0) | (stage > n_stages)).any():
            raise ValueError(f"initial stage outside 0..{n_stages}")
        since_dates = _dates_like(rows["stage_since"], dates_in)
        staged = stage > 0
        measures: dict[str, np.ndarray] = {}  # none when no pupil is above stage 0
        if staged.any():
            absent = sorted(set(needed) - set(rows.columns))
            if absent:
                raise ValueError(f"initial frame is missing the entry-day measures {absent}")
            at_entry = rows[staged]
            for name in needed:
                counted = name not in MEASURES or MEASURES[name].kind == "count"
                if counted and at_entry[name].isna().any():
                    raise ValueError(f"initial frame has no entry-day {name} for a pupil above 0")
                measures[name] = _measure_values(name, at_entry[name])
        return cls(
            stage=stage.astype(np.int16),
            since_sdi=rows["stage_since_school_day_index"].to_numpy(dtype=np.int64),
            since_dates=since_dates,
            entry=np.cumsum(staged) - 1,
            entry_dates=since_dates[staged],
            measures=measures,
        )

    def check(self, first_sdi: np.ndarray) -> None:
        """A stage is entered before the pupil's first resumed day (stage 0 may date from
        that day: the year's first school day of a pupil with no earlier day)."""
        late = self.since_sdi > first_sdi
        late |= (self.stage > 0) & (self.since_sdi == first_sdi)
        if late.any():
            raise ValueError("initial stage_since must be before the pupil's first day in daily")


def _dates_like(column: pd.Series, dates_in: np.ndarray) -> np.ndarray:
    """Dates of the initial frame in the type of the frame's calendar_date, so that resumed
    output columns hold one type whatever the source."""
    if dates_in.dtype.kind == "M":
        return pd.to_datetime(column).to_numpy().astype(dates_in.dtype)
    values = column.to_numpy(dtype=object)
    sample = dates_in[0] if len(dates_in) else None
    if isinstance(sample, date) and not isinstance(sample, datetime):
        return np.array([pd.Timestamp(v).date() for v in values], dtype=object)
    return values


def _factorize_text(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Sorted codes of an identifier column, read as text whatever dtype it arrived in.
    A categorical's codes sort by its categories' order, so those are put in text order
    first (a categorical made from Arrow has them in order of appearance)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        column = column.cat.set_categories(sorted(column.cat.categories))
    elif not pd.api.types.is_string_dtype(column):
        column = column.astype(str)
    codes, uniques = pd.factorize(column, sort=True)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


def _text_codes(table: np.ndarray, codes: np.ndarray) -> pd.Categorical:
    """A text column as a categorical of a small table of values and one code per row.

    At 7.6M rows, materialising one Python or Arrow string per row would cost more than the
    whole stage computation; a categorical compares, groups and writes to CSV as the text.
    """
    categories = pd.Index(list(dict.fromkeys(table)), dtype="str")
    remap = categories.get_indexer(pd.Index(list(table), dtype="str"))
    return pd.Categorical.from_codes(remap[codes], categories=categories)


def _is_identity(order: np.ndarray) -> bool:
    return bool((order == np.arange(len(order))).all())


def _event_frame(
    events: _Events,
    policy: dict[str, Any],
    cols: _Columns,
    daily: pd.DataFrame,
    order: np.ndarray,
    row_dates: np.ndarray,
    names: np.ndarray,
    actions: np.ndarray,
    n_stages: int,
) -> pd.DataFrame:
    """Word every move once, grouped by the rule that caused it (few rows, plain Python)."""
    row, before, after, ent, days_at = events.stacked()
    if len(row) == 0:
        return pd.DataFrame(columns=EVENT_COLUMNS)
    reasons = np.empty(len(row), dtype=object)
    is_exit = after == 0
    if is_exit.any():
        idx = np.flatnonzero(is_exit)
        texts = _describe(policy["exit"], cols, row[idx], ent[idx], row_dates)
        reasons[idx] = [_sentence(t) + EXIT_REASON_SUFFIX for t in texts]
    for spec in policy["stages"]:
        idx = np.flatnonzero(after == spec["stage"])
        if not len(idx):
            continue
        if "entry" in spec:
            texts = _describe(spec["entry"], cols, row[idx], ent[idx], row_dates)
            reasons[idx] = [_sentence(f"{t} (Stage {spec['stage']} trigger)") for t in texts]
            continue
        when = spec["escalation"].get("when")
        texts = _describe(when, cols, row[idx], ent[idx], row_dates)
        reasons[idx] = [
            _sentence(f"{k} school day{'' if k == 1 else 's'} at Stage {f} ({names[f]}) and {t}")
            for k, f, t in zip(days_at[idx], before[idx], texts, strict=True)
        ]
    exit_action = str(policy.get("exit_action") or DEFAULT_EXIT_ACTION)
    frame = pd.DataFrame(
        {
            "urn": daily["urn"].iloc[order[row]].to_numpy(),
            "upn": daily["upn"].iloc[order[row]].to_numpy(),
            "event_date": row_dates[row],
            "from_stage": before.astype(np.int64),
            "to_stage": after.astype(np.int64),
            "stage_name": names[after],
            "action": np.where(is_exit, exit_action, actions[after]),
            "kind": np.where(is_exit, "exit", "entry"),
            "reason": reasons,
        }
    )
    assert frame["to_stage"].between(0, n_stages).all()
    return frame.sort_values(["event_date", "urn", "upn"], kind="stable").reset_index(drop=True)
