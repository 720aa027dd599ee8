"""The stage of every pupil on every school day of the year to D (SPEC 6).

A stage depends on the path a pupil took (time at a stage, improvement since entering it), so
it is computed by walking the school days in order with the policy engine in
`attendance.stages`, one academy at a time with that academy's policy.

Memory: `int_pupil_daily` holds every pupil x school day of the trust (8 million rows for
40,000 pupils), so it is never pulled whole into pandas. For each academy DuckDB filters and
projects the relation to that academy's rows and the columns its policy reads, and the result
goes back as Arrow, one academy's table at a time: the peak is one academy, not the trust.
"""

import os

import pyarrow as pa

OUTPUT = pa.schema(
    [
        ("urn", pa.string()),
        ("upn", pa.string()),
        ("calendar_date", pa.date32()),
        ("stage", pa.int64()),
        ("stage_name", pa.string()),
        ("stage_since", pa.date32()),
        ("school_days_at_stage", pa.int64()),
        ("action_due", pa.string()),
        ("event_kind", pa.string()),
        ("event_reason", pa.string()),
        ("policy", pa.string()),
    ]
)


def model(dbt, session):
    dbt.config(materialized="table")
    from attendance.config import load_policy, load_trust
    from attendance.home import Home

    home = Home.resolve(os.environ.get("ATTENDANCE_HOME"))
    trust = load_trust(home)
    daily = dbt.ref("int_pupil_daily")
    tables = []
    for academy in trust.academies:
        policy = load_policy(home, academy.policy)
        table = _academy_stages(daily, academy.urn, academy.policy, policy)
        if table is not None:
            tables.append(table)
    if not tables:
        return OUTPUT.empty_table()
    return pa.concat_tables(tables)


def _academy_stages(daily, urn, policy_key, policy):
    """One academy's stage rows as Arrow, or None when it has no pupil-days."""
    import pandas as pd

    from attendance.stages import columns_read, compute_stages

    columns = columns_read(policy, daily.columns)
    part = daily.filter(f"urn = '{urn}'").project(", ".join(f'"{c}"' for c in columns)).df()
    if part.empty:
        return None
    stage_daily, events = compute_stages(part, policy)
    del part
    if not events.empty:
        last = (
            events.sort_values(["upn", "event_date", "kind"])
            .drop_duplicates(["urn", "upn", "event_date"], keep="last")
            .rename(
                columns={
                    "event_date": "calendar_date",
                    "reason": "event_reason",
                    "kind": "event_kind",
                }
            )
        )
        stage_daily = stage_daily.merge(
            last[["urn", "upn", "calendar_date", "event_kind", "event_reason"]],
            on=["urn", "upn", "calendar_date"],
            how="left",
        )
    else:
        stage_daily["event_kind"] = None
        stage_daily["event_reason"] = None
    stage_daily["policy"] = policy_key
    stage_daily["calendar_date"] = pd.to_datetime(stage_daily["calendar_date"]).dt.date
    stage_daily["stage_since"] = pd.to_datetime(stage_daily["stage_since"]).dt.date
    return _plain_table(stage_daily)


def _plain_table(frame):
    """The engine returns text as pandas categoricals (cheap for millions of rows), which
    DuckDB would store as ENUM types: keys like urn must stay VARCHAR so joins and dbt
    unit-test fixtures with other values work. Arrow casts dictionaries to strings in C++,
    and the fixed schema lets academies with and without events be concatenated."""
    table = pa.Table.from_pandas(frame[OUTPUT.names], preserve_index=False)
    return table.cast(OUTPUT)
