"""The roll check of a batch of register deliveries (`validate._roll_masks`): each record is
checked against the roll snapshot of its own delivery, and the batch's UPNs and dates are made
into numbers once for every snapshot it meets. Expected values worked out by hand: a pupil is
on the roll on a date from their entry date to their leaving date, both days included."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from ingestion.validate import Delivered, _roll_masks

A, B, C, D = "A100000000001", "B100000000001", "C100000000001", "D100000000001"


def _roll(rows: list[tuple[str, date, date | None]], arrow: bool) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["upn", "entry_date", "leaving_date"])
    if arrow:  # as a stored snapshot reads back from parquet
        frame = pa.Table.from_pandas(frame, preserve_index=False).to_pandas(
            types_mapper=pd.ArrowDtype
        )
    return frame


def _delivery(roll: pd.DataFrame | None) -> Delivered:
    # The roll check reads only the roll; the other fields are not used by it.
    return Delivered(pd.DataFrame(), None, roll, None, None)  # type: ignore[arg-type]


@pytest.mark.parametrize("arrow", [False, True], ids=["objects", "arrow"])
def test_each_record_is_checked_against_its_own_deliverys_roll(arrow: bool):
    first = _roll(
        [
            (A, date(2025, 9, 1), None),
            (B, date(2025, 9, 1), date(2025, 9, 10)),  # left on 10 September
            (C, date(2025, 9, 15), None),  # joins on 15 September
        ],
        arrow,
    )
    second = _roll([(A, date(2025, 9, 1), None), (C, date(2025, 9, 3), None)], arrow)
    empty = first.iloc[0:0]
    deliveries = [
        _delivery(first),
        _delivery(None),  # no roll received yet
        _delivery(first),  # the same snapshot as the first delivery: one join for both
        _delivery(second),
        _delivery(empty),  # a snapshot with no valid row counts as none
    ]
    records = [
        # (delivery, UPN, date, on the roll, no roll yet)
        (0, A, date(2025, 9, 2), True, False),
        (0, B, date(2025, 9, 10), True, False),  # the leaving day itself
        (0, B, date(2025, 9, 11), False, False),  # the day after leaving
        (0, C, date(2025, 9, 12), False, False),  # before joining
        (0, D, date(2025, 9, 2), False, False),  # never on the roll
        (0, None, date(2025, 9, 2), False, False),  # no UPN
        (0, A, None, False, False),  # no date
        (1, A, date(2025, 9, 2), False, True),
        (2, C, date(2025, 9, 15), True, False),  # the joining day itself
        (2, B, date(2025, 9, 9), True, False),
        (3, C, date(2025, 9, 3), True, False),  # joined earlier on this snapshot
        (3, B, date(2025, 9, 3), False, False),  # not on this snapshot at all
        (4, A, date(2025, 9, 2), False, True),
    ]
    part = np.array([r[0] for r in records])
    frame = pd.DataFrame(
        {
            "upn": pd.array([r[1] for r in records], dtype="str"),
            "mark_date": pd.Series([r[2] for r in records], dtype=object),
        }
    )

    on_roll, no_roll = _roll_masks(frame, part, deliveries)

    assert on_roll.tolist() == [r[3] for r in records]
    assert no_roll.tolist() == [r[4] for r in records]


def test_a_roll_holding_a_upn_twice_is_refused_not_guessed():
    """parse_rolls never stores such a roll; if one came, no record may be judged on it."""
    roll = _roll(
        [(A, date(2025, 9, 1), None), (A, date(2025, 9, 1), date(2025, 9, 5))], arrow=False
    )
    frame = pd.DataFrame({"upn": pd.array([A], dtype="str"), "mark_date": [date(2025, 9, 8)]})
    with pytest.raises(pd.errors.InvalidIndexError):
        _roll_masks(frame, np.array([0]), [_delivery(roll)])
