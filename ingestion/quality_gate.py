"""The GX Core quality gate on each parsed delivery (SPEC 8), before anything reaches DuckDB.

Validation (validate.py) decides record by record; the gate states, independently and as
declared expectations, what every loaded delivery must satisfy: codes from the DfE tables,
unique keys, dates no later than the extraction, the academy's own identity. It runs on one
frame per delivery: every parsed record with its ingestion status, so that error-severity
expectations look only at what will be stored (`status == "loaded"`) and warning-severity ones
look at the delivery as a whole (how much of it was rejected).

The result is written as plain, deterministic JSON (no run ids, no timestamps), so a re-run or
a run after a crash writes the same bytes; `summary` goes into the ledger. A failed expectation
of error severity fails the gate for that delivery, which the exports step may use to hold an
academy's exports back.

GX is imported inside the functions (it takes seconds to import) with telemetry off. Measured
on this machine: about 0.1-0.2 s per delivery of 20,000 records once GX is imported.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from attendance.codes import code_table

UPN_PATTERN = r"^[A-HJ-NP-RT-Z][0-9]{11}[0-9A-HJ-NP-RT-Z]$"
NC_YEARS = ["N1", "N2", "R", *[str(n) for n in range(1, 15)]]
# Columns whose values identify a child: results give counts for them, never the values.
PERSONAL = {"upn", "surname", "forename", "date_of_birth"}
MAX_EXAMPLES = 5
REJECTED_SHARE_WARNING = 0.05  # more than 5% of a delivery rejected: worth a look


@dataclass(frozen=True)
class Check:
    """One expectation and how much its failure matters."""

    name: str
    severity: str  # error | warning
    expectation: Any


_CONTEXT: Any = None


def _context() -> Any:
    """One ephemeral GX context per process (no files, no telemetry, no progress bars)."""
    global _CONTEXT
    if _CONTEXT is None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        _CONTEXT = context
    return _CONTEXT


def _marks_checks(urn: str, extracted_at: datetime) -> list[Check]:
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    loaded = Column("status") == "loaded"
    codes = sorted(set(code_table()["code"]))
    last_day = pd.Timestamp(extracted_at.date())
    return [
        Check(
            "identity: every stored record is this academy's",
            "error",
            gxe.ExpectColumnValuesToBeInSet(column="urn", value_set=[urn]),
        ),
        Check(
            "UPN: 13 characters in the DfE pattern",
            "error",
            gxe.ExpectColumnValuesToMatchRegex(
                column="upn", regex=UPN_PATTERN, row_condition=loaded
            ),
        ),
        Check(
            "code: a DfE attendance code",
            "error",
            gxe.ExpectColumnValuesToBeInSet(column="code", value_set=codes, row_condition=loaded),
        ),
        Check(
            "session: AM or PM",
            "error",
            gxe.ExpectColumnValuesToBeInSet(
                column="session", value_set=["AM", "PM"], row_condition=loaded
            ),
        ),
        Check(
            "date: present and not after the extraction",
            "error",
            gxe.ExpectColumnValuesToBeBetween(
                column="mark_date", max_value=last_day, row_condition=loaded
            ),
        ),
        Check(
            "date: every stored record has one",
            "error",
            gxe.ExpectColumnValuesToNotBeNull(column="mark_date", row_condition=loaded),
        ),
        Check(
            "key: one stored mark per pupil, date and session",
            "error",
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=["upn", "mark_date", "session"], row_condition=loaded
            ),
        ),
        Check(
            "delivery: at most 5% of its records rejected",
            "warning",
            gxe.ExpectColumnValuesToNotBeInSet(
                column="status", value_set=["rejected"], mostly=1 - REJECTED_SHARE_WARNING
            ),
        ),
        Check(
            "minutes late: between 0 and 240",
            "warning",
            gxe.ExpectColumnValuesToBeBetween(
                column="minutes_late", min_value=0, max_value=240, row_condition=loaded
            ),
        ),
    ]


def _roll_checks(urn: str) -> list[Check]:
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    loaded = Column("status") == "loaded"
    return [
        Check(
            "identity: every stored record is this academy's",
            "error",
            gxe.ExpectColumnValuesToBeInSet(column="urn", value_set=[urn]),
        ),
        Check(
            "UPN: 13 characters in the DfE pattern",
            "error",
            gxe.ExpectColumnValuesToMatchRegex(
                column="upn", regex=UPN_PATTERN, row_condition=loaded
            ),
        ),
        Check(
            "key: each pupil once in the roll",
            "error",
            gxe.ExpectColumnValuesToBeUnique(column="upn", row_condition=loaded),
        ),
        Check(
            "entry date: every stored pupil has one",
            "error",
            gxe.ExpectColumnValuesToNotBeNull(column="entry_date", row_condition=loaded),
        ),
        Check(
            "NC year: N1, N2, R or 1-14",
            "error",
            gxe.ExpectColumnValuesToBeInSet(
                column="nc_year", value_set=NC_YEARS, row_condition=loaded
            ),
        ),
        Check(
            "leaving date: not before the entry date",
            "warning",
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="leaving_date",
                column_B="entry_date",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                row_condition=loaded,
            ),
        ),
        Check(
            "delivery: at most 5% of its records rejected",
            "warning",
            gxe.ExpectColumnValuesToNotBeInSet(
                column="status", value_set=["rejected"], mostly=1 - REJECTED_SHARE_WARNING
            ),
        ),
    ]


def _as_timestamps(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    out = frame.copy()
    for col in columns:
        if col in out:
            out[col] = pd.to_datetime(out[col], errors="coerce")
    return out


def _plain(value: Any) -> Any:
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return value


def _examples(check: Check, result: dict[str, Any]) -> list[Any]:
    config_columns = {
        getattr(check.expectation, "column", None),
        *(getattr(check.expectation, "column_list", None) or []),
    }
    if config_columns & PERSONAL:
        return []
    values = result.get("partial_unexpected_list") or []
    seen: list[Any] = []
    for v in values:
        v = _plain(v)
        if v not in seen:
            seen.append(v)
        if len(seen) >= MAX_EXAMPLES:
            break
    return seen


def run_gate(
    kind: str, frame: pd.DataFrame, urn: str, extracted_at: datetime, name: str
) -> dict[str, Any]:
    """Validate one parsed delivery. `frame` holds every parsed record with a `status` column
    (loaded | rejected | missing | duplicate) and `urn`; returns the JSON-ready result."""
    import great_expectations as gx

    if kind == "pupils":
        checks = _roll_checks(urn)
        data = _as_timestamps(frame, ["entry_date", "leaving_date", "date_of_birth"])
    else:
        checks = _marks_checks(urn, extracted_at)
        data = _as_timestamps(frame, ["mark_date"])
        data["minutes_late"] = pd.to_numeric(data["minutes_late"], errors="coerce")
    context = _context()
    safe = re.sub(r"[^A-Za-z0-9_]", "_", f"{urn}_{name}")
    source = context.data_sources.add_or_update_pandas(f"gate_{safe}")
    batch = (
        source.add_dataframe_asset("delivery")
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": data})
    )
    suite = gx.ExpectationSuite(name=f"{kind}_{safe}")
    for check in checks:
        suite.add_expectation(check.expectation)
    validation = batch.validate(suite)
    context.data_sources.delete(f"gate_{safe}")
    outcomes = []
    for check, result in zip(checks, validation.results, strict=True):
        detail = result.result or {}
        outcomes.append(
            {
                "check": check.name,
                "expectation": result.expectation_config.type,
                "severity": check.severity,
                "success": bool(result.success),
                "unexpected_count": int(detail.get("unexpected_count") or 0),
                "element_count": int(detail.get("element_count") or 0),
                "examples": _examples(check, detail),
                "exception": bool((result.exception_info or {}).get("raised_exception")),
            }
        )
    errors = [o for o in outcomes if not o["success"] and o["severity"] == "error"]
    warnings = [o for o in outcomes if not o["success"] and o["severity"] == "warning"]
    return {
        "urn": urn,
        "delivery": name,
        "kind": kind,
        "records": int(len(frame)),
        "passed": not errors,
        "summary": {
            "checks": len(outcomes),
            "failed_errors": [o["check"] for o in errors],
            "failed_warnings": [o["check"] for o in warnings],
        },
        "results": outcomes,
    }
