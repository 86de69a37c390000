"""The production topology without Docker: the services of docker-compose.yaml as native processes.

Airflow runs with the CeleryExecutor on PostgreSQL (its own database) with Redis as the broker; api-server,
scheduler, dag-processor, triggerer and one Celery worker are separate processes. MLflow runs as a server on
PostgreSQL (its own database) with its artifacts in S3. An S3-API server (moto's standalone server here, MinIO in
compose) holds the landing zone, airloop's data area, the DVC remote and MLflow's artifacts. PostgreSQL and
Redis are the machine's own services, reached by URL; everything airloop writes itself lives in S3.

`make stack-up` / `make stack-down` drive it; the integration tests start it with a private database prefix,
Redis database and run folder, and drop all three afterwards.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airloop.dev.localstack import LocalStack, Progress
from airloop.dev.processes import free_port, http_get, log_tail, pid_alive, stop_session, wait_for
from airloop.errors import AirloopError, mask_credentials

BUCKETS = {"landing": "airloop-landing", "data": "airloop-data", "dvc": "airloop-dvc", "mlflow": "airloop-mlflow"}
CELERY_QUEUES = "default"  # the GPU queue is consumed by GPU workers only (compose profile `gpu`)
AIRFLOW_SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer", "celery-worker")


def database_url(server_url: str, database: str, driver: str = "postgresql+psycopg") -> str:
    """`postgresql://user:pw@host:port[/anything]` → `<driver>://user:pw@host:port/<database>`."""
    parts = urlsplit(server_url)
    if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise AirloopError(f"not a PostgreSQL URL: {mask_credentials(server_url)}")
    return urlunsplit((driver, parts.netloc, f"/{database}", parts.query, ""))


class NativeStack(LocalStack):
    """Start/stop the native production topology; state in `<run_dir>/stack.json` (mode 0600: it holds secrets).

    Args:
        root: the project checkout.
        run_dir: where logs, AIRFLOW_HOME and the DVC workspaces go (default `<root>/.run`).
        postgres_url: the PostgreSQL server (`postgresql://user[:password]@host:port`); two databases are created.
        redis_url: the Redis database Celery uses as its broker (`redis://host:port/N`).
        prefix: database-name prefix: `<prefix>_airflow`, `<prefix>_mlflow`.
        ephemeral: also flush the Redis database on `down()` (tests that own a private one).
        s3_front_port: clients reach the S3 server through this port instead of its own (fault-injection tests
            put a proxy there to take S3 away without losing moto's in-memory objects).
        extra_env: more settings for the Airflow processes (e.g. shorter heartbeat timeouts in tests).

    The S3 server (moto) keeps objects in memory only, so `down()` drops both databases too: a registry or
    metadata database pointing at artifacts and data that no longer exist would only mislead the next start.
        admin_all: turn Airflow's login off (throwaway test homes only).
    """

    topology = "native"

    def __init__(
        self,
        root: Path,
        run_dir: Path | None = None,
        *,
        postgres_url: str = "postgresql://postgres@127.0.0.1:5432",
        redis_url: str = "redis://127.0.0.1:6379/0",
        prefix: str = "airloop",
        ephemeral: bool = False,
        admin_all: bool = False,
        preferred_ports: tuple[int, int] = (8080, 5000),
        worker_concurrency: int = 4,
        s3_front_port: int | None = None,
        extra_env: dict[str, str] | None = None,
    ):
        super().__init__(root, run_dir, admin_all=admin_all, preferred_ports=preferred_ports)
        self.postgres_url = postgres_url
        self.redis_url = redis_url
        self.prefix = prefix
        self.ephemeral = ephemeral
        self.worker_concurrency = worker_concurrency
        self.s3_front_port = s3_front_port
        self.extra_env = dict(extra_env or {})
        self.databases = {"airflow": f"{prefix}_airflow", "mlflow": f"{prefix}_mlflow"}
        self._chosen_ports: dict[str, int] | None = None

    # --- state -------------------------------------------------------------------------------------------
    def _save(self, state: dict[str, Any]) -> None:
        super()._save(state)
        for name in ("stack.json", "stack.env"):
            path = self.run / name
            if path.exists():
                path.chmod(0o600)

    def _ports(self) -> dict[str, int]:
        state = self.state()
        if "ports" in state and "s3" in state["ports"]:
            return state["ports"]
        if self._chosen_ports is None:  # chosen once per instance, saved by up()
            ports = {"airflow": free_port(self.preferred_ports[0]), "mlflow": free_port(self.preferred_ports[1])}
            for name in ("s3", "worker_logs", "trigger_logs"):
                ports[name] = free_port()
            while len(set(ports.values())) < len(ports):  # two free_port() calls may return the same port
                ports["trigger_logs"], ports["worker_logs"] = free_port(), free_port()
            self._chosen_ports = ports
        return self._chosen_ports

    def _new_secrets(self) -> dict[str, str]:
        """Also Airflow's JWT secret and Fernet key, the S3 server's access key (generated once per run folder)."""
        return {
            **super()._new_secrets(),
            "jwt_secret": secrets.token_urlsafe(32),
            "fernet_key": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "aws_access_key_id": f"airloop{secrets.token_hex(6)}",
            "aws_secret_access_key": secrets.token_urlsafe(30),
        }

    # --- environment -------------------------------------------------------------------------------------
    def client_env(self, state: dict[str, Any] | None = None) -> dict[str, str]:
        state = state or self.state()
        ports = state.get("ports") or self._ports()
        keys = state.get("secrets") or self._secrets()
        return {
            "AIRLOOP_DATA_ROOT": f"s3://{BUCKETS['data']}",
            "AIRLOOP_LANDING_ROOT": f"s3://{BUCKETS['landing']}",
            "AIRLOOP_DVC_REMOTE": f"s3://{BUCKETS['dvc']}/dvc",
            "AIRLOOP_DVC_WORKSPACE": str(self.run / "dvc"),
            "AIRLOOP_SPECS_DIR": str(self.specs_dir),
            "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{ports['mlflow']}",
            "AIRLOOP_AIRFLOW_URL": f"http://127.0.0.1:{ports['airflow']}",
            "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{self.s3_front_port or ports['s3']}",
            "AWS_ACCESS_KEY_ID": keys["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": keys["aws_secret_access_key"],
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def airflow_env(self, ports: dict[str, int]) -> dict[str, str]:
        keys = self._secrets()
        metadata = database_url(self.postgres_url, self.databases["airflow"])
        env = super().airflow_env(ports)
        env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
                # psycopg 3 serves both engines; otherwise Airflow derives an asyncpg URL for its async one.
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": database_url(
                    self.postgres_url, self.databases["airflow"], "postgresql+psycopg_async"
                ),
                "AIRFLOW__CELERY__BROKER_URL": self.redis_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
                "AIRFLOW__CORE__FERNET_KEY": keys["fernet_key"],
                "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],  # every component must share it
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__CORE__PARALLELISM": "8",
                # The worker has its own DVC workspace: curated data reaches training through the S3 remote.
                "AIRLOOP_DVC_WORKSPACE": str(self.run / "worker" / "dvc"),
                **self.extra_env,
            }
        )
        return env

    def mlflow_env(self) -> dict[str, str]:
        """Only the MLflow server holds S3 credentials for artifacts; clients go through its artifact proxy."""
        client = self.client_env()
        env = {
            **os.environ,
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "MLFLOW_S3_ENDPOINT_URL": client["AWS_ENDPOINT_URL_S3"],
            "PYTHONWARNINGS": "ignore",
        }
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
            env[key] = client[key]
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        return env

    # --- external services ---------------------------------------------------------------------------------
    def _postgres(self, database: str = "postgres"):
        import psycopg

        try:
            return psycopg.connect(database_url(self.postgres_url, database, "postgresql"), autocommit=True)
        except psycopg.OperationalError as exc:
            raise AirloopError(
                f"PostgreSQL at {mask_credentials(self.postgres_url)} is not reachable ({str(exc).strip()}); "
                "start it, or point AIRLOOP_POSTGRES_URL at one"
            ) from exc

    def ensure_databases(self) -> list[str]:
        """Create `<prefix>_airflow` and `<prefix>_mlflow` if missing; returns the ones created."""
        from psycopg import sql

        created = []
        with self._postgres() as conn:
            for name in self.databases.values():
                if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                    created.append(name)
        return created

    def drop_databases(self) -> None:
        from psycopg import sql

        with self._postgres() as conn:
            for name in self.databases.values():
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def _redis(self):
        import redis

        client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=3)
        try:
            client.ping()
        except redis.RedisError as exc:
            raise AirloopError(
                f"Redis at {mask_credentials(self.redis_url)} is not reachable ({exc}); start it, or point "
                "AIRLOOP_REDIS_URL at one"
            ) from exc
        return client

    def _create_buckets(self, endpoint: str) -> None:
        import boto3

        env = self.client_env()
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        for bucket in BUCKETS.values():
            if bucket not in existing:
                s3.create_bucket(Bucket=bucket)

    def celery_workers(self, timeout: float = 2.0) -> list[str]:
        """Names of the Celery workers that answer a ping through the broker."""
        from celery import Celery

        app = Celery(broker=self.redis_url)
        try:
            replies = app.control.ping(timeout=timeout) or []
        except Exception:  # broker hiccup while starting: not ready yet
            return []
        finally:
            app.close()
        return sorted(name for reply in replies for name in reply)

    # --- processes ---------------------------------------------------------------------------------------
    def _recorded(self) -> dict[str, Any]:
        return {
            "databases": self.databases,
            "ephemeral": self.ephemeral,
            "postgres_url": self.postgres_url,
            "redis_url": self.redis_url,
        }

    def up(self, progress: Progress = lambda m: None, timeout: float = 300) -> dict[str, Any]:
        """Start whatever is not running yet and wait until every service answers. Idempotent."""
        started = time.monotonic()
        state, ports, pids, alive = self._claim(("airflow", "dvc", "worker/dvc"))
        created = self.ensure_databases()
        if created:
            progress(f"created PostgreSQL databases {', '.join(created)}")
        self._redis().close()
        self._start_s3(state, ports, pids, alive, progress)
        if "mlflow" not in alive:
            progress(f"starting MLflow server on :{ports['mlflow']} (PostgreSQL store, S3 artifacts)")
            pids["mlflow"] = self._spawn("mlflow", *self._service("mlflow", ports))
            self._save(state)
        self._start_airflow(state, ports, pids, alive, progress)
        self._wait_ready(ports, pids, timeout, progress)
        state["workers"] = self.celery_workers()
        state["startup_seconds"] = round(time.monotonic() - started, 1)
        self._save(state)
        progress(f"Celery worker(s) {', '.join(state['workers'])} ready; up in {state['startup_seconds']:.0f}s")
        return self.info()

    def _start_s3(
        self, state: dict[str, Any], ports: dict[str, int], pids: dict[str, int], alive: set[str], progress: Progress
    ) -> None:
        """The S3 API server first: MLflow's artifacts and every bucket the tasks use live in it."""
        if "s3" not in alive:
            progress(f"starting the S3 API server (moto) on :{ports['s3']}")
            pids["s3"] = self._spawn("s3", *self._service("s3", ports))
            self._save(state)
        wait_for(
            "S3 API server",
            lambda: http_get(f"http://127.0.0.1:{ports['s3']}/moto-api/")[0] == 200,
            60,
            proc_alive=lambda: pid_alive(pids["s3"]),
            log_file=self.logs / "s3.log",
        )
        self._create_buckets(f"http://127.0.0.1:{ports['s3']}")
        progress(f"S3 ready; buckets {', '.join(BUCKETS.values())}")

    def _start_airflow(
        self, state: dict[str, Any], ports: dict[str, int], pids: dict[str, int], alive: set[str], progress: Progress
    ) -> None:
        """Airflow's components, after migrating its database when none of them runs (a migration under a live
        scheduler would race it)."""
        if not alive & set(AIRFLOW_SERVICES):
            progress("migrating the Airflow metadata database")
            self._migrate(self.airflow_env(ports), Path(sys.executable).parent)
        for name in AIRFLOW_SERVICES:
            if name not in alive:
                progress(f"starting airflow {name}")
                pids[name] = self._spawn(name, *self._service(name, ports))
        self._save(state)

    def _wait_ready(self, ports: dict[str, int], pids: dict[str, int], timeout: float, progress: Progress) -> None:
        """MLflow, then Airflow's health endpoint, then a Celery worker answering through the broker."""
        api_url = f"http://127.0.0.1:{ports['airflow']}"
        self._wait_mlflow(ports, pids["mlflow"], timeout, progress)
        for name in AIRFLOW_SERVICES:  # any Airflow component dying during start-up fails fast, with its log
            if not pid_alive(pids[name]):
                raise AirloopError(f"airflow {name} exited during start-up; see {self.logs / (name + '.log')}")
        wait_for(
            "Airflow (api-server, scheduler, dag-processor, triggerer)",
            lambda: self._airflow_healthy(api_url),
            timeout,
            proc_alive=lambda: all(pid_alive(pids[n]) for n in ("api-server", "scheduler")),
            log_file=self.logs / "api-server.log",
        )
        progress(f"Airflow ready at {api_url}")
        wait_for(
            "Celery worker",
            lambda: bool(self.celery_workers()),
            timeout,
            proc_alive=lambda: pid_alive(pids["celery-worker"]),
            log_file=self.logs / "celery-worker.log",
            interval=1.0,
        )

    def _service(self, name: str, ports: dict[str, int]) -> tuple[list[str], dict[str, str]]:
        """Command line and environment of one service."""
        bin_dir = Path(sys.executable).parent
        if name == "s3":
            return [str(bin_dir / "moto_server"), "-H", "127.0.0.1", "-p", str(ports["s3"])], dict(os.environ)
        if name == "mlflow":
            cmd = [
                str(bin_dir / "mlflow"),
                "server",
                "--host=127.0.0.1",
                f"--port={ports['mlflow']}",
                "--workers=1",
                f"--backend-store-uri={database_url(self.postgres_url, self.databases['mlflow'])}",
                f"--artifacts-destination=s3://{BUCKETS['mlflow']}/",
            ]
            return cmd, self.mlflow_env()
        args = {
            "api-server": ["api-server"],
            "scheduler": ["scheduler"],
            "dag-processor": ["dag-processor"],
            "triggerer": ["triggerer"],
            "celery-worker": ["celery", "worker", "--queues", CELERY_QUEUES],
        }[name]
        return [str(bin_dir / "airflow"), *args], self.airflow_env(ports)

    def stop_service(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        """Stop one service's whole process group (SIGKILL simulates a crash: nothing gets to clean up)."""
        stop_session(self.state()["pids"][name], sig, timeout, interval=0.1)

    def start_service(self, name: str) -> int:
        """(Re)start one stopped service with the command and environment `up()` gives it."""
        state = self.state()
        if pid_alive(state["pids"].get(name, 0) or 0):
            raise AirloopError(f"{name} is running already")
        state["pids"][name] = self._spawn(name, *self._service(name, state["ports"]))
        self._save(state)
        return state["pids"][name]

    def _migrate(self, env: dict[str, str], bin_dir: Path) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        log_file = self.logs / "db-migrate.log"
        with open(log_file, "ab") as log:
            done = subprocess.run(
                [str(bin_dir / "airflow"), "db", "migrate"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=str(self.run),
                timeout=600,
            )
        if done.returncode != 0:
            raise AirloopError(f"airflow db migrate failed (exit {done.returncode}){log_tail(log_file)}")

    def info(self) -> dict[str, Any]:
        state = self.state()
        out = super().info()
        ports = state.get("ports", {})
        out.update(
            {
                "topology": self.topology,
                "s3_endpoint": f"http://127.0.0.1:{ports.get('s3')}",
                "buckets": BUCKETS,
                "databases": self.databases,
                "postgres": mask_credentials(self.postgres_url),
                "redis": mask_credentials(self.redis_url),
                "celery_workers": state.get("workers", []),
                "startup_seconds": state.get("startup_seconds"),
            }
        )
        return out

    def down(self, timeout: float = 30) -> list[str]:
        out = super().down(timeout)
        self.drop_databases()
        out.append(f"dropped databases {', '.join(self.databases.values())} (the S3 server's objects are gone)")
        if self.ephemeral:
            self._redis().flushdb()
            out.append(f"flushed {mask_credentials(self.redis_url)}")
        return out


def stack_for(root: Path, run_dir: Path | None = None) -> LocalStack:
    """The stack recorded in a run folder (native or embedded), rebuilt with the arguments it was started with."""
    probe = LocalStack(root, run_dir)
    state = probe.state()
    if state.get("topology") != NativeStack.topology:
        return probe
    return NativeStack(
        root,
        run_dir,
        postgres_url=state["postgres_url"],
        redis_url=state["redis_url"],
        prefix=state["databases"]["airflow"].removesuffix("_airflow"),
        ephemeral=bool(state.get("ephemeral")),
    )
