# Airflow image for airloop: the official Airflow 3.3 image plus airloop's pinned dependencies.
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:root requirements.txt pyproject.toml /opt/airloop/
COPY --chown=airflow:root include /opt/airloop/include
RUN pip install --no-cache-dir -r /opt/airloop/requirements.txt \
 && pip install --no-cache-dir --no-deps -e /opt/airloop
USER airflow
