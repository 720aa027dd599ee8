"""The ledger index (ingestion/ledger_index.py) only saves reads: whatever it holds, ingestion
decides from the ledger entries on disk. A rewritten entry is read again, a deleted one means
the delivery is ingested again, and a damaged or stale index changes nothing."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from attendance.config import load_trust
from attendance.generate.trust import generate_trust
from attendance.home import Home
from ingestion import store
from ingestion.ingest import ingest_academy
from ingestion.ledger_index import LedgerIndex, index_path

END = date(2025, 9, 5)


@pytest.fixture()
def home(tmp_path: Path) -> Home:
    generate_trust(tmp_path, academies=1, pupils=30, start=date(2025, 9, 1), end=END, seed=5)
    return Home(tmp_path)


def _ingest(home: Home, urn: str) -> dict:
    return ingest_academy(home, urn, up_to=END).as_dict()


def test_index_saves_the_reads_and_never_decides(home: Home):
    urn = load_trust(home).urns[0]
    first = _ingest(home, urn)
    loaded = first["deliveries_loaded"]
    assert loaded >= 3 and first["deliveries_skipped"] == 0
    assert not index_path(home, urn).exists()  # nothing was read: nothing to remember

    again = _ingest(home, urn)
    assert (again["deliveries_loaded"], again["deliveries_skipped"]) == (0, loaded)
    index = json.loads(index_path(home, urn).read_text())
    entries = sorted((home.ledger_dir / urn).glob("*.json"))
    assert sorted(index) == sorted(p.stem for p in entries)

    # Served from the index while each entry file is as it was; none read from disk.
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

    # A deleted entry: the delivery is ingested again, whatever the index remembers.
    entries[0].unlink()
    fourth = _ingest(home, urn)
    assert (fourth["deliveries_loaded"], fourth["deliveries_skipped"]) == (1, loaded - 1)

    # A damaged index is ignored, and replaced.
    index_path(home, urn).write_text("{not json")
    fifth = _ingest(home, urn)
    assert (fifth["deliveries_loaded"], fifth["deliveries_skipped"]) == (0, loaded)
    assert sorted(json.loads(index_path(home, urn).read_text())) == sorted(index)


def test_an_entry_with_a_stale_stamp_is_read_from_disk(home: Home):
    urn = load_trust(home).urns[0]
    _ingest(home, urn)
    _ingest(home, urn)
    path = index_path(home, urn)
    index = json.loads(path.read_text())
    key = sorted(index)[0]
    # The index claims something else for an entry whose file no longer matches its stamp.
    index[key] = {"stamp": [1, 1], "entry": {"status": "loaded", "files": []}}
    path.write_text(json.dumps(index))
    on_disk = json.loads((home.ledger_dir / urn / f"{key}.json").read_text())
    assert LedgerIndex(home, urn).entry(key) == on_disk
