"""Reading the marts for export: a read-only DuckDB connection, opened after dbt finished."""

from __future__ import annotations

import duckdb
import pandas as pd

from attendance.home import Home


def read_mart(home: Home, sql: str, params: list | None = None) -> pd.DataFrame:
    with duckdb.connect(str(home.duckdb_path), read_only=True) as con:
        return con.execute(sql, params or []).df()
