"""Exports refuse marts built for another run date (overlapping runs would otherwise publish
one day's figures under another day's name)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from exports.build import MartsBuiltForAnotherDate, check_built_for


def test_marts_for_the_run_date_pass():
    mart = pd.DataFrame({"as_of_date": [pd.Timestamp("2025-10-10")] * 3})
    check_built_for(date(2025, 10, 10), mart, pd.DataFrame())


def test_marts_for_another_date_are_refused():
    mart = pd.DataFrame({"as_of_date": [pd.Timestamp("2025-10-09")]})
    with pytest.raises(MartsBuiltForAnotherDate, match="as of 2025-10-09, not 2025-10-10"):
        check_built_for(date(2025, 10, 10), mart)
