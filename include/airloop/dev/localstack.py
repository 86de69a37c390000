"""The embedded local stack: Airflow standalone (SQLite) + an MLflow server (SQLite, local artifacts) + a local
DVC remote, started as background processes with all state under one run folder.

Used by `make demo` and by the end-to-end tests (which give it a private temporary folder and free ports).
It launches Airflow as a subprocess and talks to it over its REST API (`airloop.dev.airflow_api`); it never
imports Airflow. The process plumbing (ports, sessions, health waits) is `airloop.dev.processes`.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airloop.dev.processes import free_port, http_get, pid_alive, spawn, stop_session, wait_for
from airloop.errors import AirloopError

Progress = Callable[[str], None]


def stack_env(run_dir: Path) -> dict[str, str]:
    """Client-side settings of a running local stack (what the CLI needs to reach it); empty if none."""
    path = Path(run_dir) / "stack.env"
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


class LocalStack:
    """Start/stop the embedded stack. State (ports, pids, generated secrets) lives in `<run_dir>/stack.json`.

    Args:
        root: the project checkout (dags/, plugins/, include/pipelines/).
        run_dir: where everything the stack writes goes (default `<root>/.run`).
        admin_all: turn Airflow's login off (throwaway test homes only).
        users: Airflow users and roles (`name:role,…`, simple auth manager); passwords are generated at start.
        specs_dir: the pipeline specs the DAGs are built from (default: `AIRLOOP_SPECS_DIR` of the environment, as
            the CLI reads it, else `<root>/include/pipelines`).
    """

    topology = "embedded"

    def __init__(
        self,
        root: Path,
        run_dir: Path | None = None,
        *,
        admin_all: bool = False,
        preferred_ports: tuple[int, int] = (8080, 5000),
        users: str = "admin:admin",
        specs_dir: Path | None = None,
    ):
        self.root = Path(root).resolve()
        specs = specs_dir or os.environ.get("AIRLOOP_SPECS_DIR")  # the folder the CLI reads too
        self.specs_dir = Path(specs).resolve() if specs else self.root / "include" / "pipelines"
        self.users = users
        self.run = Path(run_dir or self.root / ".run").resolve()
        self.logs = self.run / "logs"
        self.state_file = self.run / "stack.json"
        self.admin_all = admin_all
        self.preferred_ports = preferred_ports
        self._chosen_secrets: dict[str, str] | None = None

    # --- state -------------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        if self.state_file.exists():
            return json.loads(self.state_file.read_text())
        return {}

    def _save(self, state: dict[str, Any]) -> None:
        self.run.mkdir(parents=True, exist_ok=True)
        self.state_file.touch(mode=0o600)  # it holds secrets: private from its first byte
        self.state_file.chmod(0o600)  # (a run folder from before it held any)
        self.state_file.write_text(json.dumps(state, indent=2))
        env = self.client_env(state)
        (self.run / "stack.env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))

    def _ports(self) -> dict[str, int]:
        state = self.state()
        if "ports" in state:
            return state["ports"]
        api = free_port(self.preferred_ports[0])
        mlflow = free_port(self.preferred_ports[1])
        while mlflow == api:
            mlflow = free_port()
        ports = {"airflow": api, "mlflow": mlflow, "worker_logs": free_port(), "trigger_logs": free_port()}
        while len(set(ports.values())) < len(ports):
            ports["trigger_logs"] = free_port()
        return ports

    def _new_secrets(self) -> dict[str, str]:
        """The secrets a stack generates for itself: the key that hashes personal data (spec `pii: hash`)."""
        return {"pii_key": secrets.token_hex(32)}

    def _secrets(self) -> dict[str, str]:
        """Generated once per run folder and kept in stack.json, so hashes stay the same across restarts; a run
        folder from before a secret existed gains it (saved by `up()`)."""
        if self._chosen_secrets is None:
            self._chosen_secrets = self._new_secrets()
        return {**self._chosen_secrets, **self.state().get("secrets", {})}

    # --- environment -------------------------------------------------------------------------------------
    def client_env(self, state: dict[str, Any] | None = None) -> dict[str, str]:
        """What any process (task, CLI, test) needs to use this stack's data, models and dataset versions."""
        ports = (state or self.state()).get("ports") or self._ports()
        return {
            "AIRLOOP_DATA_ROOT": (self.run / "data").as_uri(),
            "AIRLOOP_DVC_WORKSPACE": str(self.run / "dvc"),
            "AIRLOOP_DVC_REMOTE": str(self.run / "dvc-remote"),
            "AIRLOOP_SPECS_DIR": str(self.specs_dir),
            "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{ports['mlflow']}",
            "AIRLOOP_AIRFLOW_URL": f"http://127.0.0.1:{ports['airflow']}",
        }

    def airflow_env(self, ports: dict[str, int]) -> dict[str, str]:
        home = self.run / "airflow"
        api = f"http://127.0.0.1:{ports['airflow']}"
        bin_dir = str(Path(sys.executable).parent)
        env = {
            **os.environ,
            **self.client_env({"ports": ports}),
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.root / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.root / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": self.users,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True" if self.admin_all else "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(ports["airflow"]),
            "AIRFLOW__API__BASE_URL": api,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(ports["worker_logs"]),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(ports["trigger_logs"]),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "1",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "4",
            # The first batch's monitor run waits on the first champion: poke every 5 s, not a backing-off minute.
            "AIRLOOP_MONITOR_POKE_SECONDS": "5",
            "AIRLOOP_PII_KEY": self._secrets()["pii_key"],  # tasks only: clients never hash
            "PYTHONWARNINGS": "ignore::DeprecationWarning",
            "GIT_DIR": str(self.root / ".git"),
        }
        env.pop("AIRFLOW__CORE__SQL_ALCHEMY_CONN", None)
        # Every task is a fresh interpreter: without bytecode caching each one re-compiles Airflow (seconds).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        return env

    # --- processes ---------------------------------------------------------------------------------------
    def _spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> int:
        return spawn(cmd, env, self.logs / f"{name}.log", self.run)

    def running(self) -> dict[str, bool]:
        pids = self.state().get("pids", {})
        return {name: pid_alive(pid) for name, pid in pids.items()}

    def _recorded(self) -> dict[str, Any]:
        """What else `stack.json` keeps about how this stack was started (so `stack_for` can rebuild it)."""
        return {}

    def _claim(self, folders: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, int], dict[str, int], set[str]]:
        """The run folder's state at a start: its ports, pids and secrets recorded, and which services run already.

        Refuses to start while the other topology runs in the same folder.
        """
        state = self.state()
        if state.get("topology", self.topology) != self.topology and any(self.running().values()):
            raise AirloopError(f"the {state['topology']} stack is running in {self.run}: stop it first")
        ports = self._ports()
        pids = dict(state.get("pids", {}))
        alive = {name for name, pid in pids.items() if pid_alive(pid)}
        state.update({"ports": ports, "pids": pids, "root": str(self.root), "topology": self.topology})
        state["secrets"] = self._secrets()
        state.update(self._recorded())
        self._save(state)
        for d in folders:
            (self.run / d).mkdir(parents=True, exist_ok=True)
        return state, ports, pids, alive

    def up(self, progress: Progress = lambda m: None, timeout: float = 240) -> dict[str, Any]:
        """Start whatever is not running yet and wait until both services answer. Idempotent."""
        state, ports, pids, alive = self._claim(("data", "dvc", "dvc-remote", "mlflow/artifacts", "airflow"))
        if "mlflow" not in alive:
            progress(f"starting MLflow server on :{ports['mlflow']}")
            env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "PYTHONWARNINGS": "ignore"}
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            pids["mlflow"] = self._spawn("mlflow", self._mlflow_command(ports), env)
        if "airflow" not in alive:
            progress(f"starting Airflow standalone on :{ports['airflow']}")
            airflow = str(Path(sys.executable).parent / "airflow")
            pids["airflow"] = self._spawn("airflow", [airflow, "standalone"], self.airflow_env(ports))
        self._save(state)
        api_url = f"http://127.0.0.1:{ports['airflow']}"
        self._wait_mlflow(ports, pids["mlflow"], timeout, progress)
        wait_for(
            "Airflow",
            lambda: self._airflow_healthy(api_url),
            timeout,
            proc_alive=lambda: pid_alive(pids["airflow"]),
            log_file=self.logs / "airflow.log",
        )
        progress(f"Airflow ready at {api_url}")
        return self.info()

    def _mlflow_command(self, ports: dict[str, int]) -> list[str]:
        """The MLflow server on SQLite with local artifacts, served through its artifact proxy."""
        return [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(ports["mlflow"]),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{self.run / 'mlflow' / 'mlflow.db'}",
            "--artifacts-destination",
            (self.run / "mlflow" / "artifacts").as_uri(),
        ]

    def _wait_mlflow(self, ports: dict[str, int], pid: int, timeout: float, progress: Progress) -> None:
        mlflow_url = f"http://127.0.0.1:{ports['mlflow']}"
        wait_for(
            "MLflow server",
            lambda: http_get(f"{mlflow_url}/health")[0] == 200,
            timeout,
            proc_alive=lambda: pid_alive(pid),
            log_file=self.logs / "mlflow.log",
        )
        progress(f"MLflow ready at {mlflow_url}")

    @staticmethod
    def _airflow_healthy(api_url: str) -> bool:
        code, body = http_get(f"{api_url}/api/v2/monitor/health")
        if code != 200:
            return False
        health = json.loads(body)
        parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        return all((health.get(p) or {}).get("status") == "healthy" for p in parts)

    def info(self) -> dict[str, Any]:
        state = self.state()
        ports = state.get("ports", {})
        return {
            "airflow_url": f"http://127.0.0.1:{ports.get('airflow')}",
            "model_ops_url": f"http://127.0.0.1:{ports.get('airflow')}/plugin/model-ops",
            "mlflow_url": f"http://127.0.0.1:{ports.get('mlflow')}",
            "username": "admin",
            "password": self.admin_password(),
            "run_dir": str(self.run),
            "logs": str(self.logs),
        }

    def admin_password(self, user: str = "admin") -> str | None:
        path = self.run / "airflow" / "simple_auth_manager_passwords.json.generated"
        try:
            return json.loads(path.read_text()).get(user)
        except (OSError, ValueError):
            return None

    def down(self, timeout: float = 30) -> list[str]:
        """Stop the stack's process groups: SIGTERM, then SIGKILL for whatever is still there."""
        state = self.state()
        pids: dict[str, int] = state.get("pids", {})
        out = []
        for name, pid in pids.items():
            if not pid_alive(pid):
                out.append(f"{name}: not running")
                continue
            stop_session(pid, timeout=timeout)
            out.append(f"{name}: stopped (pid {pid})")
        state["pids"] = {}
        if state:
            self._save(state)
        (self.run / "stack.env").unlink(missing_ok=True)
        return out
