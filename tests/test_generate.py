"""The synthetic trust generator: exact file formats (SPEC 2, 3), determinism, and realism.

The files are parsed here with plain csv/json, independently of the ingestion code, so these
tests pin the contract the pipeline relies on rather than the pipeline's reading of it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from attendance.calendar import SchoolCalendar
from attendance.codes import valid_code_mask
from attendance.config import load_calendar, load_trust
from attendance.generate import generate_trust
from attendance.home import Home
from attendance.upn import upn_problem

ROLL_HEADER = (
    "UPN,Surname,Forename,Date of Birth,Gender,NC Year,Reg Group,Entry Date,"
    "Leaving Date,FSM,SEN,EAL,Ethnicity,Home LA"
)
LONG_HEADER = "LAESTAB,UPN,Surname,Forename,Reg Group,Date,Session,Mark,Minutes Late"
ARBOR_HEADER = (
    "School URN,Student ID,UPN,Legal First Name,Legal Last Name,Year Group,"
    "Attendance Date,Session,Mark,Arrival Time"
)
GRID_HEADER = (
    "UPN,Surname,Forename,Reg Group,Week Beginning,Mon AM,Mon PM,Tue AM,Tue PM,"
    "Wed AM,Wed PM,Thu AM,Thu PM,Fri AM,Fri PM"
)
STAMP = re.compile(r"_(\d{8}T\d{6})(?:_p(\d+))?\.(csv|json)$")


def _text(path: Path) -> str:
    """Decode as the platform must: UTF-8 (BOM or not), else Windows-1252."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252")


def _stamp(path: Path) -> datetime:
    match = STAMP.search(path.name)
    assert match, path.name
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%S")


@pytest.fixture(scope="module")
def crossing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """Five academies over a range crossing the 2024 code change and a new academic year."""
    home = tmp_path_factory.mktemp("crossing")
    truth = home / "truth.parquet"
    messages: list[str] = []
    summary = generate_trust(
        home,
        academies=5,
        pupils=1200,
        start=date(2024, 6, 3),
        end=date(2024, 11, 22),
        seed=7,
        truth_path=truth,
        progress=messages.append,
    )
    assert len(messages) == 5 and messages[0].startswith("academy 1/5 140101")
    return home, truth, summary


@pytest.fixture(scope="module")
def medium(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    home = tmp_path_factory.mktemp("medium")
    truth = home / "truth.parquet"
    generate_trust(
        home,
        academies=4,
        pupils=1500,
        start=date(2025, 9, 1),
        end=date(2026, 7, 22),
        seed=3,
        truth_path=truth,
    )
    return home, pd.read_parquet(truth)


def _files(home: Path, pattern: str) -> list[Path]:
    return sorted(home.glob(f"landing/*/{pattern}"))


def test_same_arguments_give_identical_bytes(tmp_path: Path) -> None:
    kwargs = dict(academies=4, pupils=400, start=date(2025, 11, 3), end=date(2025, 11, 21), seed=11)
    a, b = tmp_path / "a", tmp_path / "b"
    generate_trust(a, truth_path=tmp_path / "a.parquet", **kwargs)
    generate_trust(b, truth_path=tmp_path / "b.parquet", **kwargs)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) > 60
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert pd.read_parquet(tmp_path / "a.parquet").equals(pd.read_parquet(tmp_path / "b.parquet"))
    other = generate_trust(tmp_path / "c", **{**kwargs, "seed": 12})
    assert other["files"] > 0
    some = files_a[-1]
    assert (a / some).read_bytes() != (tmp_path / "c" / some).read_bytes()


def test_configuration_loads_and_varies(crossing: tuple[Path, Path, dict]) -> None:
    home, _, summary = crossing
    trust = load_trust(Home(home))
    assert summary["academies"] == len(trust.academies) == 5
    assert {a.source_format for a in trust.academies} == {
        "long_csv",
        "arbor_csv",
        "weekly_grid_csv",
        "api_json",
    }
    assert len({a.la_code for a in trust.academies}) >= 2
    assert "all-through" in {a.phase for a in trust.academies}
    ccs = [a for a in trust.academies if a.policy == "ccs"]
    assert ccs and (ccs[0].registers["am_late"], ccs[0].registers["am_close"]) == ("09:00", "09:15")
    millbrook = [a for a in trust.academies if a.policy == "vale_millbrook"][0]
    assert millbrook.registers["am_late"] == "08:50"
    names = sorted({a.calendar for a in trust.academies})
    assert len(names) == 2 and "default" in names
    default = load_calendar(Home(home), "default")
    own = load_calendar(Home(home), [n for n in names if n != "default"][0])
    assert default.terms == own.terms and default.holidays == own.holidays
    assert len(set(default.closures) ^ set(own.closures)) == 2 * len(default.terms) // 3
    assert default.terms[0][0] == date(2022, 9, 7)  # the year before start is there too
    assert date(2024, 9, 4) in [s for s, _ in default.terms]


def test_rolls_are_snapshots_with_valid_upns(crossing: tuple[Path, Path, dict]) -> None:
    home, _, _ = crossing
    owner: dict[str, str] = {}
    rolls = _files(home, "pupils_*.csv")
    assert rolls
    for path in rolls:
        assert path.read_bytes()[:3] != b"\xef\xbb\xbf"
        text = path.read_text(encoding="utf-8")
        assert text.splitlines()[0] == ROLL_HEADER
        assert _stamp(path).time().isoformat() == "07:00:00"
        for row in csv.DictReader(io.StringIO(text)):
            assert upn_problem(row["UPN"]) is None, row["UPN"]
            assert owner.setdefault(row["UPN"], path.parent.name) == path.parent.name
            assert row["NC Year"] in {"N1", "N2", "R"} | {str(n) for n in range(1, 15)}
            assert row["FSM"] in "YN" and row["EAL"] in "YN" and row["SEN"] in "NKE"
            assert re.fullmatch(r"\d{3}", row["Home LA"]) and row["Gender"] in "MF"
            assert row["Reg Group"].startswith(row["NC Year"])
            dob = date.fromisoformat(row["Date of Birth"])
            year = _stamp(path).year if _stamp(path).month >= 9 else _stamp(path).year - 1
            age = year - dob.year - ((dob.month, dob.day) > (8, 31))
            nc = {"N1": -2, "N2": -1, "R": 0}.get(row["NC Year"])
            nc = int(row["NC Year"]) if nc is None else nc
            assert age == nc + 4, row
    # The roll changes: new academic year and joiners/leavers give more than one snapshot each.
    per_academy = Counter(p.parent.name for p in rolls)
    assert all(n > 2 for n in per_academy.values())


def test_register_headers_and_encodings(crossing: tuple[Path, Path, dict]) -> None:
    home, _, _ = crossing
    trust = load_trust(Home(home))
    for academy in trust.academies:
        folder = home / "landing" / academy.urn
        if academy.source_format == "long_csv":
            files = sorted(folder.glob("registers_*.csv"))
            assert _text(files[0]).splitlines()[0] == LONG_HEADER
        elif academy.source_format == "arbor_csv":
            files = sorted(folder.glob("attendance_*.csv"))
            assert files[0].read_bytes().startswith(b"\xef\xbb\xbf")
            assert _text(files[0]).splitlines()[0] == ARBOR_HEADER
        elif academy.source_format == "weekly_grid_csv":
            files = sorted(folder.glob("weekly_*.csv"))
            lines = _text(files[0]).splitlines()
            assert lines[0] == f"School: {academy.name} ({academy.laestab})"
            assert lines[1] == GRID_HEADER
        else:
            files = sorted(folder.glob("attendance_*_p*.json"))
            page = json.loads(files[0].read_text(encoding="utf-8"))
            assert set(page) == {"school", "extracted_at", "data", "meta"}
            assert page["school"] == {"urn": academy.urn, "laestab": academy.laestab}
            record = page["data"][0]
            assert set(record) == {
                "student",
                "date",
                "session",
                "attendance_code",
                "minutes_late",
                "updated_at",
            }
            assert re.fullmatch(r"\d{4}-\d\d-\d\d 00:00:00\.000000", record["date"]["date"])
            assert record["date"]["timezone"] == "Europe/London"
        assert files, academy.urn
        for path in files:
            stamp = _stamp(path)
            assert stamp.hour == 18 and 30 <= stamp.minute < 50 and stamp.second == 0
    cp1252 = _files(home, "registers_*.csv")
    assert any(b"\r\n" in p.read_bytes() for p in cp1252)


@pytest.fixture(scope="module")
def small_pages(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path]:
    """A tiny trust with a small API page size, so every day spans several pages."""
    from attendance.generate import writers

    home = tmp_path_factory.mktemp("pages")
    saved = writers.API_PAGE_SIZE
    writers.API_PAGE_SIZE = 40
    try:
        generate_trust(
            home, academies=4, pupils=300, start=date(2025, 9, 8), end=date(2025, 9, 12), seed=5
        )
    finally:
        writers.API_PAGE_SIZE = saved
    return (home,)


@pytest.mark.parametrize("case", ["crossing", "medium", "small_pages"])
def test_api_pages_chain_to_the_last(case: str, request: pytest.FixtureRequest) -> None:
    home = request.getfixturevalue(case)[0]
    groups: dict[tuple[str, str], list[tuple[int, dict]]] = defaultdict(list)
    for path in _files(home, "attendance_*_p*.json"):
        match = STAMP.search(path.name)
        page = json.loads(path.read_text(encoding="utf-8"))
        assert page["meta"]["pagination"]["page"] == int(match.group(2))
        assert len(page["data"]) <= 500
        groups[(path.parent.name, match.group(1))].append((int(match.group(2)), page))
    assert groups
    if case == "small_pages":
        assert max(len(v) for v in groups.values()) > 1
    for pages in groups.values():
        pages.sort(key=lambda x: x[0])
        assert [n for n, _ in pages] == list(range(1, len(pages) + 1))
        assert [p["meta"]["pagination"]["more"] for _, p in pages] == [True] * (len(pages) - 1) + [
            False
        ]
        assert len({p["extracted_at"] for _, p in pages}) == 1


def _file_marks(home: Path) -> Counter:
    """Marks per academy counted straight from the files (re-deliveries included)."""
    counts: Counter = Counter()
    for path in _files(home, "registers_*.csv") + _files(home, "attendance_*.csv"):
        counts[path.parent.name] += len(_text(path).splitlines()) - 1
    for path in _files(home, "weekly_*.csv"):
        rows = list(csv.reader(io.StringIO(_text(path))))[2:]
        counts[path.parent.name] += sum(1 for r in rows for c in r[5:] if c not in ("", "-"))
    for path in _files(home, "attendance_*_p*.json"):
        counts[path.parent.name] += len(json.loads(path.read_text(encoding="utf-8"))["data"])
    return counts


def test_truth_matches_files(crossing: tuple[Path, Path, dict]) -> None:
    home, truth_path, summary = crossing
    truth = pd.read_parquet(truth_path)
    assert list(truth.columns) == [
        "urn",
        "upn",
        "mark_date",
        "session",
        "code",
        "minutes_late",
        "extracted_at",
    ]
    assert len(truth) == summary["marks"]
    assert dict(truth.groupby("urn").size()) == dict(_file_marks(home))
    assert set(truth.session) == {"AM", "PM"}
    assert truth.upn.map(upn_problem).isna().all()


def test_marks_only_on_register_days_with_valid_codes(crossing: tuple[Path, Path, dict]) -> None:
    home, truth_path, _ = crossing
    truth = pd.read_parquet(truth_path)
    h = Home(home)
    for academy in load_trust(h).academies:
        cal = SchoolCalendar(load_calendar(h, academy.calendar))
        marks = truth[truth.urn == academy.urn]
        days = set(marks.mark_date)
        assert days <= set(cal.register_days)
        assert (marks.mark_date <= marks.extracted_at.dt.date).all()
        closed = marks[marks.mark_date.isin(list(cal.closures))]
        assert len(closed) and set(closed.code) == {"#"}
    assert valid_code_mask(truth.code, truth.mark_date).all()
    before = truth[truth.mark_date < date(2024, 8, 19)]
    after = truth[truth.mark_date >= date(2024, 8, 19)]
    assert len(before) and len(after)
    assert not set(after.code) & {"H", "J", "Y"}


def test_one_key_once_per_delivery(crossing: tuple[Path, Path, dict]) -> None:
    _, truth_path, _ = crossing
    truth = pd.read_parquet(truth_path)
    assert not truth.duplicated(["urn", "upn", "mark_date", "session", "extracted_at"]).any()


def test_marks_only_for_pupils_on_roll(crossing: tuple[Path, Path, dict]) -> None:
    home, truth_path, _ = crossing
    truth = pd.read_parquet(truth_path)
    today = truth[truth.mark_date == truth.extracted_at.dt.date]
    for urn, marks in today.groupby("urn"):
        rolls = sorted((home / "landing" / urn).glob("pupils_*.csv"))
        spans: dict[str, list[tuple[date, date]]] = defaultdict(list)
        for path in rolls:
            for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))):
                leave = date.fromisoformat(row["Leaving Date"]) if row["Leaving Date"] else date.max
                spans[row["UPN"]].append((date.fromisoformat(row["Entry Date"]), leave))
        for upn, day in marks[["upn", "mark_date"]].drop_duplicates().itertuples(index=False):
            assert any(e <= day <= lv for e, lv in spans[upn]), (urn, upn, day)


def test_realistic_attendance(medium: tuple[Path, pd.DataFrame]) -> None:
    home, truth = medium
    latest = truth.sort_values("extracted_at").drop_duplicates(
        ["urn", "upn", "mark_date", "session"], keep="last"
    )
    attended = set("/\\LKVPWB")
    absent = {"C", "E", "I", "M", "R", "S", "T", "J1", "G", "N", "O", "U"}
    possible = latest[latest.code.isin(attended | absent)]
    per_pupil = possible.assign(att=possible.code.isin(attended)).groupby(["urn", "upn"]).att
    rate = per_pupil.mean()[per_pupil.size() >= 100] * 100
    assert 93 <= rate.median() <= 98
    persistent = (rate <= 90).mean()
    assert 0.10 <= persistent <= 0.30
    assert 0.003 <= (rate <= 50).mean() <= 0.04
    codes = set(latest.code)
    assert {"I", "O", "G", "L", "U", "M", "X", "D", "V", "#", "Y4"} <= codes
    # N is amended later (to I or O) in a later delivery.
    first = truth.sort_values("extracted_at").drop_duplicates(
        ["urn", "upn", "mark_date", "session"], keep="first"
    )
    n_first = first[first.code == "N"].set_index(["urn", "upn", "mark_date", "session"])
    final = latest.set_index(["urn", "upn", "mark_date", "session"]).code
    recoded = final.reindex(n_first.index)
    assert (recoded.isin(["I", "O"])).mean() > 0.95
    # Present AM marks with an arrival after the late time: ~0.1%, only where times travel.
    am = truth[(truth.code == "/") & (truth.session == "AM")]
    share = am.minutes_late.notna().mean()
    assert 0.0003 < share < 0.003
    # Winter illness is higher than early autumn.
    ill = latest.assign(month=pd.to_datetime(latest.mark_date).dt.month)
    by_month = ill.groupby("month").code.apply(lambda c: (c == "I").mean())
    assert by_month[1] > by_month[9]
    surnames = {
        row["Surname"]
        for p in _files(home, "pupils_*.csv")
        for row in csv.DictReader(io.StringIO(p.read_text(encoding="utf-8")))
    }
    assert any(s[0] in "=-@+" for s in surnames)  # formula-like names reach the exports
    assert any(not s.isascii() for s in surnames)
    grids = "".join(_text(p) for p in _files(home, "weekly_*.csv"))
    assert ",-," in grids or ",-\n" in grids
