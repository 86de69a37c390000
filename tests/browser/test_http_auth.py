"""Every HTTP route of the running Airflow api-server refuses a request without a valid login: the public REST API
(/api/v2, every GET path its own OpenAPI schema lists), the UI's private API (/ui), the task execution API
(/execution), mutating calls, and forged tokens. The Model Ops plugin's routes: test_model_ops_api.py.

Airflow answers 401 to a request with no credential and 403 to one with an invalid token; either is a refusal.
Anything else (200, a redirect, 404 that leaks existence, 422 that means the request got past authentication into
validation) fails, naming the route.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAG = "fraud_detection__train"
TASK = "train"
REFUSED = (401, 403)
FORGED_SIGNER = "not-the-servers-jwt-secret-" + uuid.uuid4().hex * 2  # 91 bytes: no short-key warning for HS512

# GET routes under /api/v2 that Airflow itself serves without a login, each for a reason of its own. Airflow
# (api_fastapi/core_api/routes/public/__init__.py) includes exactly monitor, version and auth outside the router
# that requires a user; the schema marks the first three without `security`.
PUBLIC_GETS = {
    # Load balancers and compose healthchecks probe it; it reports component status, no DAG or run data.
    "/api/v2/monitor/health": "liveness probe for load balancers and healthchecks",
    # The version a client talks to (docker-compose.yaml's api-server healthcheck uses it); no data.
    "/api/v2/version": "API version for clients and the compose healthcheck",
    # Where a browser without a login is sent: it can only redirect to the auth manager's login page.
    "/api/v2/auth/login": "redirects to the login page",
    # Ends a session: without one there is nothing to end; it redirects to the login page.
    "/api/v2/auth/logout": "redirects to the login page",
}
# Public routes outside /api/v2 that this file requests, for the same kind of reason.
PUBLIC_OTHER = {
    "/execution/health": "the execution API's liveness probe (workers check it before running tasks)",
}


def _request(
    url: str,
    method: str = "GET",
    *,
    token: str | None = None,
    body: dict | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """One request, no redirects followed (a redirect to a login page must show as 3xx, not as the page's 200)."""
    headers = dict(headers or {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None or method in ("POST", "PUT", "PATCH"):
        data = json.dumps(body or {}).encode()
        headers.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _token(url: str, user: str, password: str) -> str:
    code, body = _request(f"{url}/auth/token", "POST", body={"username": user, "password": password})
    assert code in (200, 201), f"login as {user}: HTTP {code} {body[:200]!r}"
    return json.loads(body)["access_token"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _forge(claims: dict, *, secret: str | None, alg: str = "HS512") -> str:
    """A JWT with the claims of a real one, signed with a secret the server does not have (or `alg: none`)."""
    import jwt

    if secret is None:
        header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        return f"{header}.{_b64(json.dumps(claims).encode())}."
    return jwt.encode(claims, secret, algorithm=alg, headers={"kid": "not-used"})


@pytest.fixture(scope="module")
def url(ops_stack) -> str:
    return ops_stack["url"].rstrip("/")


@pytest.fixture(scope="module")
def tokens(ops_stack, url) -> dict[str, str]:
    return {u: _token(url, u, p) for u, p in ops_stack["passwords"].items()}


@pytest.fixture(scope="module")
def forged(tokens) -> dict[str, str]:
    """Tokens that claim to be the admin, and are not: wrong signing key, and no signature at all."""
    now = int(time.time())
    claims = {**_claims(tokens["admin"]), "iat": now, "nbf": now, "exp": now + 3600, "jti": uuid.uuid4().hex}
    return {
        "wrong secret": _forge(claims, secret=FORGED_SIGNER),
        "alg none": _forge(claims, secret=None),
    }


@pytest.fixture(scope="module")
def schema(url, tokens) -> dict:
    """The api-server's OpenAPI schema (FastAPI serves it at /openapi.json; it lists the /api/v2 routes)."""
    code, body = _request(f"{url}/openapi.json", token=tokens["admin"])
    assert code == 200, f"/openapi.json: HTTP {code}"
    return json.loads(body)


@pytest.fixture(scope="module")
def run_id(url, tokens) -> str:
    """A real run of the train DAG (the demo's loop ran it), so path parameters name something that exists."""
    code, body = _request(f"{url}/api/v2/dags/{DAG}/dagRuns?limit=1", token=tokens["admin"])
    assert code == 200, body[:200]
    runs = json.loads(body)["dag_runs"]
    assert runs, f"{DAG} has no runs: the demo's loop should have run it"
    return runs[0]["dag_run_id"]


def _fill(path: str, params: list[dict], run_id: str) -> str:
    """A concrete URL path: real ids where they exist (DAG, run, task), schema-typed dummies elsewhere."""
    values = {"dag_id": DAG, "dag_run_id": run_id, "task_id": TASK}
    for param in params:
        if param.get("in") != "path":
            continue
        name, sch = param["name"], param.get("schema", {})
        if "const" in sch:
            value = str(sch["const"])
        elif name in values:
            value = values[name]
        elif "integer" in json.dumps(sch):
            value = "1"
        else:
            value = "x"
        path = path.replace("{" + name + "}", urllib.parse.quote(value, safe=""))
    assert "{" not in path, f"unfilled path parameter in {path}"
    return path


def _get_paths(schema: dict, run_id: str) -> list[tuple[str, str]]:
    """(schema path, filled path) for every GET operation the schema lists."""
    out = []
    for path, ops in schema["paths"].items():
        if "get" in ops:
            out.append((path, _fill(path, ops["get"].get("parameters", []), run_id)))
    return out


def _unrefused(url: str, paths: list[str], **kwargs) -> list[str]:
    bad = []
    for path in paths:
        code, body = _request(url + path, **kwargs)
        if code not in REFUSED:
            bad.append(f"{path} → HTTP {code} {body[:80]!r}")
    return bad


# ---------------------------------------------------------------------------------------------------- /api/v2 (REST)


def test_schema_lists_the_public_api_and_only_the_allow_list_is_unsecured(schema):
    paths = set(schema["paths"])
    assert len(paths) > 50 and all(p.startswith("/api/v2/") for p in paths), sorted(paths)[:5]
    assert "/api/v2/dags/{dag_id}" in paths
    unsecured = {p for p, ops in schema["paths"].items() for op in ops.values() if not op.get("security")}
    assert unsecured <= set(PUBLIC_GETS), (
        f"routes without a security requirement: {sorted(unsecured - set(PUBLIC_GETS))}"
    )
    stale = set(PUBLIC_GETS) - paths
    assert not stale, f"allow-list entries Airflow no longer serves: {stale}"


def test_every_api_get_refuses_requests_without_a_login(url, schema, run_id, tokens):
    protected = [filled for path, filled in _get_paths(schema, run_id) if path not in PUBLIC_GETS]
    assert len(protected) > 50
    bad = _unrefused(url, protected)
    assert not bad, "GET without credentials was not refused:\n" + "\n".join(bad)
    # The control: with a login the same URLs reach their handlers (most answer 200; the rest 404 for a dummy id,
    # 422 for a missing query parameter, 403 for the config an admin may not read either): the refusals above are
    # about the missing credential, not a malformed URL.
    ok = [path for path in protected if _request(url + path, token=tokens["admin"])[0] == 200]
    assert len(ok) > len(protected) // 2, f"only {len(ok)} of {len(protected)} GETs answer 200 with a login"


def test_every_api_get_refuses_forged_tokens(url, schema, run_id, forged):
    protected = [filled for path, filled in _get_paths(schema, run_id) if path not in PUBLIC_GETS]
    for kind, token in forged.items():
        bad = _unrefused(url, protected, token=token)
        assert not bad, f"GET with a forged token ({kind}) was not refused:\n" + "\n".join(bad)
        bad = _unrefused(url, protected[:5], headers={"Cookie": f"_token={token}"})
        assert not bad, f"GET with a forged session cookie ({kind}) was not refused:\n" + "\n".join(bad)


def test_forged_and_junk_tokens_on_dags(url, tokens, forged):
    """The same request with the real token works: the refusals above are about the token, not the route."""
    code, _ = _request(f"{url}/api/v2/dags", token=tokens["viewer"])
    assert code == 200
    for kind, token in {**forged, "junk": "not-a-jwt", "empty": ""}.items():
        code, body = _request(f"{url}/api/v2/dags", token=token)
        assert code in REFUSED, f"{kind}: HTTP {code} {body[:120]!r}"


def test_public_routes_are_public_and_carry_no_data(url):
    """The allow-list's routes answer without a login (else the list is wrong), and with nothing but status."""
    code, body = _request(f"{url}/api/v2/version")
    assert code == 200 and set(json.loads(body)) <= {"version", "git_version"}
    code, body = _request(f"{url}/api/v2/monitor/health")
    assert code == 200
    assert all(set(v) <= {"status", "latest_scheduler_heartbeat", "latest_triggerer_heartbeat",
                          "latest_dag_processor_heartbeat"} for v in json.loads(body).values())  # fmt: skip
    for path in ("/api/v2/auth/login", "/api/v2/auth/logout"):
        code, _ = _request(url + path)
        assert 300 <= code < 400, f"{path}: HTTP {code}, expected a redirect to the login page"
    code, body = _request(f"{url}/execution/health")
    assert code == 200 and json.loads(body) == {"status": "healthy"}


def _run_ids(url: str, token: str) -> list[str]:
    code, body = _request(f"{url}/api/v2/dags/{DAG}/dagRuns?limit=100", token=token)
    assert code == 200
    return sorted(r["dag_run_id"] for r in json.loads(body)["dag_runs"])


def _dag(url: str, token: str) -> dict:
    code, body = _request(f"{url}/api/v2/dags/{DAG}", token=token)
    assert code == 200
    return json.loads(body)


def test_mutations_without_a_valid_login_are_refused_and_change_nothing(url, tokens, run_id, forged):
    admin = tokens["admin"]
    runs, dag = _run_ids(url, admin), _dag(url, admin)
    code, _ = _request(f"{url}/api/v2/variables/airloop-sectest", token=admin)
    assert code == 404
    mutations = [
        ("POST", f"/api/v2/dags/{DAG}/dagRuns", {"logical_date": None, "conf": {"x": 1}}),
        ("PATCH", f"/api/v2/dags/{DAG}", {"is_paused": not dag["is_paused"]}),
        ("DELETE", f"/api/v2/dags/{DAG}/dagRuns/{urllib.parse.quote(run_id, safe='')}", None),
        ("POST", "/api/v2/variables", {"key": "airloop-sectest", "value": "x"}),
    ]
    for method, path, body in mutations:
        for who, token in {"no login": None, **forged}.items():
            code, answer = _request(url + path, method, token=token, body=body)
            assert code in REFUSED, f"{method} {path} ({who}): HTTP {code} {answer[:120]!r}"
    # A viewer is logged in but may not change anything.
    code, answer = _request(f"{url}/api/v2/dags/{DAG}", "PATCH", token=tokens["viewer"], body={"is_paused": True})
    assert code == 403, f"PATCH as viewer: HTTP {code} {answer[:120]!r}"
    assert _run_ids(url, admin) == runs
    assert _dag(url, admin)["is_paused"] == dag["is_paused"]
    code, _ = _request(f"{url}/api/v2/variables/airloop-sectest", token=admin)
    assert code == 404


# --------------------------------------------------------------------------------------------------------- /ui


def _router_gets(router, prefix: str = "") -> list[str]:
    return [prefix + r.path for r in router.routes if "GET" in (getattr(r, "methods", None) or ())]


def test_every_ui_get_refuses_requests_without_a_login(url, run_id, forged):
    """The UI's private API (not in the schema): its routes, from the router the api-server mounts."""
    from airflow.api_fastapi.core_api.routes.ui import ui_router

    paths = []
    for path in _router_gets(ui_router):
        path = path.replace("{dag_id}", DAG).replace("{run_id}", urllib.parse.quote(run_id, safe=""))
        paths.append(path.replace("{dag_run_id}", urllib.parse.quote(run_id, safe="")))
    assert len(paths) > 10 and "/ui/dags" in paths and "/ui/config" in paths
    bad = _unrefused(url, paths)
    assert not bad, "/ui GET without credentials was not refused:\n" + "\n".join(bad)
    bad = _unrefused(url, paths, token=forged["wrong secret"])
    assert not bad, "/ui GET with a forged token was not refused:\n" + "\n".join(bad)


# --------------------------------------------------------------------------------------------------- /execution


def _execution_routes(run_id: str) -> list[tuple[str, str]]:
    """Every route of the task execution API except its health probe, with ids that look real."""
    from airflow.api_fastapi.execution_api.routes import execution_api_router

    values = {
        "dag_id": DAG,
        "run_id": urllib.parse.quote(run_id, safe=""),
        "task_id": TASK,
        "task_instance_id": str(uuid.uuid4()),
        "connection_test_id": str(uuid.uuid4()),
        "connection_id": "aws_default",
        "variable_key:path": "airloop-sectest",
        "key:path": "return_value",
        "offset": "0",
    }
    out = []
    for route in execution_api_router.routes:
        if route.path.startswith("/health"):
            continue
        path = route.path
        for name, value in values.items():
            path = path.replace("{" + name + "}", value)
        assert "{" not in path, f"unfilled execution API path parameter in {route.path}"
        out += [(method, "/execution" + path) for method in sorted(route.methods) if method != "HEAD"]
    return out


def test_execution_api_refuses_requests_without_a_task_token(url, run_id, tokens, forged):
    """Workers call /execution with a per-task JWT. Nobody else may: not anonymous callers, not forged task tokens,
    and not a logged-in user's API token (an admin of the UI is not a running task)."""
    routes = _execution_routes(run_id)
    assert len(routes) > 30 and ("GET", "/execution/variables/airloop-sectest") in routes
    now = int(time.time())
    task_claims = {
        "sub": str(uuid.uuid4()),
        "aud": "urn:airflow.apache.org:task",
        "scope": "execution",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    callers = {
        "no token": None,
        "a user's API token": tokens["admin"],
        "forged task token": _forge(task_claims, secret=FORGED_SIGNER),
        "unsigned task token": _forge(task_claims, secret=None),
        "forged API token": forged["wrong secret"],
    }
    bad = []
    for method, path in routes:
        body = {} if method in ("POST", "PUT", "PATCH") else None
        for who, token in callers.items():
            code, answer = _request(url + path, method, token=token, body=body)
            if code not in REFUSED:
                bad.append(f"{method} {path} ({who}) → HTTP {code} {answer[:80]!r}")
    assert not bad, "execution API calls not refused:\n" + "\n".join(bad)
