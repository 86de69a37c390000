"""Batch scoring with the current champion: every curated batch is scored once, each row naming its model version."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airloop import storage

if TYPE_CHECKING:
    from airloop.ingest import BatchRecord
    from airloop.settings import Settings
    from airloop.spec import PipelineSpec
    from airloop.versioning import DataVersioner

log = logging.getLogger(__name__)


@dataclass
class ScoredBatch:
    batch_id: str
    uri: str
    rows: int
    model_version: str


def predictions_uri(settings: Settings, spec: PipelineSpec, batch_id: str) -> str:
    return storage.join_uri(settings.area("predictions", spec.name), f"{batch_id}.parquet")


def score_pending(
    spec: PipelineSpec, settings: Settings, versioner: DataVersioner, records: list[BatchRecord]
) -> list[ScoredBatch]:
    """Score each curated batch not scored yet with the current champion. No champion → nothing to do yet.

    The alias is resolved once per call, so every row written in this call names the one version that scored it.
    """
    import pandas as pd

    from airloop import registry
    from airloop.ingest import read_curated
    from airloop.training import predict_proba

    version = registry.champion_version(spec.name, settings.tracking_uri)
    if version is None:
        log.info("%s has no champion yet: nothing scored", spec.name)
        return []
    todo = [
        r for r in records if r.status == "curated" and not storage.exists(predictions_uri(settings, spec, r.batch_id))
    ]
    if not todo:
        return []
    booster = registry.load_booster(spec.name, version, settings.tracking_uri)
    features = list(booster.feature_names)
    out = []
    for rec in todo:
        df = read_curated(rec, versioner)
        ids = [spec.schema_.id_column, spec.schema_.time_column]
        pred = df[ids].copy()
        pred["score"] = predict_proba(booster, df, features)
        pred["model_name"] = spec.name
        pred["model_version"] = version
        pred["scored_at"] = pd.Timestamp(time.time(), unit="s", tz="UTC")
        uri = storage.write_parquet(pred, predictions_uri(settings, spec, rec.batch_id))
        out.append(ScoredBatch(rec.batch_id, uri, len(pred), version))
        log.info("scored %s with %s v%s: %d rows → %s", rec.batch_id, spec.name, version, len(pred), uri)
    return out
