"""Honest errors: an MLflow that cannot be reached is never read as "the model is not there".

Three real registries, cheap to start: a closed port (nothing listens: connection refused), a tiny HTTP server
that answers 500 to everything, and a real sqlite-backed MLflow store where the model is simply absent. Every CLI
command that reads the registry exits 4 naming the URI (password masked, no traceback) on the first two, and gives
its "not found" answer on the third. MLflow's client retries and waits by default (minutes): the environment
turns retries off and the timeout down, so each case takes about a second.
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from airloop import steps
from airloop.contracts import Lineage
from airloop.errors import RegistryError, ServiceUnavailable, mask_credentials
from airloop.model import search_runs
from airloop.model.mlflow_errors import check_reachable, is_missing, is_unreachable, reason
from airloop.model.registry import Registry

pytestmark = pytest.mark.unit

NAME = "fraud_detection"
PW_IN_URI = "s3cret-pw"
FAST_FAIL = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}


@pytest.fixture(autouse=True)
def _fail_fast(monkeypatch):
    for key, value in FAST_FAIL.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def closed_port_uri() -> str:
    """An http URI (with a password in it) where nothing listens: the port was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://airloop:{PW_IN_URI}@127.0.0.1:{port}"


class _Answers500(BaseHTTPRequestHandler):
    def _fail(self) -> None:
        body = b"internal server error"
        self.send_response(500)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _fail

    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def error_500_uri() -> Iterator[str]:
    """An http URI whose server answers 500 to every request (an MLflow whose database is down, say)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers500)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://airloop:{PW_IN_URI}@127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def empty_store_uri(tmp_path_factory) -> str:
    """A real, reachable MLflow store (sqlite) in which no model is registered."""
    root = tmp_path_factory.mktemp("empty-mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    Registry(uri).client.search_registered_models()  # creates the schema once, outside the timed cases
    return uri


@pytest.fixture(params=["closed-port", "http-500"])
def down_uri(request, closed_port_uri, error_500_uri) -> str:
    return closed_port_uri if request.param == "closed-port" else error_500_uri


def _masked(uri: str) -> str:
    return uri.replace(f":{PW_IN_URI}@", ":***@")


def _run(cli_main, tmp_path: Path, tracking_uri: str, *args: str) -> tuple[int, str, str]:
    """`airloop ARGS` in-process (the `cli_main` fixture) with MLflow at `tracking_uri`."""
    result = cli_main(tmp_path, *args, env={"MLFLOW_TRACKING_URI": tracking_uri})
    return int(result.rc or 0), result.stdout, result.stderr


REGISTRY_COMMANDS = {
    "models": ("models", NAME),
    "promote": ("promote", NAME, "1"),
    "rollback": ("rollback", NAME, "--yes"),
    "data-pull": ("data", "pull", f"{NAME}@champion", "--out", "restored"),
    "reproduce": ("reproduce", NAME, "1"),
}


@pytest.mark.parametrize("command", list(REGISTRY_COMMANDS))
def test_cli_exits_4_naming_the_uri_when_mlflow_is_down(command, down_uri, tmp_path, cli_main):
    rc, out, err = _run(cli_main, tmp_path, down_uri, *REGISTRY_COMMANDS[command])
    assert rc == 4, err
    assert out == ""
    line = err.strip()
    assert len(line.splitlines()) == 1, err  # one line: no traceback
    assert "Traceback" not in err
    assert line.startswith("airloop: the model registry (MLflow) is unreachable at ")
    assert _masked(down_uri) in line
    assert PW_IN_URI not in err
    assert line.endswith(("connection refused", "HTTP 500"))


NOT_FOUND = {
    "promote": (2, f"airloop: model '{NAME}' has no version 1"),
    "rollback": (2, f"airloop: no registered model '{NAME}'"),
    "data-pull": (2, f"airloop: model '{NAME}' has no version or alias 'champion'"),
    "reproduce": (2, f"airloop: model '{NAME}' has no version or alias '1'"),
}


@pytest.mark.parametrize("command", list(NOT_FOUND))
def test_cli_says_not_found_when_mlflow_answers_that(command, empty_store_uri, tmp_path, cli_main):
    rc, out, err = _run(cli_main, tmp_path, empty_store_uri, *REGISTRY_COMMANDS[command])
    assert (rc, err.strip()) == NOT_FOUND[command]
    assert out == ""


def test_cli_models_lists_no_versions_when_mlflow_answers_none(empty_store_uri, tmp_path, cli_main):
    """`models` reports rather than fails: a model with no versions is its answer, exit 0 (down is exit 4)."""
    rc, out, err = _run(cli_main, tmp_path, empty_store_uri, *REGISTRY_COMMANDS["models"])
    assert (rc, err) == (0, "")
    assert out.splitlines() == [f"{NAME}: champion=- challenger=-", "  (no versions yet)"]


# ------------------------------------------------------------------------------------------ the registry itself


@pytest.mark.parametrize(
    "read",
    [
        lambda r: r.alias_version(NAME, "champion"),
        lambda r: r.version_tags(NAME, "champion"),
        lambda r: r.latest_version_tags(NAME),
        lambda r: r.version_for_run_key(NAME, "dag/run/task"),
        lambda r: r.rollback_target(NAME),
        lambda r: r.champion_history(NAME),
        lambda r: r.describe_models([NAME]),
        lambda r: r.resolve(NAME, "champion"),
        lambda r: r.promote(NAME, "1"),
        lambda r: r.rollback(NAME),
    ],
    ids=[
        "alias_version",
        "version_tags",
        "latest_version_tags",
        "version_for_run_key",
        "rollback_target",
        "champion_history",
        "describe_models",
        "resolve",
        "promote",
        "rollback",
    ],
)
def test_every_registry_read_raises_service_unavailable_when_mlflow_is_down(read, down_uri):
    with pytest.raises(ServiceUnavailable) as err:
        read(Registry(down_uri))
    assert err.value.uri == _masked(down_uri)
    assert PW_IN_URI not in str(err.value)


def test_registry_reads_answer_not_there_on_a_reachable_store(empty_store_uri):
    models = Registry(empty_store_uri)
    assert models.alias_version(NAME, "champion") is None
    assert models.version_tags(NAME, "champion") == {}
    assert models.latest_version_tags(NAME) == {}
    assert models.version_for_run_key(NAME, "dag/run/task") is None
    assert models.rollback_target(NAME) is None
    assert models.champion_history(NAME) == []
    assert models.describe_models([NAME]) == [{"pipeline": NAME, "champion": None, "challenger": None, "versions": []}]
    with pytest.raises(RegistryError, match=f"^model '{NAME}' has no version or alias 'champion'$"):
        models.resolve(NAME, "champion")


def test_experiment_id_is_service_unavailable_when_down_and_none_or_created_when_absent(down_uri, tmp_path):
    with pytest.raises(ServiceUnavailable) as err:
        Registry(down_uri).experiment_id("airloop-x", create=True)
    assert err.value.uri == _masked(down_uri)
    models = Registry(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert models.experiment_id("airloop-x") is None
    created = models.experiment_id("airloop-x", create=True)
    assert created is not None
    assert models.experiment_id("airloop-x") == created


@pytest.mark.parametrize(
    "call",
    [
        lambda r: search_runs.open_parent(r, NAME, tags={"data_md5": "0" * 32}, params={}, search_key="k"),
        lambda r: search_runs.finished_trial(r, "0" * 32, 0),
        lambda r: search_runs.load_trial_booster(r, "0" * 32),
    ],
    ids=["open_parent", "finished_trial", "load_trial_booster"],
)
def test_model_search_raises_service_unavailable_when_mlflow_is_down(call, closed_port_uri):
    """MLflow down during a search: exit 4 (ServiceUnavailable), not MLflow's own error read as a bug (exit 70)."""
    with pytest.raises(ServiceUnavailable) as err:
        call(Registry(closed_port_uri))
    assert err.value.uri == _masked(closed_port_uri)


@pytest.mark.parametrize(
    "write",
    [
        lambda r: r.mark_challenger(NAME, "1"),
        lambda r: r.move_champion(NAME, "1", reason="test", actor="test"),
        lambda r: r.tag_version(NAME, "1", {"k": "v"}),
        lambda r: r.log_metrics("0" * 32, {"m": 1.0}),
        lambda r: r.load_booster(NAME, "1"),
    ],
    ids=["mark_challenger", "move_champion", "tag_version", "log_metrics", "load_booster"],
)
def test_every_registry_write_raises_service_unavailable_when_mlflow_is_down(write, down_uri):
    with pytest.raises(ServiceUnavailable) as err:
        write(Registry(down_uri))
    assert err.value.uri == _masked(down_uri)


def test_cli_promote_exits_4_when_mlflow_goes_down_before_the_alias_moves(
    tmp_path, env_for, monkeypatch, cli_main, closed_port_uri
):
    """The reads answer (the version exists), then the alias move gets no answer: exit 4, not 70 with MLflow's
    own exception. The failure is the real one a down MLflow raises, replayed at the moment of the write."""
    from mlflow import MlflowClient

    store = env_for(tmp_path)["MLFLOW_TRACKING_URI"]
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    client.create_registered_model(NAME)
    client.create_model_version(NAME, (tmp_path / "model").as_uri())
    with pytest.raises(Exception) as down:
        Registry(closed_port_uri).client.set_registered_model_alias(NAME, "champion", "1")
    assert not isinstance(down.value, ServiceUnavailable)  # MLflow's own exception, as a write raises it

    def gone(*_, **__) -> None:
        raise down.value

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", gone)
    rc, out, err = _run(cli_main, tmp_path, store, "promote", NAME, "1")
    assert rc == 4, err
    assert err.startswith("airloop: the model registry (MLflow) is unreachable at ") and "connection refused" in err
    assert "Traceback" not in err and out == ""


def test_drift_champion_reference_raises_when_mlflow_is_down_and_is_empty_when_absent(
    fast_spec, down_uri, empty_store_uri, tmp_path, env_for
):
    """The monitor's "is there a champion to compare with?" never reads a down registry as "no champion"."""
    from airloop.monitor.checks import champion_reference

    with pytest.raises(ServiceUnavailable):
        champion_reference(fast_spec, _down_settings(tmp_path, env_for, down_uri))
    assert champion_reference(fast_spec, _down_settings(tmp_path, env_for, empty_store_uri)) == {}


# ------------------------------------------------------------------------------------- the training skip decision


@pytest.fixture(scope="module")
def curated_root(tmp_path_factory, settings_for, fast_spec) -> Path:
    """A data root with one curated labelled batch (more rows than `training.min_rows`): enough to train on, so
    the skip decision has to ask the registry."""
    from airloop.data.datagen import generate

    root = tmp_path_factory.mktemp("curated")
    settings = settings_for(root)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        uri = steps.land(fast_spec, settings, generate("fraud", rows=600, seed=7), "batch-7.parquet")
        steps.process(fast_spec, settings, uri)
    return root


def _down_settings(root: Path, env_for, uri: str):
    from airloop.settings import Settings

    return Settings.from_mapping({**env_for(root), "MLFLOW_TRACKING_URI": uri}, base=root)


@pytest.mark.parametrize(
    ("trigger", "run_key"), [("new_data", "train/run-1/train"), ("new_data", None), ("drift", None)]
)
def test_training_skip_decision_raises_when_mlflow_is_down(
    trigger, run_key, fast_spec, closed_port_uri, curated_root, env_for, monkeypatch
):
    """Never "already trained" nor "nothing new to learn" on a registry that did not answer: the task fails and
    Airflow retries it."""
    monkeypatch.chdir(curated_root)
    settings = _down_settings(curated_root, env_for, closed_port_uri)
    with pytest.raises(ServiceUnavailable, match="connection refused"):
        steps.train(fast_spec, settings, Lineage(trigger=trigger, git_sha="0" * 40), run_key=run_key)


def test_skip_decision_without_retrain_on_new_data_raises_when_mlflow_is_down(
    fast_spec, error_500_uri, curated_root, env_for, monkeypatch
):
    """The champion check ("retraining is drift-driven") must not read a down registry as "no champion"."""
    monkeypatch.chdir(curated_root)
    training = fast_spec.training.model_copy(update={"retrain_on_new_data": False})
    spec = fast_spec.model_copy(update={"training": training})
    settings = _down_settings(curated_root, env_for, error_500_uri)
    with pytest.raises(ServiceUnavailable, match="HTTP 500"):
        steps.train(spec, settings, Lineage(trigger="new_data", git_sha="0" * 40))


# ------------------------------------------------------------------------------------------------ pure helpers


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("http://user:pw@host:5000/path", "http://user:***@host:5000/path"),
        ("https://host", "https://host"),
        ("http://token@host", "http://token@host"),
        ("postgresql+psycopg://a:b@db:5432/mlflow", "postgresql+psycopg://a:***@db:5432/mlflow"),
        ("sqlite:///tmp/mlflow.db", "sqlite:///tmp/mlflow.db"),
    ],
)
def test_mask_credentials(uri, shown):
    assert mask_credentials(uri) == shown


def test_service_unavailable_masks_the_password_in_its_reason_too():
    err = ServiceUnavailable("MLflow", "http://u:pw@h", "request to http://u:pw@h/api failed")
    assert str(err) == "MLflow is unreachable at http://u:***@h: request to http://u:***@h/api failed"


def test_classifying_mlflow_errors():
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import (
        INVALID_PARAMETER_VALUE,
        RESOURCE_ALREADY_EXISTS,
        RESOURCE_DOES_NOT_EXIST,
        TEMPORARILY_UNAVAILABLE,
        UNAUTHENTICATED,
    )

    missing = MlflowException("Registered Model with name=x not found", RESOURCE_DOES_NOT_EXIST)
    assert is_missing(missing) and not is_unreachable(missing)
    assert is_missing(MlflowException("Registered model alias champion not found.", INVALID_PARAMETER_VALUE))
    for down in (
        MlflowException("API request to endpoint /x failed with error code 503 != 200", TEMPORARILY_UNAVAILABLE),
        MlflowException("unauthorized", UNAUTHENTICATED),
        ConnectionRefusedError(111, "Connection refused"),
    ):
        assert is_unreachable(down) and not is_missing(down)
        with pytest.raises(ServiceUnavailable):
            check_reachable(down, "http://mlflow")
    refused = MlflowException("exists", RESOURCE_ALREADY_EXISTS)  # an answer, neither missing nor unreachable
    assert not is_missing(refused) and not is_unreachable(refused)
    check_reachable(refused, "http://mlflow")  # returns: the caller decides
    check_reachable(ValueError("a bug"), "http://mlflow")
    assert reason(MlflowException("failed with error code 503 != 200", TEMPORARILY_UNAVAILABLE)) == "HTTP 503"
    assert reason(MlflowException("x", UNAUTHENTICATED)) == "authentication refused (UNAUTHENTICATED)"


def test_cli_internal_error_is_one_line_and_exit_70(monkeypatch, capsys):
    from airloop import cli

    def broken(*_, **__) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("airloop.dev.demo.run_demo", broken)
    monkeypatch.setattr(sys, "argv", ["airloop", "demo"])
    with pytest.raises(SystemExit) as info:
        cli.main()
    err = capsys.readouterr().err
    assert info.value.code == 70
    assert err == ("airloop: internal error: ZeroDivisionError: division by zero; run with --debug for the traceback\n")
    monkeypatch.setattr(sys, "argv", ["airloop", "--debug", "demo"])
    with pytest.raises(SystemExit) as info:
        cli.main()
    err = capsys.readouterr().err
    assert info.value.code == 70
    assert "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1] == "airloop: internal error: ZeroDivisionError: division by zero"


def test_help_lists_the_exit_codes(monkeypatch, capsys):
    from airloop import cli

    monkeypatch.setattr(sys, "argv", ["airloop", "--help"])
    monkeypatch.setenv("COLUMNS", "120")
    with pytest.raises(SystemExit) as info:
        cli.main()
    out = capsys.readouterr().out
    assert info.value.code == 0
    for code in cli.ExitCode:
        assert f" {int(code)}  " in out, code


def test_model_ops_views_raise_rather_than_show_an_empty_registry(fast_spec, down_uri, tmp_path, env_for):
    """The read model behind Model Ops: the web app turns this into its 503 (tests/dags/test_modelops_unreachable)."""
    from airloop.ops import views
    from airloop.settings import Settings

    settings = Settings.from_mapping({**env_for(tmp_path), "MLFLOW_TRACKING_URI": down_uri}, base=tmp_path)
    with pytest.raises(ServiceUnavailable):
        views.overview([fast_spec], settings)


# ------------------------------------------------------------------------------------------------- the DVC remote


def test_dvc_restore_tells_an_unreachable_remote_from_a_missing_object(tmp_path, closed_port_uri, monkeypatch):
    """`data pull` and the gate restore training data by md5: a remote that cannot be reached is exit 4's
    `ServiceUnavailable`, an object the remote lacks stays the "not there" error."""
    import logging

    from airloop.errors import AirloopError
    from airloop.store.versioning import DataVersioner

    for handler in logging.getLogger("dvc").handlers:  # DVC's handlers keep the stream of the test that set them up
        if isinstance(handler, logging.StreamHandler):
            monkeypatch.setattr(handler, "stream", sys.stderr)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    md5 = "0123456789abcdef0123456789abcdef"
    endpoint = closed_port_uri.replace(f"airloop:{PW_IN_URI}@", "")
    down = DataVersioner(tmp_path / "ws-down", "s3://bucket/prefix", {"endpointurl": endpoint})
    with pytest.raises(ServiceUnavailable, match=f"^the DVC remote s3://bucket/prefix is unreachable at {endpoint}: "):
        down.restore(md5, tmp_path / "out.parquet")
    (tmp_path / "remote").mkdir()
    reachable = DataVersioner(tmp_path / "ws-up", str(tmp_path / "remote"))
    with pytest.raises(AirloopError, match=f"md5 {md5} is neither in the DVC cache nor on remote") as err:
        reachable.restore(md5, tmp_path / "out.parquet")
    assert not isinstance(err.value, ServiceUnavailable)


def test_debug_shows_the_traceback_of_an_unreachable_mlflow_with_the_password_masked(
    closed_port_uri, tmp_path, cli_main
):
    rc, out, err = _run(cli_main, tmp_path, closed_port_uri, "--debug", "models", NAME)
    assert rc == 4
    assert "Traceback (most recent call last)" in err
    assert "MlflowException" in err  # MLflow's own error, as it came back
    assert PW_IN_URI not in err
    assert err.strip().splitlines()[-1].startswith("airloop: the model registry (MLflow) is unreachable at ")
