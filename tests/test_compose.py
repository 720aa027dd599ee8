"""docker-compose.yml checked statically (images cannot be pulled here): the services of
Airflow's official layout, one shared block, the JWT secret shared, healthchecks, the home
volume, and everything waiting for the init service."""

from __future__ import annotations

import re

import yaml

from attendance.home import REPO_ROOT

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
HOME_VOLUME = "${ATTENDANCE_HOST_HOME:-attendance-home}:/opt/attendance/home"
AIRFLOW_SERVICES = [
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
]


def test_services_present():
    services = COMPOSE["services"]
    for name in ["postgres", "redis", "airflow-init", *AIRFLOW_SERVICES]:
        assert name in services
    assert services["redis"]["profiles"] == ["celery"]
    assert services["airflow-worker"]["profiles"] == ["celery"]


def test_shared_settings_and_secret():
    jwt = {
        COMPOSE["services"][s]["environment"]["AIRFLOW__API_AUTH__JWT_SECRET"]
        for s in [*AIRFLOW_SERVICES, "airflow-init"]
    }
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
        assert HOME_VOLUME in services[s]["volumes"]
        assert services[s]["depends_on"]["airflow-init"]["condition"] == (
            "service_completed_successfully"
        )
        assert services[s]["depends_on"]["postgres"]["condition"] == "service_healthy"
    init = services["airflow-init"]
    script = " ".join(init["command"])
    # the official image's entrypoint migrates the DB and creates the admin when asked to
    assert "/entrypoint airflow version" in script
    assert init["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"
    assert init["environment"]["_AIRFLOW_WWW_USER_CREATE"] == "true"
    assert "duckdb_writer 1" in script
    # the home and logs belong to the user the services run as, not to root
    assert 'chown -R "${AIRFLOW_UID:-50000}:0" /opt/attendance/home /opt/airflow/logs' in script
    assert init["user"] == "0:0"
    # Celery workers start once the API server (the execution API) answers
    worker = services["airflow-worker"]["depends_on"]
    assert worker["airflow-apiserver"]["condition"] == "service_healthy"
    assert worker["redis"]["condition"] == "service_healthy"


def test_production_settings():
    services = COMPOSE["services"]
    for s in AIRFLOW_SERVICES:
        env = services[s]["environment"]
        assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("FabAuthManager")
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == (
            "http://airflow-apiserver:8080/execution/"
        )
        assert env["AIRFLOW__CORE__DEFAULT_TIMEZONE"] == "Europe/London"
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/attendance/app/dags"
        assert env["ATTENDANCE_ALERT_WEBHOOK"] == "${ATTENDANCE_ALERT_WEBHOOK:-}"
        assert env["GX_ANALYTICS_ENABLED"] == "False"
        assert services[s]["user"] == "${AIRFLOW_UID:-50000}:0"
        assert services[s]["image"] == "attendance-platform:latest"
    assert services["airflow-apiserver"]["ports"] == ["8080:8080"]
    assert (
        services["airflow-scheduler"]["environment"]["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"]
        == "true"
    )
    assert set(COMPOSE["volumes"]) == {"postgres-db", "attendance-home", "airflow-logs"}


def test_dockerfile_extends_the_official_image_of_the_locked_airflow():
    from importlib.metadata import version

    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM apache/airflow:(\S+)-python3\.11$", dockerfile, re.M)
    assert base and base.group(1) == version("apache-airflow")
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in dockerfile
    for part in ("attendance", "ingestion", "exports", "dags", "dbt_project"):
        assert f"COPY --chown=airflow: {part} ./{part}" in dockerfile
