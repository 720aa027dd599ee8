"""The benchmark's messy trust (bench/mess.py): faults injected in all four register formats and
in the rolls, and ingestion rejecting exactly the injected records, no more, no fewer.

The expectations are what the injector recorded as it edited (one record edited is one record
rejected; a key repeated with another code is two; a file cut short is one whole-delivery
rejection), independent of the platform; a few edits are also checked here by reading the
files. Real generator, real ingestion (GX gate included), no mocks.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

import pandas as pd
import pytest
from openpyxl import load_workbook

from attendance import pipeline
from attendance.config import load_trust
from attendance.generate import generate_trust
from attendance.home import Home
from bench import mess
from exports.build import export_all

END = date(2025, 10, 10)


@pytest.fixture(scope="module")
def trust(tmp_path_factory, monkeypatch_module):
    """The messy trust ingested, built and exported for END, as the daily job does."""
    root = tmp_path_factory.mktemp("mess")
    generate_trust(root / "clean", academies=5, pupils=600, start=date(2025, 9, 1), end=END)
    faults = mess.make_messy(root / "clean", root / "messy", log=lambda _: None)
    monkeypatch_module.setenv("ATTENDANCE_HOME", str(root / "messy"))
    home = Home.resolve(root / "messy")
    list(pipeline.ingest_all(home, pipeline.prepare(home), END))
    pipeline.build(home, END)
    export_all(home, END)
    return root, faults


def test_ingestion_rejects_exactly_the_injected_records(trust):
    root, faults = trust
    result = mess.compare(mess.expected(faults), mess.rejected(root / "messy"))
    assert result["differences"] == []
    assert result["exact"]
    assert result["records_rejected"] == result["records_injected"] > 500
    # A roll row repeated exactly is kept once with a warning, in every academy: not rejected.
    issues = pd.concat(
        pd.read_parquet(p) for p in (root / "messy" / "warehouse" / "issues").glob("*/*.parquet")
    )
    repeats = issues[issues["reason_code"] == "roll_repeated_row"]
    assert list(repeats["status"].unique()) == ["loaded"]
    assert sorted(repeats["urn"]) == sorted({f.urn for f in faults})


def test_every_format_meets_every_fault_it_can_carry(trust):
    root, faults = trust
    formats = {a.urn: a.source_format for a in load_trust(Home.resolve(root / "messy")).academies}
    seen = Counter((formats[f.urn], f.reason_code) for f in faults)
    for kind in ("long_csv", "arbor_csv", "weekly_grid_csv", "api_json"):
        for code in ("code_unknown", "conflict", "roll_field_invalid", "roll_duplicate"):
            assert seen[kind, code], (kind, code)
        truncated = "file_unreadable" if kind == "api_json" else "file_truncated"
        assert seen[kind, truncated]
        # A grid row is up to ten records: wrong UPNs go to the line-per-record formats only.
        assert bool(seen[kind, "upn_invalid"]) == (kind != "weekly_grid_csv")
    cut = Counter(f.urn for f in faults if f.fault == "file cut short")
    assert sorted(cut.values()) == [1] * len(formats)  # one file cut short in every academy
    # The third academy (index 2) had a week of an unmapped local present mark.
    week = [f for f in faults if f.fault == "unmapped local present mark"]
    assert {f.urn for f in week} == {load_trust(Home.resolve(root / "messy")).academies[2].urn}
    assert len(week) == 5 and all(f.records > 50 for f in week)


def test_the_edits_are_what_the_faults_say(trust):
    root, faults = trust
    clean, messy = root / "clean" / "landing", root / "messy" / "landing"
    added = Counter(
        (f.urn, f.file)
        for f in faults
        if f.reason_code in {"conflict", "roll_duplicate", "roll_repeated_row"}
    )
    for f in faults:
        before = (clean / f.urn / f.file).read_bytes()
        after = (messy / f.urn / f.file).read_bytes()
        if f.reason_code == "file_truncated":
            assert not after.endswith(b"\n")
            last = after.decode("utf-8", "replace").split("\n")[-1]
            assert last.count(",") == 3  # three fields and a comma: cut short
        elif f.reason_code in {"conflict", "roll_duplicate", "roll_repeated_row"}:
            assert after.count(b"\n") == before.count(b"\n") + added[f.urn, f.file]
        elif f.fault == "unknown code" and not f.file.startswith("weekly"):
            assert after.count(b",ZZ,") + after.count(b'"ZZ"') == f.records
    # Files without a fault are the clean trust's own, hard-linked.
    touched = {(f.urn, f.file) for f in faults}
    for path in (messy / faults[0].urn).iterdir():
        if (faults[0].urn, path.name) not in touched:
            assert path.stat().st_ino == (clean / faults[0].urn / path.name).stat().st_ino


def test_the_same_trust_gets_the_same_mess(trust, tmp_path):
    root, faults = trust
    again = mess.make_messy(root / "clean", tmp_path / "again", log=lambda _: None)
    assert again == faults
    for f in faults:
        assert (tmp_path / "again" / "landing" / f.urn / f.file).read_bytes() == (
            root / "messy" / "landing" / f.urn / f.file
        ).read_bytes()


def _latest_roll_upns(folder, suffix: str) -> set[str]:
    """The UPNs of the latest roll snapshot extracted by END in `folder`, read as `suffix`."""
    names = sorted(p for p in folder.glob(f"pupils_*{suffix}") if p.name[7:15] <= f"{END:%Y%m%d}")
    latest = names[-1]
    if suffix == ".csv":
        return set(pd.read_csv(latest, dtype=str)["UPN"].str.strip().str.upper())
    return set(pd.read_parquet(latest)["upn"])


def test_no_pupil_leaves_the_roll_for_a_rejected_row(trust):
    """Every academy has a snapshot with a pupil whose NC Year is impossible and one with two
    rows that differ (rejected: `roll_field_invalid`, `roll_duplicate`). Where a snapshot came
    before it, those pupils keep their row from it (`roll_row_carried`): every pupil of the
    clean trust's roll is in the roll the platform stored, and in its LA's share for D. Where
    the faulty snapshot is the academy's first, nothing can stand for them: they alone are
    missing."""
    root, faults = trust
    messy = Home.resolve(root / "messy")
    issues = pd.concat(
        pd.read_parquet(p) for p in (messy.warehouse / "issues").glob("*/pupils_*.parquet")
    )
    d = END.isoformat()
    shared = set()
    for path in (messy.exports / "la").glob(f"*/{d}/*.csv"):
        shared |= set(pd.read_csv(path, dtype=str)["upn"])
    carried_in = set()
    for urn in sorted({f.urn for f in faults}):
        mine = issues[issues["urn"] == urn]
        rejected = set(mine.loc[mine["status"] == "rejected", "upn"])
        carried = set(mine.loc[mine["reason_code"] == "roll_row_carried", "upn"])
        snapshots = sorted((root / "clean" / "landing" / urn).glob("pupils_*.csv"))
        clean = _latest_roll_upns(root / "clean" / "landing" / urn, ".csv")
        stored = _latest_roll_upns(messy.rolls_dir / urn, ".parquet")
        if len(snapshots) > 1:
            assert carried == rejected and stored == clean, urn
            carried_in.add(urn)
        else:
            assert not carried and stored == clean - rejected, urn
        on_roll = pd.read_parquet(sorted((messy.rolls_dir / urn).glob("*.parquet"))[-1])
        assert set(on_roll.loc[on_roll["leaving_date"].isna(), "upn"]) <= shared, urn
    assert carried_in  # the case is met


def test_each_school_is_told_its_records_were_rejected(trust):
    """Every academy of the messy trust had register records rejected: its priority workbook's
    summary says how many (as the trust's data-quality report counts them) and carries the
    notice that its figures are short of them."""
    root, _ = trust
    messy = Home.resolve(root / "messy")
    d = END.isoformat()
    quality = pd.read_csv(messy.exports / "trust" / d / f"data_quality_{d}.csv", dtype={"urn": str})
    assert len(quality) == 5
    for row in quality.to_dict("records"):
        urn = row["urn"]
        assert row["records_rejected"] > 0
        book = load_workbook(messy.exports / "schools" / urn / d / f"priority_list_{urn}_{d}.xlsx")
        ws = book["Summary"]
        cells = {ws.cell(r, 1).value: ws.cell(r, 2).value for r in range(1, ws.max_row + 1)}
        assert cells["Register marks rejected to date"] == row["records_rejected"]
        assert cells["Register files rejected whole to date"] == row["deliveries_rejected"]
        notice = [v for v in cells if isinstance(v, str) and v.startswith("Some of this school")]
        assert len(notice) == 1 and "data-quality report" in notice[0]
