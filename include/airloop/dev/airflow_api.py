"""Airflow's REST API v2 from outside Airflow: what the demo and the end-to-end tests ask a running stack.

A small client over urllib (a JWT from `/auth/token`, renewed once on a 401): DAGs, DAG runs, task instances,
task logs, and triggering a run. It never imports Airflow.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from airloop.dev.processes import http_get
from airloop.errors import AirloopError


class AirflowAPI:
    """A small client for Airflow's REST API v2 (JWT from `/auth/token`)."""

    def __init__(self, base_url: str, username: str = "admin", password: str | None = None):
        self.base = base_url.rstrip("/")
        self.username, self.password = username, password
        self._token: str | None = None

    def token(self) -> str:
        if self._token is None:
            body = json.dumps({"username": self.username, "password": self.password or ""}).encode()
            req = urllib.request.Request(
                f"{self.base}/auth/token",
                data=body,
                method="POST",
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(req, timeout=10) as resp:
                self._token = json.loads(resp.read())["access_token"]
        return self._token

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        query = f"?{urllib.parse.urlencode(params, doseq=True)}" if params else ""
        code, body = http_get(
            f"{self.base}/api/v2{path}{query}",
            timeout=15,
            headers={"Authorization": f"Bearer {self.token()}"},
        )
        if code == 401:
            self._token = None
            code, body = http_get(
                f"{self.base}/api/v2{path}{query}",
                timeout=15,
                headers={"Authorization": f"Bearer {self.token()}"},
            )
        if code != 200:
            raise AirloopError(f"Airflow API GET {path} → HTTP {code}: {body[:200]!r}")
        return json.loads(body)

    def trigger(self, dag_id: str) -> dict[str, Any]:
        """Start a DAG run now, as the UI's trigger button does (no logical date: Airflow 3's manual runs)."""
        req = urllib.request.Request(
            f"{self.base}/api/v2/dags/{dag_id}/dagRuns",
            data=json.dumps({"logical_date": None}).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token()}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise AirloopError(
                f"Airflow API POST /dags/{dag_id}/dagRuns → HTTP {exc.code}: {exc.read()[:200]!r}"
            ) from None

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.get(f"/dags/{dag_id}/dagRuns", order_by="-run_after", limit=100).get("dag_runs", [])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        rid = urllib.parse.quote(run_id, safe="")
        return self.get(f"/dags/{dag_id}/dagRuns/{rid}/taskInstances").get("task_instances", [])

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        rid = urllib.parse.quote(run_id, safe="")
        data = self.get(
            f"/dags/{dag_id}/dagRuns/{rid}/taskInstances/{task_id}/logs/{try_number}",
            map_index=map_index,
            full_content="true",
        )
        content = data.get("content", "")
        if isinstance(content, list):
            return "\n".join(_log_line(c) for c in content)
        return str(content)


def _log_line(item: Any) -> str:
    """One structured log record as text, with the exception (type: value) when the record carries one."""
    if not isinstance(item, dict):
        return str(item)
    text = str(item.get("event", ""))
    for err in item.get("error_detail") or []:
        text += f"\n    {err.get('exc_type')}: {err.get('exc_value')}"
    return text
