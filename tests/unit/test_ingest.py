"""The feature step on real files and a real DVC workspace: curated, duplicate, partly quarantined, rejected."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from airloop import steps, uris
from airloop.data import ingest
from airloop.data.datagen import generate
from airloop.data.features import feature_columns
from airloop.data.ingest import BatchRecord
from airloop.settings import Settings
from airloop.store import storage
from airloop.store.versioning import DataVersioner

pytestmark = pytest.mark.unit

ROWS = 400
BAD_ROWS = {5: "negative amount", 17: "unknown category", 30: "duplicate id"}


def _clean(seed: int, labels: bool = True) -> pd.DataFrame:
    return generate("fraud", rows=ROWS, seed=seed, labels=labels)


def _few_bad() -> pd.DataFrame:
    df = _clean(12)
    df.loc[5, "amount"] = -3.0
    df.loc[17, "merchant_category"] = "casino"
    df.loc[30, "transaction_id"] = df.loc[29, "transaction_id"]
    return df


def _mostly_bad() -> pd.DataFrame:
    df = _clean(13)
    df.loc[: ROWS // 2, "amount"] = -1.0  # ~50 % invalid > max_invalid_share 20 %
    return df


@dataclass
class Zone:
    settings: Settings
    uris: dict[str, str]  # landed name → raw URI
    sha_before: dict[str, str]
    frames: dict[str, pd.DataFrame]
    records: dict[str, BatchRecord]
    pending_before: list[str]
    pending_after: list[str]

    def local(self, uri: str) -> Path:
        return uris.local_path(uri)


@pytest.fixture(scope="module")
def zone(tmp_path_factory, settings_for, spec) -> Zone:
    """Land every kind of batch, process all but one, and remember what the landing zone looked like.

    Runs DVC for real (several seconds), so every test using it is marked slow.
    """
    settings = settings_for(tmp_path_factory.mktemp("ingest"))
    frames = {
        "clean.parquet": _clean(11),
        "few_bad.parquet": _few_bad(),
        "mostly_bad.parquet": _mostly_bad(),
        "unlabelled.parquet": _clean(14, labels=False),
        "no_amount.parquet": _clean(16).drop(columns=["amount"]),
        "late.parquet": _clean(15),
    }
    raw = {name: steps.land(spec, settings, df, name) for name, df in frames.items()}
    # Same bytes as clean.parquet under another name (a re-delivery), and a file that is not Parquet at all.
    landing = uris.local_path(settings.location(spec.storage.landing))
    (landing / "clean_again.parquet").write_bytes((landing / "clean.parquet").read_bytes())
    (landing / "corrupt.parquet").write_bytes(np.random.default_rng(0).bytes(4096))
    for name in ("clean_again.parquet", "corrupt.parquet"):
        raw[name] = uris.to_uri(landing / name)
    sha_before = {name: storage.sha256(uri) for name, uri in raw.items()}
    pending_before = ingest.pending_batches(spec, settings)

    versioner = DataVersioner.from_settings(settings)
    order = [
        "clean.parquet",
        "clean_again.parquet",
        "few_bad.parquet",
        "mostly_bad.parquet",
        "corrupt.parquet",
        "no_amount.parquet",
    ]
    records = {name: ingest.process_batch(spec, settings, versioner, raw[name]) for name in order}
    records["unlabelled.parquet"] = steps.process(spec, settings, raw["unlabelled.parquet"])
    return Zone(settings, raw, sha_before, frames, records, pending_before, ingest.pending_batches(spec, settings))


def _curated(zone: Zone, rec: BatchRecord) -> Path:
    return Path(zone.settings.dvc_workspace) / rec.curated_path


def _quarantine(rec: BatchRecord) -> Path:
    return uris.local_path(rec.quarantine_uri)


@pytest.mark.slow
def test_clean_batch_is_curated(zone, spec):
    rec = zone.records["clean.parquet"]
    assert rec.status == "curated"
    assert (rec.n_rows, rec.n_valid, rec.n_invalid) == (ROWS, ROWS, 0)
    assert rec.has_labels is True
    assert rec.raw_uri == zone.uris["clean.parquet"]
    assert rec.sha256 == zone.sha_before["clean.parquet"]
    assert rec.batch_id == f"clean-{rec.sha256[:12]}"
    assert rec.curated_path == f"curated/fraud_detection/{rec.batch_id}.parquet"
    assert rec.quarantine_uri is None and rec.reason is None
    df = zone.frames["clean.parquet"]
    assert rec.time_min == str(df["event_time"].min())
    assert rec.time_max == str(df["event_time"].max())


@pytest.mark.slow
def test_curated_file_holds_the_features_and_is_versioned(zone, spec):
    rec = zone.records["clean.parquet"]
    path = _curated(zone, rec)
    assert rec.md5 == hashlib.md5(path.read_bytes()).hexdigest()
    curated = pd.read_parquet(path)
    # the raw columns the spec's fairness slices group by follow the features (never model inputs)
    slices = [f"slice__{c}" for c in sorted({cut.column for cut in spec.slices.by})]
    assert slices == ["slice__country", "slice__customer_age"]
    assert list(curated.columns) == ["transaction_id", "event_time", "is_fraud", *feature_columns(spec), *slices]
    assert len(curated) == ROWS
    assert path.with_name(path.name + ".dvc").is_file()


@pytest.mark.slow
def test_record_is_written(zone, spec):
    rec = zone.records["clean.parquet"]
    path = uris.local_path(zone.settings.area("state", spec.name)) / "batches" / f"{rec.sha256}.json"
    assert json.loads(path.read_text()) == rec.to_dict()


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "clean.parquet",
        "clean_again.parquet",
        "few_bad.parquet",
        "mostly_bad.parquet",
        "corrupt.parquet",
        "unlabelled.parquet",
        "no_amount.parquet",
    ],
)
def test_raw_files_are_never_changed(zone, name):
    assert storage.sha256(zone.uris[name]) == zone.sha_before[name]


@pytest.mark.slow
def test_same_content_under_another_name_is_a_duplicate(zone):
    first, again = zone.records["clean.parquet"], zone.records["clean_again.parquet"]
    assert again.status == "duplicate"
    assert again.batch_id == first.batch_id
    assert again.raw_uri == zone.uris["clean_again.parquet"]
    assert zone.uris["clean.parquet"] in again.reason
    assert again.curated_path is None and again.md5 is None


@pytest.mark.slow
def test_a_few_bad_rows_are_quarantined(zone):
    rec = zone.records["few_bad.parquet"]
    assert rec.status == "curated"
    assert (rec.n_rows, rec.n_valid, rec.n_invalid) == (ROWS, ROWS - 3, 3)
    raw = zone.frames["few_bad.parquet"]
    rows = pd.read_parquet(_quarantine(rec) / "rows.parquet")
    pd.testing.assert_frame_equal(rows, raw.loc[sorted(BAD_ROWS)].reset_index(drop=True))


@pytest.mark.slow
def test_a_few_bad_rows_report(zone):
    rec = zone.records["few_bad.parquet"]
    report = json.loads((_quarantine(rec) / "report.json").read_text())
    assert report["raw_uri"] == zone.uris["few_bad.parquet"]
    assert (report["valid"], report["n_rows"], report["n_invalid_rows"]) == (False, ROWS, 3)
    by_column = {f["column"]: f for f in report["failures"]}
    assert set(by_column) == {"amount", "merchant_category", "transaction_id"}
    assert by_column["amount"]["examples"] == [-3.0]
    assert by_column["merchant_category"]["examples"] == ["casino"]
    assert by_column["transaction_id"]["check"] == "field_uniqueness"
    assert all(f["count"] == 1 for f in report["failures"])


@pytest.mark.slow
def test_a_few_bad_rows_are_not_curated(zone):
    rec = zone.records["few_bad.parquet"]
    curated = pd.read_parquet(_curated(zone, rec))
    raw = zone.frames["few_bad.parquet"]
    assert len(curated) == ROWS - 3
    assert curated["transaction_id"].is_unique
    assert raw.loc[5, "transaction_id"] not in set(curated["transaction_id"])
    assert raw.loc[17, "transaction_id"] not in set(curated["transaction_id"])
    assert raw.loc[29, "transaction_id"] in set(curated["transaction_id"])  # first occurrence kept


@pytest.mark.slow
def test_too_many_bad_rows_rejects_the_batch(zone, spec):
    rec = zone.records["mostly_bad.parquet"]
    assert rec.status == "rejected"
    assert "max_invalid_share" in rec.reason
    assert rec.curated_path is None and rec.md5 is None
    assert rec.n_rows == ROWS and rec.n_invalid == ROWS // 2 + 1
    quarantine = _quarantine(rec)
    assert sorted(p.name for p in quarantine.iterdir()) == ["mostly_bad.parquet", "report.json"]
    assert storage.sha256(uris.to_uri(quarantine / "mostly_bad.parquet")) == zone.sha_before["mostly_bad.parquet"]
    report = json.loads((quarantine / "report.json").read_text())
    assert report["batch_error"] == rec.reason
    curated_dir = Path(zone.settings.dvc_workspace) / "curated" / spec.name
    assert not list(curated_dir.glob(f"{rec.batch_id}*"))


@pytest.mark.slow
def test_corrupt_file_is_rejected(zone):
    rec = zone.records["corrupt.parquet"]
    assert rec.status == "rejected"
    assert "cannot read" in rec.reason
    assert rec.n_rows == 0 and rec.curated_path is None
    quarantine = _quarantine(rec)
    assert storage.sha256(uris.to_uri(quarantine / "corrupt.parquet")) == zone.sha_before["corrupt.parquet"]
    assert json.loads((quarantine / "report.json").read_text())["batch_error"] == rec.reason


@pytest.mark.slow
def test_missing_column_rejects_the_batch(zone):
    rec = zone.records["no_amount.parquet"]
    assert rec.status == "rejected"
    assert "amount" in rec.reason and "column_in_dataframe" in rec.reason
    assert rec.n_invalid == ROWS
    report = json.loads((_quarantine(rec) / "report.json").read_text())
    assert report["failures"] == [
        {"column": "amount", "check": "column_in_dataframe", "count": 1, "examples": ["amount"]}
    ]


@pytest.mark.slow
def test_unlabelled_batch_is_curated_without_labels(zone, spec):
    rec = zone.records["unlabelled.parquet"]
    assert rec.status == "curated" and rec.has_labels is False
    assert "is_fraud" not in pd.read_parquet(_curated(zone, rec)).columns


@pytest.mark.slow
def test_pending_batches_lists_only_unprocessed_files(zone):
    assert zone.pending_before == sorted(zone.uris.values())
    assert zone.pending_after == [zone.uris["late.parquet"]]


@pytest.mark.slow
def test_load_records_lists_curated_and_rejected_batches(zone, spec):
    records = ingest.load_records(zone.settings, spec.name)
    not_recorded = {"clean_again.parquet", "late.parquet"}  # a duplicate, and a file not processed yet
    assert sorted(r.raw_uri for r in records) == sorted(u for n, u in zone.uris.items() if n not in not_recorded)
    assert {r.status for r in records} == {"curated", "rejected"}
    times = [r.time_min or "" for r in records]
    assert times == sorted(times)


@pytest.mark.slow
def test_reprocessing_is_a_duplicate(zone, spec):
    again = ingest.process_batch(
        spec, zone.settings, DataVersioner.from_settings(zone.settings), zone.uris["few_bad.parquet"]
    )
    assert again.status == "duplicate"
    assert again.batch_id == zone.records["few_bad.parquet"].batch_id


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("file:///x/landing/batch-001.parquet", "batch-001-0123456789ab"),
        ("file:///x/my batch.v2.parquet", "my-batch-v2-0123456789ab"),
        ("s3://b/k/" + "a" * 80 + ".csv", "a" * 60 + "-0123456789ab"),
    ],
)
def test_batch_id_for(uri, expected):
    assert ingest.batch_id_for(uri, "0123456789abcdef" * 4) == expected


def test_an_unreachable_store_leaves_the_batch_pending_not_rejected(tmp_path, settings_for, spec, monkeypatch):
    """S3 down while the batch is read is `ServiceUnavailable` (retry later), never a rejected batch."""
    import socket

    from airloop.data.validation import read_table
    from airloop.errors import ServiceUnavailable

    with socket.socket() as s:  # a port nothing listens on: connection refused
        s.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{s.getsockname()[1]}"
    options = {
        "anon": True,
        "client_kwargs": {"endpoint_url": endpoint},
        "config_kwargs": {"retries": {"max_attempts": 1, "mode": "standard"}},
    }
    real_read = storage.read_bytes
    monkeypatch.setattr(storage, "read_bytes", lambda uri, o=None: real_read(uri, options))
    monkeypatch.setattr(storage, "sha256", lambda uri, o=None: "0" * 64)
    raw_uri = "s3://bucket/landing/fraud_detection/batch.parquet"
    settings = settings_for(tmp_path)

    with pytest.raises(ServiceUnavailable):
        read_table(raw_uri)
    with pytest.raises(ServiceUnavailable):
        ingest.process_batch(spec, settings, DataVersioner.from_settings(settings), raw_uri)
    assert ingest.load_records(settings, spec.name) == []
    assert not uris.local_path(settings.area("quarantine", spec.name)).exists()
