"""Deployment settings: embedded defaults under `.run/`, explicit values win, locations hang off the data root."""

from __future__ import annotations

import pytest

from airloop.settings import Settings

pytestmark = pytest.mark.unit


def test_defaults_form_the_embedded_deployment(tmp_path):
    s = Settings.from_mapping({}, base=tmp_path)
    run = tmp_path.resolve() / ".run"
    assert s.data_root == (run / "data").as_uri()
    assert s.tracking_uri == f"sqlite:///{run / 'mlflow' / 'mlflow.db'}"
    assert s.dvc_workspace == str(run / "dvc")
    assert s.dvc_remote == str(run / "dvc-remote")
    assert s.specs_dir == str(tmp_path.resolve() / "include" / "pipelines")
    assert s.s3_endpoint_url is None


def test_explicit_values_win(tmp_path):
    env = {
        "AIRLOOP_DATA_ROOT": "s3://lake/airloop/",
        "MLFLOW_TRACKING_URI": "http://mlflow:5000",
        "AIRLOOP_DVC_WORKSPACE": "/srv/dvc",
        "AIRLOOP_DVC_REMOTE": "s3://lake/dvc",
        "AIRLOOP_SPECS_DIR": "/srv/specs",
        "AWS_ENDPOINT_URL": "http://generic:9000",
        "AWS_ENDPOINT_URL_S3": "http://minio:9000",
    }
    s = Settings.from_mapping(env, base=tmp_path)
    assert s == Settings(
        "s3://lake/airloop",
        "http://mlflow:5000",
        "/srv/dvc",
        "s3://lake/dvc",
        "/srv/specs",
        "http://minio:9000",
        mlflow_ui_url="http://mlflow:5000",
    )


def test_mlflow_ui_url(tmp_path):
    assert Settings.from_mapping({}, base=tmp_path).mlflow_ui_url is None, "a sqlite store has no UI"
    env = {"MLFLOW_TRACKING_URI": "http://mlflow:5000", "AIRLOOP_MLFLOW_UI_URL": "http://localhost:5000"}
    assert Settings.from_mapping(env, base=tmp_path).mlflow_ui_url == "http://localhost:5000"


def test_generic_endpoint_is_the_fallback(tmp_path):
    assert (
        Settings.from_mapping({"AWS_ENDPOINT_URL": "http://g:9000"}, base=tmp_path).s3_endpoint_url == "http://g:9000"
    )


def test_empty_values_fall_back_to_defaults(tmp_path):
    s = Settings.from_mapping({"AIRLOOP_DATA_ROOT": "", "AWS_ENDPOINT_URL": ""}, base=tmp_path)
    assert s.data_root == (tmp_path.resolve() / ".run" / "data").as_uri()
    assert s.s3_endpoint_url is None


def test_relative_data_root_becomes_an_absolute_uri(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Settings.from_mapping({"AIRLOOP_DATA_ROOT": "lake"}, base=tmp_path).data_root == f"file://{tmp_path}/lake"


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("landing/fraud", "file:///data/landing/fraud"),
        ("/landing/fraud/", "file:///data/landing/fraud"),
        ("s3://other/landing", "s3://other/landing"),
        ("file:///elsewhere/x", "file:///elsewhere/x"),
    ],
)
def test_location(where, expected):
    s = Settings.from_mapping({"AIRLOOP_DATA_ROOT": "file:///data"})
    assert s.location(where) == expected


def test_area():
    s = Settings.from_mapping({"AIRLOOP_DATA_ROOT": "s3://lake/root"})
    assert s.area("quarantine", "fraud_detection") == "s3://lake/root/quarantine/fraud_detection"


def test_landing_root_moves_relative_landing_only():
    s = Settings.from_mapping({"AIRLOOP_DATA_ROOT": "s3://data", "AIRLOOP_LANDING_ROOT": "s3://landing/"})
    assert s.location("landing/fraud") == "s3://landing/landing/fraud"
    assert s.location("s3://elsewhere/in") == "s3://elsewhere/in"
    assert s.area("state", "fraud") == "s3://data/state/fraud"
    assert Settings.from_mapping({"AIRLOOP_DATA_ROOT": "s3://data"}).location("in") == "s3://data/in"
