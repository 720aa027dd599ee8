# The project's own image: the official Airflow image plus the platform (dags, dbt project,
# ingestion, exports). Build: docker compose build
FROM apache/airflow:3.3.2-python3.11

USER root
RUN mkdir -p /opt/attendance/home && chown -R airflow: /opt/attendance
USER airflow

WORKDIR /opt/attendance/app
COPY --chown=airflow: pyproject.toml README.md ./
COPY --chown=airflow: attendance ./attendance
COPY --chown=airflow: ingestion ./ingestion
COPY --chown=airflow: exports ./exports
COPY --chown=airflow: dags ./dags
COPY --chown=airflow: dbt_project ./dbt_project
COPY --chown=airflow: config ./config

# Airflow itself comes from the base image; install the rest of the stack beside it and the
# project without touching Airflow's pinned dependencies.
# Pinning apache-airflow to the image's own version stops pip from up- or downgrading it.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" \
        "dbt-core>=1.11,<1.12" "dbt-duckdb>=1.11,<1.12" "astronomer-cosmos>=1.15,<2" \
        "great-expectations>=1.0,<2" "duckdb>=1.2" "pandas>=2.2" "pyarrow>=15" "openpyxl>=3.1" \
    && pip install --no-cache-dir --no-deps -e . \
    && ATTENDANCE_HOME=/tmp/parse-home attendance setup --skip-airflow
