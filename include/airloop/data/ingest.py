"""The feature step: raw batch → validation → quarantine → personal data dropped or hashed → features → curated
Parquet → DVC version.

One call handles one raw batch end to end, so a batch never ends half-processed on a worker that dies: the
batch record (the marker that says "processed") is written last. Raw files are only ever read; quarantine
holds copies. A batch is identified by its content hash, so a re-delivered file is recognized and skipped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

from airloop import uris
from airloop.errors import DataError
from airloop.store import storage

if TYPE_CHECKING:
    import pandas as pd

    from airloop.settings import Settings
    from airloop.spec import PipelineSpec
    from airloop.store.versioning import DataVersioner

log = logging.getLogger(__name__)
Status = Literal["curated", "rejected", "duplicate"]


@dataclass
class BatchRecord:
    """What the pipeline knows about one raw batch; stored as JSON under `state/<pipeline>/batches/`."""

    batch_id: str
    sha256: str
    raw_uri: str
    status: Status
    n_rows: int = 0
    n_valid: int = 0
    n_invalid: int = 0
    has_labels: bool = False
    curated_path: str | None = None  # relative to the DVC workspace
    md5: str | None = None
    time_min: str | None = None
    time_max: str | None = None
    quarantine_uri: str | None = None
    reason: str | None = None
    processed_at: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def batch_id_for(raw_uri: str, sha: str) -> str:
    stem = raw_uri.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in stem)[:60]
    return f"{safe}-{sha[:12]}"


def _record_uri(settings: Settings, pipeline: str, sha: str) -> str:
    return uris.join_uri(settings.area("state", pipeline), "batches", f"{sha}.json")


def _duplicate_uri(settings: Settings, pipeline: str, raw_uri: str) -> str:
    key = hashlib.sha256(raw_uri.encode()).hexdigest()
    return uris.join_uri(settings.area("state", pipeline), "duplicates", f"{key}.json")


def load_records(settings: Settings, pipeline: str) -> list[BatchRecord]:
    """Every processed batch of a pipeline, oldest data first."""
    recs = []
    for f in storage.list_files(uris.join_uri(settings.area("state", pipeline), "batches"), "*.json"):
        recs.append(BatchRecord(**json.loads(storage.read_bytes(f.uri))))
    return sorted(recs, key=lambda r: (r.time_min or "", r.processed_at))


def read_curated(record: BatchRecord, versioner: DataVersioner):
    """A curated batch as a DataFrame; fetched by md5 first when it was produced on another worker."""
    import pandas as pd

    if record.curated_path is None or record.md5 is None:
        raise DataError(f"batch {record.batch_id} is {record.status}: it has no curated data to read")
    local = versioner.path(record.curated_path)
    if not local.exists():
        versioner.restore(record.md5, local)
    return pd.read_parquet(local)


def pending_batches(spec: PipelineSpec, settings: Settings) -> list[str]:
    """Raw files in the landing zone whose content has not been processed yet (cheap: names and sizes first)."""
    landing = settings.location(spec.storage.landing)
    seen = {r.raw_uri for r in load_records(settings, spec.name)}
    for f in storage.list_files(uris.join_uri(settings.area("state", spec.name), "duplicates"), "*.json"):
        seen.add(json.loads(storage.read_bytes(f.uri))["raw_uri"])
    return [f.uri for f in storage.list_files(landing, spec.storage.pattern) if f.uri not in seen]


def process_batch(spec: PipelineSpec, settings: Settings, versioner: DataVersioner, raw_uri: str) -> BatchRecord:
    """Validate one raw batch, quarantine what fails, write and version the curated features.

    Personal columns (spec `pii`) are dropped or hashed right after validation, so curated data, its DVC
    versions, training sets, models and predictions never see raw personal values. Quarantine, like landing, is
    raw storage: invalid rows are kept as delivered, for a person to fix and replay. A spec that hashes and has no
    key fails here before anything is read or written; the batch stays pending until the key is there.
    """
    from airloop.data import pii
    from airloop.data.validation import ValidationReport, read_table, rejection_reason, validate_frame

    pii.require_key(spec, settings.pii_key)
    sha = storage.sha256(raw_uri)
    rec_uri = _record_uri(settings, spec.name, sha)
    if storage.exists(rec_uri):
        return _skip_duplicate(spec, settings, raw_uri, sha, rec_uri)

    batch_id = batch_id_for(raw_uri, sha)
    quarantine = uris.join_uri(settings.area("quarantine", spec.name), batch_id)
    try:
        raw = read_table(raw_uri)
    except DataError as exc:
        report = ValidationReport(False, 0, 0, [], batch_error=str(exc))
        return _reject(spec, settings, raw_uri, sha, batch_id, quarantine, report, 0)

    result = validate_frame(raw, spec)
    report = result.report
    reason = rejection_reason(report, spec.schema_.max_invalid_share)
    if reason or result.valid_rows is None:
        report.batch_error = reason or f"all {report.n_rows} rows invalid"
        return _reject(spec, settings, raw_uri, sha, batch_id, quarantine, report, len(raw))

    if report.n_invalid_rows:
        storage.write_parquet(raw.loc[result.invalid_mask], uris.join_uri(quarantine, "rows.parquet"))
        _write_report(quarantine, raw_uri, report)
        log.warning("batch %s: %d invalid rows quarantined to %s", batch_id, report.n_invalid_rows, quarantine)

    record = BatchRecord(
        batch_id,
        sha,
        raw_uri,
        "curated",
        n_rows=len(raw),
        n_invalid=report.n_invalid_rows,
        quarantine_uri=quarantine if report.n_invalid_rows else None,
    )
    _curate(spec, settings, versioner, result.valid_rows, record)
    storage.write_bytes(rec_uri, json.dumps(record.to_dict(), indent=2).encode())
    log.info("batch %s: %d rows curated (md5 %s)", batch_id, record.n_valid, record.md5)
    return record


def _skip_duplicate(spec: PipelineSpec, settings: Settings, raw_uri: str, sha: str, rec_uri: str) -> BatchRecord:
    """A batch whose content was processed before (under another name): noted as a duplicate, nothing curated."""
    prior = BatchRecord(**json.loads(storage.read_bytes(rec_uri)))
    log.info("batch %s has the same content as %s (%s): skipped", raw_uri, prior.raw_uri, prior.batch_id)
    dup = BatchRecord(prior.batch_id, sha, raw_uri, "duplicate", reason=f"same content as {prior.raw_uri}")
    dup.processed_at = time.time()
    storage.write_bytes(_duplicate_uri(settings, spec.name, raw_uri), json.dumps(dup.to_dict()).encode())
    return dup


def _curate(
    spec: PipelineSpec, settings: Settings, versioner: DataVersioner, rows: pd.DataFrame, record: BatchRecord
) -> None:
    """The valid rows, personal data dropped or hashed, as features: written, versioned, and noted on `record`."""
    from airloop.data import pii
    from airloop.data.features import build_features

    valid = pii.apply(rows, spec, settings.pii_key)
    features = build_features(valid, spec)
    rel = f"curated/{spec.name}/{record.batch_id}.parquet"
    storage.write_parquet(features, uris.to_uri(versioner.path(rel)), use_dictionary=False)
    tracked = versioner.track(rel)
    # Data without a time column has no time range: records then sort by when they were processed.
    times = valid[spec.schema_.time_column] if spec.schema_.time_column else None
    record.n_valid = len(valid)
    record.has_labels = spec.label.column in valid.columns and bool(valid[spec.label.column].notna().all())
    record.curated_path, record.md5 = rel, tracked.md5
    record.time_min = None if times is None else str(times.min())
    record.time_max = None if times is None else str(times.max())
    record.processed_at = time.time()


def _write_report(quarantine: str, raw_uri: str, report) -> None:
    body = {"raw_uri": raw_uri, **report.to_dict()}
    storage.write_bytes(uris.join_uri(quarantine, "report.json"), json.dumps(body, indent=2, default=str).encode())


def _reject(spec, settings, raw_uri, sha, batch_id, quarantine, report, n_rows) -> BatchRecord:
    """Quarantine a copy of the whole raw batch with its report; the raw file itself stays untouched."""
    name = raw_uri.rstrip("/").rsplit("/", 1)[-1]
    storage.copy(raw_uri, uris.join_uri(quarantine, name))
    _write_report(quarantine, raw_uri, report)
    record = BatchRecord(
        batch_id,
        sha,
        raw_uri,
        "rejected",
        n_rows=n_rows,
        n_invalid=report.n_invalid_rows,
        quarantine_uri=quarantine,
        reason=report.batch_error,
        processed_at=time.time(),
    )
    storage.write_bytes(_record_uri(settings, spec.name, sha), json.dumps(record.to_dict(), indent=2).encode())
    log.warning("batch %s rejected: %s (quarantined to %s)", batch_id, report.batch_error, quarantine)
    return record
