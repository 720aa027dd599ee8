"""Reading the marts for export: a read-only DuckDB connection, opened after dbt finished."""

from __future__ import annotations

import sys

import duckdb
import pandas as pd

from attendance.home import Home


def release_dbt_handle() -> None:
    """dbt-duckdb keeps its DuckDB handle open for the life of the process. When dbt ran in
    this process (the CLI, or cosmos's in-process runner under `airflow dags test`), close it so
    the file can be opened read-only."""
    if "dbt.adapters.duckdb.connections" in sys.modules:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager

        DuckDBConnectionManager.close_all_connections()


def read_mart(home: Home, sql: str, params: list | None = None) -> pd.DataFrame:
    release_dbt_handle()
    with duckdb.connect(str(home.duckdb_path), read_only=True) as con:
        return con.execute(sql, params or []).df()


def read_many(home: Home, queries: dict[str, tuple[str, list]]) -> dict[str, pd.DataFrame]:
    """Several read-only queries on one connection (one open of the file, one snapshot)."""
    release_dbt_handle()
    with duckdb.connect(str(home.duckdb_path), read_only=True) as con:
        return {key: con.execute(sql, params).df() for key, (sql, params) in queries.items()}
