"""`python -m bench.run [--sizes S,M] [--cases full,daily,growth,peers] [--profile]`
(`make bench` calls it; `make bench BENCH_ARGS="--sizes S,M"` passes options).

For each size it generates the trust once (cached in bench/.cache/<size>/source), then measures,
each step in a fresh child process (bench/worker.py, memory sampled over its process tree):

- full:   `run_day` for the last school day on a fresh warehouse (landing files to exports);
- daily:  `run_day` for the last school day on top of a warehouse holding every delivery
          extracted up to the day before (one new day of deliveries, full dbt build, exports);
- growth: the same daily run for school day 20 and school day 180;
- peers:  the pandas peer on the landing files and the bare DuckDB pass over the canonical
          parquet, for the last school day, with their agreement with mart_pupil_status;
- messy:  the full rebuild on a copy of the trust with faults injected in every academy
          (bench/mess.py), with whether ingestion rejected exactly the injected records.

The daily and growth cases reuse the full run's ingestion outputs (bench/state.py), so `full`
runs first. Each of them runs `--repeat` times (3) from the same state (a copy of the home taken
after the previous day's build) and reports the run of median time: one run's time moves by a
second or two either way on a shared 2-core machine. The two growth cases take turns, run by
run, so the drift of the machine's speed over minutes touches both alike. Results go to
bench/.cache/<size>/results/ and markdown tables (the cases with the peers against the full
rebuild; the peers against the daily run, per school day; the messy trust) are printed and
written to bench/.cache/report.md, with the machine and its speed on two fixed workloads
(bench/.cache/machine.json); nothing is asserted. Each result records when it was measured,
on which commit and at which calibration (`measured`), and the report lists them: a case not
run this time is reported as last measured, and must not be read as this run's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pstats
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from attendance.home import REPO_ROOT, Home
from bench import mess
from bench.agree import agreement, platform_measures
from bench.datasets import CACHE, SIZES, Size, cached_home, fresh_home, generation_summary
from bench.days import school_days
from bench.measure import measure_module, measure_step
from bench.state import ingested_up_to
from bench.timeline import dbt_spans, write_timeline

CASES = ("full", "daily", "growth", "peers", "messy")
GROWTH_DAYS = (20, 180)
# Ingestion's outputs are only ever replaced by rename, never written into (bench/state.py):
# a copy of a home can share them by hard link. Everything else (the DuckDB file, dbt's
# target, the exports) is copied.
SHARED_IN_HOME = {("warehouse", kind) for kind in ("marks", "rolls", "issues", "ledger")} | {
    ("quarantine",)
}


def snapshot(home: Path, dest: Path) -> None:
    """A copy of `home` at `dest` for running the same step again from the same state."""

    def copy(src: str, dst: str) -> None:
        parts = Path(src).relative_to(home).parts
        if any(parts[: len(shared)] == shared for shared in SHARED_IN_HOME):
            os.link(src, dst)
        else:
            shutil.copy2(src, dst)

    shutil.copytree(home, dest, symlinks=True, copy_function=copy)


def machine() -> dict:
    cpu = "unknown"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as fh:
        mem_kb = int(fh.readline().split()[1])
    return {
        "nproc": os.cpu_count(),
        "memory_gb": round(mem_kb / 2**20, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
        "calibration_s": calibration(),
    }


def calibration() -> dict[str, float]:
    """The time of two fixed workloads, one core of pure Python and one DuckDB aggregate over
    both cores: this shared machine's speed moves by a third within hours, so results from
    different hours are read against these (a slower machine shows in both)."""
    import duckdb

    started = time.perf_counter()
    sum(i * i % 7 for i in range(15_000_000))
    python_s = time.perf_counter() - started
    # no progress bar: in a slow hour the aggregate passes the 2 s after which DuckDB draws one
    with duckdb.connect() as con:
        con.execute("set enable_progress_bar = false")
        started = time.perf_counter()
        con.execute("select sum(hash(i) % 7) from range(200000000) t(i)").fetchall()
        duckdb_s = time.perf_counter() - started
    return {"python": round(python_s, 2), "duckdb": round(duckdb_s, 2)}


def code_version() -> str:
    """The checkout's commit, `+changes` when tracked files differ from it, or `unknown`
    (no git, or not a checkout)."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    try:
        head = git("rev-parse", "--short=7", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}+changes" if changed else head


def with_dbt_nodes(result: dict, home: Path) -> dict:
    """Add the last dbt build in `home` (dbt's run_results.json): each node's execution time,
    longest first (the report's), and its span on the wall clock (the timeline's)."""
    path = home / "warehouse" / "dbt_target" / "run_results.json"
    run_results = json.loads(path.read_text()) if path.exists() else {"results": []}
    timed = {
        r["unique_id"].split(".", 2)[-1]: round(r["execution_time"], 2)
        for r in run_results["results"]
    }
    result["dbt_models"] = dict(sorted(timed.items(), key=lambda kv: -kv[1]))
    result["dbt_spans"] = dbt_spans(run_results)
    return result


@dataclass
class _Before:
    """A daily case's home, ready to run school day k (`SizeRun._before`)."""

    name: str
    k: int
    d: date
    home: Path
    kept: Path
    linked: int
    previous_seconds: float


class SizeRun:
    def __init__(
        self,
        size: Size,
        cache: Path,
        reuse: bool = False,
        log=print,
        calibration_s: dict[str, float] | None = None,
    ) -> None:
        self.size = size
        # what every result saved records of where it was measured (`_save`)
        self.code = code_version()
        self.calibration_s = calibration_s
        self.reuse = reuse  # keep results already measured (a resumed run)
        self.log = log
        self.source = cached_home(size, cache, log)
        self.base = cache / size.name
        self.results = self.base / "results"
        self.results.mkdir(parents=True, exist_ok=True)
        self.days = school_days(Home.resolve(self.source), size.start, size.end)
        self.full_home = self.base / "runs" / "full"

    def day(self, k: int) -> date:
        """The k-th school day of the year (1-based); day N is the last."""
        return self.days[k - 1]

    def _save(self, name: str, result: dict, measured: dict | None = None) -> dict:
        """Write a case's result with where it was measured: now, or `measured` for a result
        kept from an earlier run (`--reuse`)."""
        result["measured"] = measured or {
            "finished_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
            "code": self.code,
            "calibration_s": self.calibration_s,
        }
        (self.results / f"{name}.json").write_text(json.dumps(result, indent=2, default=str))
        write_timeline(result, self.size.name, name, self.results / f"{name}_timeline.svg")
        return result

    def full(self, profile: bool) -> dict:
        d = self.days[-1]
        self.log(f"[{self.size.name}] full rebuild for {d} (school day {len(self.days)})")
        home = fresh_home(self.source, self.full_home)
        prof = self.results / "full.prof" if profile else None
        result = measure_step("run", home, d, self.results / "full_step.json", prof)
        with_dbt_nodes(result, home)
        result["run_date"] = d
        return self._save("full", result)

    def messy(self, profile: bool) -> dict:
        """The full rebuild of a messy copy of the trust (beside the clean one: hard links and
        a few hundred edited files), and whether ingestion rejected exactly what was injected."""
        d = self.days[-1]
        source = self.base / "messy"
        self.log(f"[{self.size.name}] injecting faults into a copy of the trust ...")
        mess.make_messy(self.source, source, log=self.log)  # seconds at M: always made afresh
        self.log(f"[{self.size.name}] full rebuild of the messy trust for {d}")
        home = fresh_home(source, self.base / "runs" / "messy")
        prof = self.results / "messy.prof" if profile else None
        result = measure_step("run", home, d, self.results / "messy_step.json", prof)
        with_dbt_nodes(result, home)
        result["run_date"] = d
        result["mess"] = mess.compare(mess.expected(mess.load_faults(source)), mess.rejected(home))
        return self._save("messy", result)

    def dailies(self, cases: list[tuple[int, str]], profile: bool, repeat: int = 1) -> list[dict]:
        """Daily runs for school days k (named cases), each `repeat` times from the state the
        previous day's build left, taking turns round by round: the growth cases' runs are
        then close in time, and this machine's drift over minutes touches both alike."""
        if not (self.full_home / "warehouse" / "ledger").exists():
            raise RuntimeError("the daily cases reuse the full run's ingestion: run `full` first")
        prepared = [self._before(k, name, repeat > 1) for k, name in cases]
        runs: dict[str, list[dict]] = {case.name: [] for case in prepared}
        for i in range(repeat):
            for case in prepared:
                if i:
                    shutil.rmtree(case.home)
                    snapshot(case.kept, case.home)
                out = self.results / f"{case.name}_step{'' if i == 0 else i + 1}.json"
                prof = self.results / f"{case.name}.prof" if profile and i == 0 else None
                self.log(f"[{self.size.name}] {case.name}: run {i + 1} of {repeat} for {case.d}")
                # The copies just made (about 1 GB at M) are still being written back; DuckDB's
                # first checkpoint fsyncs the database file and waited for them in the run.
                os.sync()
                result = measure_step("run", case.home, case.d, out, prof)
                with_dbt_nodes(result, case.home)
                runs[case.name].append(result)
        saved = []
        for case in prepared:
            # The run of median time stands for the case: on a shared 2-core machine one
            # run's time moves by a second or two either way (docs/benchmarks.md).
            done = runs[case.name]
            result = sorted(done, key=lambda r: r["seconds"])[len(done) // 2]
            result.update(
                run_date=case.d,
                school_day=case.k,
                files_already_ingested=case.linked,
                previous_day_build_seconds=case.previous_seconds,
                runs_seconds=[round(r["seconds"], 2) for r in done],
                # the cases whose runs took turns with this one's, run i beside run i
                turns_with=[other.name for other in prepared if other is not case],
            )
            shutil.rmtree(case.home)
            if case.kept.exists():
                shutil.rmtree(case.kept)
            saved.append(self._save(case.name, result))
        return saved

    def _before(self, k: int, name: str, keep: bool) -> _Before:
        """A home holding every delivery extracted up to the day before school day k, with
        the marts built for that day (untimed): what a real daily run starts from, its saved
        dbt parse and incremental tables included. With `keep`, a copy of it to restore."""
        k = max(2, min(k, len(self.days)))
        d, before = self.day(k), self.day(k - 1)
        self.log(f"[{self.size.name}] daily run for {d} (school day {k}) on top of {before}")
        home = fresh_home(self.source, self.base / "runs" / name)
        linked = ingested_up_to(self.full_home, home, before)
        previous = measure_step("build", home, before, self.results / f"{name}_previous.json")
        kept = home.with_name(f"{name}_before")
        if keep:
            if kept.exists():
                shutil.rmtree(kept)
            snapshot(home, kept)
        return _Before(name, k, d, home, kept, linked, previous["seconds"])

    def peers(self) -> dict:
        d = self.days[-1]
        mart = self.full_home / "warehouse" / "attendance.duckdb"
        if not mart.exists():
            raise RuntimeError("the peers are compared with the full run: run `full` first")
        ours = platform_measures(mart)
        out, reused = {}, 0
        for peer, home in (("pandas", self.source), ("duckdb", self.full_home)):
            target = self.results / f"peer_{peer}.json"
            if self.reuse and target.exists():
                result = json.loads(target.read_text())
                reused += 1
            else:
                self.log(f"[{self.size.name}] {peer} peer for {d}")
                args = [peer, "--home", str(home), "--date", d.isoformat(), "--out", str(target)]
                result = measure_module("bench.peers", args, target)
            result["agreement"] = agreement(ours, Path(result["measures"]))
            out[peer] = result
        earlier = self.results / "peers.json"
        # both peers' times kept from an earlier run: so is where they were measured
        measured = (
            json.loads(earlier.read_text()).get("measured")
            if reused == 2 and earlier.exists()
            else None
        )
        return self._save("peers", out, measured)


def load(size: str, name: str, cache: Path = CACHE) -> dict | None:
    path = cache / size / "results" / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _fmt(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}"


def _split(r: dict | None) -> str:
    """A run's seconds with its phases: `total (ingest/build/export)`."""
    if r is None:
        return "-"
    p = r["phases"]
    parts = "/".join(_fmt(p.get(k)) for k in ("ingest", "build", "export"))
    return f"{_fmt(r['seconds'])} ({parts})"


def report(sizes: list[str], cache: Path = CACHE) -> str:
    """The markdown table of docs/benchmarks.md from whatever results exist."""
    head = (
        "| size | marks in landing | full rebuild s (ingest / dbt / export) | peak memory GB "
        "| daily run s (ingest / dbt / export) | day 20 s | day 180 s | day 180 / day 20 "
        "| pandas peer s | pandas / ours (full) | DuckDB peer s | our dbt / DuckDB |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
    )
    rows = []
    for name in sizes:
        full, daily = load(name, "full", cache), load(name, "daily", cache)
        d20, d180 = load(name, "day20", cache), load(name, "day180", cache)
        peers = load(name, "peers", cache) or {}
        try:
            marks = f"{generation_summary(SIZES[name], cache)['summary']['marks']:,}"
        except FileNotFoundError:
            marks = "-"

        peak = max((r["peak_tree_rss_mb"] for r in (full, daily, d20, d180) if r), default=None)
        pandas_s = peers.get("pandas", {}).get("seconds")
        duck_s = peers.get("duckdb", {}).get("seconds")
        growth = d180["seconds"] / d20["seconds"] if d20 and d180 else None
        vs_pandas = pandas_s / full["seconds"] if full and pandas_s else None
        vs_duck = full["phases"]["build"] / duck_s if full and duck_s else None
        rows.append(
            f"| {name} | {marks} | {_split(full)} | "
            f"{'-' if peak is None else f'{peak / 1024:.2f}'} | {_split(daily)} | "
            f"{_fmt(d20 and d20['seconds'])} | {_fmt(d180 and d180['seconds'])} | "
            f"{'-' if growth is None else f'{growth:.2f}'} | {_fmt(pandas_s)} | "
            f"{'-' if vs_pandas is None else f'{vs_pandas:.2f}x'} | {_fmt(duck_s)} | "
            f"{'-' if vs_duck is None else f'{vs_duck:.1f}x'} |"
        )
    table = head + "\n".join(rows) + "\n" + _per_school_day(sizes, cache)
    messy = [(name, load(name, "messy", cache)) for name in sizes]
    if any(r for _, r in messy):
        table += (
            "\n| size | messy trust: full rebuild s (ingest / dbt / export) | peak memory GB "
            "| records injected as faults | records rejected | exactly the injected |\n"
            "| --- | --- | --- | --- | --- | --- |\n"
        )
        for name, r in messy:
            if r:
                m = r["mess"]
                table += (
                    f"| {name} | {_split(r)} | {r['peak_tree_rss_mb'] / 1024:.2f} | "
                    f"{m['records_injected']:,} | {m['records_rejected']:,} | "
                    f"{'yes' if m['exact'] else 'NO'} |\n"
                )
    return table + _runs(sizes, cache) + _measured(sizes, cache) + _timelines(sizes, cache)


def _timelines(sizes: list[str], cache: Path) -> str:
    """Where each case's timeline picture is (bench/timeline.py), for whoever reads the
    table and wants to see where a run's time went."""
    found = [
        f"- {name} {path.name.removesuffix('_timeline.svg')}: `{path}`"
        for name in sizes
        for path in sorted((cache / name / "results").glob("*_timeline.svg"))
    ]
    return (
        "\nTimelines (phases, dbt nodes, memory, busy cores):\n" + "\n".join(found) + "\n"
        if found
        else ""
    )


def _runs(sizes: list[str], cache: Path) -> str:
    """Every run of the repeated cases, in the order run, beside the median that the tables
    report; and day 180 over day 20 turn by turn when their runs took turns (run i of one
    beside run i of the other, minutes apart): how far one run moves is what says whether a
    ratio near its target is met or the hour's doing."""
    rows = []
    for name in sizes:
        found = {case: load(name, case, cache) for case in ("daily", "day20", "day180")}
        for case, r in found.items():
            if r and r.get("runs_seconds"):
                runs = ", ".join(f"{s:.2f}" for s in r["runs_seconds"])
                rows.append(f"| {name} | {case} | {runs} | {r['seconds']:.2f} |")
        d20, d180 = found["day20"], found["day180"]
        if (
            d20
            and d180
            and "day20" in d180.get("turns_with", [])
            and len(d20.get("runs_seconds", [])) == len(d180.get("runs_seconds", [])) > 1
        ):
            turns = [b / a for a, b in zip(d20["runs_seconds"], d180["runs_seconds"], strict=True)]
            rows.append(
                f"| {name} | day 180 / day 20, turn by turn | "
                + ", ".join(f"{t:.2f}" for t in turns)
                + f" | {d180['seconds'] / d20['seconds']:.2f} |"
            )
    if not rows:
        return ""
    return (
        "\n| size | case | runs, s (in the order run) | the median run, s |\n"
        "| --- | --- | --- | --- |\n" + "\n".join(rows) + "\n"
    )


def _measured(sizes: list[str], cache: Path) -> str:
    """When, on which code and at which calibration each result in the tables was measured:
    a run of some cases leaves the others' results from earlier runs, at other hours."""
    rows = []
    for name in sizes:
        for case in ("full", "daily", "day20", "day180", "peers", "messy"):
            r = load(name, case, cache)
            if r is None:
                continue
            m = r.get("measured") or {}
            cal = m.get("calibration_s") or {}
            speed = f"{cal['python']} / {cal['duckdb']}" if cal else "-"
            rows.append(
                f"| {name} | {case} | {m.get('finished_utc', '-')} | {m.get('code', '-')} "
                f"| {speed} |"
            )
    if not rows:
        return ""
    return (
        "\n| size | case | finished (UTC) | code | calibration at the run's start "
        "(python / DuckDB s) |\n| --- | --- | --- | --- | --- |\n" + "\n".join(rows) + "\n"
    )


def _per_school_day(sizes: list[str], cache: Path) -> str:
    """The peers against the daily run, beside the table's full-rebuild ratios.

    Neither peer keeps anything between days: an analyst's script, or the one query, is run
    again over the year's files each morning for that day's figures, which is what the
    platform's daily run gives. So this is what each way costs a trust per school day (the
    issue's targets are set on the full rebuild, in the table above)."""
    rows = []
    for name in sizes:
        daily = load(name, "daily", cache)
        peers = load(name, "peers", cache) or {}
        pandas_s = peers.get("pandas", {}).get("seconds")
        duck_s = peers.get("duckdb", {}).get("seconds")
        if daily is None or (pandas_s is None and duck_s is None):
            continue
        ours, ours_dbt = daily["seconds"], daily["phases"]["build"]
        rows.append(
            f"| {name} | {_fmt(ours)} | {_fmt(pandas_s)} | "
            f"{'-' if pandas_s is None else f'{pandas_s / ours:.2f}x'} | {_fmt(ours_dbt)} | "
            f"{_fmt(duck_s)} | {'-' if duck_s is None else f'{ours_dbt / duck_s:.2f}x'} |"
        )
    if not rows:
        return ""
    return (
        "\n| size | per school day: our daily run s | pandas peer s | pandas / ours (daily) "
        "| our daily dbt s | DuckDB peer s | our daily dbt / DuckDB |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows) + "\n"
    )


def hotspots(prof: Path, limit: int = 15) -> list[tuple[str, float, float]]:
    """The project's own functions (not libraries) by cumulative time in a cProfile dump."""
    stats = pstats.Stats(str(prof))
    root = str(REPO_ROOT)
    rows = []
    for (filename, line, func), (_cc, _nc, tt, ct, _callers) in stats.stats.items():
        if not filename.startswith(root + "/"):
            continue
        rel = Path(filename).relative_to(root)
        if rel.parts[0] not in {".venv", "bench"}:
            rows.append((f"{rel}:{line} {func}", tt, ct))
    rows.sort(key=lambda r: -r[2])
    return rows[:limit]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="S,M", help="comma-separated: micro, S, M, L")
    parser.add_argument("--cases", default=",".join(CASES), help="any of " + ",".join(CASES))
    parser.add_argument("--profile", action="store_true", help="cProfile each measured step")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--reuse", action="store_true", help="keep results already measured")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each daily and growth case from the same state; the median is reported",
    )
    parser.add_argument("--report-only", action="store_true", help="print the table, run nothing")
    args = parser.parse_args(argv)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [s for s in sizes if s not in SIZES] + [c for c in cases if c not in CASES]
    if unknown:
        parser.error(f"unknown size or case: {', '.join(unknown)}")
    if not args.report_only:
        (args.cache).mkdir(parents=True, exist_ok=True)
        started = machine()
        (args.cache / "machine.json").write_text(json.dumps(started, indent=2))
        for name in sizes:
            run = SizeRun(
                SIZES[name], args.cache, args.reuse, calibration_s=started["calibration_s"]
            )
            t0 = time.perf_counter()
            if "full" in cases and not (args.reuse and load(name, "full", args.cache)):
                run.full(args.profile)
            groups = [[("daily", len(run.days))]] if "daily" in cases else []
            if "growth" in cases:
                groups.append([(f"day{k}", k) for k in GROWTH_DAYS])  # their runs alternate
            for group in groups:
                wanted = [
                    (k, step)
                    for step, k in group
                    if not (args.reuse and load(name, step, args.cache) is not None)
                ]
                if wanted:
                    run.dailies(wanted, args.profile, args.repeat)
            if "peers" in cases:
                run.peers()
            if "messy" in cases and not (args.reuse and load(name, "messy", args.cache)):
                run.messy(args.profile)
            print(f"[{name}] done in {time.perf_counter() - t0:.0f} s")
    table = report(sizes, args.cache)
    (args.cache / "report.md").write_text(table)
    print(json.dumps(machine(), indent=None))
    print(table)


if __name__ == "__main__":
    main()
