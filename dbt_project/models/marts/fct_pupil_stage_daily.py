"""The stage of every pupil on every school day of the year to D (SPEC 6).

A stage depends on the path a pupil took (time at a stage, improvement since entering it), so
it is computed by walking the school days in order with the policy engine in
`attendance.stages`, one academy at a time with that academy's policy.
"""

import os

import pandas as pd


def model(dbt, session):
    dbt.config(materialized="table")
    from attendance.config import load_policy, load_trust
    from attendance.home import Home
    from attendance.stages import compute_stages

    home = Home.resolve(os.environ.get("ATTENDANCE_HOME"))
    trust = load_trust(home)
    daily = dbt.ref("int_pupil_daily").df()
    frames = []
    for academy in trust.academies:
        part = daily[daily["urn"] == academy.urn]
        if part.empty:
            continue
        policy = load_policy(home, academy.policy)
        stage_daily, events = compute_stages(part, policy)
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
        stage_daily["policy"] = academy.policy
        frames.append(stage_daily)
    if not frames:
        return pd.DataFrame(
            columns=[
                "urn",
                "upn",
                "calendar_date",
                "stage",
                "stage_name",
                "stage_since",
                "school_days_at_stage",
                "action_due",
                "event_kind",
                "event_reason",
                "policy",
            ]
        )
    out = pd.concat(frames, ignore_index=True)
    out["calendar_date"] = pd.to_datetime(out["calendar_date"]).dt.date
    out["stage_since"] = pd.to_datetime(out["stage_since"]).dt.date
    return _plain_strings(out)


def _plain_strings(frame):
    """The engine returns text as pandas categoricals (cheap for 7.6M rows), which DuckDB would
    store as ENUM types: keys like urn must stay VARCHAR so joins and dbt unit-test fixtures
    with other values work. Arrow casts dictionaries to strings in C++, fast."""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = [
        pa.field(f.name, pa.string()) if pa.types.is_dictionary(f.type) else f for f in table.schema
    ]
    return table.cast(pa.schema(fields))
