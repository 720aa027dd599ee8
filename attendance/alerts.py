"""Telling the data team a task failed (SPEC 8): a JSON POST to a webhook (Teams, Slack, a
ticketing system or any HTTP endpoint that accepts JSON).

The channel is configuration: the URL in $ATTENDANCE_ALERT_WEBHOOK, else `webhook:` in the home's
`config/alerts.yml`; with neither, failures are only in the Airflow UI. The message says what
failed and where to look (DAG, task, run date, academy, log URL), never any pupil data: it leaves
the trust's systems. Exception messages are left out for the same reason (a parser's message
can quote a line of a register); the log URL leads to them.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from typing import Any

import yaml

from attendance.home import Home

log = logging.getLogger(__name__)

ENV_WEBHOOK = "ATTENDANCE_ALERT_WEBHOOK"
TIMEOUT_SECONDS = 10


def webhook_url(home: Home) -> str | None:
    """The configured webhook: the environment wins over `config/alerts.yml`."""
    if os.environ.get(ENV_WEBHOOK):
        return os.environ[ENV_WEBHOOK]
    path = home.config / "alerts.yml"
    if not path.exists():
        return None
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    url = doc.get("webhook") if isinstance(doc, dict) else None
    return str(url) if url else None


def failure_message(context: dict[str, Any]) -> dict[str, Any]:
    """The alert for a failed task instance, from an Airflow callback context."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    params = context.get("params") or {}
    run_date = params.get("run_date")
    if not run_date and ti is not None:
        try:
            run_date = ti.xcom_pull(task_ids="resolve_run_date")
        except Exception:  # the alert must go out even if XCom is unreachable
            run_date = None
    map_index = getattr(ti, "map_index", -1)
    academy = getattr(ti, "rendered_map_index", None) or (
        f"map index {map_index}" if map_index is not None and map_index >= 0 else None
    )
    exc = context.get("exception")
    return {
        "event": "task_failed",
        "dag": getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", None),
        "task": getattr(ti, "task_id", None),
        "academy": academy,
        "run_date": run_date,
        "dag_run": getattr(dag_run, "run_id", None),
        "try_number": getattr(ti, "try_number", None),
        "error_type": type(exc).__name__ if exc is not None else None,
        "log_url": getattr(ti, "log_url", None),
    }


def send(url: str, message: dict[str, Any]) -> None:
    body = json.dumps(message, default=str).encode("utf-8")
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        response.read()


def notify_failure(context: dict[str, Any]) -> None:
    """Airflow `on_failure_callback`: post the alert to the configured channel. A failing
    channel is logged, never raised: the task's own failure is what matters."""
    try:
        url = webhook_url(Home.resolve())
        if not url:
            return
        send(url, failure_message(context))
    except Exception as exc:
        log.warning("failure alert not delivered: %s", type(exc).__name__)
