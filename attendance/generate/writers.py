"""Files as the MIS families write them (SPEC 3): roll snapshots and the four register formats.

Rows are built as strings from per-pupil prefixes computed once per academic year, because the
largest trust writes ~15 million marks and a csv.writer call per row would dominate the run.
Every writer also returns what it wrote as arrays, so the ground-truth parquet describes the
files exactly (one row per mark in each file, re-deliveries included).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

from attendance.calendar import academic_year_start, week_start
from attendance.generate.behaviour import DISPLAY, MISSING_ID, DayMarks
from attendance.generate.calendars import SUN, on_or_before
from attendance.generate.pupils import NO_LEAVE, Roll, nc_label
from attendance.generate.registry import AcademyPlan

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
API_PAGE_SIZE = 500
AMENDED_AT = "10:20:00"  # when the office recodes earlier marks, in the api's updated_at

_CELL = np.array(DISPLAY + ("",), dtype=object)  # index -1 (empty cell) -> ''
_CODES = np.array(DISPLAY, dtype=object)


def stamp(moment: datetime) -> str:
    """The extraction time as file names carry it: YYYYMMDDTHHMMSS."""
    return moment.strftime("%Y%m%dT%H%M%S")


def uk_offset(d: date) -> str:
    """UTC offset of Europe/London on `d` (BST from the last Sunday of March to the last Sunday
    of October), computed by rule so output never depends on the machine's tz database."""
    bst = on_or_before(date(d.year, 3, 31), SUN) <= d < on_or_before(date(d.year, 10, 31), SUN)
    return "+01:00" if bst else "+00:00"


def iso_local(d: date, hhmmss: str) -> str:
    return f"{d.isoformat()}T{hhmmss}{uk_offset(d)}"


def csv_field(value: str) -> str:
    """RFC 4180 quoting, only where needed (as MIS exports do)."""
    if any(ch in value for ch in ',"\r\n') or value != value.strip():
        return '"' + value.replace('"', '""') + '"'
    return value


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _write(path: Path, lines: list[str], encoding: str, newline: str = "\n") -> None:
    path.write_bytes((newline.join(lines) + newline).encode(encoding))


@dataclass
class Truth:
    """What one file said: one element per mark (pupil index, date ordinal, 0/1, code id)."""

    pupil: np.ndarray
    day: np.ndarray
    session: np.ndarray
    code: np.ndarray
    minutes: np.ndarray  # -1 = not given
    extracted: datetime


def write_roll(folder: Path, roll: Roll, day: date, moment: datetime) -> Path:
    """A full roll snapshot: everyone on roll at some point this academic year up to `day`."""
    o = day.toordinal()
    ay = academic_year_start(day)
    members = np.flatnonzero((roll.entry <= o) & (roll.leave >= ay.toordinal()))
    members = roll.order(ay.year, members)
    nc = roll.nc(ay.year)
    groups = roll.reg_groups(ay.year)
    lines = [ROLL_HEADER]
    for p in members.tolist():
        leave = int(roll.leave[p])
        lines.append(
            ",".join(
                (
                    roll.upn[p],
                    csv_field(roll.surname[p]),
                    csv_field(roll.forename[p]),
                    date.fromordinal(int(roll.dob[p])).isoformat(),
                    roll.gender[p],
                    nc_label(int(nc[p])),
                    groups[p],
                    date.fromordinal(int(roll.entry[p])).isoformat(),
                    date.fromordinal(leave).isoformat() if leave != NO_LEAVE and leave <= o else "",
                    "Y" if roll.fsm[p] else "N",
                    roll.sen[p],
                    "Y" if roll.eal[p] else "N",
                    roll.ethnicity[p],
                    roll.home_la[p],
                )
            )
        )
    path = folder / f"pupils_{stamp(moment)}.csv"
    _write(path, lines, "utf-8")
    return path


def _minutes_text(values: np.ndarray) -> list[str]:
    return [str(v) if v >= 0 else "" for v in values.tolist()]


class RegisterWriter:
    """Shared machinery: per-year pupil prefixes and the truth of today's marks."""

    prefix_kind = ""

    def __init__(self, plan: AcademyPlan, roll: Roll, folder: Path) -> None:
        self.plan, self.roll, self.folder = plan, roll, folder
        self.newline = "\r\n" if plan.encoding == "cp1252" else "\n"
        self._prefix_year = -1
        self._prefix = np.zeros(0, dtype=object)

    def prefixes(self, d: date) -> np.ndarray:
        year = academic_year_start(d).year
        if year != self._prefix_year:
            self._prefix = np.array(self.build_prefixes(year), dtype=object)
            self._prefix_year = year
        return self._prefix

    def build_prefixes(self, year: int) -> list[str]:
        raise NotImplementedError

    def write(self, dm: DayMarks, moment: datetime) -> tuple[list[Path], list[Truth]]:
        raise NotImplementedError

    @staticmethod
    def day_truth(dm: DayMarks, moment: datetime) -> Truth:
        """Today's marks then the amendments, as rows of the truth table."""
        m = len(dm.pupils)
        o = dm.day.toordinal()
        return Truth(
            pupil=np.concatenate([np.repeat(dm.pupils, 2), dm.amend_pupil]),
            day=np.concatenate([np.full(2 * m, o, dtype=np.int64), dm.amend_date]),
            session=np.concatenate([np.tile([0, 1], m), dm.amend_session]),
            code=np.concatenate([np.stack([dm.am, dm.pm], axis=1).ravel(), dm.amend_code]),
            minutes=np.concatenate(
                [np.stack([dm.am_min, dm.pm_min], axis=1).ravel(), np.full(len(dm.amend_pupil), -1)]
            ),
            extracted=moment,
        )


class LongCsvWriter(RegisterWriter):
    """`registers_<ts>.csv`: one row per pupil per session; amendments follow today's rows."""

    def build_prefixes(self, year: int) -> list[str]:
        r, groups = self.roll, self.roll.reg_groups(year)
        return [
            f"{self.plan.laestab},{r.upn[p]},{csv_field(r.surname[p])},"
            f"{csv_field(r.forename[p])},{groups[p]},"
            for p in range(len(r))
        ]

    def write(self, dm: DayMarks, moment: datetime) -> tuple[list[Path], list[Truth]]:
        pre = self.prefixes(dm.day)
        ds = dm.day.strftime("%d/%m/%Y")
        lines = [LONG_HEADER]
        for p, ac, am_m, pc, pm_m in zip(
            pre[dm.pupils].tolist(),
            _CODES[dm.am].tolist(),
            _minutes_text(dm.am_min),
            _CODES[dm.pm].tolist(),
            _minutes_text(dm.pm_min),
            strict=True,
        ):
            lines.append(f"{p}{ds},AM,{ac},{am_m}")
            lines.append(f"{p}{ds},PM,{pc},{pm_m}")
        for p, o, s, c in zip(
            pre[dm.amend_pupil].tolist(),
            dm.amend_date.tolist(),
            dm.amend_session.tolist(),
            _CODES[dm.amend_code].tolist(),
            strict=True,
        ):
            lines.append(
                f"{p}{date.fromordinal(o).strftime('%d/%m/%Y')},{'AM' if s == 0 else 'PM'},{c},"
            )
        path = self.folder / f"registers_{stamp(moment)}.csv"
        _write(path, lines, self.plan.encoding, self.newline)
        return [path], [self.day_truth(dm, moment)]


def year_group(nc: int) -> str:
    """Arbor's year group names."""
    return {-2: "Nursery 1", -1: "Nursery 2", 0: "Reception"}.get(nc, f"Year {nc}")


class ArborCsvWriter(RegisterWriter):
    """`attendance_<ts>.csv` (UTF-8 with BOM): Morning/Afternoon rows with arrival times."""

    def build_prefixes(self, year: int) -> list[str]:
        r, nc = self.roll, self.roll.nc(year)
        return [
            f"{self.plan.urn},{r.student_id[p]},{r.upn[p]},{csv_field(r.forename[p])},"
            f"{csv_field(r.surname[p])},{year_group(int(nc[p]))},"
            for p in range(len(r))
        ]

    def _arrivals(self, minutes: np.ndarray, start: int) -> list[str]:
        return [_clock(start + v) if v >= 0 else "" for v in minutes.tolist()]

    def write(self, dm: DayMarks, moment: datetime) -> tuple[list[Path], list[Truth]]:
        pre = self.prefixes(dm.day)
        ds = dm.day.isoformat()
        am_t = self._arrivals(dm.am_min, self.plan.minutes("am_start"))
        pm_t = self._arrivals(dm.pm_min, self.plan.minutes("pm_start"))
        lines = [ARBOR_HEADER]
        for p, ac, at, pc, pt in zip(
            pre[dm.pupils].tolist(),
            _CODES[dm.am].tolist(),
            am_t,
            _CODES[dm.pm].tolist(),
            pm_t,
            strict=True,
        ):
            lines.append(f"{p}{ds},Morning,{ac},{at}")
            lines.append(f"{p}{ds},Afternoon,{pc},{pt}")
        for p, o, s, c in zip(
            pre[dm.amend_pupil].tolist(),
            dm.amend_date.tolist(),
            dm.amend_session.tolist(),
            _CODES[dm.amend_code].tolist(),
            strict=True,
        ):
            lines.append(
                f"{p}{date.fromordinal(o).isoformat()},{'Morning' if s == 0 else 'Afternoon'},{c},"
            )
        path = self.folder / f"attendance_{stamp(moment)}.csv"
        _write(path, lines, self.plan.encoding, self.newline)
        return [path], [self.day_truth(dm, moment)]


class WeeklyGridWriter(RegisterWriter):
    """`weekly_<ts>.csv`: this week to date, one row per pupil; amendments to earlier weeks are
    extra rows for that week with only the amended cells filled."""

    def __init__(self, plan: AcademyPlan, roll: Roll, folder: Path) -> None:
        super().__init__(plan, roll, folder)
        self.week = -1
        self.cells = np.full((10, len(roll)), -1, dtype=np.int16)
        self._order_year = -1
        self._order = np.zeros(0, dtype=np.int64)

    def build_prefixes(self, year: int) -> list[str]:
        r, groups = self.roll, self.roll.reg_groups(year)
        return [
            f"{r.upn[p]},{csv_field(r.surname[p])},{csv_field(r.forename[p])},{groups[p]},"
            for p in range(len(r))
        ]

    def _export_order(self, d: date) -> np.ndarray:
        year = academic_year_start(d).year
        if year != self._order_year:
            self._order = self.roll.order(year, np.arange(len(self.roll)))
            self._order_year = year
        return self._order

    def write(self, dm: DayMarks, moment: datetime) -> tuple[list[Path], list[Truth]]:
        pre = self.prefixes(dm.day)
        monday = week_start(dm.day).toordinal()
        if monday != self.week:
            self.cells.fill(-1)
            self.week = monday
        col = 2 * dm.day.weekday()
        self.cells[col, dm.pupils] = dm.am
        self.cells[col + 1, dm.pupils] = dm.pm
        this_week = dm.amend_date >= monday
        a = np.flatnonzero(this_week)
        self.cells[2 * (dm.amend_date[a] - monday) + dm.amend_session[a], dm.amend_pupil[a]] = (
            dm.amend_code[a]
        )
        order = self._export_order(dm.day)
        rows = order[(self.cells[:, order] >= 0).any(axis=0)]
        grid = self.cells[:, rows]
        ws = date.fromordinal(monday).strftime("%d/%m/%Y")
        lines = [f"School: {self.plan.name} ({self.plan.laestab})", GRID_HEADER]
        texts = _CELL[grid.T]
        lines += [
            f"{p}{ws}," + ",".join(cells)
            for p, cells in zip(pre[rows].tolist(), texts.tolist(), strict=True)
        ]
        filled = (grid >= 0) & (grid != MISSING_ID)
        c_idx, r_idx = np.nonzero(filled)
        truths = [
            Truth(
                rows[r_idx],
                monday + c_idx // 2,
                c_idx % 2,
                grid[c_idx, r_idx],
                np.full(len(c_idx), -1),
                moment,
            )
        ]
        earlier = np.flatnonzero(~this_week)
        if len(earlier):
            lines += self._amendment_rows(dm, earlier, pre)
            truths.append(
                Truth(
                    dm.amend_pupil[earlier],
                    dm.amend_date[earlier],
                    dm.amend_session[earlier],
                    dm.amend_code[earlier],
                    np.full(len(earlier), -1),
                    moment,
                )
            )
        path = self.folder / f"weekly_{stamp(moment)}.csv"
        _write(path, lines, self.plan.encoding, self.newline)
        return [path], truths

    def _amendment_rows(self, dm: DayMarks, which: np.ndarray, pre: np.ndarray) -> list[str]:
        rows: dict[tuple[int, str, int], list[str]] = {}
        for i in which.tolist():
            o, p = int(dm.amend_date[i]), int(dm.amend_pupil[i])
            monday = week_start(date.fromordinal(o)).toordinal()
            cells = rows.setdefault((monday, self.roll.upn[p], p), [""] * 10)
            cells[2 * (o - monday) + int(dm.amend_session[i])] = DISPLAY[int(dm.amend_code[i])]
        return [
            f"{pre[p]}{date.fromordinal(monday).strftime('%d/%m/%Y')}," + ",".join(cells)
            for (monday, _, p), cells in sorted(rows.items())
        ]


class ApiJsonWriter(RegisterWriter):
    """`attendance_<ts>_p<N>.json`: pages of at most API_PAGE_SIZE records; the last page says
    `more: false`. JSON text is assembled with sorted keys and fixed layout, so bytes repeat."""

    def build_prefixes(self, year: int) -> list[str]:
        r = self.roll
        return [
            json.dumps(
                {"forename": r.forename[p], "surname": r.surname[p], "upn": r.upn[p]},
                ensure_ascii=False,
                sort_keys=True,
            )
            for p in range(len(r))
        ]

    @staticmethod
    def _record(student: str, code: str, day: str, session: str, minutes: int, updated: str) -> str:
        late = "null" if minutes < 0 else str(minutes)
        return (
            f'{{"attendance_code": {{"code": {json.dumps(code)}}}, "date": {{"date": '
            f'"{day} 00:00:00.000000", "timezone": "Europe/London"}}, "minutes_late": '
            f'{late}, "session": "{session}", "student": {student}, "updated_at": '
            f'"{updated}"}}'
        )

    def write(self, dm: DayMarks, moment: datetime) -> tuple[list[Path], list[Truth]]:
        pre = self.prefixes(dm.day)
        d = dm.day
        ds = d.isoformat()
        am0, pm0 = self.plan.minutes("am_start"), self.plan.minutes("pm_start")
        am_upd = iso_local(d, _clock(am0 + 3) + ":00")
        pm_upd = iso_local(d, _clock(pm0 + 3) + ":00")
        records = []
        for s, ac, am_m, pc, pm_m in zip(
            pre[dm.pupils].tolist(),
            _CODES[dm.am].tolist(),
            dm.am_min.tolist(),
            _CODES[dm.pm].tolist(),
            dm.pm_min.tolist(),
            strict=True,
        ):
            upd = am_upd if am_m < 0 else iso_local(d, _clock(am0 + am_m) + ":00")
            records.append(self._record(s, ac, ds, "AM", am_m, upd))
            upd = pm_upd if pm_m < 0 else iso_local(d, _clock(pm0 + pm_m) + ":00")
            records.append(self._record(s, pc, ds, "PM", pm_m, upd))
        amended = iso_local(d, AMENDED_AT)
        for s, o, sess, c in zip(
            pre[dm.amend_pupil].tolist(),
            dm.amend_date.tolist(),
            dm.amend_session.tolist(),
            _CODES[dm.amend_code].tolist(),
            strict=True,
        ):
            records.append(
                self._record(
                    s, c, date.fromordinal(o).isoformat(), "AM" if sess == 0 else "PM", -1, amended
                )
            )
        pages = max(1, -(-len(records) // API_PAGE_SIZE))
        school = json.dumps({"laestab": self.plan.laestab, "urn": self.plan.urn}, sort_keys=True)
        extracted = json.dumps(iso_local(d, moment.strftime("%H:%M:%S")))
        paths = []
        for n in range(pages):
            chunk = records[n * API_PAGE_SIZE : (n + 1) * API_PAGE_SIZE]
            more = "true" if n + 1 < pages else "false"
            text = (
                '{"data": [\n' + ",\n".join(chunk) + "\n], "
                f'"extracted_at": {extracted}, "meta": {{"pagination": {{"more": {more}, '
                f'"page": {n + 1}}}}}, "school": {school}}}\n'
            )
            path = self.folder / f"attendance_{stamp(moment)}_p{n + 1}.json"
            path.write_bytes(text.encode("utf-8"))
            paths.append(path)
        return paths, [self.day_truth(dm, moment)]


WRITERS: dict[str, type[RegisterWriter]] = {
    "long_csv": LongCsvWriter,
    "arbor_csv": ArborCsvWriter,
    "weekly_grid_csv": WeeklyGridWriter,
    "api_json": ApiJsonWriter,
}


def extraction_time(d: date, plan: AcademyPlan) -> datetime:
    """When the academy's MIS export ran on `d`: 18:30 plus the academy's offset."""
    return datetime(d.year, d.month, d.day, 18, 30) + timedelta(minutes=plan.extract_offset_min)
