# airloop's image: the official Airflow 3.3 image plus airloop's pinned dependencies and code. docker-compose.yaml
# runs every Airflow component, the MLflow server and the model server from it.
FROM apache/airflow:3.3.2-python3.11

USER root
RUN install -d -o airflow -g root -m 0775 /opt/airloop
USER airflow

# Dependencies first, so this (large) layer stays cached while only airloop's code changes. requirements.txt pins
# apache-airflow to the base image's version, so pip keeps the Airflow it came with.
COPY --chown=airflow:root requirements.txt /opt/airloop/requirements.txt
RUN pip install --no-cache-dir -r /opt/airloop/requirements.txt

# The library, installed editable (imports resolve to /opt/airloop/include, where compose can mount the specs),
# then the DAGs and plugins (compose mounts the checkout's copies over these, so they can change without a rebuild).
COPY --chown=airflow:root pyproject.toml /opt/airloop/pyproject.toml
COPY --chown=airflow:root include /opt/airloop/include
RUN pip install --no-cache-dir --no-deps -e /opt/airloop
COPY --chown=airflow:root dags /opt/airflow/dags
COPY --chown=airflow:root plugins /opt/airflow/plugins

# Recorded on every model version as `git_sha` (the image has no .git); compose passes it as a build argument.
ARG AIRLOOP_GIT_SHA=unknown
ENV AIRLOOP_GIT_SHA=${AIRLOOP_GIT_SHA} \
    AIRLOOP_SPECS_DIR=/opt/airloop/include/pipelines
