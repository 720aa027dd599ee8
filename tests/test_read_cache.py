"""The read cache (ingestion/read_cache.py) only saves reads: whatever it holds, ingestion and
the data-quality report decide from the files on disk. A rewritten file is read again, a
deleted ledger entry means the delivery is ingested again, and a damaged or stale cache
changes nothing."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from attendance.calendar import load_calendars
from attendance.config import load_trust
from attendance.generate.trust import generate_trust
from attendance.home import Home
from exports.quality import quality_facts
from ingestion import store
from ingestion.ingest import ingest_academy
from ingestion.read_cache import LedgerIndex, cache_path

END = date(2025, 9, 5)


@pytest.fixture()
def home(tmp_path: Path) -> Home:
    generate_trust(tmp_path, academies=1, pupils=30, start=date(2025, 9, 1), end=END, seed=5)
    return Home(tmp_path)


def _ingest(home: Home, urn: str) -> dict:
    return ingest_academy(home, urn, up_to=END).as_dict()


def test_the_ledger_cache_saves_the_reads_and_never_decides(home: Home):
    urn = load_trust(home).urns[0]
    ledger_cache = cache_path(home, urn, "ledger")
    first = _ingest(home, urn)
    loaded = first["deliveries_loaded"]
    assert loaded >= 3 and first["deliveries_skipped"] == 0
    assert not ledger_cache.exists()  # nothing was read: nothing to remember

    again = _ingest(home, urn)
    assert (again["deliveries_loaded"], again["deliveries_skipped"]) == (0, loaded)
    cached = json.loads(ledger_cache.read_text())
    entries = sorted((home.ledger_dir / urn).glob("*.json"))
    assert sorted(cached) == [p.name for p in entries]

    # Served from the cache while each entry file is as it was; none read from disk.
    reader = LedgerIndex(home, urn)
    read = []
    original = store.read_json
    try:
        store.read_json = lambda path: read.append(path) or original(path)  # type: ignore[assignment]
        for p in entries:
            assert reader.entry(p.stem) == json.loads(p.read_text())
    finally:
        store.read_json = original  # type: ignore[assignment]
    assert read == []

    # A rewritten entry (written by rename, so a new time) is read again: here it says the
    # delivery is waiting, so it is processed again.
    waiting = entries[-1]
    store.write_json({**json.loads(waiting.read_text()), "status": "waiting"}, waiting)
    third = _ingest(home, urn)
    assert (third["deliveries_loaded"], third["deliveries_skipped"]) == (1, loaded - 1)

    # A deleted entry: the delivery is ingested again, whatever the cache remembers.
    entries[0].unlink()
    fourth = _ingest(home, urn)
    assert (fourth["deliveries_loaded"], fourth["deliveries_skipped"]) == (1, loaded - 1)

    # A damaged cache is ignored, and replaced.
    ledger_cache.write_text("{not json")
    fifth = _ingest(home, urn)
    assert (fifth["deliveries_loaded"], fifth["deliveries_skipped"]) == (0, loaded)
    assert sorted(json.loads(ledger_cache.read_text())) == sorted(cached)


def test_a_value_with_a_stale_stamp_is_read_from_disk(home: Home):
    urn = load_trust(home).urns[0]
    _ingest(home, urn)
    _ingest(home, urn)
    path = cache_path(home, urn, "ledger")
    cached = json.loads(path.read_text())
    name = sorted(cached)[0]
    # The cache claims something else for an entry whose file no longer matches its stamp.
    cached[name] = {"stamp": [1, 1, 1], "value": {"status": "loaded", "files": []}}
    path.write_text(json.dumps(cached))
    on_disk = json.loads((home.ledger_dir / urn / name).read_text())
    assert LedgerIndex(home, urn).entry(name.removesuffix(".json")) == on_disk


def test_the_quality_report_reads_through_the_cache_and_sees_rewritten_files(home: Home):
    trust = load_trust(home)
    urn = trust.urns[0]
    _ingest(home, urn)
    calendars = load_calendars(home, trust)

    def facts() -> dict:
        return quality_facts(home, trust, END, calendars).iloc[0].to_dict()

    first = facts()  # no cache yet: every file read
    assert cache_path(home, urn, "ledger").exists()
    assert facts() == first  # from the cache
    # A register delivery processed again with two records rejected: its issues file and its
    # ledger entry rewritten (by rename, as ingestion writes them). The report counts them.
    entry_path = sorted(
        p
        for p in (home.ledger_dir / urn).glob("*.json")
        if json.loads(p.read_text()).get("kind") != "pupils"
    )[-1]
    entry = json.loads(entry_path.read_text())
    extracted = pd.Timestamp(entry["extracted_at"])
    issues = home.warehouse / "issues" / urn / f"{entry_path.stem}.parquet"
    reason = "a reason written for this test"
    rows = pd.DataFrame(
        {"status": ["rejected"] * 2, "reason": [reason] * 2, "extracted_at": [extracted] * 2}
    )
    store.write_parquet(rows, issues)
    store.write_json({**entry, "records_rejected": int(entry["records_rejected"]) + 2}, entry_path)
    after = facts()
    assert after["records_rejected"] == first["records_rejected"] + 2
    assert f"{reason} (2)" in after["rejection_reasons"]
    assert cache_path(home, urn, "issues").exists()
    assert facts() == after  # from the cache again
    store.write_parquet(pd.concat([rows, rows.iloc[:1]], ignore_index=True), issues)
    assert f"{reason} (3)" in facts()["rejection_reasons"]  # rewritten: read again
    store.write_parquet(rows, issues)
    # and the same as with no cache at all
    for name in ("issues", "ledger"):
        cache_path(home, urn, name).unlink()
    assert facts() == after


def test_an_issues_file_of_other_types_is_counted_and_never_breaks_the_cache(home: Home):
    """Reasons that are not text (here numbers, and bytes, which JSON cannot hold) still
    count; a value the cache cannot keep is simply derived again next run."""
    trust = load_trust(home)
    urn = trust.urns[0]
    _ingest(home, urn)
    calendars = load_calendars(home, trust)
    folder = home.warehouse / "issues" / urn
    when = pd.Timestamp(END)
    store.write_parquet(
        pd.DataFrame({"status": ["rejected"] * 3, "reason": [7, 7, 8], "extracted_at": when}),
        folder / "numbers.parquet",
    )
    row = quality_facts(home, trust, END, calendars).iloc[0]
    assert row["rejection_reasons"] == "7 (2); 8 (1)"
    assert quality_facts(home, trust, END, calendars).iloc[0]["rejection_reasons"] == (
        "7 (2); 8 (1)"
    )  # from the cache
    (folder / "numbers.parquet").unlink()
    store.write_parquet(
        pd.DataFrame({"status": ["rejected"], "reason": [b"raw"], "extracted_at": when}),
        folder / "bytes.parquet",
    )
    for _ in range(2):  # the second run cannot have it from the cache, and still counts it
        row = quality_facts(home, trust, END, calendars).iloc[0]
        assert row["rejection_reasons"] == "b'raw' (1)"
