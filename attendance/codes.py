"""DfE attendance codes, read from the one seed that defines them (dbt_project/seeds/dfe_codes.csv).

Python (ingestion validation) and dbt (statistics) read the same file, so a code's meaning and
the date its code set applies from live in exactly one place.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

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
    table = code_table()
    out = []
    for (start, end), group in table.groupby(["valid_from", "valid_to"], sort=True):
        out.append((start, end, frozenset(group["code"])))
    return out


def valid_code_mask(codes: pd.Series, dates: pd.Series) -> pd.Series:
    """True where the code is in the code set in force on the mark's date."""
    ok = pd.Series(False, index=codes.index)
    for start, end, allowed in code_sets():
        in_force = (dates >= start) & (dates <= end)
        ok |= in_force & codes.isin(allowed)
    return ok
