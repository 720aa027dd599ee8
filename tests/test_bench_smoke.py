"""The benchmark harness runs end to end on a micro trust (two academies, three weeks).

Nothing here looks at a timing (speed is reported by bench/, never asserted). What is checked:
the harness produces its results and table, the warehouse state it rebuilds for the daily case
holds exactly the deliveries extracted by the cut-off, and both peers compute, for every pupil
with a possible session, the same six measures as the platform's mart_pupil_status, which makes
the peers a like-for-like comparison.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import date

import pytest

from bench import run
from bench.datasets import SIZES, fresh_home
from bench.measure import peak_phase
from bench.state import ingested_up_to


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    run.main(["--sizes", "micro", "--cases", "full,peers,messy", "--cache", str(root)])
    return root


def test_the_peak_is_placed_in_its_phase():
    spans = [["ingest", 100.0, 110.0], ["build", 110.0, 130.0], ["export", 130.0, 131.0]]
    assert peak_phase(spans, 99.5) == "start-up"
    assert peak_phase(spans, 105.0) == "ingest"
    assert peak_phase(spans, 110.0) == "ingest"  # a boundary belongs to the phase ending there
    assert peak_phase(spans, 129.9) == "build"
    assert peak_phase(spans, 130.5) == "export"
    assert peak_phase(spans, 131.2) == "finish"
    assert peak_phase([], 1.0) == "-"


def test_full_run_reports_phases_and_memory(cache):
    full = json.loads((cache / "micro" / "results" / "full.json").read_text())
    assert set(full["phases"]) == {"ingest", "build", "export"}
    assert full["peak_tree_rss_mb"] > 0
    assert full["peak_phase"] in {"start-up", "ingest", "build", "export", "finish"}
    spans = full["phase_spans_unix"]
    assert [name for name, _, _ in spans] == ["ingest", "build", "export"]
    assert all(start <= end for _, start, end in spans)
    assert "mart_pupil_status" in full["dbt_models"]
    # what the timeline draws (bench/timeline.py): every node inside the build, the samples
    spans = {s["name"]: s for s in full["dbt_spans"]}
    build_start, build_end = full["phase_spans_unix"][1][1:]
    node = spans["mart_pupil_status"]
    assert build_start <= node["start"] <= node["end"] <= build_end
    samples = full["samples"]
    assert len(samples["t"]) == len(samples["rss_mb"]) == len(samples["cores_busy"]) > 0
    assert all(0 <= c <= samples["cores"] for c in samples["cores_busy"])
    svg = ET.parse(cache / "micro" / "results" / "full_timeline.svg").getroot()
    tips = {t.text for t in svg.iter("{http://www.w3.org/2000/svg}title")}
    assert {f"dbt build {full['phases']['build']:.1f} s", "mart_pupil_status"} <= {
        t.rsplit(":", 1)[0] for t in tips
    }
    assert full["run_date"] == "2025-09-19"  # the last school day of the micro range
    measured = full["measured"]
    # a short commit hash (git lengthens one that would be ambiguous)
    assert re.fullmatch(r"[0-9a-f]{7,40}(\+changes)?|unknown", measured["code"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", measured["finished_utc"])
    assert set(measured["calibration_s"]) == {"python", "duckdb"}


def test_peers_agree_with_the_marts_for_every_pupil(cache):
    peers = json.loads((cache / "micro" / "results" / "peers.json").read_text())
    for peer in ("pandas", "duckdb"):
        agreement = peers[peer]["agreement"]
        assert agreement["pupils"] > 50
        assert agreement["identical"] == agreement["pupils"], peer


def test_report_table_has_the_size_row(cache):
    table = (cache / "report.md").read_text()
    assert table.splitlines()[2].startswith("| micro | ")
    messy = table.split("\n\n")[1].splitlines()
    assert messy[0].startswith("| size | messy trust: full rebuild s")
    assert messy[2].startswith("| micro | ") and messy[2].endswith("| yes |")
    # and where each result came from: a case not run again keeps its earlier result
    measured = table.split("\n\n")[2].splitlines()
    assert measured[0].startswith("| size | case | finished (UTC) | code |")
    assert [row.split(" | ")[1] for row in measured[2:]] == ["full", "peers", "messy"]
    # and where the pictures are: the full rebuild's and the messy trust's
    pictures = table.split("\n\n")[3].splitlines()
    assert pictures[0] == "Timelines (phases, dbt nodes, memory, busy cores):"
    results = cache / "micro" / "results"
    assert pictures[1:] == [
        f"- micro full: `{results / 'full_timeline.svg'}`",
        f"- micro messy: `{results / 'messy_timeline.svg'}`",
    ]


def test_peers_kept_by_reuse_keep_where_they_were_measured(cache):
    """With --reuse both peers' times come from the earlier run, so their `measured` does
    too (a marker written in its place here: a new one would overwrite it)."""
    path = cache / "micro" / "results" / "peers.json"
    peers = json.loads(path.read_text())
    marker = {"finished_utc": "2026-01-01 00:00", "code": "abcdef0", "calibration_s": None}
    path.write_text(json.dumps({**peers, "measured": marker}))
    run.main(["--sizes", "micro", "--cases", "peers", "--reuse", "--cache", str(cache)])
    again = json.loads(path.read_text())
    assert again["measured"] == marker
    assert again["pandas"]["seconds"] == peers["pandas"]["seconds"]


def test_the_messy_trust_is_rejected_exactly_as_injected(cache):
    """The messy case's full rebuild (bench/mess.py; its own tests check every format)."""
    messy = json.loads((cache / "micro" / "results" / "messy.json").read_text())
    assert set(messy["phases"]) == {"ingest", "build", "export"}
    assert messy["mess"]["differences"] == []
    assert messy["mess"]["records_rejected"] == messy["mess"]["records_injected"] > 0


def test_state_holds_exactly_the_deliveries_extracted_by_the_cutoff(cache, tmp_path):
    full = cache / "micro" / "runs" / "full"
    home = fresh_home(cache / "micro" / "source", tmp_path / "home")
    ingested_up_to(full, home, date(2025, 9, 10))
    ledger = sorted(p.name for p in (home / "warehouse" / "ledger").glob("*/*.json"))
    stamps = {name.split("_")[1][:8] for name in ledger}
    assert stamps and max(stamps) == "20250910"
    every = sorted(p.name for p in (full / "warehouse" / "ledger").glob("*/*.json"))
    expected = [n for n in every if n.split("_")[1][:8] <= "20250910"]
    assert ledger == expected
    assert SIZES["micro"].academies == len(list((home / "warehouse" / "marks").iterdir()))


def test_daily_cases_run_again_from_the_same_state_taking_turns(cache):
    """With --repeat, each run of a daily case starts from the warehouse as the previous day's
    build left it (bench/run.py, snapshot): every run ingests the same new deliveries, and the
    case reports the run of median time. The growth cases take turns run by run. (The micro
    trust has fewer than 20 school days: both growth cases run its last day.)"""
    run.main(["--sizes", "micro", "--cases", "growth", "--repeat", "2", "--cache", str(cache)])
    results = cache / "micro" / "results"
    steps = {
        (case, i): json.loads((results / f"{case}_step{suffix}.json").read_text())
        for case in ("day20", "day180")
        for i, suffix in ((1, ""), (2, "2"))
    }
    for case in ("day20", "day180"):
        first, second = steps[case, 1], steps[case, 2]
        assert first["deliveries_loaded"] == second["deliveries_loaded"] > 0
        reported = json.loads((results / f"{case}.json").read_text())
        assert reported["runs_seconds"] == [round(r["seconds"], 2) for r in (first, second)]
        assert reported["seconds"] == max(first["seconds"], second["seconds"])  # median of 2
        assert reported["turns_with"] == [{"day20": "day180", "day180": "day20"}[case]]
        assert not (cache / "micro" / "runs" / f"{case}_before").exists()
    order = ["day20_step", "day180_step", "day20_step2", "day180_step2"]
    written = [(results / f"{name}.json").stat().st_mtime_ns for name in order]
    assert written == sorted(written)


def test_report_sets_the_peers_against_the_daily_run_too(tmp_path):
    """Neither peer keeps anything between days, so each morning's figures cost a trust a
    whole peer run against one daily run of ours: the report's second table (ratios worked
    out by hand: 160 / 20 = 8.00, 10 / 20 = 0.50)."""
    results = tmp_path / "micro" / "results"
    results.mkdir(parents=True)
    phases = {"ingest": 4.0, "build": 10.0, "export": 6.0}
    for case, seconds in (("full", 200.0), ("daily", 20.0)):
        (results / f"{case}.json").write_text(
            json.dumps({"seconds": seconds, "phases": phases, "peak_tree_rss_mb": 1024})
        )
    (results / "peers.json").write_text(
        json.dumps({"pandas": {"seconds": 160.0}, "duckdb": {"seconds": 20.0}})
    )
    tables = run.report(["micro"], tmp_path).split("\n\n")
    assert tables[0].splitlines()[2].split(" | ")[8:10] == ["160.0", "0.80x"]
    per_day = tables[1].splitlines()
    assert per_day[0].startswith("| size | per school day: our daily run s")
    assert per_day[2] == "| micro | 20.0 | 160.0 | 8.00x | 10.0 | 20.0 | 0.50x |"
    # results saved before runs recorded where they were measured say so
    assert tables[2].splitlines()[2:] == [
        f"| micro | {case} | - | - | - |" for case in ("full", "daily", "peers")
    ]


def test_report_lists_every_run_and_the_growth_turn_by_turn(tmp_path):
    """The repeated cases' runs are listed beside the median the tables report, and day 180
    over day 20 run by run when their runs took turns (worked out by hand: 13 / 10 = 1.30,
    10 / 8 = 1.25, 12 / 12 = 1.00; the medians 12 / 10 = 1.20). Runs that didn't take turns
    (measured in different benchmarks) get no turn-by-turn row."""
    results = tmp_path / "micro" / "results"
    results.mkdir(parents=True)
    phases = {"ingest": 1.0, "build": 1.0, "export": 1.0}

    def save(case: str, runs: list[float], median: float, turns_with: list[str] | None) -> None:
        result = {"seconds": median, "phases": phases, "peak_tree_rss_mb": 1024}
        result["runs_seconds"] = runs
        if turns_with is not None:
            result["turns_with"] = turns_with
        (results / f"{case}.json").write_text(json.dumps(result))

    save("daily", [12.5, 12.25, 13.0], 12.5, [])
    save("day20", [10.0, 8.0, 12.0], 10.0, ["day180"])
    save("day180", [13.0, 10.0, 12.0], 12.0, ["day20"])

    def runs_table() -> list[str]:
        tables = run.report(["micro"], tmp_path).split("\n\n")
        return next(t for t in tables if "runs, s (in the order run)" in t).splitlines()

    table = runs_table()
    assert table[0] == "| size | case | runs, s (in the order run) | the median run, s |"
    assert table[2:] == [
        "| micro | daily | 12.50, 12.25, 13.00 | 12.50 |",
        "| micro | day20 | 10.00, 8.00, 12.00 | 10.00 |",
        "| micro | day180 | 13.00, 10.00, 12.00 | 12.00 |",
        "| micro | day 180 / day 20, turn by turn | 1.30, 1.25, 1.00 | 1.20 |",
    ]
    save("day180", [13.0, 10.0, 12.0], 12.0, None)
    assert "turn by turn" not in runs_table()[-1]
