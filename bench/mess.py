"""A messy copy of a benchmark trust, and the check that ingestion rejects exactly its mess.

The generator writes clean exports: at M not one record is rejected, so the clean full rebuild
never takes quarantine, the gate's failure examples or the data-quality report's reasons to
scale (a crash found on 3 December needed more than 200 failures of one check in a gate
batch). Real MIS exports are not clean. `make_messy` copies a cached trust (landing files
hard-linked, the edited ones rewritten) and injects, deterministically, the faults trusts see
in each of the four formats and in the rolls, recording as it edits what each must give: the
delivery, the reason code and how many records. Those expectations come from the edits (one
record edited is one record rejected; a repeated key with another code is two), not from
running the platform; `compare` sets them against what ingestion rejected (`rejected`).

Per academy (file choices seeded by the academy's place in the trust):
- an unknown code ("ZZ") in 3 records of each of 4 register files          -> code_unknown
- a wrong UPN check letter in 2 records of each of 3 files (not the grid,
  where one row is up to ten records: it gets a fourth unknown-code file)  -> upn_invalid
- a record repeated with another code, in each of 2 files                   -> conflict (2)
- a file cut short in transfer (a CSV's last record, half an API page)      -> file_truncated /
                                                                               file_unreadable
- a roll snapshot with an impossible NC Year; another with a pupil twice,
  the rows differing (reg group), and a pupil's row repeated exactly        -> roll_field_invalid
                                                                               / roll_duplicate (2)
                                                                               / nothing rejected
- every fifth academy from the third: a week of an unmapped local present
  mark ("PR" for every "/" and "\\" in 5 consecutive register files)        -> code_unknown
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from attendance.config import load_trust
from attendance.home import Home

UNKNOWN_CODE = "ZZ"
LOCAL_CODE = "PR"  # an MIS's own "present" code nobody put in the academy's code_map
NC_YEAR_BAD = "Y9"
MISSING = {"", "-"}  # no mark entered: not a record the faults below may edit
CHECK_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"  # a UPN's first character (domain/codes.md)
REGISTER_FILE = re.compile(r"^(registers|attendance|weekly)_\d{8}T\d{6}(_p\d+)?\.(csv|json)$")
ROLL_FILE = re.compile(r"^pupils_\d{8}T\d{6}\.csv$")
JSON_CODE = re.compile(r'^(\{"attendance_code": \{"code": ")((?:[^"\\]|\\.)*)(")')
JSON_UPN = re.compile(r'("upn": ")([^"]*)(")')
QUIET_FILES = 5  # the first and last files of the year stay clean (the measured last day)
STAMP = "injected.json"


@dataclass
class Fault:
    urn: str
    file: str
    delivery: str  # the delivery key: the file's stem, or attendance_<ts> for API pages
    fault: str
    reason_code: str
    records: int  # rejected records it must give (a whole-delivery rejection is one)


def delivery_key(name: str) -> str:
    stem = name.rsplit(".", 1)[0]
    return re.sub(r"_p\d+$", "", stem)


class _Text:
    """A landing file as lines, written back in its own encoding and line ends."""

    def __init__(self, path: Path) -> None:
        raw = path.read_bytes()
        try:
            self.encoding, text = "utf-8", raw.decode("utf-8")
        except UnicodeDecodeError:
            self.encoding, text = "cp1252", raw.decode("cp1252")
        self.lines = text.split("\n")  # each keeps its "\r", if the file has CRLF ends

    def write(self, path: Path) -> None:
        path.write_bytes("\n".join(self.lines).encode(self.encoding))


def _fields(line: str) -> tuple[list[str], str]:
    end = "\r" if line.endswith("\r") else ""
    return line[: len(line) - len(end)].split(","), end


class _Csv:
    """The records of a CSV export (a register or a roll): the (line, column) cells of its
    codes, its columns by name."""

    def __init__(self, text: _Text, kind: str) -> None:
        self.text = text
        at = next(i for i, line in enumerate(text.lines) if "UPN" in line)
        header, _ = _fields(text.lines[at].lstrip("\ufeff"))
        self.width = len(header)
        self.column = {name: i for i, name in enumerate(header)}
        self.upn = header.index("UPN")
        if kind == "weekly_grid_csv":
            self.codes = list(range(header.index("Week Beginning") + 1, len(header)))
        elif kind == "pupils":
            self.codes = []
        else:
            self.codes = [header.index("Mark")]
        self.rows = [
            i
            for i in range(at + 1, len(text.lines))
            if '"' not in text.lines[i] and len(_fields(text.lines[i])[0]) == self.width
        ]

    def cells(self) -> list[tuple[int, int]]:
        """Every (line, column) holding an entered mark."""
        out = []
        for i in self.rows:
            values, _ = _fields(self.text.lines[i])
            out += [(i, c) for c in self.codes if values[c].strip() not in MISSING]
        return out

    def get(self, i: int, c: int) -> str:
        return _fields(self.text.lines[i])[0][c]

    def set(self, i: int, c: int, value: str) -> None:
        values, end = _fields(self.text.lines[i])
        values[c] = value
        self.text.lines[i] = ",".join(values) + end

    def repeat_with(self, i: int, c: int, value: str) -> None:
        """The record at line i again, right after it, with another code in column c."""
        values, end = _fields(self.text.lines[i])
        values[c] = value
        self.text.lines.insert(i + 1, ",".join(values) + end)

    def truncate(self) -> None:
        """The last record cut after its third field, with no line end: a transfer cut short."""
        last = max(self.rows)
        values, _ = _fields(self.text.lines[last])
        del self.text.lines[last + 1 :]
        self.text.lines[last] = ",".join(values[:3]) + ","


class _Page:
    """The records of an API page: one per line, as the export writes them."""

    def __init__(self, text: _Text) -> None:
        self.text = text
        self.rows = [i for i, line in enumerate(text.lines) if JSON_CODE.match(line)]

    def cells(self) -> list[tuple[int, int]]:
        return [(i, 0) for i in self.rows if self.get(i, 0) not in MISSING]

    def get(self, i: int, c: int) -> str:
        return json.loads(f'"{JSON_CODE.match(self.text.lines[i])[2]}"')

    def set(self, i: int, c: int, value: str) -> None:
        self.text.lines[i] = JSON_CODE.sub(
            lambda m: m[1] + json.dumps(value)[1:-1] + m[3], self.text.lines[i], count=1
        )

    def repeat_with(self, i: int, c: int, value: str) -> None:
        line = self.text.lines[i]
        copy = line if line.rstrip("\r").endswith(",") else line.rstrip("\r") + ","
        self.text.lines.insert(i + 1, copy)
        self.set(i + 1, c, value)
        if not line.rstrip("\r").endswith(","):  # the page's last record: the copy comes first
            self.text.lines[i], self.text.lines[i + 1] = self.text.lines[i + 1], line

    def upn(self, i: int, change) -> None:
        self.text.lines[i] = JSON_UPN.sub(
            lambda m: m[1] + change(m[2]) + m[3], self.text.lines[i], count=1
        )

    def truncate(self) -> None:
        """Half the page: what a transfer cut short leaves (not valid JSON)."""
        whole = "\n".join(self.text.lines)
        self.text.lines = [whole[: len(whole) // 2]]


def _wrong_check_letter(upn: str) -> str:
    return CHECK_LETTERS[(CHECK_LETTERS.index(upn[0]) + 1) % len(CHECK_LETTERS)] + upn[1:]


def _other_code(code: str) -> str:
    """A valid code in force in 2025/26, other than `code`: the conflicting repeat."""
    return "N" if code != "N" else "O"


class _Academy:
    """One academy's landing folder being messed up: files are edited in memory, then written."""

    def __init__(self, urn: str, kind: str, folder: Path, rng: np.random.Generator) -> None:
        self.urn, self.kind, self.folder, self.rng = urn, kind, folder, rng
        names = sorted(os.listdir(folder))
        registers = [n for n in names if REGISTER_FILE.match(n)]
        rolls = [n for n in names if ROLL_FILE.match(n)]
        quiet = QUIET_FILES if len(registers) > 4 * QUIET_FILES else 1
        self.free = [registers[i] for i in rng.permutation(range(quiet, len(registers) - quiet))]
        first = 1 if len(rolls) > 1 else 0  # the year's first snapshot stays clean if it can
        self.rolls = [rolls[i] for i in rng.permutation(range(first, len(rolls)))]
        self.edited: dict[str, _Text] = {}
        self.faults: list[Fault] = []

    def _open(self, name: str) -> _Csv | _Page:
        text = self.edited.setdefault(name, _Text(self.folder / name))
        return _Page(text) if name.endswith(".json") else _Csv(text, self.kind)

    def _take(self, pool: list[str], want: int = 1) -> list[str]:
        taken, pool[:] = pool[:want], pool[want:]
        return taken

    def _fault(self, name: str, fault: str, code: str, records: int, none: bool = False) -> None:
        """Record a fault giving `records` rejected records (`none`: a fault that must give
        none, recorded all the same)."""
        if records or none:
            self.faults.append(Fault(self.urn, name, delivery_key(name), fault, code, records))

    def _pick(self, cells: list, n: int) -> list:
        return [cells[i] for i in sorted(self.rng.choice(len(cells), min(n, len(cells)), False))]

    def unknown_codes(self, files: int, per_file: int) -> None:
        for name in self._take(self.free, files):
            table = self._open(name)
            picked = self._pick(table.cells(), per_file)
            for i, c in picked:
                table.set(i, c, UNKNOWN_CODE)
            self._fault(name, "unknown code", "code_unknown", len(picked))

    def wrong_upns(self, files: int, per_file: int) -> None:
        for name in self._take(self.free, files):
            table = self._open(name)
            lines = sorted({i for i, _ in table.cells()})
            picked = [lines[i] for i in sorted(self.rng.choice(len(lines), per_file, False))]
            for i in picked:
                if isinstance(table, _Page):
                    table.upn(i, _wrong_check_letter)
                else:
                    table.set(i, table.upn, _wrong_check_letter(table.get(i, table.upn)))
            self._fault(name, "wrong UPN check letter", "upn_invalid", len(picked))

    def conflicts(self, files: int) -> None:
        for name in self._take(self.free, files):
            table = self._open(name)
            ((i, c),) = self._pick(table.cells(), 1)
            table.repeat_with(i, c, _other_code(table.get(i, c)))
            self._fault(name, "a record repeated with another code", "conflict", 2)

    def truncated(self) -> None:
        """First of the faults: the whole delivery is rejected, so none of its other pages
        may carry another fault."""
        for name in self._take(self.free):
            self.free = [n for n in self.free if delivery_key(n) != delivery_key(name)]
            self._open(name).truncate()
            code = "file_unreadable" if name.endswith(".json") else "file_truncated"
            self._fault(name, "file cut short", code, 1)

    def local_code_week(self, files: int) -> None:
        """The academy's MIS started writing its own present mark for a week."""
        start = min(self.free)  # consecutive files from the earliest still untouched
        names = sorted(os.listdir(self.folder))
        week = [n for n in names[names.index(start) :] if REGISTER_FILE.match(n)]
        week = [n for n in week if n in self.free][:files]
        for name in week:
            self.free.remove(name)
            table = self._open(name)
            present = [(i, c) for i, c in table.cells() if table.get(i, c).strip() in "/\\"]
            for i, c in present:
                table.set(i, c, LOCAL_CODE)
            self._fault(name, "unmapped local present mark", "code_unknown", len(present))

    def bad_rolls(self) -> None:
        """Two snapshots (after the first), or all three faults in one when there is only one."""
        names = self._take(self.rolls, 2)
        if not names:
            return
        table = self._roll(names[0])
        i, j, k = self._pick(table.rows, 3)
        table.set(i, table.column["NC Year"], NC_YEAR_BAD)
        self._fault(names[0], "impossible NC Year", "roll_field_invalid", 1)
        if len(names) > 1:
            table = self._roll(names[1])
            j, k = self._pick(table.rows, 2)
        # Inserted from the bottom up, so that the first insertion does not move the second.
        values, end = _fields(table.text.lines[j])
        values[table.column["Reg Group"]] += "X"
        first, second = sorted([(j, ",".join(values) + end), (k, table.text.lines[k])])
        table.text.lines.insert(second[0] + 1, second[1])
        table.text.lines.insert(first[0] + 1, first[1])
        self._fault(names[-1], "a pupil listed twice, the rows differing", "roll_duplicate", 2)
        # The same row twice is one pupil said twice: kept once, a warning, nothing rejected.
        self._fault(names[-1], "a pupil's row repeated exactly", "roll_repeated_row", 0, True)

    def _roll(self, name: str) -> _Csv:
        return _Csv(self.edited.setdefault(name, _Text(self.folder / name)), "pupils")

    def mess(self, index: int) -> None:
        self.truncated()
        self.unknown_codes(4 if self.kind != "weekly_grid_csv" else 5, 3)
        if self.kind != "weekly_grid_csv":
            self.wrong_upns(3, 2)
        self.conflicts(2)
        if index % 5 == 2:
            self.local_code_week(5)
        self.bad_rolls()


def make_messy(source: Path, dest: Path, seed: int = 11, log=print) -> list[Fault]:
    """`dest` as a home holding `source`'s trust with mess injected; the faults, also written to
    `dest/injected.json`. Untouched landing files are hard links to `source`'s."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(source / "config", dest / "config")
    trust = load_trust(Home.resolve(dest))
    faults: list[Fault] = []
    for index, academy in enumerate(trust.academies):
        folder = source / "landing" / academy.urn
        out = dest / "landing" / academy.urn
        out.mkdir(parents=True)
        one = _Academy(
            academy.urn, academy.source_format, folder, np.random.default_rng([seed, index])
        )
        one.mess(index)
        for name in sorted(os.listdir(folder)):
            if name in one.edited:
                one.edited[name].write(out / name)
            else:
                os.link(folder / name, out / name)
        faults += one.faults
    (dest / STAMP).write_text(json.dumps([asdict(f) for f in faults], indent=1) + "\n")
    log(f"  {len(faults)} faults injected, {sum(f.records for f in faults)} records")
    return faults


def expected(faults: list[Fault]) -> dict[tuple[str, str, str], int]:
    """Rejected records by (urn, delivery, reason code) that the faults must give."""
    out: dict[tuple[str, str, str], int] = {}
    for f in faults:
        key = (f.urn, f.delivery, f.reason_code)
        out[key] = out.get(key, 0) + f.records
    return out


def load_faults(home: Path) -> list[Fault]:
    return [Fault(**f) for f in json.loads((home / STAMP).read_text())]


def rejected(home: Path) -> dict[tuple[str, str, str], int]:
    """What ingestion rejected in `home`, by (urn, delivery, reason code): every issue file's
    rejected rows (records, roll rows and whole deliveries alike)."""
    import duckdb

    files = list((home / "warehouse" / "issues").glob("*/*.parquet"))
    if not files:
        return {}
    rows = duckdb.sql(
        "select urn, delivery, reason_code, count(*)::int from read_parquet($files) "
        "where status = 'rejected' group by all",
        params={"files": [str(p) for p in files]},
    ).fetchall()
    return {(u, d, c): n for u, d, c, n in rows}


def compare(want: dict, got: dict) -> dict:
    """Every injected fault caught with its reason and count, and nothing else rejected."""
    keys = sorted(set(want) | set(got))
    differences = [
        {
            "urn": k[0],
            "delivery": k[1],
            "reason_code": k[2],
            "injected": want.get(k, 0),
            "rejected": got.get(k, 0),
        }
        for k in keys
        if want.get(k, 0) != got.get(k, 0)
    ]
    return {
        "deliveries_with_faults": len({k[:2] for k in want}),
        "records_injected": sum(want.values()),
        "records_rejected": sum(got.values()),
        "exact": not differences,
        "differences": differences[:20],
    }
