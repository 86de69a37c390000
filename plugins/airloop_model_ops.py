"""The Model Ops plugin: champions, gate decisions and drift of every pipeline, inside the Airflow UI.

Declarative only: the FastAPI app lives in `airloop_airflow.modelops.web` and is built on first access, which only
the api-server makes (the scheduler, workers and triggerer load plugins too, and need none of it).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin


class _ModelOpsApps:
    """`fastapi_apps`, built when read."""

    def __get__(self, instance, owner) -> list[dict]:
        from airloop_airflow.modelops.web import model_ops_app

        return [{"app": model_ops_app(), "url_prefix": "/airloop", "name": "airloop Model Ops"}]


class AirloopModelOpsPlugin(AirflowPlugin):
    name = "airloop_model_ops"
    fastapi_apps = _ModelOpsApps()
    external_views = [
        {
            "name": "Model Ops",
            "href": "/airloop/",
            "destination": "nav",
            "url_route": "model-ops",
            "nav_top_level": True,
        }
    ]
