"""DfE attendance codes, read from the one seed that defines them (dbt_project/seeds/dfe_codes.csv).

Python (ingestion validation) and dbt (statistics) read the same file, so a code's meaning and
the date its code set applies from live in exactly one place.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import numpy as np
import pandas as pd

from attendance.home import REPO_ROOT

CODES_SEED = REPO_ROOT / "dbt_project" / "seeds" / "dfe_codes.csv"
CATEGORIES_SEED = REPO_ROOT / "dbt_project" / "seeds" / "dfe_code_categories.csv"


@lru_cache(maxsize=1)
def code_table() -> pd.DataFrame:
    table = pd.read_csv(CODES_SEED, dtype=str, keep_default_na=False)
    table["valid_from"] = pd.to_datetime(table["valid_from"]).dt.date
    table["valid_to"] = pd.to_datetime(table["valid_to"]).dt.date
    return table


def code_sets() -> list[tuple[date, date, frozenset[str]]]:
    """(valid_from, valid_to, codes) for each code set, oldest first."""
    return list(_code_sets())


@lru_cache(maxsize=1)
def _code_sets() -> tuple[tuple[date, date, frozenset[str]], ...]:
    """Cached: validation asks for every delivery, and the seed does not change in a run."""
    table = code_table()
    out = []
    for (start, end), group in table.groupby(["valid_from", "valid_to"], sort=True):
        out.append((start, end, frozenset(group["code"])))
    return tuple(out)


def valid_code_mask(codes: pd.Series, dates: pd.Series) -> pd.Series:
    """True where the code is in the code set in force on the mark's date.

    The date test runs once per distinct date (a delivery holds a handful), then is spread to
    the records by position: the same answer as comparing every record's date."""
    positions, uniques = pd.factorize(dates, use_na_sentinel=True)
    distinct = pd.Series(uniques)
    ok = np.zeros(len(codes), dtype=bool)
    for start, end, allowed in _code_sets():
        in_force = np.append(((distinct >= start) & (distinct <= end)).to_numpy(bool), False)
        ok |= in_force[positions] & codes.isin(allowed).to_numpy()
    return pd.Series(ok, index=codes.index)
