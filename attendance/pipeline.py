"""The daily job, step by step. The CLI (`attendance run`) and the Airflow DAG call these same
functions, so a run from a terminal and a run from the scheduler cannot drift apart.

Steps: prepare (registry and calendar to the warehouse) -> ingest each academy (parallel-safe)
-> build the marts with dbt (the single DuckDB writer) -> the quality gate (read-only: which
academies to hold back, and why) -> export and publish the rest.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from attendance.calendar import calendar_frame, load_calendars, trust_previous_school_day
from attendance.config import load_trust
from attendance.dbt_runner import write_build_fingerprint
from attendance.home import Home
from attendance.processes import start_worker_server, tune_gc_for_batch_work, worker_pool
from ingestion import quality_gate, store
from ingestion.ingest import (
    AcademyIngestReport,
    finish,
    gate_batch_rows,
    ingest_academy,
    pending_rows,
    stage_academies,
)

if TYPE_CHECKING:
    from exports.build import ExportSession

log = logging.getLogger(__name__)


def prepare(home: Home) -> list[str]:
    """Write the registry and calendar dimension the marts read; return the academies' URNs."""
    home.ensure()
    trust = load_trust(home)
    calendars = load_calendars(home, trust)
    academies = pd.DataFrame(
        [
            {
                "urn": a.urn,
                "laestab": a.laestab,
                "name": a.name,
                "phase": a.phase,
                "la_code": a.la_code,
                "policy": a.policy,
                "source_format": a.source_format,
            }
            for a in trust.academies
        ]
    )
    store.write_parquet(academies, home.warehouse / "academies.parquet")
    store.write_parquet(calendar_frame(trust, calendars), home.warehouse / "calendar.parquet")
    write_build_fingerprint(home)
    return trust.urns


def default_run_date(home: Home, today: date) -> date:
    """SPEC 8: the run date is the previous school day (at any academy of the trust)."""
    trust = load_trust(home)
    found = trust_previous_school_day(load_calendars(home, trust), today)
    if found is None:
        raise ValueError(f"no school day before {today} in the calendars")
    return found


def run_due(home: Home, today: date) -> bool:
    """Whether the scheduled run on `today` has a run date to process: it does when the weekday
    before `today` was a school day at some academy. So every school day D is processed on the
    next weekday morning, once: the Friday before a half term on the holiday Monday, and the
    first morning back (nothing new since the last run) is skipped."""
    weekday_before = today - timedelta(days=1)
    while weekday_before.weekday() >= 5:
        weekday_before -= timedelta(days=1)
    trust = load_trust(home)
    return trust_previous_school_day(load_calendars(home, trust), today) == weekday_before


def ingest(home: Home, urn: str, run_date: date) -> dict:
    """Ingest one academy's deliveries extracted on or before the run date."""
    return ingest_academy(home, urn, up_to=run_date).as_dict()


# dbt's unit tests check the models' logic on fixed, hand-written inputs: the same answer every
# day, whatever was delivered. dbt's own advice is to run them in development and CI, not in
# production builds; in the daily build they sat on the critical path (each runs just before
# its model: about 1.5 s of the M daily build). The test suite runs them (`unit_tests`); the
# DAG's cosmos render excludes them the same way (dags/attendance_daily.py).
PRODUCTION_BUILD = ["--exclude-resource-type", "unit_test"]


def build(home: Home, run_date: date) -> None:
    """The daily dbt build: every model, seed and data test, without the unit tests."""
    from attendance.dbt_runner import run_dbt

    run_dbt(home, "build", run_date, extra=PRODUCTION_BUILD)


def unit_tests(home: Home, run_date: date) -> None:
    """The dbt unit tests alone (they need the models' parents built: run after `build`)."""
    from attendance.dbt_runner import run_dbt

    run_dbt(home, "test", run_date, extra=["--select", "test_type:unit"])


def gate(home: Home, run_date: date) -> dict[str, str]:
    """The quality gate: URN -> why that academy's exports are held back for D (SPEC 8)."""
    from attendance.gate import academy_verdicts

    return academy_verdicts(home, run_date)


def export(
    home: Home,
    run_date: date,
    held_back: dict[str, str] | None = None,
    quality_facts: pd.DataFrame | None = None,
    session: ExportSession | None = None,
) -> dict:
    """Export and publish D's outputs for every academy the gate did not hold back. Without
    verdicts (the CLI), the gate runs first, so every path goes through it. `quality_facts`:
    the data-quality report's facts for D, when computed already (`build_and_gate`);
    `session`: the export begun already (`exports.build.export_session`)."""
    from exports.build import export_all

    if held_back is None:
        held_back = gate(home, run_date)
    return export_all(
        home, run_date, held_back=held_back, quality_facts=quality_facts, session=session
    )


def ingest_workers(academies: int) -> int:
    """How many academies ingest at once: $ATTENDANCE_INGEST_WORKERS, else one per CPU."""
    wanted = os.environ.get("ATTENDANCE_INGEST_WORKERS")
    workers = int(wanted) if wanted else (os.cpu_count() or 1)
    return max(1, min(workers, academies))


def ingests_in_workers(home: Home) -> bool:
    """Whether `run_day` ingests the academies in worker processes (more than one academy
    and CPU), and so starts their server first thing and gates its last batch beside dbt.

    Reads the trust's size before `prepare` (0.1 s at M, then cached for it): a one-academy
    trust ingests in the run's own process and would otherwise start a server it never uses
    (0.6 CPU-s of imports). The server still has its imports done before the pool needs it
    (0.8 s into an M daily run)."""
    return ingest_workers(len(load_trust(home).urns)) > 1


# What the ingestion workers and the gatekeeper need, imported once in the server they fork
# from (attendance.processes).
WORKER_PRELOAD = ["ingestion.ingest"]

# An academy's last gate batch is gated in its worker from this many records: GX's cost per
# validation is then a small part of it, and shipping it to the main process would only
# queue it there (M's small academies, whole years under one batch, were all gated there,
# after the workers had finished). A daily run's batch, a day of deliveries, stays below it
# and is gated with the other academies'.
GATE_IN_WORKER_ROWS = 25_000


def _stage_group(
    args: tuple[Path, list[str], date, int | None],
) -> list[tuple[AcademyIngestReport, list]]:
    """Stage a group of academies together (`stage_academies`); the pending deliveries of
    each academy with `gate_here` records or more are gated here too (together). Each
    academy's report with its pending deliveries, in the group's order. The bound is per
    academy: a group of a daily run's academies holds tens of thousands of records, which
    are gated beside the dbt build (`run_day`), not here first."""
    root, urns, run_date, gate_here = args
    home = Home(root)
    reports, pending = stage_academies(home, urns, up_to=run_date)
    mine = {urn: [p for p in pending if p.delivery.urn == urn] for urn in urns}
    if gate_here is not None:
        large = [urn for urn, items in mine.items() if pending_rows(items) >= gate_here]
        finish(home, [p for urn in large for p in mine[urn]], reports)  # none: gates nothing
        mine.update({urn: [] for urn in large})
    return [(reports[urn], mine[urn]) for urn in urns]


# Academies ingested before (a daily run's) are staged in this many groups per worker: each
# group's deliveries are checked together (`stage_academies`), and more than one group per
# worker keeps the two workers' shares even.
GROUPS_PER_WORKER = 2


def _groups(home: Home, urns: list[str], workers: int) -> list[list[str]]:
    """The jobs of an ingestion, in the order they should start: an academy never ingested
    (a full rebuild, a new academy: thousands of files) is a job of its own, the largest
    first; the academies that have ingested before (a daily run: a day or two of deliveries
    each) are dealt in turn, largest first, into `GROUPS_PER_WORKER` groups per worker, so
    that each group's checks are a few pandas calls instead of one set per academy, and the
    groups cost about the same. (Day 194 at M, the 50 academies in one process: 5.0 CPU-s
    academy by academy, of which checking their register deliveries and roll snapshots
    2.1.) In one process (one worker) they are one group, in registry order."""
    ordered = _largest_first(home, urns) if workers > 1 else list(urns)
    before = {urn: _ingested_before(home, urn) for urn in ordered}
    new = [urn for urn in ordered if not before[urn]]
    topping_up = [urn for urn in ordered if before[urn]]
    count = min(len(topping_up), GROUPS_PER_WORKER * workers if workers > 1 else 1)
    dealt = [topping_up[i::count] for i in range(count)]
    return [[urn] for urn in new] + dealt


def _ingested_before(home: Home, urn: str) -> bool:
    """Whether the academy has a ledger entry (one is enough)."""
    try:
        with os.scandir(home.ledger_dir / urn) as entries:
            return any(e.name.endswith(".json") for e in entries)
    except FileNotFoundError:
        return False


def ingest_all(
    home: Home,
    urns: list[str],
    run_date: date,
    hold_last: list | None = None,
    started: Callable[[], None] | None = None,
) -> Iterator[tuple[str, dict]]:
    """Ingest every academy, in parallel processes when there is more than one CPU.

    Safe because ingestion writes only parquet and JSON below each academy's own URN and opens
    no DuckDB connection (ingestion/ingest.py). Each academy's last gate batch comes back here
    and is gated with the other academies' (a GX validation costs 0.3 to 0.6 s whatever its
    size, and a daily run has one or two small deliveries per academy), in batches of
    `gate_batch_rows` so memory stays flat. The jobs are `_groups`: an academy never ingested
    alone, those that have ingested before in groups checked together. With workers, the
    academies with the most landing bytes start first (`_largest_first`), so the last to
    finish is a small one rather than a worker left alone with a large academy at the end;
    reports come back in the jobs' order, each once its deliveries are gated; the results
    are those of `ingest` academy by academy.

    With `hold_last`, the last batch (a daily run's only one) is not gated here: its pending
    deliveries are appended to that list for the caller to gate (`run_day` gates them in
    another process while dbt builds), and the reports of their academies come back without
    that batch's gate failures.

    `started` is called once every academy's job is with the workers (at once without
    workers): the caller's own work beside them (run_day's dbt warm-up, a thread) then no
    longer competes for the interpreter with what this process does before they start.
    """
    workers = ingest_workers(len(urns))
    groups = _groups(home, urns, workers)
    order = [urn for group in groups for urn in group]
    if workers == 1:
        if started is not None:
            started()
        jobs = [(home.root, group, run_date, None) for group in groups]
        staged = (one for job in jobs for one in _stage_group(job))
        yield from _gate_together(home, order, staged, hold_last)
        return
    jobs = [(home.root, group, run_date, GATE_IN_WORKER_ROWS) for group in groups]
    # GX is not preloaded: a worker imports it only if an academy has more than a batch to
    # gate (a full rebuild).
    with worker_pool(workers, preload=WORKER_PRELOAD) as pool:
        results = pool.map(_stage_group, jobs)  # submits every job now
        if started is not None:
            started()
        staged = (one for group in results for one in group)
        yield from _gate_together(home, order, staged, hold_last)


def _largest_first(home: Home, urns: list[str]) -> list[str]:
    """The academies by the bytes in their landing folders, most first (ties in registry
    order): the longest jobs first, as a pool should take them. In a full rebuild of M the
    registry's last academy was one of its largest and ran alone for its last 20 s."""

    def landed(urn: str) -> int:
        try:
            with os.scandir(home.landing_for(urn)) as entries:
                return sum(e.stat().st_size for e in entries if e.is_file())
        except FileNotFoundError:
            return 0

    sizes = {urn: landed(urn) for urn in urns}
    return sorted(urns, key=lambda urn: -sizes[urn])


def _gate_together(
    home: Home,
    urns: list[str],
    staged: Iterator[tuple[AcademyIngestReport, list]],
    hold_last: list | None = None,
) -> Iterator[tuple[str, dict]]:
    """Gate the academies' pending deliveries in shared batches; yield each report once its
    deliveries are gated and their ledger entries written (the last batch's: once it is
    handed to `hold_last`, when given)."""
    pending: list = []
    reports: dict[str, AcademyIngestReport] = {}
    done: list[str] = []
    for urn, (report, items) in zip(urns, staged, strict=True):
        reports[urn] = report
        done.append(urn)
        if items and not pending and hold_last is None:
            quality_gate.warm_up()
        pending += items
        if pending_rows(pending) >= gate_batch_rows():
            finish(home, pending, reports)
        if not pending:  # every academy so far is gated (here, or in its worker)
            yield from ((u, reports.pop(u).as_dict()) for u in done)
            done.clear()
    if hold_last is None:
        finish(home, pending, reports)
    else:
        hold_last.extend(pending)
    yield from ((u, reports.pop(u).as_dict()) for u in done)


def _finish_held(root: Path, held: list) -> dict[str, int]:
    """`finish` for deliveries held back from `ingest_all`, in a gatekeeper process: URN ->
    deliveries whose gate failed at error severity."""
    os.nice(10)  # background work: take the cores dbt leaves idle, not dbt's
    reports = {p.delivery.urn: AcademyIngestReport(urn=p.delivery.urn) for p in held}
    finish(Home(root), list(held), reports)
    return {urn: r.gate_failures for urn, r in reports.items()}


def _gate_in(root: Path, run_date: date) -> dict[str, str]:
    return gate(Home(root), run_date)


def _quality_facts(root: Path, run_date: date) -> pd.DataFrame:
    from exports.quality import quality_facts

    home = Home(root)
    trust = load_trust(home)
    return quality_facts(home, trust, run_date, load_calendars(home, trust))


def gatekeeper() -> ProcessPoolExecutor:
    """The one process `build_and_gate` gates in beside dbt: work that makes many short-lived
    objects and exits, so its collector is tuned for that (`tune_gc_for_batch_work`)."""
    return worker_pool(1, preload=WORKER_PRELOAD, initializer=tune_gc_for_batch_work)


@dataclass
class Built:
    """What `build_and_gate` hands to the exports."""

    gate_failures: dict[str, int]  # URN -> held deliveries whose ingestion gate failed
    held_back: dict[str, str]  # URN -> why the academy's exports are held back for D
    quality_facts: pd.DataFrame  # exports.quality.quality_facts for D
    meanwhile: object = None  # what `meanwhile` returned


def build_and_gate(
    home: Home, run_date: date, held: list, meanwhile: Callable[[], object] | None = None
) -> Built:
    """The dbt build, with the held deliveries gated beside it and the data-quality report's
    facts read beside it, then the quality gate before exports.

    dbt's build is a chain of models, each waiting for the last, and keeps about one of the
    machine's cores busy; GX costs seconds to import and validate whatever the batch (a daily
    run's last ingestion batch is its only one). So a gatekeeper process imports GX and
    gates those deliveries while dbt builds, then reads the year's ledger and issue files for
    the data-quality report (their last entries are the ones it just wrote), then runs the
    export gate on the built marts (read-only: dbt's handle is closed by then), GX already
    imported. Nothing dbt reads waits on it: the marks are written before their gate, which
    writes only the gate results and the ledger entries, and the export gate, which reads
    those, runs after both; `meanwhile` runs here while it does (the daily run begins its
    export: the schools' processes start and the marts are read).

    The gatekeeper collects garbage as batch work wants (`tune_gc_for_batch_work`), and GX is
    imported with the collector paused (attendance.heavy_imports): with both, its CPU in a
    daily run at M went 7.86 -> 6.25 s by the means of 8 alternating runs a side, the whole
    run 28.5 -> 26.2 s (a slow hour), the exports byte-identical."""
    with gatekeeper() as keeper:
        gated = keeper.submit(_finish_held, home.root, held) if held else None
        facts = keeper.submit(_quality_facts, home.root, run_date)
        try:
            build(home, run_date)
        finally:
            if gated is not None:
                wait([gated])  # a failed build still leaves its deliveries gated and ledgered
        failures = gated.result() if gated is not None else {}
        verdicts = keeper.submit(_gate_in, home.root, run_date)
        begun = meanwhile() if meanwhile is not None else None
        return Built(failures, verdicts.result(), facts.result(), begun)


def run_day(home: Home, run_date: date, progress: Callable[[str], None] = print) -> dict:
    """The whole daily job for one run date."""
    in_workers = ingests_in_workers(home)
    if in_workers:  # the workers' server imports while this process reads its configuration
        start_worker_server(WORKER_PRELOAD)
    from attendance.dbt_runner import warm_up
    from exports.build import export_session

    urns = prepare(home)
    reports = []
    # dbt's start-up is paid while the academies ingest in worker processes: this process
    # only waits for them. The thread starts once they have their jobs: begun before, its
    # imports held the interpreter while this thread ordered the academies (a stat of every
    # landing file: M's 15,164 took 2.3 s beside it, 0.1 s alone) and started the pool.
    warming = threading.Thread(
        target=warm_up, args=(home, run_date), name="dbt-warm-up", daemon=True
    )
    # With a spare core, the last gate batch is gated beside the dbt build (build_and_gate).
    held: list | None = [] if in_workers else None
    ingesting = ingest_all(home, urns, run_date, held, started=warming.start)
    for i, (urn, report) in enumerate(ingesting, start=1):
        reports.append(report)
        progress(
            f"  ingested {i}/{len(urns)} {urn}: {report['deliveries_loaded']} new deliveries, "
            f"{report['records_loaded']} marks, {report['records_rejected']} rejected"
        )
    warming.join()
    reports.sort(key=lambda report: urns.index(report["urn"]))  # registry order again
    progress(f"  building the marts for {run_date} (dbt)")
    with ExitStack() as later:
        facts, session = None, None
        if held is None:
            build(home, run_date)
            held_back = gate(home, run_date)
        else:
            # The export begins (its processes start, the marts are read) while the
            # gatekeeper runs the export gate; the gate's verdicts decide what is published.
            begin = lambda: later.enter_context(export_session(home, run_date))  # noqa: E731
            built = build_and_gate(home, run_date, held, meanwhile=begin)
            held_back, facts, session = built.held_back, built.quality_facts, built.meanwhile
            for report in reports:
                report["gate_failures"] += built.gate_failures.get(report["urn"], 0)
        for urn, reason in sorted(held_back.items()):
            progress(f"  held back {urn}: {reason}")
        progress("  exporting")
        result = export(home, run_date, held_back=held_back, quality_facts=facts, session=session)
    result["ingestion"] = reports
    return result
