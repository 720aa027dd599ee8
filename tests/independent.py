"""An independent calculation of the year-to-date measures from ground-truth marks.

Written from codes.md directly, sharing no code with the platform (not the seed, not the
models), so agreement between the two means something.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

PRESENT = {"/", "\\", "L"}
AEA_2024 = {"K", "V", "P", "W", "B"}
AEA_OLD = {"B", "J", "P", "V", "W"}
AUTH_2024 = {"C1", "M", "J1", "S", "C2", "C", "T", "R", "I", "E"}
AUTH_OLD = {"C", "E", "H", "F", "I", "M", "R", "S", "T"}
UNAUTH = {"G", "N", "O", "U"}
NEW_SET_FROM = date(2024, 8, 19)


def category(code: str, on: date) -> str:
    new = on >= NEW_SET_FROM
    if code in PRESENT or code in (AEA_2024 if new else AEA_OLD):
        return "attended"
    if code in (AUTH_2024 if new else AUTH_OLD):
        return "authorised"
    if code in UNAUTH:
        return "unauthorised"
    return "not_possible"


def marks_as_of(truth: pd.DataFrame, run_date: date) -> pd.DataFrame:
    """The winning mark per key among versions extracted on or before the run date."""
    t = truth.copy()
    t["mark_date"] = pd.to_datetime(t["mark_date"]).dt.date
    t["extracted_at"] = pd.to_datetime(t["extracted_at"])
    t = t[(t["extracted_at"].dt.date <= run_date) & (t["mark_date"] <= run_date)]
    t = t.sort_values("extracted_at").drop_duplicates(
        ["urn", "upn", "mark_date", "session"], keep="last"
    )
    return t


def year_to_date(truth: pd.DataFrame, run_date: date) -> pd.DataFrame:
    start = date(run_date.year if run_date.month >= 9 else run_date.year - 1, 9, 1)
    t = marks_as_of(truth, run_date)
    t = t[t["mark_date"] >= start].copy()
    t["cat"] = [category(c, d) for c, d in zip(t["code"], t["mark_date"], strict=True)]
    counts = pd.crosstab([t["urn"], t["upn"]], t["cat"])
    for col in ("attended", "authorised", "unauthorised", "not_possible"):
        if col not in counts:
            counts[col] = 0
    counts["possible"] = counts["attended"] + counts["authorised"] + counts["unauthorised"]
    counts["absence"] = counts["authorised"] + counts["unauthorised"]
    return counts.reset_index()


# --- Calendars, rolling windows, runs, lates: read from the home's YAML files directly -------

ROLLING_WEEKS = 10
PENALTY_SESSIONS = 10
CME_DAYS = 10
UNEXPLAINED = {"N", "O"}


def _days(start: date, end: date) -> list[date]:
    return [date.fromordinal(o) for o in range(start.toordinal(), end.toordinal() + 1)]


def school_days(home_root) -> dict[str, list[date]]:
    """Each academy's school days (weekdays in term, not holidays, not planned closures), read
    from config/trust.yml and config/calendars/ without the platform's calendar code."""
    from pathlib import Path

    import yaml

    root = Path(home_root)
    trust = yaml.safe_load((root / "config" / "trust.yml").read_text())
    out: dict[str, list[date]] = {}
    for academy in trust["academies"]:
        cal = yaml.safe_load(
            (root / "config" / "calendars" / f"{academy['calendar']}.yml").read_text()
        )
        holidays = {d for h in cal.get("holidays") or [] for d in _days(h["start"], h["end"])}
        closures = {c["date"] for c in cal.get("closures") or []}
        days = {
            d
            for t in cal["terms"]
            for d in _days(t["start"], t["end"])
            if d.weekday() < 5 and d not in holidays and d not in closures
        }
        out[str(academy["urn"])] = sorted(days)
    return out


def monday(d: date) -> date:
    return date.fromordinal(d.toordinal() - d.weekday())


def rolling_window(days: list[date], run_date: date, weeks: int = ROLLING_WEEKS) -> set[date]:
    """The Mondays of the `weeks` most recent school weeks up to and including D's week."""
    school_weeks = sorted({monday(d) for d in days if monday(d) <= monday(run_date)})
    return set(school_weeks[-weeks:])


def consecutive_unexplained(day_codes: dict[date, list[str]], days: list[date], on: date) -> int:
    """Counting back from D over school days: all possible sessions N/O counts, a day with
    marks but no possible session is skipped, anything else (or no mark) ends the run."""
    run = 0
    for d in reversed([x for x in days if x <= on]):
        codes = day_codes.get(d)
        if not codes:
            break
        cats = [category(c, d) for c in codes]
        possible = [c for c, k in zip(codes, cats, strict=True) if k != "not_possible"]
        if not possible:
            continue
        if all(c in UNEXPLAINED for c in possible):
            run += 1
        else:
            break
    return run


def pupil_measures(truth: pd.DataFrame, home_root, run_date: date) -> pd.DataFrame:
    """Per (urn, upn) as of D: YTD sessions, lates, rolling-window counts, the unexplained run,
    sessions to spare and the flags, all from first principles."""
    calendars = school_days(home_root)
    start = date(run_date.year if run_date.month >= 9 else run_date.year - 1, 9, 1)
    year_end = date(start.year + 1, 8, 31)
    marks = marks_as_of(truth, run_date)
    cats_all = [category(c, d) for c, d in zip(marks["code"], marks["mark_date"], strict=True)]
    marks = marks.assign(cat=cats_all)
    rows = []
    for (urn, upn), m in marks.groupby(["urn", "upn"], sort=True):
        days = calendars[urn]
        ytd = m[(m["mark_date"] >= start) & m["mark_date"].isin(set(days))]
        cats = ytd["cat"].value_counts()
        attended = int(cats.get("attended", 0))
        authorised = int(cats.get("authorised", 0))
        unauthorised = int(cats.get("unauthorised", 0))
        possible = attended + authorised + unauthorised
        absence = authorised + unauthorised
        lates = ytd[ytd["code"].isin(["L", "U"])]
        window = rolling_window(days, run_date)
        win = m[[monday(d) in window for d in m["mark_date"]]]
        win_unauth = win[win["cat"] == "unauthorised"]
        # the run counts back over school days of any year (SPEC 5.2), as far as the marks
        # the platform keeps: from 1 September of the previous academic year
        kept = m[m["mark_date"] >= date(start.year - 1, 9, 1)]
        day_codes = {d: list(g["code"]) for d, g in kept.groupby("mark_date")}
        left = sum(1 for d in days if run_date < d <= year_end)
        run = consecutive_unexplained(
            day_codes, [d for d in days if d >= date(start.year - 1, 9, 1)], run_date
        )
        rolling_unauth = len(win_unauth)
        rows.append(
            {
                "urn": urn,
                "upn": upn,
                "possible": possible,
                "attended": attended,
                "authorised": authorised,
                "unauthorised": unauthorised,
                "absence": absence,
                "late_l": int((lates["code"] == "L").sum()),
                "late_u": int((lates["code"] == "U").sum()),
                "minutes_late": int(lates["minutes_late"].fillna(0).sum()),
                "rolling_absence": int(win["cat"].isin(["authorised", "unauthorised"]).sum()),
                "rolling_unauthorised": rolling_unauth,
                "rolling_unauthorised_n": int((win_unauth["code"] == "N").sum()),
                "penalty": rolling_unauth >= PENALTY_SESSIONS,
                "consecutive_unexplained_days": run,
                "cme": run >= CME_DAYS,
                # exact fractions: absence / possible >= 10% <=> 10 * absence >= possible
                "pa": possible > 0 and 10 * absence >= possible,
                "sa": possible > 0 and 2 * absence >= possible,
                "sessions_to_spare": -(-(possible + 2 * left) // 10) - absence - 1,
            }
        )
    return pd.DataFrame(rows).set_index(["urn", "upn"])


def pct_half_up(numer: int, denom: int) -> float | None:
    """A percentage to 1 dp, halves rounded up, on integers (no float ties)."""
    if denom == 0:
        return None
    tenths, rest = divmod(1000 * numer, denom)
    return (tenths + (1 if 2 * rest >= denom else 0)) / 10


BANDS = [(975, "97.5-100%"), (950, "95-97.4%"), (925, "92.5-94.9%"), (900, "90-92.4%")]


def band(attended: int, possible: int) -> str | None:
    """Seed 002's attendance bands, decided on per-mille integers."""
    if possible == 0:
        return None
    for floor, name in BANDS + [(850, "85-89.9%")]:
        if 1000 * attended >= floor * possible:
            return name
    return "Below 85%"
