# The project's Airflow image: the official Airflow 3.3 / Python 3.11 image plus the exact pins of
# requirements.txt and the campus_logistics package. docker-compose.yaml builds it for every
# Airflow service; nothing is installed at container start (no _PIP_ADDITIONAL_REQUIREMENTS).
FROM apache/airflow:3.3.2-python3.11

# The official image installs Python packages as its "airflow" user (uid 50000, group 0).
USER airflow
WORKDIR /opt/airflow

COPY --chown=airflow:0 requirements.txt /opt/airflow/requirements.txt
RUN pip install --no-cache-dir -r /opt/airflow/requirements.txt

# The package is installed editable from /opt/airflow/plugins, so the bind mounts of plugins/ and
# include/ in docker-compose.yaml replace the baked-in copies without a rebuild.
COPY --chown=airflow:0 pyproject.toml /opt/airflow/pyproject.toml
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 include/ /opt/airflow/include/
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
RUN pip install --no-cache-dir --no-deps -e /opt/airflow \
    && mkdir -p /opt/airflow/auth /opt/airflow/landing \
    && chmod 0770 /opt/airflow/auth

ENV GX_ANALYTICS_ENABLED=False \
    CAMPUS_LOGISTICS_LANDING=/opt/airflow/landing
