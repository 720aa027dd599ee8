"""The two peers the platform is compared with, on the same data and the same run date:

- `pandas`: what a trust analyst writes by hand. Read every landing file of every academy with
  pandas, keep the latest extraction of each mark (supersession), and compute per pupil the
  year-to-date possible, attended, authorised, unauthorised and absence sessions and the
  unauthorised sessions in the rolling 10 school weeks. No validation, no history, no exports.
- `duckdb`: a lower bound for the marts. One SQL pass over the canonical parquet the platform's
  ingestion wrote (warehouse/marks) computing the same measures.

Both write their per-pupil measures to a parquet file, so `bench.run` can check that they agree
with the platform's mart_pupil_status. Run one: `python -m bench.peers pandas --home H --date D
--out result.json`.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from attendance.calendar import academic_year_start
from attendance.home import REPO_ROOT

SEEDS = REPO_ROOT / "dbt_project" / "seeds"
MEASURES = [
    "possible",
    "attended",
    "authorised",
    "unauthorised",
    "absence",
    "rolling_unauthorised",
]
ROLLING_WEEKS = 10
STAMP = re.compile(r"_(\d{8}T\d{6})")


def code_table() -> pd.DataFrame:
    """The DfE codes with their category flags (the project's seed: both peers read it)."""
    codes = pd.read_csv(SEEDS / "dfe_codes.csv", dtype=str, keep_default_na=False)
    cats = pd.read_csv(SEEDS / "dfe_code_categories.csv", dtype=str)
    table = codes.merge(cats, on="category")
    for col in ["is_possible", "is_attended", "is_absence", "is_authorised", "is_unauthorised"]:
        table[col] = (table[col] == "Y").astype("int64")
    table["valid_from"] = pd.to_datetime(table["valid_from"])
    table["valid_to"] = pd.to_datetime(table["valid_to"])
    return table


# --- the pandas peer ------------------------------------------------------------------------


def _read_csv(path: Path, **kwargs) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", **kwargs)
    except UnicodeDecodeError:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="cp1252", **kwargs)


def _long(path: Path) -> pd.DataFrame:
    df = _read_csv(path, usecols=["UPN", "Date", "Session", "Mark"])
    return pd.DataFrame(
        {
            "upn": df["UPN"],
            "mark_date": pd.to_datetime(df["Date"], format="%d/%m/%Y"),
            "session": df["Session"],
            "code": df["Mark"],
        }
    )


def _arbor(path: Path) -> pd.DataFrame:
    df = _read_csv(path, usecols=["UPN", "Attendance Date", "Session", "Mark"])
    return pd.DataFrame(
        {
            "upn": df["UPN"],
            "mark_date": pd.to_datetime(df["Attendance Date"], format="%Y-%m-%d"),
            "session": df["Session"].map({"Morning": "AM", "Afternoon": "PM"}),
            "code": df["Mark"],
        }
    )


def _weekly(path: Path) -> pd.DataFrame:
    df = _read_csv(path, skiprows=1)
    cells = [c for c in df.columns if c[:3] in {"Mon", "Tue", "Wed", "Thu", "Fri"}]
    long = df.melt(id_vars=["UPN", "Week Beginning"], value_vars=cells, value_name="code")
    long = long[long["code"] != ""]
    day = long["variable"].str[:3].map({"Mon": 0, "Tue": 1, "Wed": 2, "Thu": 3, "Fri": 4})
    monday = pd.to_datetime(long["Week Beginning"], format="%d/%m/%Y")
    return pd.DataFrame(
        {
            "upn": long["UPN"],
            "mark_date": monday + pd.to_timedelta(day, unit="D"),
            "session": long["variable"].str[4:],
            "code": long["code"],
        }
    )


def _api(path: Path) -> pd.DataFrame:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    df = pd.json_normalize(data)
    if df.empty:
        return pd.DataFrame(columns=["upn", "mark_date", "session", "code"])
    return pd.DataFrame(
        {
            "upn": df["student.upn"],
            "mark_date": pd.to_datetime(df["date.date"].str[:10], format="%Y-%m-%d"),
            "session": df["session"],
            "code": df["attendance_code.code"],
        }
    )


def _reader(path: Path):
    if path.name.startswith("registers_"):
        return _long
    if path.name.startswith("weekly_"):
        return _weekly
    if path.name.startswith("attendance_"):
        return _api if path.suffix == ".json" else _arbor
    return None  # pupil rolls and anything else


def pandas_peer(home: Path, run_date: date) -> pd.DataFrame:
    cutoff = run_date.strftime("%Y%m%d") + "T235959"
    frames = []
    for folder in sorted((home / "landing").iterdir()):
        for path in sorted(folder.iterdir()):
            reader = _reader(path)
            found = STAMP.search(path.name)
            if reader is None or found is None or found.group(1) > cutoff:
                continue
            df = reader(path)
            df["urn"] = folder.name
            df["extracted"] = found.group(1)
            df["file"] = path.name
            frames.append(df)
    marks = pd.concat(frames, ignore_index=True)
    year_start = pd.Timestamp(academic_year_start(run_date))
    marks = marks[(marks["mark_date"] >= year_start) & (marks["mark_date"] <= str(run_date))]
    # supersession: the latest extraction wins, ties to the later file name
    marks = marks.sort_values(["extracted", "file"]).drop_duplicates(
        ["urn", "upn", "mark_date", "session"], keep="last"
    )
    codes = code_table()
    codes = codes[(codes["valid_from"] <= str(run_date)) & (codes["valid_to"] >= str(run_date))]
    marks = marks.merge(codes, left_on="code", right_on="code", how="inner")
    ytd = marks.groupby(["urn", "upn"])[
        ["is_possible", "is_attended", "is_authorised", "is_unauthorised", "is_absence"]
    ].sum()
    ytd.columns = ["possible", "attended", "authorised", "unauthorised", "absence"]
    # rolling window: the 10 most recent weeks in which the academy had school, up to D's week
    marks["week"] = marks["mark_date"] - pd.to_timedelta(marks["mark_date"].dt.dayofweek, unit="D")
    weeks = marks[["urn", "week"]].drop_duplicates()
    weeks = weeks[weeks["week"] <= str(run_date - timedelta(days=run_date.weekday()))]
    window = weeks.sort_values("week").groupby("urn").tail(ROLLING_WEEKS)
    recent = marks.merge(window, on=["urn", "week"])
    rolling = recent.groupby(["urn", "upn"])["is_unauthorised"].sum().rename("rolling_unauthorised")
    out = ytd.join(rolling).fillna({"rolling_unauthorised": 0}).reset_index()
    return out[["urn", "upn", *MEASURES]].astype({m: "int64" for m in MEASURES})


# --- the bare DuckDB lower bound ------------------------------------------------------------

DUCKDB_SQL = """
with marks as (
    select urn, upn, mark_date, session, code,
           row_number() over (partition by urn, upn, mark_date, session
                              order by extracted_at desc, source_file desc, source_row desc) as rk
    from read_parquet($marks, union_by_name = true)
    where cast(extracted_at as date) <= $d and mark_date <= $d and mark_date >= $y
),
codes as (
    select c.code, c.valid_from, c.valid_to,
           (k.is_possible = 'Y')::int as p, (k.is_attended = 'Y')::int as att,
           (k.is_authorised = 'Y')::int as au, (k.is_unauthorised = 'Y')::int as un,
           (k.is_absence = 'Y')::int as ab
    from read_csv($codes, all_varchar = true) as c
    join read_csv($cats, all_varchar = true) as k using (category)
),
cal as (
    select urn, cast(calendar_date as date) as calendar_date, school_week_index
    from read_parquet($calendar)
),
current as (
    select m.urn, m.upn, c.p, c.att, c.au, c.un, c.ab, cal.school_week_index as wk
    from marks as m
    join codes as c
      on c.code = m.code and m.mark_date between cast(c.valid_from as date)
                                              and cast(c.valid_to as date)
    left join cal on cal.urn = m.urn and cal.calendar_date = m.mark_date
    where m.rk = 1
),
now as (
    select urn, max(school_week_index) as wk
    from read_parquet($calendar)
    where is_school_day and cast(calendar_date as date) <= $d
    group by urn
)
select cur.urn, cur.upn,
       sum(p)::bigint as possible, sum(att)::bigint as attended, sum(au)::bigint as authorised,
       sum(un)::bigint as unauthorised, sum(ab)::bigint as absence,
       sum(case when cur.wk > now.wk - $weeks then un else 0 end)::bigint as rolling_unauthorised
from current as cur
join now using (urn)
group by cur.urn, cur.upn
"""


def duckdb_peer(home: Path, run_date: date, out: Path) -> None:
    """One pass over the canonical parquet, written straight to parquet by DuckDB."""
    with duckdb.connect() as con:
        con.execute(
            f"copy ({DUCKDB_SQL}) to '{out}' (format parquet)",
            {
                "marks": str(home / "warehouse" / "marks" / "*" / "*.parquet"),
                "calendar": str(home / "warehouse" / "calendar.parquet"),
                "codes": str(SEEDS / "dfe_codes.csv"),
                "cats": str(SEEDS / "dfe_code_categories.csv"),
                "d": run_date,
                "y": academic_year_start(run_date),
                "weeks": ROLLING_WEEKS,
            },
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peers")
    parser.add_argument("peer", choices=["pandas", "duckdb"])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--date", type=date.fromisoformat, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    measures = args.out.with_suffix(".parquet")
    t0 = time.perf_counter()
    if args.peer == "pandas":
        pandas_peer(args.home, args.date).to_parquet(measures, index=False)
    else:
        duckdb_peer(args.home, args.date, measures)
    seconds = time.perf_counter() - t0
    args.out.write_text(json.dumps({"seconds": seconds, "measures": str(measures)}, indent=2))


if __name__ == "__main__":
    main()
