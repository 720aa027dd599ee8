"""Failure alerts: the channel comes from configuration, and the message that reaches a real
HTTP receiver (on 127.0.0.1, started here) names the DAG, task, run date, academy and log URL,
and carries no pupil data."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace

import pytest

from attendance.alerts import ENV_WEBHOOK, notify_failure, webhook_url
from attendance.home import Home


class Receiver:
    """A one-endpoint webhook receiver that keeps every JSON body it is sent."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers["Content-Length"])
                received.append(
                    (self.path, self.headers["Content-Type"], json.loads(self.rfile.read(length)))
                )
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/attendance"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _context(exception: Exception) -> dict:
    ti = SimpleNamespace(
        dag_id="attendance_daily",
        task_id="ingest_academy",
        map_index=1,
        rendered_map_index="140102 Stowe Valley Academy",
        try_number=3,
        log_url="http://airflow.example/dags/attendance_daily/runs/r1/tasks/ingest_academy?map_index=1",
        xcom_pull=lambda task_ids: "2025-10-10",
    )
    return {
        "ti": ti,
        "dag_run": SimpleNamespace(run_id="scheduled__2025-10-13T04:30:00+00:00"),
        "params": {"run_date": None},
        "exception": exception,
    }


def test_channel_from_config_file_and_env(tmp_path, monkeypatch):
    home = Home(tmp_path)
    monkeypatch.delenv(ENV_WEBHOOK, raising=False)
    assert webhook_url(home) is None
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "alerts.yml").write_text("webhook: https://hooks.example/a\n")
    assert webhook_url(home) == "https://hooks.example/a"
    monkeypatch.setenv(ENV_WEBHOOK, "https://hooks.example/env")
    assert webhook_url(home) == "https://hooks.example/env"


def test_failure_posts_json_to_the_configured_receiver(tmp_path, monkeypatch, receiver):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "alerts.yml").write_text(f"webhook: {receiver.url}\n")
    monkeypatch.delenv(ENV_WEBHOOK, raising=False)
    monkeypatch.setenv("ATTENDANCE_HOME", str(tmp_path))
    # an exception whose message quotes pupil data: it must not travel
    notify_failure(_context(ValueError("line 7: UPN A123456789012 Smith, Jo")))

    assert len(receiver.received) == 1
    path, content_type, body = receiver.received[0]
    assert path == "/hooks/attendance"
    assert content_type == "application/json"
    assert body == {
        "event": "task_failed",
        "dag": "attendance_daily",
        "task": "ingest_academy",
        "academy": "140102 Stowe Valley Academy",
        "run_date": "2025-10-10",
        "dag_run": "scheduled__2025-10-13T04:30:00+00:00",
        "try_number": 3,
        "error_type": "ValueError",
        "log_url": "http://airflow.example/dags/attendance_daily/runs/r1/tasks/ingest_academy?map_index=1",
    }
    assert "A123456789012" not in json.dumps(body) and "Smith" not in json.dumps(body)


def test_unreachable_channel_never_raises(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTENDANCE_HOME", str(tmp_path))
    monkeypatch.setenv(ENV_WEBHOOK, "http://127.0.0.1:9/nothing-listens-here")
    notify_failure(_context(RuntimeError("boom")))  # logged, not raised
