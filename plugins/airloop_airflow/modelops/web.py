"""The Model Ops web app: HTML pages and a JSON API over `airloop.ops.views`, mounted by the plugin at `/airloop`.

Every route — pages, chart, API — depends on Airflow's own authentication (`get_user`: a bearer JWT or the UI's
session cookie), so an anonymous request gets 401 before any handler runs. Handlers are plain `def`s: FastAPI runs
them in its thread pool, so MLflow and storage calls never block the api-server's event loop. Rolling back needs
the right to edit the pipeline's DAGs in Airflow's auth manager, and is a JSON POST with a custom header, which a
cross-site form cannot send (no CSRF through the session cookie).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

if TYPE_CHECKING:
    from airloop.spec import PipelineSpec

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).parent / "templates"
CONFIRM_HEADER = "X-Airloop-Confirm"


def _specs() -> tuple[list[PipelineSpec], list[dict[str, str]]]:
    """The specs that load, and one `{pipeline, file, invalid_spec}` per file that does not — checked and isolated
    as the DAG parse does (`load_checked`), so one broken draft never takes the overview down."""
    from airloop.monitor.speccheck import load_checked
    from airloop_airflow.config import settings

    loaded = load_checked(settings().specs_dir)
    broken = [{"pipeline": p.stem, "file": str(p), "invalid_spec": msg} for p, msg in loaded.errors.items()]
    return list(loaded.specs.values()), broken


def _spec(name: str) -> PipelineSpec:
    from airloop.errors import SpecError
    from airloop_airflow.config import spec_named

    try:
        return spec_named(name)
    except SpecError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None


def _settings():
    from airloop_airflow.config import settings

    return settings()


@functools.cache
def _templates():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.filters["pct"] = lambda v: "–" if v is None else f"{100 * float(v):.0f}%"
    env.filters["num"] = lambda v, d=4: "–" if v is None else f"{float(v):.{d}f}"
    env.filters["age"] = _age
    return env


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def _airflow_base() -> str:
    """Path prefix of the Airflow UI (the api-server's base URL path), for links out of the plugin's iframe."""
    from urllib.parse import urlsplit

    from airflow.configuration import conf

    return urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")


def _page(name: str, request: Request, **context: Any) -> HTMLResponse:
    html = _templates().get_template(name).render(root=request.scope.get("root_path", ""), **context)
    return HTMLResponse(html)


def _may_edit(user: Any, spec: PipelineSpec) -> bool:
    """Rolling back is allowed to whoever may edit both DAGs that move the champion (train and retrain)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    from airloop.naming import DagKind, dag_id

    manager = get_auth_manager()
    return all(
        manager.is_authorized_dag(method="PUT", user=user, details=DagDetails(id=dag_id(spec.name, kind)))
        for kind in (DagKind.TRAIN, DagKind.RETRAIN)
    )


def _unavailable(request: Request, exc: Exception) -> Response:
    """MLflow (or the store) could not be reached: a 503 that says so and names the URI, never an empty page
    that reads as "no models"."""
    from airloop.errors import ServiceUnavailable

    uri = exc.uri if isinstance(exc, ServiceUnavailable) else "?"
    service = exc.service if isinstance(exc, ServiceUnavailable) else "a service"
    message = f"{service} is unreachable ({uri})"
    log.warning("Model Ops: %s", exc)
    if "/api/" in request.url.path:
        return JSONResponse({"detail": message, "reason": str(exc)}, status_code=503)
    page = _page("unavailable.html", request, message=message, reason=str(exc))
    page.status_code = 503
    return page


def create_app() -> FastAPI:
    """The app with every route behind Airflow's login: the schema, the JSON API, rollback, the pages."""
    from airflow.api_fastapi.core_api.security import get_user

    app = FastAPI(
        title="airloop Model Ops",
        description="Champions, gate decisions and drift of every airloop pipeline. Every route needs an Airflow "
        "login (bearer JWT from /auth/token, or the UI's session cookie).",
        dependencies=[Depends(get_user)],
        # FastAPI's own docs routes would bypass `dependencies`: the schema is served below, behind the login.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )

    @app.get("/api/openapi.json", include_in_schema=False)
    def api_schema() -> dict[str, Any]:
        from fastapi.openapi.utils import get_openapi

        return get_openapi(title=app.title, version="1", description=app.description, routes=app.routes)

    from airloop.errors import ServiceUnavailable

    app.add_exception_handler(ServiceUnavailable, _unavailable)
    _add_read_api(app)
    _add_rollback(app)
    _add_pages(app)
    return app


def _add_read_api(app: FastAPI) -> None:
    """The JSON API's reads: what the pages show, for scripts and tests."""
    from airloop.ops import views

    @app.get(
        "/api/pipelines",
        summary="Every pipeline: champion, challenger, metric, last drift check, last retrain; a spec file that "
        "does not load is a row with `invalid_spec` (its error) and `file`",
    )
    def api_pipelines() -> list[dict[str, Any]]:
        specs, broken = _specs()
        return [{**row, "invalid_spec": None} for row in views.overview(specs, _settings())] + broken

    @app.get("/api/pipelines/{name}", summary="One pipeline: summary, version timeline, champion history, drift")
    def api_pipeline(name: str) -> dict[str, Any]:
        return views.pipeline_detail(_spec(name), _settings())

    @app.get("/api/pipelines/{name}/versions", summary="Model versions, newest first, with gate decisions and links")
    def api_versions(name: str) -> list[dict[str, Any]]:
        return views.pipeline_detail(_spec(name), _settings())["versions"]

    @app.get("/api/pipelines/{name}/drift", summary="Drift checks, oldest first, with per-feature scores")
    def api_drift(name: str) -> list[dict[str, Any]]:
        return views.drift_history(_spec(name), _settings())

    @app.get("/api/pipelines/{name}/champion-history", summary="Every move of the champion alias (audit trail)")
    def api_history(name: str) -> list[dict[str, Any]]:
        return views.pipeline_detail(_spec(name), _settings())["champion_history"]


def _add_rollback(app: FastAPI) -> None:
    """The one write: move the champion back, confirmed by header and allowed by Airflow's auth manager."""
    from airflow.api_fastapi.core_api.security import get_user

    from airloop.ops import views

    @app.post("/api/pipelines/{name}/rollback", summary="Move the champion back to the previous one (audited)")
    def api_rollback(
        name: str,
        user: Any = Depends(get_user),
        confirm: str | None = Header(default=None, alias=CONFIRM_HEADER),
    ) -> dict[str, Any]:
        from airloop.errors import RegistryError

        spec = _spec(name)
        if confirm != spec.name:
            raise HTTPException(400, f"confirm the rollback: send header {CONFIRM_HEADER}: {spec.name}")
        if not _may_edit(user, spec):
            raise HTTPException(403, f"{user.get_name()} may not edit the DAGs of {spec.name}")
        try:
            result = views.rollback(spec, _settings(), actor=f"airflow-ui:{user.get_name()}")
        except RegistryError as exc:
            raise HTTPException(409, str(exc)) from None
        log.warning("Model Ops rollback by %s: %s v%s → v%s", user.get_name(), name, result["from"], result["to"])
        return result


def _add_pages(app: FastAPI) -> None:
    """The HTML pages (kept out of the API schema) and the drift chart they embed."""
    from airflow.api_fastapi.core_api.security import get_user

    from airloop.ops import views

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def overview_page(request: Request) -> HTMLResponse:
        from airloop.ops.charts import sparkline_svg

        specs, broken = _specs()
        rows = views.overview(specs, _settings())
        sparks = {r["pipeline"]: sparkline_svg(r["drift_trend"]) for r in rows}
        return _page("overview.html", request, rows=rows, sparks=sparks, broken=broken)

    @app.get("/pipelines/{name}", response_class=HTMLResponse, include_in_schema=False)
    def pipeline_page(name: str, request: Request, user: Any = Depends(get_user)) -> HTMLResponse:
        spec = _spec(name)
        s = _settings()
        detail = views.pipeline_detail(spec, s)
        return _page(
            "pipeline.html",
            request,
            d=detail,
            chart=views.drift_chart_svg(spec, s, history=detail["drift_history"]),  # the checks read once
            airflow=_airflow_base(),
            may_edit=_may_edit(user, spec),
            confirm_header=CONFIRM_HEADER,
        )

    @app.get("/pipelines/{name}/drift.svg", include_in_schema=False)
    def drift_svg(name: str) -> Response:
        return Response(views.drift_chart_svg(_spec(name), _settings()), media_type="image/svg+xml")


@functools.cache
def model_ops_app() -> FastAPI:
    """The one app instance the plugin mounts (built on first use: only the api-server asks for it)."""
    return create_app()
