"""`attendance`: the operator's command line (SPEC 9). Every command takes `--home`, else
$ATTENDANCE_HOME, else the git-ignored `home/` folder in the checkout."""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from attendance.home import Home


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a YYYY-MM-DD date") from exc


def _say(msg: str) -> None:
    print(msg, flush=True)


def cmd_generate(args: argparse.Namespace) -> int:
    from attendance.generate import generate_trust

    home = Home.resolve(args.home)
    end = args.end
    start = args.start
    if args.demo:
        end = end or _latest_weekday_before(date.today())
    started = time.monotonic()
    _say(f"Generating a synthetic trust in {home.root} ...")
    summary = generate_trust(
        home.root,
        academies=args.academies,
        pupils=args.pupils,
        start=start,
        end=end,
        seed=args.seed,
        progress=lambda m: _say(f"  {m}"),
    )
    _say(f"Generated in {time.monotonic() - started:.0f}s: {json.dumps(summary, default=str)}")
    return 0


def _latest_weekday_before(d: date) -> date:
    d -= timedelta(days=1)
    while d.weekday() >= 5:
        d -= timedelta(days=1)
    return d


def cmd_run(args: argparse.Namespace) -> int:
    from attendance.pipeline import default_run_date, run_day

    home = Home.resolve(args.home)
    os.environ["ATTENDANCE_HOME"] = str(home.root)
    run_date = args.date or default_run_date(home, date.today())
    started = time.monotonic()
    _say(f"Daily run for {run_date} on {home.root}")
    result = run_day(home, run_date, progress=_say)
    _say(f"Done in {time.monotonic() - started:.0f}s.")
    print_summary(home, run_date, result["summary"])
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from attendance.calendar import load_calendars
    from attendance.config import load_trust
    from attendance.pipeline import run_day

    home = Home.resolve(args.home)
    os.environ["ATTENDANCE_HOME"] = str(home.root)
    calendars = load_calendars(home, load_trust(home))
    days = sorted(
        {d for cal in calendars.values() for d in cal.school_days if args.start <= d <= args.end}
    )
    _say(f"Backfilling {len(days)} school days from {args.start} to {args.end}")
    for i, d in enumerate(days, start=1):
        _say(f"[{i}/{len(days)}] {d}")
        # only what an operator must act on: academies the gate held back for that day
        run_day(home, d, progress=lambda m: _say(m) if m.lstrip().startswith("held back") else None)
    return 0


def cmd_setup(args: argparse.Namespace) -> int:
    """Prepare what the DAG needs before Airflow parses it: the dbt manifest (cosmos reads the
    graph from it instead of calling dbt at parse time) and Airflow's metadata database."""
    from attendance.airflow_local import ensure_airflow_db
    from attendance.dbt_manifest import ensure_manifest

    ensure_manifest()
    if not args.skip_airflow:
        ensure_airflow_db()
    return 0


def cmd_airflow_run(args: argparse.Namespace) -> int:
    """Run the `attendance_daily` DAG through Airflow (`airflow dags test`) and summarise."""
    from attendance.airflow_local import airflow_env, ensure_airflow_db
    from attendance.dbt_manifest import ensure_manifest
    from attendance.pipeline import default_run_date

    home = Home.resolve(args.home)
    run_date = args.date or default_run_date(home, date.today())
    ensure_manifest()
    ensure_airflow_db()
    env = airflow_env(home)
    env["ATTENDANCE_TASK_RETRIES"] = "0"
    logical = run_date + timedelta(days=1)
    _say(f"Running the attendance_daily DAG through Airflow for run date {run_date} ...")
    cmd = [
        str(Path(sys.executable).with_name("airflow")),
        "dags",
        "test",
        "attendance_daily",
        f"{logical.isoformat()}T06:00:00+00:00",
        "--conf",
        json.dumps({"run_date": run_date.isoformat()}),
    ]
    log_path = home.root / "logs" / f"airflow_dags_test_{run_date.isoformat()}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log_path.open("w") as log:
        proc = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    text = log_path.read_text(errors="replace")
    if proc.returncode != 0 or "failed" in _final_state(text):
        _say(text[-4000:])
        _say(f"The DAG run failed; the full Airflow log is {log_path}")
        return 1
    _say(f"DAG run succeeded in {time.monotonic() - started:.0f}s (Airflow log: {log_path}).")
    from exports.warehouse import read_mart

    summary = read_mart(home, "select * from mart_academy_summary order by urn").to_dict("records")
    print_summary(home, run_date, summary)
    return 0


def cmd_render_docs(args: argparse.Namespace) -> int:
    """Render a school's priority-list spreadsheet and the trust report of D to PNG."""
    from exports.render import render_docs

    home = Home.resolve(args.home)
    for path in render_docs(home, args.date, Path(args.out), urn=args.urn):
        _say(f"  {path}")
    return 0


def _final_state(text: str) -> str:
    for line in reversed(text.splitlines()):
        if "state=" in line and "DagRun" in line:
            return line
    return ""


def print_summary(home: Home, run_date: date, summary: list[dict]) -> None:
    d = run_date.isoformat()
    _say("")
    _say(f"Attendance as of {d} (year to date)")
    _say(f"  {'URN':<7} {'Academy':<34} {'Pupils':>6} {'Attend%':>8} {'PA':>5} {'SA':>4}")
    for row in summary:
        pct = row.get("attendance_pct_ytd")
        pct_text = "" if pct is None else f"{float(pct):.1f}"
        _say(
            f"  {row['urn']:<7} {str(row['academy_name'])[:34]:<34} {row['pupils_on_roll']:>6} "
            f"{pct_text:>8} {row['pa_count']:>5} {row['sa_count']:>4}"
        )
    out = home.exports
    _say("")
    _say("Outputs:")
    _say(f"  DfE daily share:      {out / 'dfe' / d}")
    _say(f"  LA data shares:       {out / 'la'}/<LA code>/{d}")
    _say(f"  School priority lists:{out / 'schools'}/<URN>/{d}")
    _say(f"  Trust summary:        {out / 'trust' / d}")
    _say(f"  Quarantine:           {home.quarantine}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="attendance", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write a realistic synthetic trust")
    g.add_argument("--home")
    g.add_argument("--academies", type=int, default=4)
    g.add_argument("--pupils", type=int, default=1500)
    g.add_argument("--start", type=_date)
    g.add_argument("--end", type=_date)
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--demo", action="store_true", help="this academic year up to the last weekday")
    g.set_defaults(func=cmd_generate)

    r = sub.add_parser("run", help="the whole daily job for one run date")
    r.add_argument("--home")
    r.add_argument("--date", type=_date, help="run date D (default: the previous school day)")
    r.set_defaults(func=cmd_run)

    b = sub.add_parser("backfill", help="every school day in a range, in order")
    b.add_argument("--home")
    b.add_argument("--start", type=_date, required=True)
    b.add_argument("--end", type=_date, required=True)
    b.set_defaults(func=cmd_backfill)

    s = sub.add_parser("setup", help="prepare the dbt manifest and the local Airflow database")
    s.add_argument("--skip-airflow", action="store_true")
    s.set_defaults(func=cmd_setup)

    a = sub.add_parser("airflow-run", help="run the attendance_daily DAG through Airflow")
    a.add_argument("--home")
    a.add_argument("--date", type=_date)
    a.set_defaults(func=cmd_airflow_run)

    d = sub.add_parser(
        "render-docs", help="render a priority-list spreadsheet and the trust report to PNG"
    )
    d.add_argument("--home")
    d.add_argument("--date", type=_date, required=True, help="a run date already exported")
    d.add_argument("--out", default="docs", help="folder for the PNG files (default: docs)")
    d.add_argument("--urn", help="the school whose spreadsheet to render (default: the first)")
    d.set_defaults(func=cmd_render_docs)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("ATTENDANCE_LOG_LEVEL", "WARNING"))
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
