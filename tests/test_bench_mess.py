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

from attendance import pipeline
from attendance.config import load_trust
from attendance.generate import generate_trust
from attendance.home import Home
from bench import mess

END = date(2025, 10, 10)


@pytest.fixture(scope="module")
def trust(tmp_path_factory):
    root = tmp_path_factory.mktemp("mess")
    generate_trust(root / "clean", academies=5, pupils=600, start=date(2025, 9, 1), end=END)
    faults = mess.make_messy(root / "clean", root / "messy", log=lambda _: None)
    home = Home.resolve(root / "messy")
    list(pipeline.ingest_all(home, pipeline.prepare(home), END))
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
