"""Model Ops data: what the Airflow UI pages and JSON API show, checked against what MLflow and the monitor hold."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from airloop.errors import RegistryError
from airloop.model.registry import Registry
from airloop.ops import views

pytestmark = [pytest.mark.unit, pytest.mark.slow]
NAME = "fraud_detection"


@pytest.fixture(scope="module")
def world(monitored_world):
    """The shared monitored world (conftest.py): an empty page, v1 champion, five drift checks, v2 from drift."""
    w = monitored_world
    return {
        "settings": w.settings,
        "spec": w.spec,
        "empty": w.empty,
        "checks": w.first,
        "v1": w.v1,
        "v2": w.v2,
        "detail": w.detail,
    }


def test_a_pipeline_without_models_has_an_empty_page(world):
    empty = world["empty"]
    assert empty["versions"] == [] and empty["drift_history"] == [] and empty["champion_history"] == []
    assert empty["summary"]["champion"] is None and empty["summary"]["last_drift_check"] is None
    json.dumps(empty)


def test_summary_matches_mlflow(world):
    settings, s = world["settings"], world["detail"]["summary"]
    model = Registry.from_settings(settings).describe_models([NAME])[0]
    assert (s["champion"], s["challenger"]) == (model["champion"], model["challenger"])
    champion = next(v for v in model["versions"] if v["version"] == model["champion"])
    assert s["champion_metric"] == pytest.approx(champion["metrics"]["pr_auc"])
    assert s["champion_data_md5"] == champion["data_md5"]
    assert s["champion_trigger"] == champion["trigger"]
    assert s["metric"] == world["spec"].gate.metric
    assert s["champion_age_seconds"] > 0
    assert s["last_retrain"]["version"] == "2" and s["last_retrain"]["trigger"] == "drift"
    assert s["n_versions"] == 2


def test_last_drift_check_and_trend_come_from_the_monitor_records(world):
    s = world["detail"]["summary"]
    newest = max(world["checks"], key=lambda c: c["checked_at"])
    assert s["last_drift_check"]["batch_id"] == newest["batch_id"]
    assert s["last_drift_check"]["share_drifted"] == pytest.approx(newest["share_drifted"])
    assert s["last_drift_check"]["top_drifted"] == newest["top_drifted"]
    assert s["drift_trend"] == [c["share_drifted"] for c in sorted(world["checks"], key=lambda c: c["checked_at"])]


def test_version_timeline_is_newest_first_with_links(world):
    versions = world["detail"]["versions"]
    assert [v["version"] for v in versions] == ["2", "1"]
    v2, v1 = versions
    assert v2["trigger"] == "drift" and v2["drift_batch"] == "shifted-x"
    assert v2["airflow_run_path"] == (f"/dags/{NAME}__retrain/runs/asset_triggered__2026-11-26T08%3A00%3A00%2B00%3A00")
    assert v1["airflow_run_path"] is None, "no run id recorded → no link"
    assert v2["mlflow_run_url"] is None, "a sqlite tracking store has no UI to link to"
    assert v1["gate"] == "promoted"


def test_mlflow_links_when_mlflow_has_a_ui(world):
    from dataclasses import replace

    settings = replace(world["settings"], mlflow_ui_url="http://mlflow.example:5000/")
    links = views.mlflow_links(settings, NAME, {"version": "3", "run_id": "abc"}, "7")
    assert links == {
        "mlflow_version_url": f"http://mlflow.example:5000/#/models/{NAME}/versions/3",
        "mlflow_run_url": "http://mlflow.example:5000/#/experiments/7/runs/abc",
    }


def test_drift_history_has_per_feature_scores(world):
    history = world["detail"]["drift_history"]
    assert [h["batch_id"] for h in history] == [
        c["batch_id"] for c in sorted(world["checks"], key=lambda c: c["checked_at"])
    ]
    from airloop.data.features import feature_columns

    for h in history:
        assert set(h["features"]) == set(feature_columns(world["spec"]))
        assert all({"method", "statistic", "threshold", "drifted"} <= set(f) for f in h["features"].values())
    assert any(h["drift_detected"] for h in history) and not all(h["drift_detected"] for h in history)


def test_drift_chart_draws_every_check(world):
    svg = views.drift_chart_svg(world["spec"], world["settings"])
    root = ET.fromstring(svg)
    assert "drift-history" in root.get("class", "")
    assert root.findall(".//{*}line[@class='decision-line']") or root.findall(".//*[@class='decision-line']")


def test_drift_chart_from_the_history_already_read_is_the_chart_read_afresh(world, monkeypatch):
    """The pipeline page passes `pipeline_detail`'s drift history: the same SVG, and the records are not re-read."""
    from airloop.monitor import checks

    detail = views.pipeline_detail(world["spec"], world["settings"])
    fresh = views.drift_chart_svg(world["spec"], world["settings"])
    monkeypatch.setattr(checks, "load_checks", lambda *a: pytest.fail("the drift records were read again"))
    assert views.drift_chart_svg(world["spec"], world["settings"], history=detail["drift_history"]) == fresh


def test_rollback_is_audited_and_refused_without_an_earlier_champion(world, tmp_path):
    settings, spec = world["settings"], world["spec"]
    models = Registry.from_settings(settings)
    champion = models.champion_version(NAME)
    if champion == "1":  # v2 lost its gate: make it champion by hand so there is something to roll back
        models.promote(NAME, "2", actor="unit")
    result = views.rollback(spec, settings, actor="airflow-ui:alice")
    assert (result["from"], result["to"], result["actor"]) == ("2", "1", "airflow-ui:alice")
    history = views.pipeline_detail(spec, settings)["champion_history"]
    assert history[0]["actor"] == "airflow-ui:alice" and history[0]["reason"] == "rollback from v2"
    with pytest.raises(RegistryError, match="no earlier champion"):
        views.rollback(spec, settings, actor="airflow-ui:alice")


def test_dag_links_include_the_staleness_dag_only_when_models_can_go_stale(fast_spec):
    assert fast_spec.training.max_model_age  # the shipped spec retrains an old champion
    assert views.pipeline_dag_ids(fast_spec) == {
        "features": f"{NAME}__features",
        "train": f"{NAME}__train",
        "score": f"{NAME}__score",
        "monitor": f"{NAME}__monitor",
        "retrain": f"{NAME}__retrain",
        "staleness": f"{NAME}__staleness",
    }
    ageless = fast_spec.model_copy(update={"training": fast_spec.training.model_copy(update={"max_model_age": None})})
    assert "staleness" not in views.pipeline_dag_ids(ageless)
    assert list(views.pipeline_dag_ids(ageless)) == ["features", "train", "score", "monitor", "retrain"]
