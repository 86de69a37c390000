"""Batch scoring with the current champion: every curated batch is scored once, each row naming its model version.

The output columns follow the model's task, with `score` present for every task so readers written for the
binary case keep working:

- binary: `score` = P(class 1);
- multiclass: `prediction` (the class label), `score` = its probability, one `proba_<class>` column per class;
- regression: `prediction` (the predicted value), and `score` = the same value.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airloop import uris
from airloop.store import storage

if TYPE_CHECKING:
    import pandas as pd

    from airloop.data.ingest import BatchRecord
    from airloop.settings import Settings
    from airloop.spec import PipelineSpec
    from airloop.store.versioning import DataVersioner

log = logging.getLogger(__name__)


@dataclass
class ScoredBatch:
    batch_id: str
    uri: str
    rows: int
    model_version: str


def predictions_uri(settings: Settings, spec: PipelineSpec, batch_id: str) -> str:
    return uris.join_uri(settings.area("predictions", spec.name), f"{batch_id}.parquet")


def score_pending(
    spec: PipelineSpec, settings: Settings, versioner: DataVersioner, records: list[BatchRecord]
) -> list[ScoredBatch]:
    """Score each curated batch not scored yet with the current champion. No champion → nothing to do yet.

    The alias is resolved once per call, so every row written in this call names the one version that scored it.
    """
    import pandas as pd

    from airloop.data.ingest import read_curated
    from airloop.model.registry import Registry

    registry = Registry.from_settings(settings)
    version = registry.champion_version(spec.name)
    if version is None:
        log.info("%s has no champion yet: nothing scored", spec.name)
        return []
    todo = [
        r for r in records if r.status == "curated" and not storage.exists(predictions_uri(settings, spec, r.batch_id))
    ]
    if not todo:
        return []
    booster = registry.load_booster(spec.name, version)
    features = list(booster.feature_names or ())
    out = []
    for rec in todo:
        df = read_curated(rec, versioner)
        ids = [c for c in (spec.schema_.id_column, spec.schema_.time_column) if c]
        pred = df[ids].copy()
        for column, values in prediction_columns(booster, df, features).items():
            pred[column] = values
        pred["model_name"] = spec.name
        pred["model_version"] = version
        pred["scored_at"] = pd.Timestamp(time.time(), unit="s", tz="UTC")
        uri = storage.write_parquet(pred, predictions_uri(settings, spec, rec.batch_id))
        out.append(ScoredBatch(rec.batch_id, uri, len(pred), version))
        log.info("scored %s with %s v%s: %d rows → %s", rec.batch_id, spec.name, version, len(pred), uri)
    return out


def prediction_columns(booster, df: pd.DataFrame, features: list[str]) -> dict[str, object]:
    """The task-specific prediction columns of one batch, in output order (see the module docstring).

    The task and class list come from the booster itself, so a batch is labelled with the classes of the version
    that scored it even after the spec's class list changed.
    """
    import numpy as np

    from airloop.model.training import booster_classes, booster_task, predict

    out = predict(booster, df, features)
    task = booster_task(booster) or "binary"
    if task == "regression":
        return {"prediction": out, "score": out}
    if task != "multiclass":
        return {"score": out}
    classes = booster_classes(booster) or list(range(out.shape[1]))
    best = out.argmax(axis=1)
    labels = np.asarray(classes, dtype=object)[best]
    cols: dict[str, object] = {
        "prediction": labels.astype(str) if all(isinstance(c, str) for c in classes) else labels.astype(np.int64),
        "score": out[np.arange(len(out)), best],
    }
    cols.update({f"proba_{c}": out[:, i] for i, c in enumerate(classes)})
    return cols
