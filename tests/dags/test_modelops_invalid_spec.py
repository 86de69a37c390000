"""Model Ops with a broken spec beside a good one: the overview and `/api/pipelines` list the good pipelines and
name the broken file (a banner on the page, a row with `invalid_spec` in the JSON), as the DAG parse isolates it —
never a 500 for everyone. MLflow is a local file store with no models yet."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.dags,
    pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient` is deprecated"),
]

ROOT = Path(__file__).resolve().parents[2]
FRAUD = ROOT / "include" / "pipelines" / "fraud_detection.yaml"


@pytest.fixture
def client(monkeypatch, tmp_path):
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    from airloop_airflow.modelops.web import create_app

    specs = tmp_path / "specs"
    specs.mkdir()
    shutil.copy(FRAUD, specs / FRAUD.name)
    (specs / "draft.yaml").write_text("name: draft\nschema: {columns: [\n")
    monkeypatch.setenv("AIRLOOP_SPECS_DIR", str(specs))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("AIRLOOP_DATA_ROOT", str(tmp_path / "data"))
    app = create_app()
    app.dependency_overrides[get_user] = lambda: object()
    with TestClient(app) as c:
        yield c


def test_api_lists_the_good_pipelines_and_names_the_broken_file(client):
    response = client.get("/api/pipelines")
    assert response.status_code == 200, response.text
    rows = {r["pipeline"]: r for r in response.json()}
    assert set(rows) == {"fraud_detection", "draft"}
    assert rows["fraud_detection"]["invalid_spec"] is None and rows["fraud_detection"]["champion"] is None
    assert rows["draft"]["file"].endswith("draft.yaml") and "not valid YAML" in rows["draft"]["invalid_spec"]


def test_overview_page_shows_a_banner_for_the_broken_file(client):
    response = client.get("/")
    assert response.status_code == 200, response.text
    assert 'data-pipeline="fraud_detection"' in response.text
    assert 'id="invalid-specs"' in response.text and "draft.yaml" in response.text
    assert "not valid YAML" in response.text
