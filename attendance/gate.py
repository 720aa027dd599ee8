"""The quality gate before exports (SPEC 8): which academies' exports to hold back for run date D,
and why.

Two checks per academy, each at error severity:

- **arrival**: on a day the academy keeps a register, a register delivery extracted on D must
  have been loaded (a rejected delivery, or an `api_json` delivery still waiting for pages, is
  not an arrival). A late academy is held back; the rest of the trust proceeds.
- **the built marts** (GX Core expectations on the academy's rows of `mart_pupil_status`, read
  through a read-only DuckDB connection; one validation for all academies, `_outcomes`, with
  a checkpoint per academy as the fallback): arithmetic that must hold whatever the data, such as
  attended <= possible and UPNs unique and 13 characters. An expectation that fails at
  `critical` severity holds the academy back; `warning` ones are only reported.

Every verdict and every expectation's outcome (counts only, never values: they could be UPNs)
is kept as JSON in `warehouse/gate/<D>/`, for the data-quality report and for the operator.
"""

from __future__ import annotations

import json
import logging
from datetime import date

import numpy as np
import pandas as pd

from attendance.calendar import SchoolCalendar, load_calendars
from attendance.config import load_trust
from attendance.heavy_imports import great_expectations, gx_context
from attendance.home import Home
from ingestion import store

log = logging.getLogger(__name__)

# What the gate reads: the academy's pupils as of D, plus derived columns so that each rule is a
# plain single-column expectation (GX's column-pair expectations run Python per row, and the
# gate runs on every pupil of the trust every day): sessions neither attended nor absence
# ("the categories add up"), sessions not attended (attended <= possible), and severely absent
# without being a persistent absentee (severe implies persistent).
STATUS_SQL = """
select urn, upn, reg_group, possible_sessions, attended_sessions,
       authorised_absence_sessions, unauthorised_absence_sessions, absence_sessions,
       possible_sessions - attended_sessions - absence_sessions as sessions_unaccounted,
       possible_sessions - attended_sessions as sessions_not_attended,
       severely_absent and not persistent_absentee as severe_not_persistent,
       attendance_pct, absence_pct, persistent_absentee, severely_absent
from mart_pupil_status
"""

URN_UPN = "_urn_upn"  # the batch form's key: a UPN is unique within its academy


def gate_dir(home: Home, run_date: date):
    return home.warehouse / "gate" / run_date.isoformat()


def delivery_problem(home: Home, urn: str, calendar: SchoolCalendar, run_date: date) -> str | None:
    """Why the academy's register delivery for D has not arrived, or None if it has (or if no
    register was due on D at this academy)."""
    if not calendar.is_register_day(run_date):
        return None
    d = run_date.isoformat()
    folder = home.ledger_dir / urn
    # A ledger entry is named by its delivery, whose name holds its extraction time: read only
    # the day's entries, not the year's.
    day = f"*_{run_date.strftime('%Y%m%d')}[Tt]*.json"
    entries = [store.read_json(p) for p in sorted(folder.glob(day))] if folder.exists() else []
    for_d = [e for e in entries if e["kind"] != "pupils" and e["extracted_at"][:10] == d]
    if any(e["status"] == "loaded" for e in for_d):
        return None
    if any(e["status"] == "waiting" for e in for_d):
        return f"late: the register delivery extracted on {d} is incomplete (pages missing)"
    if any(e["status"] == "rejected" for e in for_d):
        return f"the register delivery extracted on {d} was rejected whole (see quarantine)"
    return f"late: no register delivery extracted on {d} has arrived"


def _suite(gx, urns: list[str] | None = None):
    """The expectations on an academy's rows of mart_pupil_status. `critical` = error severity
    (holds the academy back); `warning` is reported only.

    With `urns` it is the batch form, on the rows of all those academies at once (`_outcomes`):
    the same rules, position for position, with the two that are about one academy's table
    stated per academy: every academy has rows (its URN is among the batch's values), and a
    UPN is unique within its academy (URN and UPN together)."""
    e = gx.expectations
    critical, warning = "critical", "warning"
    suite = gx.ExpectationSuite(name="mart_pupil_status" if urns is None else "mart_batch")
    if urns is None:
        has_rows = e.ExpectTableRowCountToBeBetween(min_value=1, severity=critical)
        unique = e.ExpectColumnValuesToBeUnique(column="upn", severity=critical)
    else:
        has_rows = e.ExpectColumnDistinctValuesToContainSet(
            column="urn", value_set=urns, severity=critical
        )
        unique = e.ExpectColumnValuesToBeUnique(column=URN_UPN, severity=critical)
    for expectation in [
        has_rows,
        e.ExpectColumnValuesToNotBeNull(column="upn", severity=critical),
        unique,
        e.ExpectColumnValueLengthsToEqual(column="upn", value=13, severity=critical),
        e.ExpectColumnValuesToBeBetween(
            column="sessions_not_attended", min_value=0, severity=critical
        ),
        e.ExpectColumnValuesToBeBetween(
            column="sessions_unaccounted", min_value=0, max_value=0, severity=critical
        ),
        e.ExpectColumnValuesToBeBetween(
            column="attendance_pct", min_value=0, max_value=100, severity=critical
        ),
        e.ExpectColumnValuesToBeBetween(
            column="absence_pct", min_value=0, max_value=100, severity=critical
        ),
        # severely absent (absence >= 50%) implies persistent absentee (absence >= 10%)
        e.ExpectColumnValuesToBeInSet(
            column="severe_not_persistent", value_set=[False], severity=critical
        ),
        e.ExpectColumnValuesToNotBeNull(column="reg_group", severity=warning),
    ]:
        suite.add_expectation(expectation)
    for position, expectation in enumerate(suite.expectations):
        expectation.meta = {"position": position}  # results come back grouped by column
    return suite


def _in_suite_order(results) -> list:
    """A validation's results in the suite's order. GX returns them grouped by column, so the
    position of a result is not that of its expectation; each carries its own in `meta`."""
    return sorted(results, key=lambda r: r.expectation_config.meta["position"])


def _outcome(result) -> dict:
    """One expectation's outcome as the report keeps it: counts only, never values (the
    unexpected values themselves could be UPNs)."""
    cfg = result.expectation_config
    kwargs = {k: v for k, v in cfg.kwargs.items() if k != "batch_id"}
    detail = result.result or {}
    return {
        "expectation": cfg.type,
        "kwargs": json.loads(json.dumps(kwargs, default=str)),
        "severity": _severity(cfg),
        "success": bool(result.success),
        "unexpected_count": detail.get("unexpected_count"),
        "element_count": detail.get("element_count"),
        "observed_value": _scalar(detail.get("observed_value")),
    }


class _Checkpoint:
    """One ephemeral GX context with the suite, a pandas data source and a checkpoint; run once
    per academy on that academy's dataframe (the fallback of `_outcomes`)."""

    def __init__(self) -> None:
        gx = great_expectations()
        context = gx_context()
        asset = context.data_sources.add_pandas("marts").add_dataframe_asset("mart_pupil_status")
        batch = asset.add_batch_definition_whole_dataframe("academy")
        suite = context.suites.add(_suite(gx))
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name="mart_pupil_status", data=batch, suite=suite)
        )
        self.checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name="quality_gate",
                validation_definitions=[definition],
                result_format={"result_format": "BASIC"},
            )
        )

    def run(self, frame: pd.DataFrame) -> list[dict]:
        result = self.checkpoint.run(batch_parameters={"dataframe": frame})
        return [
            _outcome(r) for v in result.run_results.values() for r in _in_suite_order(v.results)
        ]


def _outcomes(status: pd.DataFrame, urns: list[str]) -> dict[str, list[dict]]:
    """Every academy's outcomes, as `_Checkpoint.run` gives them on the academy's own rows, from
    one GX validation of all academies' rows. A validation costs about 0.2 s whatever its size,
    and the gate runs for every academy every day, so 50 academies cost one validation, not 50.
    Each academy's counts and success are read off the unexpected rows GX lists (result format
    COMPLETE) that are its own; the outcome keeps the per-academy rule's wording, so the report
    and the reasons read the same. If GX raises on any expectation, each academy is validated
    alone."""
    gx = great_expectations()
    data = status.reset_index(drop=True)
    owner = pd.Categorical(data["urn"], categories=urns).codes  # -1: not one of `urns`
    data[URN_UPN] = (data["urn"].astype(str) + "|" + data["upn"].astype(str)).where(
        data["upn"].notna()
    )
    context = gx_context()
    batch = (
        context.data_sources.add_pandas("marts")
        .add_dataframe_asset("mart_pupil_status")
        .add_batch_definition_whole_dataframe("trust")
        .get_batch(batch_parameters={"dataframe": data})
    )
    validation = batch.validate(_suite(gx, urns), result_format={"result_format": "COMPLETE"})
    if any((r.exception_info or {}).get("raised_exception") for r in validation.results):
        checkpoint = _Checkpoint()
        return {u: checkpoint.run(status[status["urn"] == u].reset_index(drop=True)) for u in urns}
    single = _suite(gx).expectations
    rows = np.bincount(owner[owner >= 0], minlength=len(urns))
    found: dict[str, list[dict]] = {u: [] for u in urns}
    for position, result in enumerate(_in_suite_order(validation.results)):
        template = single[position]
        kwargs = json.loads(
            json.dumps(
                {k: v for k, v in template.configuration.kwargs.items() if k != "batch_id"},
                default=str,
            )
        )
        severity = _severity(template.configuration)
        if position == 0:  # every academy has rows: the single form's row count
            for i, urn in enumerate(urns):
                found[urn].append(
                    {
                        "expectation": template.expectation_type,
                        "kwargs": kwargs,
                        "severity": severity,
                        "success": bool(rows[i] >= 1),
                        "unexpected_count": None,
                        "element_count": None,
                        "observed_value": int(rows[i]),
                    }
                )
            continue
        index = np.asarray((result.result or {}).get("unexpected_index_list") or [], np.int64)
        mine = owner[index]
        unexpected = np.bincount(mine[mine >= 0], minlength=len(urns))
        for i, urn in enumerate(urns):
            found[urn].append(
                {
                    "expectation": template.expectation_type,
                    "kwargs": kwargs,
                    "severity": severity,
                    "success": bool(unexpected[i] == 0),
                    "unexpected_count": int(unexpected[i]),
                    "element_count": int(rows[i]),
                    "observed_value": None,
                }
            )
    return found


def _severity(cfg) -> str:
    """`critical` (error: hold back) or `warning`/`info` (reported) of an expectation."""
    severity = getattr(cfg, "severity", "critical")
    return str(getattr(severity, "value", severity))


def _scalar(value):
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)


def _describe(outcome: dict) -> str:
    where = outcome["kwargs"].get("column") or ",".join(
        str(outcome["kwargs"][k]) for k in ("column_A", "column_B") if k in outcome["kwargs"]
    )
    count = outcome["unexpected_count"]
    rows = f" ({count} rows)" if count else ""
    return f"{outcome['expectation']}{' on ' + where if where else ''}{rows}"


def academy_verdicts(home: Home, run_date: date) -> dict[str, str]:
    """URN -> the reason to hold back that academy's exports for D, for every academy to hold
    back (an empty dict: everyone delivers). Also writes `warehouse/gate/<D>/gate_<D>.json`."""
    from exports.warehouse import read_mart

    trust = load_trust(home)
    calendars = load_calendars(home, trust)
    status = read_mart(home, STATUS_SQL)
    outcomes_of = _outcomes(status, [a.urn for a in trust.academies])
    held: dict[str, str] = {}
    report: dict = {"run_date": run_date.isoformat(), "academies": {}}
    for academy in trust.academies:
        reasons = []
        late = delivery_problem(home, academy.urn, calendars[academy.urn], run_date)
        if late:
            reasons.append(late)
        outcomes = outcomes_of[academy.urn]
        errors = [o for o in outcomes if not o["success"] and o["severity"] == "critical"]
        warnings = [o for o in outcomes if not o["success"] and o["severity"] != "critical"]
        if errors:
            reasons.append("quality gate failed: " + "; ".join(_describe(o) for o in errors))
        if reasons:
            held[academy.urn] = "; ".join(reasons)
            log.warning("holding back %s for %s: %s", academy.urn, run_date, held[academy.urn])
        report["academies"][academy.urn] = {
            "academy_name": academy.name,
            "held_back": bool(reasons),
            "reason": held.get(academy.urn),
            "delivery_arrived": late is None,
            "warnings": [_describe(o) for o in warnings],
            "expectations": outcomes,
        }
    report["held_back"] = held
    folder = gate_dir(home, run_date)
    store.write_json(report, folder / f"gate_{run_date.isoformat()}.json")
    return held
