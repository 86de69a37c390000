"""Model Ops with MLflow down: HTTP 503 naming the registry's URI (JSON for the API, a page for people), never an
empty page that reads as "no models". The app is the plugin's own, with Airflow's login dependency answered by a
test user; MLflow is a closed port (nothing listens)."""

from __future__ import annotations

import socket

import pytest

pytestmark = [
    pytest.mark.dags,
    # FastAPI's TestClient is Starlette's, which now prefers httpx2 (not installed); the requests are the same.
    pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient` is deprecated"),
]

NAME = "fraud_detection"


@pytest.fixture
def client(monkeypatch, tmp_path):
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    from airloop_airflow.modelops.web import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://ops:pw@127.0.0.1:{port}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    monkeypatch.setenv("AIRLOOP_DATA_ROOT", str(tmp_path / "data"))
    app = create_app()
    app.dependency_overrides[get_user] = lambda: object()
    with TestClient(app) as c:
        c.port = port  # type: ignore[attr-defined]
        yield c


@pytest.mark.parametrize("path", ["/api/pipelines", f"/api/pipelines/{NAME}", f"/api/pipelines/{NAME}/versions"])
def test_api_answers_503_naming_the_registry(client, path):
    response = client.get(path)
    assert response.status_code == 503
    body = response.json()
    assert body["detail"] == f"the model registry (MLflow) is unreachable (http://ops:***@127.0.0.1:{client.port})"
    assert "connection refused" in body["reason"]
    assert ":pw@" not in response.text


@pytest.mark.parametrize("path", ["/", f"/pipelines/{NAME}"])
def test_pages_say_the_registry_is_unreachable(client, path):
    response = client.get(path)
    assert response.status_code == 503
    assert "text/html" in response.headers["content-type"]
    assert f"the model registry (MLflow) is unreachable (http://ops:***@127.0.0.1:{client.port})" in response.text
    assert ":pw@" not in response.text
