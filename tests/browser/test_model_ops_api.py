"""The Model Ops JSON API on a running Airflow api-server: every route needs a login, and the content is what
MLflow and the monitor's records hold (read here straight from MlflowClient and the drift records, not through
airloop's own summaries)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

from airloop.dev.processes import http_get

pytestmark = [pytest.mark.integration, pytest.mark.slow]
NAME = "fraud_detection"


def _token(url: str, user: str, password: str) -> str:
    req = urllib.request.Request(
        f"{url}/auth/token",
        data=json.dumps({"username": user, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=15) as resp:
        return json.loads(resp.read())["access_token"]


def _request(url: str, method: str = "GET", token: str | None = None, headers: dict | None = None):
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if method == "GET":
        code, body = http_get(url, timeout=60, headers=headers)
        return code, body
    req = urllib.request.Request(url, data=b"", headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def tokens(ops_stack):
    return {u: _token(ops_stack["url"], u, p) for u, p in ops_stack["passwords"].items()}


def _routes() -> list[tuple[str, str]]:
    """Every route the plugin's app declares, with the pipeline name filled in."""
    from airloop_airflow.modelops.web import create_app

    out = []
    for route in create_app().routes:
        for method in sorted(getattr(route, "methods", None) or []):
            if method in ("GET", "POST"):
                out.append((method, "/airloop" + route.path.replace("{name}", NAME)))
    return out


def test_every_route_needs_a_login(ops_stack, tokens):
    url = ops_stack["url"]
    routes = _routes()
    assert len(routes) >= 10 and ("POST", f"/airloop/api/pipelines/{NAME}/rollback") in routes
    for method, path in routes:
        code, _ = _request(url + path, method)
        assert code == 401, f"{method} {path} without a login answered {code}"
        code, _ = _request(url + path, method, token="not-a-jwt")
        assert code in (401, 403), f"{method} {path} with a forged token answered {code}"
        if method == "GET":
            code, _ = _request(url + path, token=tokens["viewer"])
            assert code == 200, f"{method} {path} with a login answered {code}"


def test_framework_docs_are_not_exposed_unauthenticated(ops_stack):
    for path in ("/airloop/docs", "/airloop/openapi.json", "/airloop/redoc"):
        code, _ = _request(ops_stack["url"] + path)
        assert code in (401, 404), path


def test_pipelines_match_mlflow(ops_stack, tokens):
    from airloop.model.registry import Registry

    code, body = _request(f"{ops_stack['url']}/airloop/api/pipelines", token=tokens["viewer"])
    assert code == 200
    (row,) = [r for r in json.loads(body) if r["pipeline"] == NAME]
    c = Registry(ops_stack["settings"].tracking_uri).client
    model = c.get_registered_model(NAME)
    assert row["champion"] == str(model.aliases["champion"])
    assert row["challenger"] == (str(model.aliases["challenger"]) if "challenger" in model.aliases else None)
    champion = c.get_model_version(NAME, row["champion"])
    assert row["champion_data_md5"] == champion.tags["data_md5"]
    assert row["champion_trigger"] == champion.tags["trigger"]
    assert row["champion_metric"] == pytest.approx(float(champion.tags["metric.pr_auc"]))
    newest = max(c.search_model_versions(f"name='{NAME}'"), key=lambda m: int(m.version))
    assert row["last_retrain"]["version"] == str(newest.version)
    assert row["last_retrain"]["trigger"] == newest.tags["trigger"]


def test_versions_and_drift_match_their_sources(ops_stack, tokens):
    from airloop.model.registry import Registry
    from airloop.monitor.checks import load_checks

    url, token = ops_stack["url"], tokens["viewer"]
    code, body = _request(f"{url}/airloop/api/pipelines/{NAME}/versions", token=token)
    assert code == 200
    versions = json.loads(body)
    c = Registry(ops_stack["settings"].tracking_uri).client
    registered = {str(m.version): m for m in c.search_model_versions(f"name='{NAME}'")}
    assert [v["version"] for v in versions] == sorted(registered, key=int, reverse=True)
    for v in versions:
        tags = registered[v["version"]].tags
        assert (v["trigger"], v["gate"], v["data_md5"]) == (
            tags["trigger"],
            tags.get("gate.decision"),
            tags["data_md5"],
        )
        assert v["run_id"] == registered[v["version"]].run_id
        assert v["mlflow_run_url"].startswith(ops_stack["info"]["mlflow_url"])
        assert v["airflow_run_path"] == f"/dags/{tags['airflow_dag_id']}/runs/" + urllib.parse.quote(
            tags["airflow_run_id"], safe=""
        )
    code, body = _request(f"{url}/airloop/api/pipelines/{NAME}/drift", token=token)
    drift = json.loads(body)
    records = load_checks(ops_stack["settings"], NAME)
    assert [d["batch_id"] for d in drift] == [r["batch_id"] for r in records]
    assert [d["share_drifted"] for d in drift] == [r["share_drifted"] for r in records]
    assert any(d["drift_detected"] for d in drift), "the demo's loop lands a drifted batch"


def test_unknown_pipeline_is_404_with_the_known_ones(ops_stack, tokens):
    code, body = _request(f"{ops_stack['url']}/airloop/api/pipelines/nope", token=tokens["viewer"])
    assert code == 404 and NAME in json.loads(body)["detail"]


def test_rollback_needs_confirmation_and_edit_rights_and_is_audited(ops_stack, tokens):
    from airloop.model.registry import Registry

    url, uri = ops_stack["url"], ops_stack["settings"].tracking_uri
    path = f"{url}/airloop/api/pipelines/{NAME}/rollback"
    newest = max(int(v["version"]) for v in Registry(uri).describe_models([NAME])[0]["versions"])
    assert newest >= 2, "the demo's drifted batch retrains"
    # Make the newest version champion by hand, so there is a known place to roll back to.
    before = Registry(uri).champion_version(NAME)
    if before != str(newest):
        Registry(uri).promote(NAME, str(newest), actor="test")
    target = Registry(uri).rollback_target(NAME)
    assert target is not None

    code, body = _request(path, "POST", token=tokens["admin"])
    assert code == 400 and "X-Airloop-Confirm" in json.loads(body)["detail"]
    code, _ = _request(path, "POST", token=tokens["viewer"], headers={"X-Airloop-Confirm": NAME})
    assert code == 403, "a viewer may not move the champion"
    assert Registry(uri).champion_version(NAME) == str(newest)

    code, body = _request(path, "POST", token=tokens["admin"], headers={"X-Airloop-Confirm": NAME})
    assert code == 200, body
    result = json.loads(body)
    assert (result["from"], result["to"], result["actor"]) == (str(newest), target, "airflow-ui:admin")
    assert Registry(uri).champion_version(NAME) == target
    last = Registry(uri).champion_history(NAME)[-1]
    assert (last["version"], last["previous"], last["actor"]) == (target, str(newest), "airflow-ui:admin")
    assert last["reason"] == f"rollback from v{newest}"
