"""Isolation as a property over several generated trusts (SPEC 7.2, 7.3): no school's files hold
another school's pupil, no LA file holds a pupil of an academy in another LA, and a held-back
academy publishes nothing of its own. Who belongs where is read from what the generator wrote
(the registry and the roll files in landing/), not from the warehouse.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import zipfile
from datetime import date
from pathlib import Path

import pytest
import yaml
from openpyxl import load_workbook

from attendance.generate import generate_trust
from attendance.home import Home
from attendance.pipeline import build, ingest, prepare
from exports.build import export_all

RUN_DATE = date(2025, 10, 3)
SEEDS = [5, 17, 29]


def _rows(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def _belongs(root: Path) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(upn -> urn from every roll file, urn -> LA code, urn -> LAESTAB) from the inputs."""
    trust = yaml.safe_load((root / "config" / "trust.yml").read_text(encoding="utf-8"))
    la = {str(a["urn"]): str(a["la_code"]) for a in trust["academies"]}
    laestab = {str(a["urn"]): str(a["laestab"]) for a in trust["academies"]}
    owner: dict[str, str] = {}
    for urn in la:
        for roll in sorted((root / "landing" / urn).glob("pupils_*.csv")):
            for row in _rows(roll):
                assert owner.setdefault(row["UPN"], urn) == urn, "a UPN on two academies' rolls"
    return owner, la, laestab


@pytest.fixture(scope="module", params=SEEDS)
def trust_home(request, tmp_path_factory, monkeypatch_module) -> Home:
    root = tmp_path_factory.mktemp(f"trust_{request.param}")
    generate_trust(
        root,
        academies=3,
        pupils=150,
        start=date(2025, 9, 1),
        end=RUN_DATE,
        seed=request.param,
        truth_path=root / "truth.parquet",
    )
    monkeypatch_module.setenv("ATTENDANCE_HOME", str(root))
    home = Home.resolve(root)
    for urn in prepare(home):
        ingest(home, urn, RUN_DATE)
    build(home, RUN_DATE)
    export_all(home, RUN_DATE)
    return home


def _xlsx_upns(path: Path) -> set[str]:
    book = load_workbook(path)
    found = set()
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if (
                    isinstance(cell.value, str)
                    and len(cell.value) == 13
                    and cell.value[1:].isdigit()
                ):
                    found.add(cell.value)
    return found


def test_no_file_holds_a_pupil_of_another_school_or_la(trust_home: Home) -> None:
    owner, la, laestab = _belongs(trust_home.root)
    d = RUN_DATE.isoformat()
    out = trust_home.exports
    assert len(set(la.values())) >= 2, "the property needs academies in more than one LA"
    for urn in la:
        folder = out / "schools" / urn / d
        rows = _rows(folder / f"priority_list_{urn}_{d}.csv")
        assert rows, f"{urn}: an empty priority list proves nothing"
        assert {owner[r["upn"]] for r in rows} == {urn}
        assert {owner[u] for u in _xlsx_upns(folder / f"priority_list_{urn}_{d}.xlsx")} == {urn}
        dfe = _rows(out / "dfe" / d / f"{laestab[urn]}_attendance_{d}.csv")
        assert dfe and {(r["urn"], r["laestab"], owner[r["upn"]]) for r in dfe} == {
            (urn, laestab[urn], urn)
        }
    for code in set(la.values()):
        rows = _rows(out / "la" / code / d / f"pupil_attendance_{code}_{d}.csv")
        assert {la[owner[r["upn"]]] for r in rows} == {code}
        assert {r["urn"] for r in rows} == {u for u, c in la.items() if c == code}


def test_files_are_private_and_manifests_match(trust_home: Home) -> None:
    d = RUN_DATE.isoformat()
    for manifest in trust_home.exports.rglob("manifest.json"):
        if d not in str(manifest):
            continue
        folder = manifest.parent
        listed = json.loads(manifest.read_text())
        names = {f["name"] for f in listed["files"]}
        assert names | {"manifest.json"} == {p.name for p in folder.iterdir()}
        for p in folder.iterdir():
            assert stat.S_IMODE(p.stat().st_mode) == 0o640
        parent = folder
        while parent != trust_home.exports:
            assert stat.S_IMODE(parent.stat().st_mode) == 0o750, parent
            parent = parent.parent


def test_no_csv_text_cell_starts_like_a_formula(trust_home: Home) -> None:
    # The generator writes names such as '-Smith' on purpose.
    seen = 0
    for path in trust_home.exports.rglob("*.csv"):
        for row in _rows(path):
            for key in ("name", "surname", "forename"):
                if key in row:
                    seen += 1
                    assert not row[key].startswith(("=", "+", "-", "@", "\t", "\r")), path.name
    assert seen


def test_no_spreadsheet_cell_is_a_formula(trust_home: Home) -> None:
    for book in trust_home.exports.rglob("*.xlsx"):
        with zipfile.ZipFile(book) as z:
            for name in z.namelist():
                if name.startswith("xl/worksheets/"):
                    assert b"<f>" not in z.read(name) and b"<f " not in z.read(name)
        for ws in load_workbook(book).worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", (book.name, cell.coordinate)


def test_held_back_academy_publishes_nothing_of_its_own(trust_home: Home) -> None:
    owner, la, laestab = _belongs(trust_home.root)
    urn = sorted(la)[0]
    d = RUN_DATE.isoformat()
    reason = "quality gate: 3 marks with an unknown code"
    result = export_all(trust_home, RUN_DATE, held_back={urn: reason})
    out = trust_home.exports
    assert not (out / "schools" / urn / d).exists()
    assert not (out / "dfe" / d / f"{laestab[urn]}_attendance_{d}.csv").exists()
    assert result["priority_lists"] == 2 and result["dfe_files"] == 2
    la_file = out / "la" / la[urn] / d / f"pupil_attendance_{la[urn]}_{d}.csv"
    others_in_la = [u for u, c in la.items() if c == la[urn] and u != urn]
    if others_in_la:
        assert {r["urn"] for r in _rows(la_file)} == set(others_in_la)
    else:
        assert not la_file.exists()
    summary = {r["urn"]: r for r in _rows(out / "trust" / d / f"trust_summary_{d}.csv")}
    assert summary[urn]["held_back_reason"] == reason
    assert summary[urn]["data_quality_status"] == "held back"
    quality = {r["urn"]: r for r in _rows(out / "trust" / d / f"data_quality_{d}.csv")}
    assert quality[urn]["held_back_reason"] == reason
    assert "DfE share" in quality[urn]["exports_held_back"]
    assert all(quality[u]["held_back_reason"] == "" for u in la if u != urn)
    report = (out / "trust" / d / f"trust_report_{d}.html").read_text(encoding="utf-8")
    assert reason in report
    # the next run without holding back publishes the school again
    export_all(trust_home, RUN_DATE)
    assert (out / "schools" / urn / d).exists()


def test_all_held_back_leaves_only_the_trust_reports(trust_home: Home) -> None:
    _, la, _ = _belongs(trust_home.root)
    d = RUN_DATE.isoformat()
    out = trust_home.exports
    result = export_all(trust_home, RUN_DATE, held_back={u: "no delivery for the day" for u in la})
    assert result["dfe_files"] == result["la_files"] == result["priority_lists"] == 0
    assert not (out / "dfe" / d).exists()
    assert not any((out / "la" / code / d).exists() for code in set(la.values()))
    assert not any((out / "schools" / urn / d).exists() for urn in la)
    summary = _rows(out / "trust" / d / f"trust_summary_{d}.csv")
    assert {r["held_back_reason"] for r in summary} == {"no delivery for the day"}
    export_all(trust_home, RUN_DATE)
    assert (out / "dfe" / d).exists()


def _snapshot(home: Home, d: str) -> dict[str, bytes]:
    """Every exported file of run date `d`, by path under the exports folder."""
    return {
        str(p.relative_to(home.exports)): p.read_bytes()
        for p in sorted(home.exports.rglob("*"))
        if p.is_file() and d in str(p)
    }


def test_rerun_is_byte_identical(trust_home: Home) -> None:
    d = RUN_DATE.isoformat()

    first = _snapshot(trust_home, d)
    os.utime(trust_home.exports)  # nothing depends on the clock either
    export_all(trust_home, RUN_DATE)
    assert _snapshot(trust_home, d) == first
    assert any(k.endswith(".xlsx") for k in first) and any(k.endswith(".html") for k in first)


def test_pool_and_in_process_give_the_same_bytes(trust_home: Home, monkeypatch) -> None:
    """The schools' files made in a process pool (as at trust scale) are byte for byte the
    files made in this process."""
    d = RUN_DATE.isoformat()

    monkeypatch.setenv("ATTENDANCE_EXPORT_WORKERS", "1")
    export_all(trust_home, RUN_DATE)
    in_process = _snapshot(trust_home, d)
    monkeypatch.setenv("ATTENDANCE_EXPORT_WORKERS", "2")
    export_all(trust_home, RUN_DATE)
    assert _snapshot(trust_home, d) == in_process
    assert any(k.endswith(".xlsx") for k in in_process)
