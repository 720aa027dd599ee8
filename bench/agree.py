"""How far each peer's per-pupil measures agree with the platform's mart_pupil_status.

The peers are simpler than the platform (the pandas peer validates nothing, so a mark the
platform rejects, such as a bad UPN or a date in a holiday, still counts there), so agreement
is reported as a share of the platform's pupils, not asserted.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from bench.peers import MEASURES

PLATFORM_SQL = """
select urn, upn,
       possible_sessions as possible, attended_sessions as attended,
       authorised_absence_sessions as authorised, unauthorised_absence_sessions as unauthorised,
       absence_sessions as absence, rolling_unauthorised_sessions as rolling_unauthorised
from mart_pupil_status
"""


def platform_measures(duckdb_path: Path) -> pd.DataFrame:
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        return con.execute(PLATFORM_SQL).df()


def agreement(platform: pd.DataFrame, peer_parquet: Path) -> dict:
    """Share of the platform's pupils (with any possible session) whose six measures the peer
    reproduces exactly."""
    peer = pd.read_parquet(peer_parquet)
    ours = platform[platform["possible"] > 0]
    both = ours.merge(peer, on=["urn", "upn"], how="left", suffixes=("", "_peer"))
    same = pd.Series(True, index=both.index)
    for m in MEASURES:
        same &= both[m].astype("float64") == both[f"{m}_peer"].astype("float64")
    return {"pupils": int(len(both)), "identical": int(same.sum())}
