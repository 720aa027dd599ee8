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

GX is imported inside the functions (it takes seconds to import), first by `warm_up`: with
telemetry off and the garbage collector paused (attendance.heavy_imports). A GX validation
costs a few tenths of a second whatever its size, so ingestion gates its deliveries in batches
(`run_gates`: one validation per kind of frame and batch, across academies, results still per
delivery and equal to `run_gate`'s).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from attendance.codes import code_table
from attendance.heavy_imports import gx_context

UPN_PATTERN = r"^[A-HJ-NP-RT-Z][0-9]{11}[0-9A-HJ-NP-RT-Z]$"
NC_YEARS = ["N1", "N2", "R", *[str(n) for n in range(1, 15)]]
# Columns whose values identify a child: results give counts for them, never the values.
PERSONAL = {"upn", "surname", "forename", "date_of_birth"}
MAX_EXAMPLES = 5
REJECTED_SHARE_WARNING = 0.05  # more than 5% of a delivery rejected: worth a look
# Batch-only columns (run_gates): which delivery a row is from, and the per-delivery forms of
# the two checks bound to one delivery (its extraction day, its own key).
DELIVERY = "_delivery"
DAYS_AFTER = "_days_after_extraction"
UPN_IN_DELIVERY = "_upn_in_delivery"
# The batch form of the identity check: a delivery's own URN reads as OWN_URN, any other value
# (another academy's URN) is kept, so one expectation serves deliveries of many academies.
URN_IS_OWN = "_urn_is_own"
OWN_URN = "\x00own"
PARTIAL_UNEXPECTED = 20  # GX's default partial_unexpected_count
# Columns with a handful of distinct values, given to GX as categoricals (`_validate`).
FEW_VALUES = {"status", "session", "code", "urn", URN_IS_OWN, "nc_year"}


@dataclass(frozen=True)
class Check:
    """One expectation and how much its failure matters."""

    name: str
    severity: str  # error | warning
    expectation: Any


_CONTEXT: Any = None


def _context() -> Any:
    """One ephemeral GX context per process (attendance.heavy_imports)."""
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = gx_context()
    return _CONTEXT


def warm_up() -> None:
    """Import GX and make the context now: a caller that will gate later (pipeline.ingest_all)
    pays the seconds of GX's import while its workers are still busy, not after them. The
    gates call it first too, so that GX is imported the one way (`heavy_imports`)."""
    _context()


def _identity(urn: str | None) -> Any:
    """Every stored record is the academy's own; `urn` None is the batch form (URN_IS_OWN)."""
    import great_expectations.expectations as gxe

    if urn is None:
        return gxe.ExpectColumnValuesToBeInSet(column=URN_IS_OWN, value_set=[OWN_URN])
    return gxe.ExpectColumnValuesToBeInSet(column="urn", value_set=[urn])


def _loaded(unconditioned: bool) -> Any:
    """The row condition of the checks on stored records only, or None when the caller gives
    those checks the loaded rows alone (`unconditioned`, `_run_batch`)."""
    from great_expectations.expectations.row_conditions import Column

    return None if unconditioned else Column("status") == "loaded"


def _marks_checks(
    urn: str | None, extracted_at: datetime | None, unconditioned: bool = False
) -> list[Check]:
    """The marks suite. With `urn` and `extracted_at` None it is the batch form (see
    `run_gates`): the checks bound to one delivery read the per-row columns `_batch_prepare`
    adds. `unconditioned`: without the row condition on `status` (`_loaded`)."""
    import great_expectations.expectations as gxe

    loaded = _loaded(unconditioned)
    codes = sorted(set(code_table()["code"]))
    if extracted_at is None:
        not_after = gxe.ExpectColumnValuesToBeBetween(
            column=DAYS_AFTER, max_value=0, row_condition=loaded
        )
        key = [DELIVERY, "upn", "mark_date", "session"]
    else:
        not_after = gxe.ExpectColumnValuesToBeBetween(
            column="mark_date", max_value=pd.Timestamp(extracted_at.date()), row_condition=loaded
        )
        key = ["upn", "mark_date", "session"]
    return [
        Check(
            "identity: every stored record is this academy's",
            "error",
            _identity(urn),
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
            not_after,
        ),
        Check(
            "date: every stored record has one",
            "error",
            gxe.ExpectColumnValuesToNotBeNull(column="mark_date", row_condition=loaded),
        ),
        Check(
            "key: one stored mark per pupil, date and session",
            "error",
            gxe.ExpectCompoundColumnsToBeUnique(column_list=key, row_condition=loaded),
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


def _roll_checks(urn: str | None, batch: bool = False, unconditioned: bool = False) -> list[Check]:
    """The roll suite; in the batch form (`urn` None) the identity and key checks read
    `_batch_prepare`'s per-delivery columns. `unconditioned`: as for `_marks_checks`."""
    import great_expectations.expectations as gxe

    loaded = _loaded(unconditioned)
    return [
        Check(
            "identity: every stored record is this academy's",
            "error",
            _identity(urn),
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
            gxe.ExpectColumnValuesToBeUnique(
                column=UPN_IN_DELIVERY if batch else "upn", row_condition=loaded
            ),
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
    """`frame` (not changed) with `columns` as timestamps."""
    return frame.assign(
        **{c: pd.to_datetime(frame[c], errors="coerce") for c in columns if c in frame}
    )


def _plain(value: Any) -> Any:
    """An example value as plain JSON: dates as ISO dates (a column pair's come from GX as
    numpy datetimes), numpy scalars as Python ones, missing values as None."""
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
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


def _mostly_success(nonnull: int, unexpected: int, mostly: float) -> bool:
    """GX's own rule for `mostly` (great_expectations.expectations.expectation)."""
    from great_expectations.expectations.expectation import _mostly_success as gx_mostly

    return bool(gx_mostly(nonnull, unexpected, mostly))


def _examples(check: Check, result: dict[str, Any]) -> list[Any]:
    config_columns = {
        getattr(check.expectation, "column", None),
        *(getattr(check.expectation, "column_list", None) or []),
    }
    if config_columns & (PERSONAL | {UPN_IN_DELIVERY}):
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


# The columns of a delivery's records that the gate reads: its checks' (in both forms), which
# tests/test_ingestion_gate.py checks. Only these travel with a delivery pending its gate
# (ingest.py): a daily run's held deliveries go from the workers to the main process and on
# to the gatekeeper, pickled each time, and were 18 MB at M with every column of the
# registers (source file names and rows, raw codes, arrival times); 11 MB now.
GATED_COLUMNS = {
    "marks": ("urn", "upn", "mark_date", "session", "code", "minutes_late", "status"),
    "pupils": ("urn", "upn", "entry_date", "leaving_date", "nc_year", "status"),
}


def gated_columns(kind: str, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with only the columns the gate reads for a delivery of `kind`, in its order."""
    wanted = GATED_COLUMNS[_family(kind)]
    return frame[[c for c in frame.columns if c in wanted]]


@dataclass(frozen=True)
class GateInput:
    """One parsed delivery for the gate: every record with `status` and `urn`."""

    kind: str
    frame: pd.DataFrame
    urn: str
    extracted_at: datetime
    name: str


def _family(kind: str) -> str:
    """Which suite a delivery's kind is checked with: `pupils` (rolls) or `marks`."""
    return "pupils" if kind == "pupils" else "marks"


def _prepared(family: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame the suite reads: dates as timestamps, minutes late as numbers. Applied to a
    whole batch at once in `run_gates` (the same values as delivery by delivery, in one call
    instead of thousands)."""
    if family == "pupils":
        return _as_timestamps(frame, ["entry_date", "leaving_date", "date_of_birth"])
    data = _as_timestamps(frame, ["mark_date"])
    data["minutes_late"] = pd.to_numeric(data["minutes_late"], errors="coerce")
    return data


def _columns_read(checks: list[Check]) -> list[str]:
    """The columns `checks` read (their columns and their row conditions'), in first-use order."""
    found: list[str] = []
    for check in checks:
        e = check.expectation
        condition = getattr(getattr(e, "row_condition", None), "column", None)
        for name in [
            getattr(e, "column", None),
            *(getattr(e, "column_list", None) or []),
            getattr(e, "column_A", None),
            getattr(e, "column_B", None),
            getattr(condition, "name", None),
        ]:
            if name is not None and name not in found:
                found.append(name)
    return found


def _validate(data: pd.DataFrame, checks: list[Check], name: str, result_format: Any) -> list:
    """The results of validating `data` against `checks`, one per check in the same order (GX
    returns them grouped by column, so each expectation carries its position in `meta`).

    GX sees only the columns the checks read, and those with a handful of values (FEW_VALUES)
    as categoricals: it hashes the whole frame into the batch's id and, each time it applies
    a row condition (about 30 times a batch), compares `status` and copies every column.
    Categories make both a matter of small integer codes; the values, and so the results,
    are the same (a 580,000-record batch: 1.66 -> 1.37 CPU-s with both)."""
    import great_expectations as gx

    data = data[[c for c in _columns_read(checks) if c in data.columns]]
    data = data.astype({c: "category" for c in data.columns if c in FEW_VALUES})
    safe = re.sub(r"[^A-Za-z0-9_]", "_", name)
    batch = _whole_dataframe().get_batch(batch_parameters={"dataframe": data})
    suite = gx.ExpectationSuite(name=safe)
    for check in checks:
        suite.add_expectation(check.expectation)
    for position, expectation in enumerate(suite.expectations):
        expectation.meta = {"position": position}
    results = batch.validate(suite, result_format=result_format).results
    return sorted(results, key=lambda r: r.expectation_config.meta["position"])


_WHOLE_DATAFRAME: Any = None


def _whole_dataframe() -> Any:
    """One pandas datasource, asset and whole-dataframe batch definition per process, given a
    new frame at each validation (`batch_parameters`). Made and deleted per validation, they
    cost GX a serialisation of its configuration each time: about a tenth of a gate
    batch's validation."""
    global _WHOLE_DATAFRAME
    if _WHOLE_DATAFRAME is None:
        source = _context().data_sources.add_or_update_pandas("gate")
        asset = source.add_dataframe_asset("delivery")
        _WHOLE_DATAFRAME = asset.add_batch_definition_whole_dataframe("whole")
    return _WHOLE_DATAFRAME


def _summary(gate: GateInput, outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    errors = [o for o in outcomes if not o["success"] and o["severity"] == "error"]
    warnings = [o for o in outcomes if not o["success"] and o["severity"] == "warning"]
    return {
        "urn": gate.urn,
        "delivery": gate.name,
        "kind": gate.kind,
        "records": int(len(gate.frame)),
        "passed": not errors,
        "summary": {
            "checks": len(outcomes),
            "failed_errors": [o["check"] for o in errors],
            "failed_warnings": [o["check"] for o in warnings],
        },
        "results": outcomes,
    }


def run_gate(
    kind: str, frame: pd.DataFrame, urn: str, extracted_at: datetime, name: str
) -> dict[str, Any]:
    """Validate one parsed delivery. `frame` holds every parsed record with a `status` column
    (loaded | rejected | missing | duplicate) and `urn`; returns the JSON-ready result."""
    warm_up()
    gate = GateInput(kind, frame, urn, extracted_at, name)
    checks = _roll_checks(urn) if kind == "pupils" else _marks_checks(urn, extracted_at)
    data = _prepared(_family(kind), frame)
    results = _validate(data, checks, f"{kind}_{urn}_{name}", "SUMMARY")
    outcomes = []
    for check, result in zip(checks, results, strict=True):
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
    return _summary(gate, outcomes)


def run_gates(gates: list[GateInput]) -> list[dict[str, Any]]:
    """`run_gate` for many deliveries at once, with the same results.

    GX's cost is mostly per validation, not per record (0.3 to 0.6 s for a delivery of any
    size here), and a full rebuild has thousands of deliveries while a daily run has one or
    two per academy. So deliveries of one kind whose columns have the same types, of any
    academies, are stacked into one frame and validated once with every unexpected row listed
    (result format COMPLETE); each delivery's counts, success and examples are then read off
    its own rows. The three checks tied to one delivery run on per-row columns: the URN
    compared with the delivery's own, days after the row's own extraction day (<= 0), and keys
    that include the delivery. If GX raises on any check of a batch, each delivery is
    validated alone.
    """
    warm_up()
    results: dict[int, dict[str, Any]] = {}
    groups: dict[tuple, list[int]] = {}
    for i, gate in enumerate(gates):
        signature = tuple((c, str(t)) for c, t in gate.frame.dtypes.items())
        groups.setdefault((_family(gate.kind), signature), []).append(i)
    for (family, _), members in groups.items():
        batch = [gates[i] for i in members]
        found = _run_batch(family, batch) if len(members) > 1 else None
        if found is None:
            found = [run_gate(g.kind, g.frame, g.urn, g.extracted_at, g.name) for g in batch]
        results.update(zip(members, found, strict=True))
    return [results[i] for i in range(len(gates))]


def _owner(gates: list[GateInput]) -> np.ndarray:
    """For each row of the stacked batch, the position of its delivery in `gates`."""
    return np.repeat(np.arange(len(gates)), [len(g.frame) for g in gates])


def _batch_prepare(family: str, gates: list[GateInput]) -> pd.DataFrame:
    data = _prepared(family, pd.concat([g.frame for g in gates], ignore_index=True))
    owner = _owner(gates)
    own = np.array([g.urn for g in gates], dtype=object)[owner]
    # A missing URN stays missing (`!=` is true for it), as GX skips it in the single form.
    data[URN_IS_OWN] = data["urn"].where(data["urn"].to_numpy(object) != own, OWN_URN)
    if family == "pupils":
        upn = data["upn"]
        data[UPN_IN_DELIVERY] = (pd.Series(owner).astype(str) + "|" + upn.astype(str)).where(
            upn.notna()
        )
        return data
    last_day = np.array([np.datetime64(g.extracted_at.date(), "D") for g in gates])[owner]
    data[DAYS_AFTER] = (data["mark_date"].to_numpy("datetime64[ns]") - last_day) / np.timedelta64(
        1, "D"
    )
    key = data[["upn", "mark_date", "session"]]
    # GX skips a key whose columns are all missing; the delivery must not make it count.
    data[DELIVERY] = pd.Series(owner, dtype="Int64").where(~key.isna().all(axis=1))
    return data


def _batch_checks(family: str, unconditioned: bool = False) -> list[Check]:
    if family == "pupils":
        return _roll_checks(None, batch=True, unconditioned=unconditioned)
    return _marks_checks(None, None, unconditioned=unconditioned)


def _batch_results(family: str, data: pd.DataFrame, loaded: np.ndarray) -> list:
    """GX's result for each of the batch's checks, in order. The checks on stored records
    run on the loaded rows alone, without their row condition, and the others on every row:
    two validations instead of one, but GX applied the condition (a comparison, and a copy of
    every column) once per check, a third of a 200,000-record batch's time. The loaded rows
    keep their labels, so unexpected rows are still named by their place in `data`."""
    checks = _batch_checks(family)
    plain = _batch_checks(family, unconditioned=True)
    on_loaded = [i for i, c in enumerate(checks) if c.expectation.row_condition is not None]
    on_all = [i for i in range(len(checks)) if i not in on_loaded]
    options = {"result_format": "COMPLETE"}
    results: list = [None] * len(checks)
    for positions, rows, name in ((on_loaded, data[loaded], "loaded"), (on_all, data, "all")):
        found = _validate(rows, [plain[i] for i in positions], f"{family}_{name}", options)
        for i, result in zip(positions, found, strict=True):
            results[i] = result
    return results


def _unexpected_values(expectation: Any, data: pd.DataFrame, index: np.ndarray) -> list[Any]:
    """A check's unexpected values at the batch's rows `index`, read from the batch itself, in
    the form GX lists them. GX's list stops at 200 values (`MAX_RESULT_RECORDS`) while its
    index list does not, and a batch of many deliveries can hold more failures than that: the
    examples of a delivery whose failures come later in the batch are then read here. The
    check on days after the extraction shows the date itself, as the single form does."""
    if len(index) == 0:
        return []
    column = getattr(expectation, "column", None)
    if column == DAYS_AFTER:
        return list(data["mark_date"].to_numpy(object)[index])
    if column is not None:
        return list(data[column].iloc[index])
    column_a = getattr(expectation, "column_A", None)
    if column_a is not None:
        pair = data.iloc[index]
        return list(zip(pair[column_a].values, pair[expectation.column_B].values, strict=True))
    return data[list(expectation.column_list)].iloc[index].to_dict("records")


def _run_batch(family: str, gates: list[GateInput]) -> list[dict[str, Any]] | None:
    checks = _batch_checks(family)
    data = _batch_prepare(family, gates)
    loaded = (data["status"] == "loaded").to_numpy()
    results = _batch_results(family, data, loaded)
    if any((r.exception_info or {}).get("raised_exception") for r in results):
        return None
    owner = _owner(gates)
    per_delivery: list[list[dict[str, Any]]] = [[] for _ in gates]
    for check, result in zip(checks, results, strict=True):
        detail = result.result or {}
        expectation = check.expectation
        domain = loaded if expectation.row_condition is not None else np.ones(len(data), bool)
        index = np.asarray(detail.get("unexpected_index_list") or [], dtype=np.int64)
        values = list(detail.get("unexpected_list") or [])
        if getattr(expectation, "column", None) == DAYS_AFTER or len(values) < len(index):
            values = _unexpected_values(expectation, data, index)
        column = getattr(expectation, "column", None)
        missing = data[column].isna().to_numpy() if column in data else np.zeros(len(data), bool)
        elements = np.bincount(owner[domain], minlength=len(gates))
        nulls = np.bincount(owner[domain & missing], minlength=len(gates))
        unexpected = np.bincount(owner[index], minlength=len(gates))
        mostly = getattr(expectation, "mostly", None)
        owners = owner[index]
        for d in range(len(gates)):
            count, nonnull = int(unexpected[d]), int(elements[d] - nulls[d])
            if mostly is None or mostly >= 1:
                success = count == 0
            else:
                success = nonnull == 0 or _mostly_success(nonnull, count, mostly)
            mine = [values[k] for k in np.flatnonzero(owners == d)[:PARTIAL_UNEXPECTED]]
            per_delivery[d].append(
                {
                    "check": check.name,
                    "expectation": result.expectation_config.type,
                    "severity": check.severity,
                    "success": bool(success),
                    "unexpected_count": count,
                    "element_count": int(elements[d]),
                    "examples": _examples(check, {"partial_unexpected_list": mine}),
                    "exception": False,
                }
            )
    return [_summary(g, o) for g, o in zip(gates, per_delivery, strict=True)]
