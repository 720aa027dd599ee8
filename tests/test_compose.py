"""docker-compose.yml checked statically (images cannot be pulled here): the services of
Airflow's official layout, one shared block, the JWT secret shared, healthchecks, the home
volume, and everything waiting for the init service."""

from __future__ import annotations

import yaml

from attendance.home import REPO_ROOT

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
AIRFLOW_SERVICES = ["airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer", "airflow-worker"]


def test_services_present():
    services = COMPOSE["services"]
    for name in ["postgres", "redis", "airflow-init", *AIRFLOW_SERVICES]:
        assert name in services
    assert services["redis"]["profiles"] == ["celery"]
    assert services["airflow-worker"]["profiles"] == ["celery"]


def test_shared_settings_and_secret():
    jwt = {COMPOSE["services"][s]["environment"]["AIRFLOW__API_AUTH__JWT_SECRET"]
           for s in [*AIRFLOW_SERVICES, "airflow-init"]}
    assert len(jwt) == 1
    for s in AIRFLOW_SERVICES:
        env = COMPOSE["services"][s]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"].startswith("${AIRFLOW_EXECUTOR:-LocalExecutor")
        assert "postgresql" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert env["ATTENDANCE_HOME"] == "/opt/attendance/home"


def test_healthchecks_volumes_and_init_dependency():
    services = COMPOSE["services"]
    for s in ["postgres", "redis", *AIRFLOW_SERVICES]:
        assert services[s]["healthcheck"]["test"], s
    for s in AIRFLOW_SERVICES:
        assert "attendance-home:/opt/attendance/home" in services[s]["volumes"]
        assert services[s]["depends_on"]["airflow-init"]["condition"] == (
            "service_completed_successfully"
        )
        assert services[s]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "db migrate" in " ".join(services["airflow-init"]["command"])
    assert "duckdb_writer 1" in " ".join(services["airflow-init"]["command"])
