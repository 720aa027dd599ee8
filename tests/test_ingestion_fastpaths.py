"""The fast paths of ingestion give exactly what the general paths give.

- `read_rows` splits a CSV without quote characters with Arrow's CSV reader, or in C with
  string splitting; every other file goes through csv.reader. All must give the same rows,
  values and physical line numbers.
- `run_gates` validates many deliveries in one GX run; each delivery's result must equal what
  `run_gate` gives for it alone, failures, counts and examples included.
- `parse_rolls` checks many roll snapshots stacked; each snapshot's rows, rejections and
  reasons must be what it gives alone.
- `stack_rows` stacks the rows of many files (read by any of those paths) as Arrow and makes
  them a frame once; it must give what each file's frame gives, stacked, with its file name.
- `_key_numbers` numbers each record's key; records share a number exactly when
  `DataFrame.duplicated` takes them for the same key.
- `spread` makes a column from its distinct values by position; it must give the values and
  dtype of the column made record by record.
"""

from __future__ import annotations

import csv
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from ingestion import quality_gate
from ingestion.errors import FileRejected
from ingestion.files import discover
from ingestion.formats import table as table_module
from ingestion.formats.table import read_rows, spread, stack_rows
from ingestion.ingest import _roll_outputs
from ingestion.quality_gate import GateInput, run_gate, run_gates
from ingestion.rolls import parse_rolls
from ingestion.validate import _key_numbers
from tests.builders import URN, upn, write_roll

COLUMNS = ["UPN", "Date", "Mark"]
OTHER = "140998"  # a second academy of the trust


def read_table(raw: bytes, required: list[str], skip_lines: int = 0):
    """`read_rows` as a pandas frame, and the preamble."""
    rows, preamble = read_rows(raw, required, skip_lines)
    return rows.to_pandas(), preamble


def _slow(raw: bytes, required: list[str], skip_lines: int = 0):
    """read_table with the fast paths switched off: the csv.reader reference."""
    originals = table_module._read_arrow, table_module._read_unquoted
    table_module._read_arrow = table_module._read_unquoted = lambda *args: None
    try:
        return read_table(raw, required, skip_lines)
    finally:
        table_module._read_arrow, table_module._read_unquoted = originals


def _same_rows(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """The same rows, values and line numbers; text as Python strings or as Arrow's (the
    Arrow path keeps its strings, what pandas makes of text anyway)."""
    text = [c for c in want.columns if not c.startswith("_")]
    for frame in (got, want):
        assert all(pd.api.types.is_string_dtype(frame[c]) for c in text)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert got["_line"].dtype == want["_line"].dtype == "int64"


CASES = {
    "plain": "UPN,Date,Mark\nA1,01/09/2025,/\nA2,01/09/2025,N\n",
    "crlf, blank and trailing lines": (
        "UPN,Date,Mark\r\nA1,01/09/2025,/\r\n\r\n,,\r\nA2,x,N\r\n\r\n"
    ),
    "lone CR line ends": "UPN,Date,Mark\rA1,01/09/2025,/\rA2,01/09/2025,N\r",
    "no final line end": "UPN,Date,Mark\nA1,01/09/2025,/\nA2,01/09/2025,N",
    "extra and reordered columns": (
        "Extra,Mark,UPN,Date\nx,/,A1,01/09/2025\n y ,N, A2 ,02/09/2025\n"
    ),
    "whitespace-only row": "UPN,Date,Mark\n  , ,\t\nA1,01/09/2025,/\n",
    "quoted commas": 'UPN,Date,Mark\n"A,1",01/09/2025,/\nA2,01/09/2025,"N"\n',
    "quoted line break": 'UPN,Date,Mark\n"A\n1",01/09/2025,/\nA2,01/09/2025,N\n',
    "short row": "UPN,Date,Mark\nA1,01/09/2025\nA2,01/09/2025,N\n",
    "long row": "UPN,Date,Mark\nA1,01/09/2025,/,extra\nA2,01/09/2025,N\n",
    "header only": "UPN,Date,Mark\n",
    # str.strip() white space that is not a comma or a line end, and text that is not
    "other white space rows": "UPN,Date,Mark\n\xa0,\xa0 ,\n\x1c,\x0b,\x0c\nA1,01/09/2025,/\n",
    "a non-ASCII letter alone": "UPN,Date,Mark\né,,\nA1,01/09/2025,/\n",
    "a header name twice": "UPN,Date,Mark,UPN\nA1,01/09/2025,/,B\n",
}


@pytest.mark.parametrize("text", CASES.values(), ids=CASES.keys())
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_fast_and_slow_csv_readers_agree(text: str, encoding: str):
    raw = text.replace("A2", "Zoë").encode(encoding)
    fast, fast_pre = read_table(raw, COLUMNS)
    slow, slow_pre = _slow(raw, COLUMNS)
    _same_rows(fast, slow)
    assert fast_pre == slow_pre


@pytest.mark.parametrize("text", CASES.values(), ids=CASES.keys())
def test_arrow_path_gives_what_the_string_splitter_gives(text: str):
    body = text.replace("A2", "Zoë")
    arrow = table_module._read_arrow(body, COLUMNS, 2)
    if arrow is not None:
        _same_rows(arrow.to_pandas(), table_module._read_unquoted(body, COLUMNS, 2))


def test_arrow_path_is_taken_for_the_usual_export():
    for name in ["plain", "crlf, blank and trailing lines", "extra and reordered columns"]:
        assert table_module._read_arrow(CASES[name], COLUMNS, 0) is not None, name
    for name in ["quoted commas", "short row", "long row"]:
        assert table_module._read_arrow(CASES[name], COLUMNS, 0) is None, name


def test_fast_path_keeps_physical_line_numbers_after_a_preamble():
    raw = b"School: X (9312001)\nUPN,Date,Mark\n\nA1,01/09/2025,/\nA2,02/09/2025,N\n"
    fast, pre = read_table(raw, COLUMNS, skip_lines=1)
    assert pre == ["School: X (9312001)"]
    assert list(fast["_line"]) == [4, 5]
    _same_rows(fast, _slow(raw, COLUMNS, skip_lines=1)[0])


def test_fast_path_is_taken_only_without_quotes():
    assert table_module._read_unquoted("UPN,Date,Mark\nA1,d,/\n", COLUMNS, 0) is not None
    assert table_module._read_unquoted('UPN,Date,Mark\n"A1",d,/\n', COLUMNS, 0) is None
    assert table_module._read_unquoted("UPN,Date,Mark\nA1,d\n", COLUMNS, 0) is None


def test_files_read_by_every_path_stack_into_each_files_rows():
    # The Arrow path, csv.reader (quotes), a header alone (no rows) and a short row.
    texts = [CASES["plain"], CASES["quoted commas"], CASES["header only"], CASES["short row"]]
    names = ["a.csv", "b.csv", "c.csv", "d.csv"]
    stacked = stack_rows([read_rows(t.encode(), COLUMNS)[0] for t in texts], names)
    alone = [
        read_table(t.encode(), COLUMNS)[0].assign(_source_file=n)
        for t, n in zip(texts, names, strict=True)
    ]
    pd.testing.assert_frame_equal(stacked, pd.concat(alone, ignore_index=True))
    assert stacked["_source_file"].tolist() == ["a.csv"] * 2 + ["b.csv"] * 2 + ["d.csv"] * 2
    assert stacked["UPN"].tolist() == ["A1", "A2", "A,1", "A2", "A1", "A2"]
    assert stacked["_line"].tolist() == [2, 3, 2, 3, 2, 3]
    assert stacked["_short"].tolist() == [False, False, False, False, True, False]


def test_a_field_over_csvs_size_limit_is_refused_not_read_fast():
    """csv.reader refuses a field longer than csv.field_size_limit(); the fast paths must not
    read one. The Arrow path skips measuring the fields of a text under the limit whole."""
    before = csv.field_size_limit(40)
    try:
        long_field = "UPN,Date,Mark\nA1,01/09/2025,/\n" + "B" * 45 + ",01/09/2025,N\n"
        assert table_module._read_arrow(long_field, COLUMNS, 0) is None
        with pytest.raises(FileRejected, match="field larger than field limit"):
            read_rows(long_field.encode(), COLUMNS)
        under = "UPN,Date,Mark\nA1,01/09/2025,/\n"  # 16 bytes after the header
        assert table_module._read_arrow(under, COLUMNS, 0).num_rows == 1
    finally:
        csv.field_size_limit(before)


@pytest.mark.parametrize(
    "text",
    ["UPN,Date\nA1,d\n", "UPN,Date,Mark\nA1,01/09/2025,/\nA2,01/09", "\n\n"],
    ids=["missing column", "truncated", "blank"],
)
def test_unreadable_files_are_rejected_the_same_way(text: str):
    with pytest.raises(FileRejected) as fast:
        read_table(text.encode(), COLUMNS)
    with pytest.raises(FileRejected) as slow:
        _slow(text.encode(), COLUMNS)
    assert (fast.value.reason, fast.value.line) == (slow.value.reason, slow.value.line)


def _marks(rows: list[dict], day: date) -> pd.DataFrame:
    base = {
        "urn": URN,
        "upn": upn(1),
        "mark_date": day,
        "session": "AM",
        "code": "/",
        "minutes_late": pd.NA,
        "status": "loaded",
    }
    frame = pd.DataFrame([{**base, **r} for r in rows])
    frame["minutes_late"] = frame["minutes_late"].astype("Int64")
    return frame


def test_batched_gate_equals_one_gate_per_delivery():
    d1, d2, d3 = date(2025, 9, 8), date(2025, 9, 9), date(2025, 9, 10)
    gates = [
        GateInput(
            "long_csv", _marks([{}, {"session": "PM"}], d1), URN, datetime(2025, 9, 8, 18), "a"
        ),
        # the same key as delivery a: fine, it is another delivery
        GateInput(
            "long_csv",
            _marks([{}, {"upn": upn(2), "code": "Q9"}], d2),
            URN,
            datetime(2025, 9, 9, 18),
            "b",
        ),
        GateInput(
            "long_csv",
            _marks(
                [
                    {},
                    {},  # duplicate key
                    {"mark_date": date(2025, 9, 12), "upn": upn(3)},  # after the extraction
                    {"mark_date": None, "upn": upn(4)},
                    {"upn": "A12345", "session": "EV", "urn": "140999"},
                    {"minutes_late": 300, "upn": upn(5)},
                    {"code": "Q8", "status": "rejected", "upn": upn(6)},
                ],
                d3,
            ),
            URN,
            datetime(2025, 9, 10, 18),
            "c",
        ),
        GateInput(
            "long_csv",
            _marks([{"status": "rejected", "code": "Z9"}], d1),
            URN,
            datetime(2025, 9, 8, 19),
            "d",
        ),
        # Another academy in the same batch: its own URN passes, the first academy's does not.
        GateInput(
            "long_csv",
            _marks([{"urn": OTHER}, {"urn": URN, "upn": upn(2)}, {"urn": OTHER}], d1),
            OTHER,
            datetime(2025, 9, 8, 18),
            "a",
        ),
    ]
    rolls = [
        pd.DataFrame(
            {
                "urn": URN,
                "upn": [upn(1), upn(2), upn(2)][:n],
                "date_of_birth": [date(2016, 1, 1)] * n,
                "nc_year": ["4", "X", "4"][:n],
                "entry_date": [date(2020, 9, 1), date(2020, 9, 1), date(2021, 9, 1)][:n],
                "leaving_date": [None, date(2019, 1, 1), None][:n],
                "status": "loaded",
            }
        )
        for n in (3, 2)
    ]
    gates += [
        GateInput("pupils", rolls[0], URN, datetime(2025, 9, 1, 7), "pupils_a"),
        GateInput("pupils", rolls[1], URN, datetime(2025, 9, 2, 7), "pupils_b"),
        GateInput("pupils", rolls[1].assign(urn=OTHER), OTHER, datetime(2025, 9, 2, 7), "p"),
    ]
    # Both families really run as batches (not the one-by-one fallback).
    for family, members in (("marks", gates[:5]), ("pupils", gates[5:])):
        assert quality_gate._run_batch(family, members) is not None
    batched = run_gates(gates)
    alone = [run_gate(g.kind, g.frame, g.urn, g.extracted_at, g.name) for g in gates]
    for got, want in zip(batched, alone, strict=True):
        assert got == want
    assert not alone[2]["passed"] and alone[0]["passed"] and not alone[5]["passed"]
    identity = [r for r in alone[4]["results"] if r["check"].startswith("identity")][0]
    assert (identity["unexpected_count"], identity["examples"]) == (1, [URN])
    assert alone[7]["passed"] == alone[6]["passed"]


def test_batched_gate_names_examples_past_the_200_failures_gx_lists():
    """GX lists at most 200 unexpected values while it indexes every unexpected row: a
    delivery whose failures come after another's 250 in the batch still gets its own
    examples, counts and result (the batch once failed with an IndexError here)."""
    day = date(2025, 9, 8)
    many = _marks([{"upn": upn(n), "code": "Q9", "minutes_late": 300} for n in range(250)], day)
    few = _marks([{}, {"upn": upn(2), "code": "Q8"}, {"upn": upn(3), "minutes_late": 241}], day)
    gates = [
        GateInput("long_csv", many, URN, datetime(2025, 9, 8, 18), "many"),
        GateInput("long_csv", few, URN, datetime(2025, 9, 8, 19), "few"),
    ]
    assert quality_gate._run_batch("marks", gates) is not None
    batched = run_gates(gates)
    alone = [run_gate(g.kind, g.frame, g.urn, g.extracted_at, g.name) for g in gates]
    assert batched == alone
    code = [r for r in batched[1]["results"] if r["check"].startswith("code")][0]
    late = [r for r in batched[1]["results"] if r["check"].startswith("minutes late")][0]
    assert (code["unexpected_count"], code["examples"]) == (1, ["Q8"])
    assert (late["unexpected_count"], late["examples"]) == (1, [241])
    assert batched[0]["results"][2]["unexpected_count"] == 250

    def roll(n: int) -> pd.DataFrame:  # every pupil left before joining: a pair check fails
        return pd.DataFrame(
            {
                "urn": URN,
                "upn": [upn(i) for i in range(n)],
                "date_of_birth": [date(2016, 1, 1)] * n,
                "nc_year": "4",
                "entry_date": [date(2020, 9, 1)] * n,
                "leaving_date": [date(2019, 1, 1)] * n,
                "status": "loaded",
            }
        )

    rolls = [
        GateInput("pupils", roll(250), URN, datetime(2025, 9, 1, 7), "big"),
        GateInput("pupils", roll(2), URN, datetime(2025, 9, 2, 7), "small"),
    ]
    assert quality_gate._run_batch("pupils", rolls) is not None
    assert run_gates(rolls) == [
        run_gate(g.kind, g.frame, g.urn, g.extracted_at, g.name) for g in rolls
    ]


def test_rolls_parsed_together_equal_each_alone(tmp_path):
    """Snapshots with bad rows, a duplicate, a row repeated exactly, an unreadable file and the
    same pupils in every snapshot (a UPN is a duplicate only within its own snapshot)."""
    pupils = [{"upn": upn(n)} for n in range(1, 8)]
    write_roll(tmp_path, pupils, date(2025, 9, 3))
    bad = [
        *pupils[:3],
        {"upn": upn(2), "reg_group": "4B"},  # twice in this snapshot, the rows differing
        {"upn": upn(3)},  # its row again, exactly: kept once
        {"upn": upn(9), "dob": "2016-13-01"},
        {"upn": upn(10), "nc_year": "X"},
        {"upn": "A12345678901Z"},
        {"upn": upn(11), "fsm": "maybe", "leaving": "soon"},
    ]
    write_roll(tmp_path, bad, date(2025, 9, 10))
    write_roll(tmp_path, [], date(2025, 9, 17))
    (tmp_path / "landing" / URN / "pupils_20250924T070000.csv").write_text("")
    write_roll(tmp_path, [{"upn": upn(1).lower()}, *pupils[1:]], date(2025, 10, 1))
    deliveries, _ = discover(tmp_path / "landing" / URN, URN, "long_csv")
    assert [d.kind for d in deliveries] == ["pupils"] * 5

    together = parse_rolls(deliveries)
    alone = [parse_rolls([d])[0] for d in deliveries]
    for one, other in zip(together, alone, strict=True):
        if isinstance(other, FileRejected):
            assert isinstance(one, FileRejected)
            assert (one.reason, one.line) == (other.reason, other.line)
            continue
        for a, b in zip(one, other, strict=True):
            pd.testing.assert_frame_equal(a, b)
    assert isinstance(together[3], FileRejected)
    noted = together[1][1]
    rejected = noted[noted["status"] == "rejected"]
    assert list(rejected["source_row"]) == [3, 5, 7, 8, 9, 10]
    assert rejected["reason"].str.contains("more than once").sum() == 2
    repeat = noted[noted["status"] != "rejected"]
    assert list(repeat["source_row"]) == [6] and list(repeat["severity"]) == ["warning"]
    assert list(together[1][0]["upn"]) == [upn(1), upn(3)]  # upn(2) rejected, upn(3) once
    assert len(together[0][1]) == len(together[4][1]) == 0
    assert together[4][0]["upn"].iloc[0] == upn(1)
    # Their files' tables and gate frames, made for the readable snapshots together, are
    # each what the snapshot alone gives (its valid rows, then its rows rejected or repeated).
    readable = [
        (d.key, r) for d, r in zip(deliveries, together, strict=True) if r is not together[3]
    ]
    keys, parsed = [k for k, _ in readable], [r for _, r in readable]
    made = _roll_outputs(keys, parsed, URN)
    for key, one in zip(keys, parsed, strict=True):
        own = _roll_outputs([key], [one], URN)[key]
        assert made[key].table.equals(own.table) and made[key].table.num_rows == len(one[0])
        pd.testing.assert_frame_equal(made[key].gate, own.gate)
    gate = made[keys[1]].gate
    assert (
        list(gate["status"]) == ["loaded"] * 2 + ["rejected"] * 2 + ["duplicate"] + ["rejected"] * 4
    )  # in the file's order: lines 3, 5, 6 (the repeat), 7-10
    assert gate["upn"].iloc[0] == upn(1) and (gate["urn"] == URN).all()
    assert made[keys[2]].table.num_rows == 0 and made[keys[2]].gate.empty


@pytest.mark.parametrize(
    ("values", "positions"),
    [
        (["140101", "140102"], [0, 0, 1, 0, 1]),  # a delivery's URN for each record
        (["the date is after the delivery was extracted (2025-09-03)"], [0, 0, 0]),
        (["AM", "PM"], [1, -1, 0]),  # -1: a missing value, as pd.factorize gives it
        ([3, 5, 7], [2, 0, 1, 1]),
        ([3, 5], [1, -1]),  # numbers with a missing one
        ([date(2025, 9, 1), date(2025, 9, 2)], [1, 0]),
        ([True, False], [0, 0, 1]),
        (["x", None], [0, 1, 1]),
        (["never taken"], []),  # no records: an empty object column, as before
    ],
)
def test_spread_gives_the_column_made_record_by_record(values, positions):
    index = pd.RangeIndex(10, 10 + len(positions))
    distinct = np.empty(len(values) + 1, dtype=object)
    distinct[:-1] = values
    distinct[-1] = None  # what position -1 reads in the record-by-record form
    expected = pd.Series(distinct[np.asarray(positions, dtype=np.int64)], index=index)
    got = spread(values, np.asarray(positions, dtype=np.int64), index)
    pd.testing.assert_series_equal(got, expected, check_exact=True)


@pytest.mark.parametrize("distinct", [5, 150_000], ids=["few values", "renumbered"])
def test_key_numbers_repeat_where_the_keys_do(distinct: int):
    """With 150,000 distinct values a column, the four columns' product passes 2**62: the
    numbers are renumbered densely on the way, and must still agree."""
    rng = np.random.default_rng(7)
    n = 200_000

    def column(values: np.ndarray) -> pd.Series:
        out = pd.Series(values, dtype=object)
        out[rng.random(n) < 0.01] = None  # missing values equal each other
        return out

    frame = pd.DataFrame(
        {
            "a": rng.integers(0, distinct, n),
            "b": column(rng.integers(0, distinct, n).astype(str)),
            "c": column(rng.integers(0, distinct, n)),
            "d": column(rng.integers(0, distinct, n)),
        }
    )
    if distinct == 5:  # small: many repeats of whole keys
        assert frame.duplicated().sum() > 1000
    numbers = pd.Series(_key_numbers(frame, list(frame.columns)))
    for keep in ("first", False):
        assert numbers.duplicated(keep=keep).tolist() == frame.duplicated(keep=keep).tolist()
