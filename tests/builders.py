"""Tiny hand-written homes for tests: one academy, a calendar we can count on our fingers, and
registers written mark by mark, so expected values can be worked out by hand."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path

import yaml

from attendance.home import REPO_ROOT
from attendance.upn import make_upn

URN = "140001"
LAESTAB = "9312001"
LA = "931"

CALENDAR = {
    "terms": [
        {"start": date(2025, 4, 22), "end": date(2025, 7, 18)},
        {"start": date(2025, 9, 1), "end": date(2025, 12, 19)},
    ],
    "holidays": [{"start": date(2025, 10, 27), "end": date(2025, 10, 31)}],
    "closures": [{"date": date(2025, 11, 14), "reason": "INSET"}],
}


def upn(serial: int) -> str:
    return make_upn(LA, LAESTAB[3:], 20, serial)


def write_config(
    root: Path,
    policy: str = "four_six_ten",
    source_format: str = "long_csv",
    academies: list[dict] | None = None,
) -> None:
    (root / "config" / "calendars").mkdir(parents=True, exist_ok=True)
    (root / "config" / "policies").mkdir(parents=True, exist_ok=True)
    trust = {
        "trust": "Test Trust",
        "academies": academies
        or [
            {
                "urn": URN,
                "laestab": LAESTAB,
                "name": "Test Primary",
                "phase": "primary",
                "la_code": LA,
                "source_format": source_format,
                "policy": policy,
                "calendar": "default",
                "registers": {
                    "am_start": "08:45",
                    "am_late": "09:00",
                    "am_close": "09:15",
                    "pm_start": "13:00",
                    "pm_late": "13:15",
                    "pm_close": "13:30",
                },
            }
        ],
    }
    (root / "config" / "trust.yml").write_text(yaml.safe_dump(trust, sort_keys=False))
    (root / "config" / "calendars" / "default.yml").write_text(yaml.safe_dump(CALENDAR))
    for p in sorted((REPO_ROOT / "config" / "policies").glob("*.yml")):
        shutil.copy(p, root / "config" / "policies" / p.name)


def register_days(start: date, end: date) -> list[date]:
    """Weekdays in CALENDAR's terms, not holidays (closures included)."""
    out = []
    d = start
    hol = [(h["start"], h["end"]) for h in CALENDAR["holidays"]]
    terms = [(t["start"], t["end"]) for t in CALENDAR["terms"]]
    while d <= end:
        if (
            d.weekday() < 5
            and any(a <= d <= b for a, b in terms)
            and not any(a <= d <= b for a, b in hol)
        ):
            out.append(d)
        d += timedelta(days=1)
    return out


def write_roll(root: Path, pupils: Iterable[dict], when: date, urn: str = URN) -> None:
    folder = root / "landing" / urn
    folder.mkdir(parents=True, exist_ok=True)
    header = (
        "UPN,Surname,Forename,Date of Birth,Gender,NC Year,Reg Group,Entry Date,"
        "Leaving Date,FSM,SEN,EAL,Ethnicity,Home LA"
    )
    lines = [header]
    for p in pupils:
        lines.append(
            f"{p['upn']},{p.get('surname', 'Pupil')},{p.get('forename', 'Test')},"
            f"{p.get('dob', '2016-05-01')},{p.get('gender', 'F')},{p.get('nc_year', '4')},"
            f"{p.get('reg_group', '4A')},{p.get('entry', '2020-09-01')},{p.get('leaving', '')},"
            f"{p.get('fsm', 'N')},{p.get('sen', 'N')},{p.get('eal', 'N')},WBRI,{LA}"
        )
    name = f"pupils_{when.strftime('%Y%m%d')}T070000.csv"
    (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_long_csv(
    root: Path,
    extracted: date,
    marks: list[tuple[str, date, str, str]],
    hour: str = "183000",
    urn: str = URN,
    laestab: str = LAESTAB,
) -> Path:
    """marks: (upn, date, session, code)."""
    folder = root / "landing" / urn
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["LAESTAB,UPN,Surname,Forename,Reg Group,Date,Session,Mark,Minutes Late"]
    for u, d, s, code in marks:
        lines.append(f"{laestab},{u},Pupil,Test,4A,{d.strftime('%d/%m/%Y')},{s},{code},")
    path = folder / f"registers_{extracted.strftime('%Y%m%d')}T{hour}.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
