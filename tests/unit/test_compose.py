"""docker-compose.yaml cannot be run here (no Docker engine): validate it against the Compose Specification
schema, and check the topology and its wiring — services and profiles, the settings every Airflow container
shares, secrets only from .env, start-up order, buckets, pinned images and the Dockerfile it builds."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from airloop.catalog import load_spec
from airloop.settings import Settings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT.parent / "shared" / "schemas" / "compose-spec.json"

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR:+alt}: group 1 is the name, group 2 the default.
REFERENCE = re.compile(r"(?<!\$)\$\{(\w+)(?::?[-?+]([^}]*))?\}")
AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-worker-gpu",
    "flower",
}
REQUIRED_SERVICES = AIRFLOW_SERVICES | {"postgres", "redis", "mlflow", "minio", "minio-init", "serving"}
ONE_SHOT = {"airflow-init", "minio-init"}
PROFILED = {"airflow-worker-gpu": "gpu", "serving": "serving", "flower": "flower"}
# Must be the same in every Airflow container: they talk to one DB, one broker, and verify each other's tokens.
SHARED_SETTINGS = (
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRLOOP_DATA_ROOT",
    "AIRLOOP_LANDING_ROOT",
    "AIRLOOP_DVC_REMOTE",
    "AIRLOOP_DVC_WORKSPACE",
    "AIRLOOP_SPECS_DIR",
    "MLFLOW_TRACKING_URI",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
)
SECRET_NAME = re.compile(r"PASSWORD|SECRET|_KEY|TOKEN|BASIC_AUTH|REDISCLI_AUTH")


@pytest.fixture(scope="module")
def compose_text() -> str:
    return (ROOT / "docker-compose.yaml").read_text()


@pytest.fixture(scope="module")
def compose(compose_text) -> dict:
    return yaml.safe_load(compose_text)  # resolves the `<<:` merge keys, as docker compose does


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict]:
    return compose["services"]


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    text = (ROOT / ".env.example").read_text()
    return dict(re.findall(r"^(\w+)=(.*)$", text, re.M))


def env_of(svc: dict) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def argv(command: Any) -> list[str]:
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def option(args: list[str], *names: str) -> str | None:
    """The value of `--name value` or `--name=value` in an argument list."""
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def strings(node: Any):
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)
    elif node is not None:
        yield str(node)


def resolve(value: str, env: dict[str, str]) -> str:
    """Interpolate like docker compose: the .env value, else the inline default."""
    return REFERENCE.sub(lambda m: env.get(m.group(1)) or m.group(2) or "", value)


@pytest.mark.skipif(not SCHEMA.exists(), reason="compose-spec.json is provided beside the checkout in ../shared")
def test_matches_compose_spec(compose):
    import jsonschema

    # The schema names draft-07 without the trailing "#" jsonschema keys its drafts by: say the draft explicitly.
    jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).validate(compose)


def test_every_variable_is_documented(compose_text):
    used = set(re.findall(r"(?<!\$)\$\{(\w+)", compose_text))
    documented = set(re.findall(r"^(\w+)=", (ROOT / ".env.example").read_text(), re.M))
    assert used - documented == set()


def test_env_example_has_no_stale_variables(compose_text, env_example):
    used = set(re.findall(r"(?<!\$)\$\{(\w+)", compose_text))
    assert set(env_example) - used == set()


def test_required_services_are_present(services):
    assert REQUIRED_SERVICES - set(services) == set()


def test_every_service_has_a_healthcheck(services):
    for name, svc in services.items():
        check = svc.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), name
        assert argv(check["test"])[:1] != ["NONE"], name


def test_healthchecks_probe_what_the_service_serves(services):
    probe = {name: " ".join(argv(svc["healthcheck"]["test"])) for name, svc in services.items()}
    assert "pg_isready" in probe["postgres"]
    assert "redis-cli ping" in probe["redis"]
    assert "mc ready local" in probe["minio"]
    assert "localhost:8080/api/v2/version" in probe["airflow-apiserver"]
    assert "localhost:8974/health" in probe["airflow-scheduler"]
    assert env_of(services["airflow-scheduler"])["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"].lower() == "true"
    assert "--job-type DagProcessorJob" in probe["airflow-dag-processor"]
    assert "--job-type TriggererJob" in probe["airflow-triggerer"]
    for worker in ("airflow-worker", "airflow-worker-gpu"):
        assert "inspect ping" in probe[worker] and "celery@$${HOSTNAME}" in probe[worker], worker
        assert env_of(services[worker])["DUMB_INIT_SETSID"] == "0", worker
    assert "localhost:5000/health" in probe["mlflow"]
    assert "localhost:5001/ping" in probe["serving"]
    assert "localhost:5555/" in probe["flower"]


def test_images_are_pinned(services, env_example):
    def pinned(image: str) -> bool:
        name, _, tag = image.rpartition("/")[2].partition(":")
        return "@sha256:" in image or (bool(name) and bool(tag) and tag != "latest")

    for name, svc in services.items():
        image = svc.get("image", "")
        assert image, f"{name} names no image"
        for var, default in REFERENCE.findall(image):
            assert default and pinned(resolve(image, {})), f"{name}: default of ${{{var}}} is not pinned"
            assert pinned(resolve(image, env_example)), f"{name}: .env.example's {var} is not pinned"
        assert pinned(resolve(image, env_example)), name


def test_airloop_image_is_built_from_the_dockerfile(services):
    built = {name for name, svc in services.items() if svc.get("build")}
    assert {"mlflow", "serving", *AIRFLOW_SERVICES} <= built
    images = {services[name]["image"] for name in built}
    assert len(images) == 1, images


def test_gpu_worker_takes_the_gpu_queue_with_nvidia_devices(services):
    gpu = services["airflow-worker-gpu"]
    assert gpu["profiles"] == ["gpu"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] and d.get("count") for d in devices)
    args = argv(gpu["command"])
    assert args[:2] == ["celery", "worker"] or args[:3] == ["airflow", "celery", "worker"]
    assert option(args, "--queues", "-q").split(",") == ["gpu"]
    default = argv(services["airflow-worker"]["command"])
    assert "worker" in default and "gpu" not in (option(default, "--queues", "-q") or "").split(",")
    assert "profiles" not in services["airflow-worker"]


def test_optional_services_are_profiled_and_the_core_is_not(services):
    for name, svc in services.items():
        assert svc.get("profiles", []) == ([PROFILED[name]] if name in PROFILED else []), name


def test_serving_serves_the_champion_through_mlflow(services):
    serving = services["serving"]
    args = argv(serving["command"])
    assert args[:3] == ["mlflow", "models", "serve"]
    assert re.fullmatch(r"models:/\$\{AIRLOOP_SERVE_MODEL(:-\w+)?\}@champion", option(args, "-m", "--model-uri"))
    assert option(args, "--env-manager") == "local"
    assert env_of(serving)["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert "celery" in argv(services["flower"]["command"]) and "flower" in argv(services["flower"]["command"])


def test_airflow_services_share_one_configuration(services):
    airflow = {name for name, svc in services.items() if "AIRFLOW__CORE__EXECUTOR" in env_of(svc)}
    assert airflow == AIRFLOW_SERVICES
    reference = env_of(services["airflow-scheduler"])
    for name in sorted(AIRFLOW_SERVICES):
        env = env_of(services[name])
        for key in SHARED_SETTINGS:
            assert env.get(key) == reference[key], f"{name}: {key}"
        assert services[name]["user"] == services["airflow-scheduler"]["user"] or name == "airflow-init"
    assert reference["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert reference["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg://")
    assert reference["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg://")
    assert reference["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    assert reference["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert reference["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert reference["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"


def test_airflow_environment_gives_airloop_its_settings(services):
    env = env_of(services["airflow-worker"])
    settings = Settings.from_mapping(env)
    spec = load_spec(ROOT / "include" / "pipelines" / "fraud_detection.yaml")
    assert settings.location(spec.storage.landing).startswith("s3://airloop-landing/")
    assert settings.area("quarantine", spec.name).startswith("s3://airloop-data/")
    assert settings.dvc_remote.startswith("s3://airloop-dvc/")
    assert settings.tracking_uri == "http://mlflow:5000"
    assert settings.s3_endpoint_url == "http://minio:9000"
    assert settings.specs_dir == "/opt/airloop/include/pipelines"
    mounts = [str(v) for v in services["airflow-worker"]["volumes"]]
    assert any(m.split(":")[:2] == ["./include/pipelines", settings.specs_dir] for m in mounts)


def test_no_literal_secrets(compose):
    for name, svc in compose["services"].items():
        for key, value in env_of(svc).items():
            if SECRET_NAME.search(key) and not key.endswith("_FILE"):  # a file's path is not the secret
                assert REFERENCE.fullmatch(value), f"{name}: {key} must come from .env"
        args = argv(svc.get("command"))
        if "--requirepass" in args:
            assert REFERENCE.fullmatch(option(args, "--requirepass")), name
    for text in strings(compose):
        for password in re.findall(r"://[^/\s:@]*:([^@/\s]*)@", text):
            assert REFERENCE.fullmatch(password), f"password in a URL must come from .env: {text}"


def test_depends_on_targets_exist_and_one_shots_run_to_completion(services):
    depended_on = set()
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            deps = {dep: {"condition": "service_started"} for dep in deps}
        for dep, spec in deps.items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert "profiles" not in services[dep], f"{name} depends on {dep}, which only runs in a profile"
            expected = "service_completed_successfully" if dep in ONE_SHOT else "service_healthy"
            assert spec["condition"] == expected, f"{name} → {dep}"
            depended_on.add(dep)
    assert ONE_SHOT <= depended_on
    for name, svc in services.items():
        assert svc.get("restart") == (None if name in ONE_SHOT else "always"), name


def test_minio_init_creates_every_bucket_the_stack_uses(services):
    buckets = set(argv(services["minio-init"]["command"]))
    assert {"airloop-landing", "airloop-data", "airloop-dvc", "airloop-mlflow"} <= buckets
    used = set()
    for name in ("airflow-worker", "mlflow"):
        for text in [*env_of(services[name]).values(), *argv(services[name].get("command"))]:
            used |= set(re.findall(r"s3://([a-z0-9][a-z0-9.-]+)", text))
    assert used and used <= buckets
    policy = json.loads((ROOT / "docker" / "minio" / "policy.json").read_text())
    resources = [r for stmt in policy["Statement"] for r in stmt["Resource"]]
    for bucket in buckets:
        assert any(fnmatch.fnmatchcase(f"arn:aws:s3:::{bucket}", r) for r in resources), bucket
    mounts = [str(v).split(":")[:2] for v in services["minio-init"]["volumes"]]
    script = next(a for a in argv(services["minio-init"]["entrypoint"]) if a.endswith(".sh"))
    host_dir = next(h for h, c in mounts if script.startswith(c + "/"))
    assert (ROOT / host_dir / script.rpartition("/")[2]).is_file()


def test_mlflow_uses_its_own_database_and_serves_minio_artifacts(services):
    mlflow = services["mlflow"]
    env, args = env_of(mlflow), argv(mlflow["command"])
    store = env.get("MLFLOW_BACKEND_STORE_URI") or option(args, "--backend-store-uri")
    assert store.startswith("postgresql+psycopg://") and store.endswith("@postgres:5432/mlflow")
    init_sql = "\n".join(p.read_text() for p in (ROOT / "docker" / "postgres").glob("*.sql"))
    assert re.search(r"CREATE DATABASE\s+mlflow\b", init_sql, re.I)
    assert "./docker/postgres:/docker-entrypoint-initdb.d:ro" in services["postgres"]["volumes"]
    assert option(args, "--artifacts-destination") == "s3://airloop-mlflow/"
    assert "--serve-artifacts" in args
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(env)
    # MLflow rejects Host headers it does not know; every client in the network calls it as mlflow:5000.
    assert "mlflow:5000" in option(args, "--allowed-hosts").split(",")


def test_dockerfile_extends_airflow_with_requirements():
    dockerfile = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM\s+apache/airflow:(3\.3\.\d+)-python3\.11\s*$", dockerfile, re.M)
    assert base, "Dockerfile must build FROM apache/airflow:3.3.x-python3.11"
    pinned = re.search(r"^apache-airflow==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
    assert pinned and pinned.group(1) == base.group(1), "the base image and requirements.txt pin different Airflows"
    assert re.search(r"^COPY\b.*\brequirements\.txt\b", dockerfile, re.M)
    assert re.search(r"^RUN\s+pip install\b.*-r\s+\S*requirements\.txt", dockerfile, re.M)
    assert re.search(r"pip install\b.*\s-e\s+/opt/airloop\b", dockerfile)
