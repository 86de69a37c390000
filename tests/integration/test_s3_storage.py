"""airloop's one storage abstraction on S3, through a real S3-API server (moto's standalone server).

The library only ever gets an endpoint URL (AWS_ENDPOINT_URL_S3 for boto3/s3fs, `endpointurl` for DVC), so
MinIO and AWS work the same way. What is checked behind the library's back is read with plain boto3.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from airloop import steps
from airloop.catalog import find_spec
from airloop.data import ingest
from airloop.data.datagen import generate
from airloop.data.ingest import BatchRecord
from airloop.errors import AirloopError
from airloop.settings import Settings
from airloop.spec import PipelineSpec
from airloop.store import storage
from airloop.store.versioning import DataVersioner

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SPECS_DIR = ROOT / "include" / "pipelines"
NAME = "fraud_detection"
ROWS = 2000


def _keys(client, bucket: str, prefix: str = "") -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


def _get(client, bucket: str, key: str) -> bytes:
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


# --- the storage functions on s3:// URIs ---------------------------------------------------------------------


def test_bytes_round_trip(s3_env, s3_client):
    bucket = s3_env["data"]
    body = b"airloop \x00\x01 bytes" * 1000
    uri = f"s3://{bucket}/a/b/blob.bin"

    assert storage.write_bytes(uri, body) == uri
    assert _get(s3_client, bucket, "a/b/blob.bin") == body  # really on the server, under the expected key
    assert storage.read_bytes(uri) == body
    assert storage.sha256(uri) == hashlib.sha256(body).hexdigest()
    assert storage.exists(uri)
    assert not storage.exists(f"s3://{bucket}/a/b/other.bin")


def test_copy_leaves_the_source_untouched(s3_env, s3_client):
    bucket = s3_env["data"]
    src, dst = f"s3://{bucket}/landing/raw.bin", f"s3://{bucket}/quarantine/x/raw.bin"
    storage.write_bytes(src, b"raw batch")

    assert storage.copy(src, dst) == dst
    assert _get(s3_client, bucket, "quarantine/x/raw.bin") == b"raw batch"
    assert _get(s3_client, bucket, "landing/raw.bin") == b"raw batch"


def test_parquet_round_trip(s3_env, s3_client):
    bucket = s3_env["data"]
    df = generate("fraud", rows=300, seed=3, labels=True)
    uri = f"s3://{bucket}/curated/batch.parquet"

    assert storage.write_parquet(df, uri, use_dictionary=False) == uri
    assert _get(s3_client, bucket, "curated/batch.parquet")[:4] == b"PAR1"
    pd.testing.assert_frame_equal(storage.read_parquet(uri), df)
    pd.testing.assert_frame_equal(storage.read_parquet(uri, columns=["amount", "hour"]), df[["amount", "hour"]])


def test_list_files_filters_and_skips_hidden_files(s3_env):
    bucket = s3_env["landing"]
    bodies = {
        "b.parquet": b"bb",
        "a.parquet": b"a",
        "notes.csv": b"ccc",
        ".upload-in-progress.parquet": b"x",
        "_tmp.parquet": b"x",
        "sub/deeper.parquet": b"x",  # below the prefix: not a file *directly* under it
    }
    for key, body in bodies.items():
        storage.write_bytes(f"s3://{bucket}/zone/{key}", body)

    parquet = storage.list_files(f"s3://{bucket}/zone", "*.parquet")
    assert [f.name for f in parquet] == ["a.parquet", "b.parquet"]
    assert [f.uri for f in parquet] == [f"s3://{bucket}/zone/a.parquet", f"s3://{bucket}/zone/b.parquet"]
    assert [f.size for f in parquet] == [1, 2]
    assert all(f.mtime > 0 for f in parquet)
    assert [f.name for f in storage.list_files(f"s3://{bucket}/zone/")] == ["a.parquet", "b.parquet", "notes.csv"]


def test_list_files_of_a_missing_prefix_is_empty(s3_env):
    assert storage.list_files(f"s3://{s3_env['landing']}/nothing/here", "*.parquet") == []
    assert storage.list_files(f"s3://{s3_env['landing']}-no-such-bucket/x") == []


def test_a_missing_key_on_a_reachable_s3_is_not_found_never_unavailable(s3_env):
    """The other half of `ServiceUnavailable` (tests/unit/test_storage.py): a server that answers "no such key"."""
    missing = f"s3://{s3_env['data']}/no/such/key.bin"
    assert not storage.exists(missing)
    assert not storage.exists(f"s3://{s3_env['data']}-no-such-bucket/key.bin")
    with pytest.raises(FileNotFoundError):
        storage.read_bytes(missing)
    with pytest.raises(FileNotFoundError):
        storage.sha256(missing)


# --- freshness: a long-lived process must see what other processes write --------------------------------------


def test_listing_sees_objects_written_by_another_process(s3_env, s3_client):
    """The triggerer polls `list_files` in one process for hours; uploads come from elsewhere (here: boto3)."""
    bucket = s3_env["landing"]
    zone = f"s3://{bucket}/fraud"
    storage.write_bytes(f"{zone}/first.parquet", b"1")
    assert [f.name for f in storage.list_files(zone)] == ["first.parquet"]  # the listing is now cached by s3fs
    assert not storage.exists(f"{zone}/second.parquet")

    s3_client.put_object(Bucket=bucket, Key="fraud/second.parquet", Body=b"22")

    assert [f.name for f in storage.list_files(zone)] == ["first.parquet", "second.parquet"]
    assert storage.exists(f"{zone}/second.parquet")


def test_a_missing_prefix_appears_once_written_elsewhere(s3_env, s3_client):
    """The poller may start before the first delivery creates the landing prefix: "missing" must not stick."""
    bucket = s3_env["landing"]
    assert storage.list_files(f"s3://{bucket}/late") == []
    assert not storage.exists(f"s3://{bucket}/late/batch.parquet")

    s3_client.put_object(Bucket=bucket, Key="late/batch.parquet", Body=b"x")

    assert [f.name for f in storage.list_files(f"s3://{bucket}/late")] == ["batch.parquet"]
    assert storage.exists(f"s3://{bucket}/late/batch.parquet")


def test_hash_and_parquet_of_an_object_replaced_elsewhere(s3_env, s3_client):
    """A listed object that another process replaced is read as it is now, not as the cached listing says."""
    bucket = s3_env["landing"]
    uri = f"s3://{bucket}/zone/batch.parquet"
    old, new = generate("fraud", rows=50, seed=1), generate("fraud", rows=80, seed=2)
    storage.write_parquet(old, uri)
    assert [f.name for f in storage.list_files(f"s3://{bucket}/zone")] == ["batch.parquet"]
    storage.sha256(uri)

    buf = io.BytesIO()
    new.to_parquet(buf, index=False)
    s3_client.put_object(Bucket=bucket, Key="zone/batch.parquet", Body=buf.getvalue())

    assert storage.sha256(uri) == hashlib.sha256(buf.getvalue()).hexdigest()
    pd.testing.assert_frame_equal(storage.read_parquet(uri), new)


# --- DVC push/pull through the S3 remote ----------------------------------------------------------------------


@dataclass
class Pushed:
    bucket: str
    remote: str
    options: dict[str, str]
    body: bytes
    md5: str


@pytest.fixture(scope="module")
def pushed(s3_module_env, s3_endpoint, tmp_path_factory) -> Pushed:
    """One file versioned in workspace A, pushed to an S3 remote given only its endpoint URL."""
    bucket = s3_module_env["dvc"]
    remote, options = f"s3://{bucket}/dvc", {"endpointurl": s3_endpoint}
    body = hashlib.sha512(b"seed").digest() * 2000
    writer = DataVersioner(tmp_path_factory.mktemp("dvc-a"), remote, options)
    path = writer.path("data/batch.bin")
    path.parent.mkdir(parents=True)
    path.write_bytes(body)
    tracked = writer.track("data/batch.bin")
    return Pushed(bucket, remote, options, body, tracked.md5)


@pytest.mark.slow
def test_track_pushes_the_object_to_the_bucket(pushed, s3_client):
    md5 = hashlib.md5(pushed.body).hexdigest()
    assert pushed.md5 == md5
    assert f"dvc/files/md5/{md5[:2]}/{md5[2:]}" in _keys(s3_client, pushed.bucket, "dvc/")
    assert _get(s3_client, pushed.bucket, f"dvc/files/md5/{md5[:2]}/{md5[2:]}") == pushed.body


@pytest.mark.slow
def test_a_fresh_workspace_restores_the_exact_bytes(pushed, tmp_path):
    reader = DataVersioner(tmp_path / "dvc-b", pushed.remote, pushed.options)
    dest = tmp_path / "out" / "batch.bin"

    assert reader.restore(pushed.md5, dest) == dest
    assert dest.read_bytes() == pushed.body


@pytest.mark.slow
def test_restoring_an_unknown_md5_fails_clearly(pushed, tmp_path):
    reader = DataVersioner(tmp_path / "dvc-b", pushed.remote, pushed.options)
    unknown = "0123456789abcdef0123456789abcdef"
    dest = tmp_path / "out" / "batch.bin"

    with pytest.raises(AirloopError, match=unknown) as info:
        reader.restore(unknown, dest)
    assert pushed.remote in str(info.value)
    assert not dest.exists()
    assert not dest.parent.exists() or not any(dest.parent.iterdir())  # no temp file left behind either


# --- the feature step with every location on S3 ---------------------------------------------------------------


@dataclass
class Ingested:
    settings: Settings
    spec: PipelineSpec
    buckets: dict[str, str]
    clean_uri: str
    clean_bytes: bytes
    broken_uri: str
    broken_bytes: bytes
    first_pending: list[str]
    curated: BatchRecord
    pending_after_curated: list[str]
    broken_pending: list[str]
    rejected: BatchRecord
    pending_after_rejected: list[str]
    curated_frame: pd.DataFrame


@pytest.fixture(scope="module")
def ingested(s3_module_env, s3_endpoint, tmp_path_factory, s3_client) -> Ingested:
    """Land a clean and a broken batch in an S3 landing bucket; discover and process both, data root on S3."""
    buckets = s3_module_env
    tmp = tmp_path_factory.mktemp("ingest-s3")
    settings = Settings(
        data_root=f"s3://{buckets['data']}",
        tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}",
        dvc_workspace=str(tmp / "dvc"),
        dvc_remote=f"s3://{buckets['dvc']}/dvc",
        specs_dir=str(SPECS_DIR),
        s3_endpoint_url=s3_endpoint,
    )
    shipped = find_spec(NAME, SPECS_DIR)
    # Raw deliveries in their own bucket, as in production: an absolute landing location in the spec.
    landing = f"s3://{buckets['landing']}/{NAME}"
    spec = shipped.model_copy(update={"storage": shipped.storage.model_copy(update={"landing": landing})})
    assert settings.location(spec.storage.landing) == landing

    clean_uri = steps.land(spec, settings, generate("fraud", rows=ROWS, seed=1, labels=True), "clean.parquet")
    clean_bytes = _get(s3_client, buckets["landing"], f"{NAME}/clean.parquet")
    first_pending = steps.discover(spec, settings)
    curated = steps.process(spec, settings, clean_uri)
    pending_after_curated = steps.discover(spec, settings)

    broken = generate("fraud", rows=ROWS, seed=2, labels=True).drop(columns=["amount"])
    broken_uri = steps.land(spec, settings, broken, "no_amount.parquet")
    broken_bytes = _get(s3_client, buckets["landing"], f"{NAME}/no_amount.parquet")
    broken_pending = steps.discover(spec, settings)
    rejected = steps.process(spec, settings, broken_uri)
    pending_after_rejected = steps.discover(spec, settings)

    curated_frame = pd.read_parquet(Path(settings.dvc_workspace) / curated.curated_path)
    return Ingested(
        settings,
        spec,
        buckets,
        clean_uri,
        clean_bytes,
        broken_uri,
        broken_bytes,
        first_pending,
        curated,
        pending_after_curated,
        broken_pending,
        rejected,
        pending_after_rejected,
        curated_frame,
    )


@pytest.mark.slow
def test_the_landed_batch_is_discovered_and_curated(ingested):
    assert ingested.clean_uri == f"s3://{ingested.buckets['landing']}/{NAME}/clean.parquet"
    assert ingested.first_pending == [ingested.clean_uri]
    rec = ingested.curated
    assert rec.status == "curated", rec.reason
    assert (rec.raw_uri, rec.n_rows, rec.n_valid, rec.has_labels) == (ingested.clean_uri, ROWS, ROWS, True)
    assert rec.sha256 == hashlib.sha256(ingested.clean_bytes).hexdigest()
    assert len(ingested.curated_frame) == ROWS


@pytest.mark.slow
def test_the_batch_record_is_on_s3(ingested, s3_client):
    rec = ingested.curated
    key = f"state/{NAME}/batches/{rec.sha256}.json"
    assert json.loads(_get(s3_client, ingested.buckets["data"], key)) == rec.to_dict()
    assert ingest.load_records(ingested.settings, NAME) == sorted(
        [rec, ingested.rejected], key=lambda r: (r.time_min or "", r.processed_at)
    )


@pytest.mark.slow
def test_the_curated_batch_is_pushed_to_the_dvc_bucket(ingested, s3_client):
    md5 = ingested.curated.md5
    assert f"dvc/files/md5/{md5[:2]}/{md5[2:]}" in _keys(s3_client, ingested.buckets["dvc"], "dvc/")


@pytest.mark.slow
def test_raw_batches_are_never_changed(ingested, s3_client):
    landing = ingested.buckets["landing"]
    assert _keys(s3_client, landing) == [f"{NAME}/clean.parquet", f"{NAME}/no_amount.parquet"]
    assert _get(s3_client, landing, f"{NAME}/clean.parquet") == ingested.clean_bytes
    assert _get(s3_client, landing, f"{NAME}/no_amount.parquet") == ingested.broken_bytes
    assert storage.sha256(ingested.clean_uri) == ingested.curated.sha256


@pytest.mark.slow
def test_processed_batches_are_not_discovered_again(ingested):
    assert ingested.pending_after_curated == []
    assert ingested.broken_pending == [ingested.broken_uri]
    assert ingested.pending_after_rejected == []


@pytest.mark.slow
def test_a_broken_batch_is_rejected_and_quarantined_on_s3(ingested, s3_client):
    rec, data = ingested.rejected, ingested.buckets["data"]
    assert rec.status == "rejected"
    assert "amount" in (rec.reason or "")
    prefix = f"quarantine/{NAME}/{rec.batch_id}"
    assert rec.quarantine_uri == f"s3://{data}/{prefix}"
    assert _keys(s3_client, data, f"quarantine/{NAME}/") == [f"{prefix}/no_amount.parquet", f"{prefix}/report.json"]
    assert _get(s3_client, data, f"{prefix}/no_amount.parquet") == ingested.broken_bytes
    report = json.loads(_get(s3_client, data, f"{prefix}/report.json"))
    assert report["raw_uri"] == ingested.broken_uri
    assert "amount" in json.dumps(report)
    assert json.loads(_get(s3_client, data, f"state/{NAME}/batches/{rec.sha256}.json")) == rec.to_dict()


@pytest.mark.slow
def test_a_fresh_workspace_reads_the_curated_batch_through_the_s3_remote(ingested, tmp_path):
    fresh = dataclasses.replace(ingested.settings, dvc_workspace=str(tmp_path / "other-worker"))
    (rec,) = [r for r in ingest.load_records(fresh, NAME) if r.status == "curated"]
    versioner = DataVersioner.from_settings(fresh)
    assert versioner.remote_options == {"endpointurl": fresh.s3_endpoint_url}

    frame = ingest.read_curated(rec, versioner)

    pd.testing.assert_frame_equal(frame, ingested.curated_frame)
    restored = versioner.path(rec.curated_path)
    assert hashlib.md5(restored.read_bytes()).hexdigest() == rec.md5
