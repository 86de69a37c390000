#!/bin/sh
# One-shot MinIO setup for the compose stack (service `minio-init`): the buckets named as arguments, and the
# `AIRLOOP_S3_ACCESS_KEY` user that airloop and MLflow use, limited to the airloop-* buckets (policy.json), so
# the root credentials stay with whoever administers MinIO. Safe to run on every `docker compose up`.
set -eu

mc alias set root "${MINIO_URL:-http://minio:9000}" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
for bucket in "$@"; do
  mc mb --ignore-existing "root/$bucket"
done

mc admin policy create root airloop-buckets /airloop/policy.json
mc admin user add root "$AIRLOOP_S3_ACCESS_KEY" "$AIRLOOP_S3_SECRET_KEY"
# Attaching a policy that is already attached is an error in mc; on a re-run that is the expected state.
if ! out=$(mc admin policy attach root airloop-buckets --user "$AIRLOOP_S3_ACCESS_KEY" 2>&1); then
  case "$out" in
    *"already in effect"*) ;;
    *) echo "$out" >&2; exit 1 ;;
  esac
fi

touch /tmp/minio-init.done  # the healthcheck's marker: every step above succeeded
echo "minio-init: buckets $* ready"
