"""Per-record checks of SPEC 4. Every record ends loaded, rejected or missing, with a reason.

Rejections are errors (the record is not loaded); warnings keep the record and report it.
Checks are vectorised over the delivery, and the first failing check is the reason given,
ordered so that the reason a person sees is the one to fix first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

from attendance.calendar import SchoolCalendar
from attendance.codes import code_sets, valid_code_mask
from attendance.config import Academy
from attendance.upn import upn_problems
from ingestion.formats.table import (
    clock_minutes,
    first_error,
    map_unique,
    map_unique_together,
    per_session,
    register_clock,
    spread,
)

MISSING_CODES = {"", "-"}  # the register was due and no mark was entered
PRESENT_CODES = {"/", "\\"}


class _DateChecks:
    """The calendar checks of SPEC 4 for each distinct date of the records, mapped back to rows.

    Exports repeat one to five dates thousands of times, so the checks run once per distinct
    date and calendar (a Python call each) and the per-record masks are array lookups: a
    table of calendars by dates, indexed by each record's calendar (`place`) and date. The
    one check tied to a delivery (after its extraction day) compares day numbers with each
    record's own delivery's extraction day, so records of many deliveries are checked
    together."""

    def __init__(
        self,
        dates: pd.Series,
        calendars: list[SchoolCalendar],
        place: np.ndarray,
        extract_days: np.ndarray,
    ) -> None:
        self.codes, uniques = pd.factorize(dates, use_na_sentinel=True)
        self.place = place
        days = [d if isinstance(d, date) else None for d in uniques.tolist()]

        def table(test) -> np.ndarray:  # test(calendar's position, date)
            return np.array(
                [
                    [d is not None and bool(test(i, d)) for d in days] + [False]
                    for i in range(len(calendars))
                ]
            )

        register_days = [set(c.register_days) for c in calendars]
        closures = [c.closures for c in calendars]
        self.weekend = table(lambda i, d: d.weekday() >= 5)
        self.in_term = table(lambda i, d: calendars[i].in_term(d))
        self.on_register = table(lambda i, d: d in register_days[i])
        self.on_closure = table(lambda i, d: d in closures[i])
        self.has_date = np.array([d is not None for d in days] + [False])
        ordinals = np.array([d.toordinal() if d is not None else 0 for d in days] + [0])
        self.after_extract = self.has_date[self.codes] & (ordinals[self.codes] > extract_days)

    def mask(self, per_date: np.ndarray) -> np.ndarray:
        """A per-record mask from a per-calendar-and-date one; records without a date are never
        flagged."""
        return (per_date & self.has_date)[self.place, self.codes]


def _upn_reasons(upns: pd.Series) -> pd.Series:
    return map_unique_together(upns, upn_problems)


def _register_minutes(
    academies: list[Academy], place: np.ndarray, session: pd.Series, time: str
) -> pd.Series:
    """Each record's session `time` (late, close) at its own academy (`place`)."""
    clocks = np.array([register_clock(a.registers, time) for a in academies], dtype=float)
    return per_session(session, clocks[place, 0], clocks[place, 1])


def _expected_from_arrival(
    frame: pd.DataFrame, academies: list[Academy], place: np.ndarray
) -> pd.Series:
    """The mark an arrival time implies: present before the late time, L until the register
    closes, U after, by the register times of the record's academy (SPEC 4, seeds 001 and
    004)."""
    expected = pd.Series(None, index=frame.index, dtype=object)
    if frame["arrival_time"].isna().all():
        return expected  # no arrival times: nothing to compare (the usual delivery)

    late = _register_minutes(academies, place, frame["session"], "late").to_numpy(float)
    close = _register_minutes(academies, place, frame["session"], "close").to_numpy(float)
    arrival = map_unique(
        frame["arrival_time"], lambda v: clock_minutes(v) if isinstance(v, str) else None
    ).to_numpy(float)
    with np.errstate(invalid="ignore"):  # a missing time (NaN) implies nothing
        implied = np.select(
            [arrival < late, (arrival >= late) & (arrival < close), arrival >= close],
            np.array(["present", "L", "U"], dtype=object),
            default=None,
        )
    return pd.Series(implied, index=frame.index, dtype=object)


def _unknown_code_reason(code: str) -> str:
    if code in _all_dfe_codes():
        return (
            f"code {code!r} is not in the DfE code set in force on the date "
            "(the code set changed on 19 August 2024)"
        )
    return (
        f"code {code!r} is not a DfE code (a local MIS code needs a code_map entry for this "
        "academy in trust.yml)"
    )


def _all_dfe_codes() -> frozenset[str]:
    return frozenset(c for _, _, codes in code_sets() for c in codes)


@dataclass
class Delivered:
    """One delivery's parsed records, when it was extracted, the roll it is checked against
    (the latest snapshot extracted by then, or None), and its academy and calendar."""

    frame: pd.DataFrame
    extracted_at: datetime
    roll: pd.DataFrame | None
    academy: Academy
    calendar: SchoolCalendar


def check_many(deliveries: list[Delivered]) -> CheckedBatch:
    """Check the parsed records of several deliveries at once, of one academy or many: the
    same result as checking each alone (every rule is per record, or per record and delivery,
    and reads the record's own academy's calendar and register times), with the cost of
    pandas paid once per batch instead of once per delivery. A full rebuild has thousands of
    deliveries of about two thousand records, and a daily run one or two for each of the
    trust's academies: either way that per-call cost was most of the time."""
    sizes = [len(d.frame) for d in deliveries]
    if len(deliveries) == 1:
        frame = deliveries[0].frame.reset_index(drop=True)
    else:
        frame = pd.concat([d.frame for d in deliveries], ignore_index=True)
    part = np.repeat(np.arange(len(deliveries)), sizes)
    frame["_part"] = part
    extract_days = np.array([d.extracted_at.date().toordinal() for d in deliveries])[part]
    # Each record's academy, as a position in the batch's academies (most batches have one).
    academies: list[Academy] = []
    calendars: list[SchoolCalendar] = []
    seen: dict[str, int] = {}
    for d in deliveries:
        if d.academy.urn not in seen:
            seen[d.academy.urn] = len(academies)
            academies.append(d.academy)
            calendars.append(d.calendar)
    place = np.array([seen[d.academy.urn] for d in deliveries], dtype=np.int64)[part]
    error = frame["error"].copy()
    dates = frame["mark_date"]
    has_date = dates.notna()

    missing = frame["code"].isin(MISSING_CODES) & error.isna()
    error = error.where(error.notna(), _upn_reasons(frame["upn"]))

    # A delivery covers a handful of dates: decide every date check once per distinct date.
    day = _DateChecks(dates, calendars, place, extract_days)
    error = first_error(error, day.mask(day.weekend), "the date is a weekend")
    error = first_error(error, day.mask(~day.in_term), "the date is outside the academy's terms")
    error = first_error(
        error, day.mask(~day.on_register), "the date is a holiday in the academy's calendar"
    )
    if day.after_extract.any():  # the message, with its delivery's day, only where needed
        texts = [
            f"the date is after the delivery was extracted ({d.extracted_at.date().isoformat()})"
            for d in deliveries
        ]
        after = spread(texts, part)
        error = first_error(error, day.after_extract, after)
    known = valid_code_mask(frame["code"], dates.where(has_date, date(1900, 1, 1)))
    unknown = ~known & ~missing
    todo = unknown & error.isna()
    if todo.any():  # the message is built per distinct failing code, not per record
        code_reason = frame.loc[todo, "code"]
        reasons = {c: _unknown_code_reason(c) for c in pd.unique(code_reason)}
        error = error.where(~todo, code_reason.map(reasons))

    # The same key twice with different codes: neither can be believed.
    key = ["_part", "upn", "mark_date", "session"]  # within one delivery
    keys = _key_numbers(frame, key)
    candidates = error.isna() & ~missing
    chosen = candidates.to_numpy()
    repeated = pd.Series(keys[chosen]).duplicated(keep=False).to_numpy()
    sub = frame.loc[frame.index[chosen][repeated], [*key, "code"]]  # only these can conflict
    conflict = pd.Series(False, index=frame.index)
    if len(sub):
        distinct = sub.groupby(key, dropna=False)["code"].transform("nunique")
        conflict[sub.index[distinct > 1]] = True
    error = first_error(
        error, conflict, "the same pupil, date and session appears with different codes"
    )
    duplicate = candidates & ~conflict & pd.Series(keys, index=frame.index).duplicated()

    rejected = error.notna()
    status = pd.Series("loaded", index=frame.index, dtype=object)
    status[missing & ~rejected] = "missing"
    status[rejected] = "rejected"
    severity = pd.Series("warning", index=frame.index, dtype=object)
    severity[rejected] = "error"
    reason = error.copy()
    reason[missing & ~rejected] = "no mark was entered for a register that was due"
    reason[duplicate & reason.isna()] = "the same mark appears twice in the delivery (kept once)"

    loaded_mask = (status == "loaded") & ~duplicate
    warn = pd.Series(None, index=frame.index, dtype=object)
    warn = first_error(
        warn,
        loaded_mask & day.mask(day.on_closure) & (frame["code"] != "#"),
        "a planned closure day (only '#' is expected) has another mark",
    )
    on_roll, no_roll = _roll_masks(frame, part, deliveries)
    warn = first_error(
        warn, loaded_mask & ~on_roll & ~no_roll, "the pupil is not on the academy's roll"
    )
    warn = first_error(warn, loaded_mask & no_roll, "no pupil roll has been received yet")
    expected = _expected_from_arrival(frame, academies, place)
    code = frame["code"]
    contradiction = (
        loaded_mask
        & expected.notna()
        & (
            (code.isin(PRESENT_CODES) & (expected != "present"))
            | ((code == "L") & (expected != "L"))
            | ((code == "U") & (expected != "U"))
        )
    )
    if contradiction.any():  # messages only for the records that have one
        at = contradiction[contradiction].index
        arrival_reason = (
            "mark "
            + code[at].astype(str)
            + " contradicts arrival at "
            + frame.loc[at, "arrival_time"].astype(str)
            + " (the register times give "
            + expected[at].astype(str)
            + ")"
        )
        warn = warn.where(warn.notna() | ~contradiction, arrival_reason)
    reason = reason.where(reason.notna(), warn)

    noted = reason.notna()
    issues = frame.loc[
        noted, ["source_file", "source_row", "upn", "mark_date", "session", "code", "_part"]
    ].copy()
    issues["severity"] = severity[noted]
    issues["status"] = status[noted]
    issues["reason"] = reason[noted]
    loaded = frame.loc[loaded_mask].drop(columns=["error"])
    final = status.to_numpy(copy=True)
    final[(duplicate & (status == "loaded")).to_numpy()] = "duplicate"
    return CheckedBatch(frame, loaded, issues, final, len(deliveries))


@dataclass
class CheckedBatch:
    """`check_many`'s result for all its deliveries at once. Each frame has the batch column
    `_part` (the delivery's position); a delivery's rows are contiguous and in order, so
    `cuts` gives each one's slice."""

    frame: pd.DataFrame  # every parsed record
    loaded: pd.DataFrame
    issues: pd.DataFrame
    status: np.ndarray  # per parsed record: loaded | rejected | missing | duplicate
    deliveries: int

    def cuts(self, table: pd.DataFrame) -> np.ndarray:
        """Row offsets where each delivery starts in `table`, and its end."""
        return np.searchsorted(table["_part"].to_numpy(), np.arange(self.deliveries + 1))


def _key_numbers(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Each record's values of `columns` as one int64, equal where the values are (missing
    values equal each other, as in `DataFrame.duplicated`): one hash of integers to find
    repeated keys, instead of one over the columns for each question asked of them."""
    numbers = np.zeros(len(frame), dtype=np.int64)
    size = 1
    for column in columns:
        codes, uniques = pd.factorize(frame[column])  # -1 for missing
        if size * (len(uniques) + 1) >= 2**62:  # renumbered densely: below the record count
            numbers, distinct = pd.factorize(numbers)
            size = len(distinct)
        numbers = numbers * (len(uniques) + 1) + (codes + 1)
        size *= len(uniques) + 1
    return numbers


def _roll_masks(
    frame: pd.DataFrame, part: np.ndarray, deliveries: list[Delivered]
) -> tuple[np.ndarray, np.ndarray]:
    """(on the roll of its own delivery, its delivery has no roll yet) for every record.
    Deliveries sharing a snapshot (the usual case: a roll every few days) are joined at once,
    and the batch's UPNs and dates are made into numbers once for all the snapshots: a batch
    of fifty deliveries meets a dozen or more (3.6% of ingestion's samples went to doing it
    per snapshot)."""
    on_roll = np.zeros(len(frame), dtype=bool)
    no_roll = np.zeros(len(frame), dtype=bool)
    groups: dict[int, list[int]] = {}
    for i, d in enumerate(deliveries):
        groups.setdefault(id(d.roll) if d.roll is not None and not d.roll.empty else 0, []).append(
            i
        )
    if set(groups) != {0}:
        # Each distinct UPN (a missing one too, as the join would see it) and each day once.
        upn_codes, upn_values = pd.factorize(frame["upn"], use_na_sentinel=False)
        days = _ordinals(frame["mark_date"])
    for key, members in groups.items():
        rows = np.isin(part, members)
        if key == 0:
            no_roll |= rows
            continue
        roll = deliveries[members[0]].roll
        # A stored roll holds each UPN once (parse_rolls rejects a UPN given twice, and keeps
        # a row repeated whole once): pandas refuses the lookup loudly if one ever did not.
        where = pd.Index(roll["upn"]).get_indexer(upn_values)[upn_codes[rows]]
        on_roll[rows] = _within(where, days[rows], roll)
    return on_roll, no_roll


def _ordinals(values: pd.Series) -> np.ndarray:
    """Dates (date objects, None or NaT) as day numbers in float64, NaN where missing; compared
    as numbers instead of one Python comparison per record."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    numbers = np.array(
        [float(d.toordinal()) if isinstance(d, date) else np.nan for d in uniques.tolist()]
        + [np.nan]
    )
    return numbers[codes]  # the sentinel -1 picks the trailing NaN


def _within(where: np.ndarray, day: np.ndarray, roll: pd.DataFrame) -> np.ndarray:
    """On the roll on the mark's date: the record's row in the roll (`where`, -1 for none),
    entered by then and not left before it."""
    found = where >= 0
    entry = np.append(_ordinals(roll["entry_date"]), np.nan)[where]
    leave = np.append(_ordinals(roll["leaving_date"]), np.nan)[where]
    with np.errstate(invalid="ignore"):
        return found & ~np.isnan(entry) & (day >= entry) & (np.isnan(leave) | (day <= leave))
