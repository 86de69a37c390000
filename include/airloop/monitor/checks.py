"""Drift monitoring: compare each new curated batch with the data the current champion was trained on.

The reference is found through the champion's lineage — its `data_md5` tag restores the exact training set from
DVC — and the comparison runs on the model's feature columns, i.e. on what the model actually sees. Every check
leaves a record (`state/<pipeline>/drift/<batch>.json`, with an HTML report and a PNG summary beside it) and an
MLflow run in the `airloop-<pipeline>-monitoring` experiment with the per-feature scores as metrics, so drift can be
charted over time. Labelled batches also measure the champion's live metric (performance decay). A batch is
checked once; with no champion yet there is nothing to compare with.
"""

from __future__ import annotations

import functools
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from airloop import uris
from airloop.data import ingest
from airloop.model import registry
from airloop.model.mlflow_errors import answering
from airloop.store import storage

if TYPE_CHECKING:
    import pandas as pd

    from airloop.monitor.drift import DriftReport
    from airloop.settings import Settings
    from airloop.spec import PipelineSpec
    from airloop.store.versioning import DataVersioner

log = logging.getLogger(__name__)


def _record_uri(settings: Settings, pipeline: str, batch_id: str, suffix: str = "json") -> str:
    return uris.join_uri(settings.area("state", pipeline), "drift", f"{batch_id}.{suffix}")


def load_checks(settings: Settings, pipeline: str) -> list[dict[str, Any]]:
    """Every drift check of a pipeline, oldest first (the drift history the UI and the retrain trigger read)."""
    folder = uris.join_uri(settings.area("state", pipeline), "drift")
    checks = [json.loads(storage.read_bytes(f.uri)) for f in storage.list_files(folder, "*.json")]
    return sorted(checks, key=lambda c: c["checked_at"])


def compare_features(spec: PipelineSpec, reference: pd.DataFrame, current: pd.DataFrame) -> DriftReport:
    """Drift on the model's features (all numeric), with the spec's method and dataset share."""
    from airloop.data.features import feature_columns
    from airloop.monitor.drift import compare

    columns = feature_columns(spec)
    return compare(
        reference,
        current,
        columns=columns,
        kinds=dict.fromkeys(columns, "numeric"),
        method=spec.drift.method,
        drift_share=spec.drift.drift_share,
    )


DriftWork = Literal["nothing_new", "no_champion", "ready"]


def unchecked_batches(settings: Settings, pipeline: str) -> list[ingest.BatchRecord]:
    """Curated batches with no drift record yet, oldest data first (the batch records and one drift listing: the
    monitor's sensor asks this at every poke)."""
    folder = uris.join_uri(settings.area("state", pipeline), "drift")
    checked = {f.name.removesuffix(".json") for f in storage.list_files(folder, "*.json")}
    return [r for r in ingest.load_records(settings, pipeline) if r.status == "curated" and r.batch_id not in checked]


def champion_reference(
    spec: PipelineSpec, settings: Settings, models: registry.Registry | None = None
) -> dict[str, str]:
    """The champion's tags (and `version`) when it has lineage (`data_md5`) to compare with; else empty.

    Only MLflow's own "no such model or alias" reads as no champion; an unreachable registry raises
    `ServiceUnavailable` (through `Registry.version_tags`): a monitor run then fails and retries rather than
    waiting, or worse, deciding there is nothing to check. `models`: the registry the caller holds, if any.
    """
    models = models or registry.Registry.from_settings(settings)
    tags = models.version_tags(spec.name, registry.CHAMPION)
    return tags if tags.get("data_md5") else {}


def drift_work(spec: PipelineSpec, settings: Settings) -> DriftWork:
    """What `check_pending` would do now, answered without reading any data: the monitor's sensor pokes this.

    Returns:
        "nothing_new" when every curated batch has been checked (the registry is not asked), "no_champion" when
        batches wait but there is no champion with lineage to compare them with, else "ready".
    """
    if not unchecked_batches(settings, spec.name):
        return "nothing_new"
    return "ready" if champion_reference(spec, settings) else "no_champion"


def check_pending(spec: PipelineSpec, settings: Settings, versioner: DataVersioner) -> list[dict[str, Any]] | None:
    """Check every curated batch not checked yet against the champion's training data.

    Returns:
        None when the pipeline has no champion yet; else one summary per batch checked (possibly none).
    """
    import pandas as pd

    models = registry.Registry.from_settings(settings)  # one registry (one MLflow client) for the whole run
    champion = champion_reference(spec, settings, models)
    if not champion:
        log.info("%s has no champion with lineage yet: nothing to compare with", spec.name)
        return None
    todo = unchecked_batches(settings, spec.name)
    if not todo:
        return []
    # Downloaded once, and only when a labelled batch needs it: the champion is the same for every batch.
    booster = functools.cache(lambda: models.load_booster(spec.name, champion["version"]))
    with tempfile.TemporaryDirectory() as tmp:
        reference = pd.read_parquet(versioner.restore(champion["data_md5"], Path(tmp) / "reference.parquet"))
        results = []
        for rec in todo:
            current = ingest.read_curated(rec, versioner)
            report = compare_features(spec, reference, current)
            performance = live_performance(spec, champion, current, booster()) if rec.has_labels else None
            frames = (reference, current)
            results.append(
                _record(spec, settings, models, rec.batch_id, champion, report, frames, Path(tmp), performance)
            )
    return results


def live_performance(spec: PipelineSpec, champion: dict[str, str], batch, booster) -> dict[str, Any]:
    """The champion's metric on a labelled batch vs the score it had on its holdout; decayed if it fell too far.

    This catches concept drift, which input statistics cannot see: the inputs look the same, the answers changed.
    `booster` is the champion's model (`Registry.load_booster`), loaded once by the caller for all its batches.
    """
    from airloop.metrics import improvement
    from airloop.model.training import evaluate

    metric = spec.performance.metric or spec.gate_metric
    live = evaluate(booster, batch, list(booster.feature_names or ()), spec.label.column, spec.label.task).get(metric)
    live = float("nan") if live is None else live  # a champion of another task has no such metric: no verdict
    baseline = float(champion.get(f"metric.{metric}", "nan"))
    # In the metric's units, positive when live is worse: a fall for pr_auc or r2, a rise for log_loss or rmse.
    drop = -improvement(metric, live, baseline)
    decayed = bool(drop > spec.performance.max_drop)  # NaN (no baseline, one class) compares False
    return {
        "metric": metric,
        "baseline": None if baseline != baseline else baseline,
        "live": None if live != live else float(live),
        "drop": None if drop != drop else float(drop),
        "max_drop": spec.performance.max_drop,
        "decayed": decayed,
    }


def _record(
    spec, settings, models, batch_id, champion, report, frames, tmp: Path, performance: dict | None = None
) -> dict[str, Any]:
    """Write one check's HTML report, PNG summary, MLflow run and (last) its record; `frames`: (reference, current)."""
    from airloop.monitor.drift.html import render_html, summary_png

    reference, current = frames

    html = render_html(report, reference, current, tmp / f"{batch_id}.html", title=f"{spec.name}: drift of {batch_id}")
    png = summary_png(report, tmp / f"{batch_id}.png")
    drifted = sorted((n for n, f in report.features.items() if f.drifted), key=lambda n: -report.features[n].statistic)
    summary = {
        "pipeline": spec.name,
        "batch_id": batch_id,
        "champion_version": champion["version"],
        "reference_md5": champion["data_md5"],
        "checked_at": time.time(),
        "drift_detected": report.drift_detected,
        "share_drifted": report.share_drifted,
        "top_drifted": drifted[:5],
        "performance": performance,
        "decayed": bool(performance and performance["decayed"]),
        "html_uri": storage.write_bytes(_record_uri(settings, spec.name, batch_id, "html"), html.read_bytes()),
        "png_uri": storage.write_bytes(_record_uri(settings, spec.name, batch_id, "png"), png.read_bytes()),
        "mlflow_run_id": _log_check_run(models, spec, batch_id, champion, report, (html, png), performance),
        "report": report.to_dict(),
    }
    # Written last: a check that died half-way is simply done again.
    storage.write_bytes(_record_uri(settings, spec.name, batch_id), json.dumps(summary, indent=2).encode())
    if performance:
        log.info(
            "%s batch %s: champion v%s live %s %s vs holdout %s: %s",
            spec.name,
            batch_id,
            champion["version"],
            performance["metric"],
            performance["live"],
            performance["baseline"],
            "DECAY" if performance["decayed"] else "ok",
        )
    log.info(
        "%s batch %s vs champion v%s: %s (%.0f%% of features drifted; top %s)",
        spec.name,
        batch_id,
        champion["version"],
        "DRIFT" if report.drift_detected else "no drift",
        100 * report.share_drifted,
        drifted[:3],
    )
    return summary


def _log_check_run(models, spec, batch_id, champion, report, files: tuple[Path, Path], performance) -> str:
    """The check as a run of the pipeline's monitoring experiment: scores as metrics, HTML and PNG as artifacts.
    MLflow down: `ServiceUnavailable`, and the check is retried whole (its record is written after this)."""
    experiment_id = models.experiment_id(f"{registry.experiment_name(spec.name)}-monitoring", create=True)
    with answering(models.tracking_uri):
        run = models.client.create_run(
            experiment_id,
            run_name=f"drift-{batch_id}",
            tags={
                "pipeline": spec.name,
                "batch_id": batch_id,
                "champion_version": champion["version"],
                "reference_md5": champion["data_md5"],
                "drift_detected": str(report.drift_detected).lower(),
            },
        )
    metrics = {"share_drifted": report.share_drifted}
    if performance and performance["live"] is not None:
        metrics[f"live_{performance['metric']}"] = performance["live"]
    metrics.update({f"drift.{n}": f.statistic for n, f in report.features.items()})
    models.log_metrics(run.info.run_id, metrics)  # in chunks MLflow accepts, however many features
    with answering(models.tracking_uri):
        for path in files:
            models.client.log_artifact(run.info.run_id, str(path))
        models.client.set_terminated(run.info.run_id)
    return run.info.run_id
