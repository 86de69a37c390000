"""The `airloop` command line, run as a real process (`python -m airloop.cli`) to check the exit-code contract.

validate: 0 valid, 1 invalid (JSON report on stdout), 2 unusable call (one line on stderr, never a traceback).
Every location the CLI could touch is set explicitly in the environment, so `.run/` of the checkout is never used.
Each real process pays the pandas/pandera (or MLflow) imports, so the contract cases run as processes, several at
a time from a module-scoped fixture, and the remaining cases call `airloop.cli.main()` in-process: same code path
(`main` ends every call with `sys.exit`; anything else escaping it would be a traceback).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from airloop.data.datagen import generate
from airloop.store import storage

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
NAME = "fraud_detection"


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str


def run_all(env_for, invocations: dict[str, tuple[list[str], Path]]) -> dict[str, Result]:
    """Run `python -m airloop.cli ARGS` with cwd and every location under the given root, several at a time."""

    def one(args: list[str], root: Path) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "airloop.cli", *args],
            cwd=root,
            env={**os.environ, **env_for(root), "DVC_NO_ANALYTICS": "1"},
            capture_output=True,
            text=True,
            timeout=180,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(one, args, root) for name, (args, root) in invocations.items()}
        return {name: f.result() for name, f in futures.items()}


def assert_one_line_error(result: Result, fragment: str) -> None:
    assert result.rc == 2, result
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("airloop: ")
    assert fragment in lines[0]


# ------------------------------------------------------------------------------------------------- real processes


@dataclass
class Files:
    root: Path
    sha_before: dict[str, str]
    sha_after: dict[str, str]
    results: dict[str, Result]


@pytest.fixture(scope="module")
def files(tmp_path_factory, env_for) -> Files:
    """Run every real-process case once (several seconds: tests using this are marked slow)."""
    root = tmp_path_factory.mktemp("cli")
    clean = generate("fraud", rows=300, seed=1)
    bad = clean.copy()
    bad.loc[3, "amount"] = -5.0
    bad.loc[8, "country"] = "XX"
    bad.loc[9, "transaction_id"] = bad.loc[8, "transaction_id"]
    clean.to_parquet(root / "clean.parquet", index=False)
    bad.to_parquet(root / "bad.parquet", index=False)
    clean.drop(columns=["is_fraud"]).to_parquet(root / "unlabelled.parquet", index=False)
    (root / "random.parquet").write_bytes(np.random.default_rng(0).bytes(1000))
    inputs = ["clean.parquet", "bad.parquet", "unlabelled.parquet", "random.parquet"]
    sha_before = {n: storage.sha256(str(root / n)) for n in inputs}
    invocations = {
        "help": ["--help"],
        "validate-clean": ["validate", "clean.parquet", "--pipeline", NAME, "--format", "json"],  # relative to the cwd
        "validate-bad": ["validate", str(root / "bad.parquet"), "--pipeline", NAME, "--format", "json"],
        "validate-missing": ["validate", str(root / "missing.parquet"), "--pipeline", NAME],
        "validate-random": ["validate", str(root / "random.parquet"), "--pipeline", NAME],
        "validate-unknown-pipeline": ["validate", str(root / "clean.parquet"), "--pipeline", "nope"],
        "generate": ["generate", "--pipeline", NAME, "--out", str(root / "gen"), "--rows", "250", "--seed", "5"],
        "generate-rows-0": ["generate", "--pipeline", NAME, "--out", str(root / "zero"), "--rows", "0"],
    }
    results = run_all(env_for, {name: (args, root) for name, args in invocations.items()})
    sha_after = {n: storage.sha256(str(root / n)) for n in inputs}
    return Files(root, sha_before, sha_after, results)


@pytest.mark.slow
def test_help(files):
    result = files.results["help"]
    assert result.rc == 0
    for command in ("generate", "validate", "models", "promote", "rollback", "data"):
        assert command in result.stdout


@pytest.mark.slow
def test_validate_clean_file_exits_0(files):
    result = files.results["validate-clean"]
    assert result.rc == 0, result
    assert json.loads(result.stdout) == {"valid": True, "n_rows": 300, "n_invalid_rows": 0, "failures": []}


@pytest.mark.slow
def test_validate_bad_rows_exits_1_with_a_json_report(files):
    result = files.results["validate-bad"]
    assert result.rc == 1, result
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert {"valid", "n_rows", "n_invalid_rows", "failures"} <= set(report)
    assert (report["valid"], report["n_rows"], report["n_invalid_rows"]) == (False, 300, 3)
    failures = {f["column"]: f for f in report["failures"]}
    assert set(failures) == {"amount", "country", "transaction_id"}
    for f in report["failures"]:
        assert set(f) == {"column", "check", "count", "examples"}
        assert f["count"] == 1
    assert failures["amount"]["examples"] == [-5.0]
    assert failures["country"]["examples"] == ["XX"]
    assert failures["transaction_id"]["check"] == "field_uniqueness"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("validate-missing", "missing.parquet: no such file"),
        ("validate-random", "random.parquet: cannot read as Parquet"),
        ("validate-unknown-pipeline", "unknown pipeline 'nope' (known: fraud_detection"),
    ],
)
def test_unusable_calls_exit_2_with_one_line(files, name, fragment):
    assert_one_line_error(files.results[name], fragment)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["clean.parquet", "bad.parquet", "unlabelled.parquet", "random.parquet"])
def test_validate_never_changes_its_input(files, name):
    assert files.sha_after[name] == files.sha_before[name]


@pytest.mark.slow
def test_generate_writes_a_named_parquet_batch(files):
    result = files.results["generate"]
    assert result.rc == 0, result
    out = Path(result.stdout.strip())
    assert out == files.root / "gen" / f"{NAME}-s5-none-250.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(out), generate("fraud", rows=250, seed=5, labels=False))


@pytest.mark.slow
def test_bad_argument_exits_2_without_traceback(files):
    result = files.results["generate-rows-0"]
    assert "Traceback" not in result.stderr
    assert result.rc == 2
    assert "--rows" in result.stderr
    assert not (files.root / "zero").exists()


# ----------------------------------------------------------------------------------------------------- in-process


@pytest.fixture
def airloop(cli_main, tmp_path):
    return lambda *args: cli_main(tmp_path, *args)


def _generate(airloop, out: Path, *args: str) -> pd.DataFrame:
    result = airloop("generate", "--pipeline", NAME, "--out", str(out), "--rows", "250", *args)
    assert result.rc == 0, result
    return pd.read_parquet(result.stdout.strip())


def test_generate_is_deterministic_per_seed(airloop, tmp_path):
    a = _generate(airloop, tmp_path / "a", "--seed", "5")
    pd.testing.assert_frame_equal(a, _generate(airloop, tmp_path / "b", "--seed", "5"))
    c = _generate(airloop, tmp_path / "c", "--seed", "6")
    assert not a["amount"].equals(c["amount"])


def test_generate_with_labels_and_drift(airloop, tmp_path):
    df = _generate(airloop, tmp_path, "--seed", "5", "--drift", "COVARIATE", "--labels")
    assert (tmp_path / f"{NAME}-s5-covariate-labelled-250.parquet").is_file()
    pd.testing.assert_frame_equal(df, generate("fraud", rows=250, seed=5, drift="covariate"))


def test_generate_unknown_pipeline_exits_2(airloop, tmp_path):
    result = airloop("generate", "--pipeline", "nope", "--out", str(tmp_path))
    assert_one_line_error(result, "unknown pipeline 'nope'")


@pytest.mark.parametrize(("extra", "rc"), [((), 0), (("--require-label",), 1)])
def test_validate_unlabelled_file(airloop, tmp_path, extra, rc):
    generate("fraud", rows=100, seed=2, labels=False).to_parquet(tmp_path / "u.parquet", index=False)
    result = airloop("validate", "u.parquet", "--pipeline", NAME, "--format", "json", *extra)
    assert result.rc == rc
    report = json.loads(result.stdout)
    assert report["valid"] is (rc == 0)
    if rc:
        assert "is_fraud" in report["batch_error"]


def test_validate_csv(airloop, tmp_path):
    generate("fraud", rows=100, seed=2).to_csv(tmp_path / "b.csv", index=False)
    result = airloop("validate", "b.csv", "--pipeline", NAME)
    assert (result.rc, result.stdout) == (0, "b.csv: valid (100 rows)\n")


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("generate", "--pipeline", NAME, "--out", "x", "--drift", "bogus"), "--drift"),
        (("generate", "--pipeline", NAME, "--out", "x", "--rows", "many"), "--rows"),
        (("validate", "b.parquet"), "--pipeline"),
    ],
    ids=["drift-bogus", "rows-not-a-number", "missing-option"],
)
def test_bad_arguments_exit_2(airloop, tmp_path, args, option):
    result = airloop(*args)
    assert result.rc == 2
    assert option in result.stderr
    assert not (tmp_path / "x").exists()


# ---------------------------------------------------------------------------------------------- registry commands


@pytest.mark.slow
def test_models_json_on_an_empty_store(tmp_path, env_for):
    result = run_all(env_for, {"models": (["models", "--format", "json"], tmp_path)})["models"]
    assert result.rc == 0, result
    shipped = sorted(p.stem for p in (ROOT / "include" / "pipelines").glob("*.yaml"))
    assert json.loads(result.stdout) == [
        {"pipeline": name, "champion": None, "challenger": None, "versions": []} for name in shipped
    ]
    assert (tmp_path / "mlflow.db").is_file()  # the environment's store, not the checkout's .run/


def test_version(cli_main, tmp_path):
    from airloop import __version__

    result = cli_main(tmp_path, "--version")
    assert (result.rc, result.stdout) == (0, f"airloop {__version__}\n")


@pytest.mark.slow
def test_validate_table_is_the_default_and_names_each_failure(files, cli_main):
    result = cli_main(files.root, "validate", "bad.parquet", "--pipeline", NAME)
    assert result.rc == 1, result
    lines = result.stdout.splitlines()
    assert lines[0].startswith("bad.parquet: invalid: 3 of 300 rows invalid: ")
    assert sorted(line.split(":")[0].strip() for line in lines[1:]) == ["amount", "country", "transaction_id"]


# --------------------------------------------------------------------------- promote --reason, rollback --yes/--dry-run


@pytest.fixture
def three_versions(tmp_path, env_for, monkeypatch):
    """A registered fraud_detection model with three versions (no training: the alias moves are what is tested)."""
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)
    client = MlflowClient(
        tracking_uri=env_for(tmp_path)["MLFLOW_TRACKING_URI"], registry_uri=env_for(tmp_path)["MLFLOW_TRACKING_URI"]
    )
    client.create_registered_model(NAME)
    for _ in range(3):
        client.create_model_version(NAME, (tmp_path / "model").as_uri())
    return client


def _champion(client) -> str:
    return str(client.get_model_version_by_alias(NAME, "champion").version)


def _history(client) -> list[dict]:
    return json.loads(client.get_registered_model(NAME).tags["champion_history"])


@pytest.mark.slow
def test_promote_records_the_reason_and_reports_json(three_versions, cli_main, tmp_path):
    first = cli_main(tmp_path, "promote", NAME, "1", "--format", "json")
    assert first.rc == 0, first
    assert json.loads(first.stdout) == {
        "pipeline": NAME,
        "champion": "1",
        "previous": None,
        "moved": True,
        "reason": None,
    }
    second = cli_main(tmp_path, "promote", NAME, "2", "--reason", "hotfix for the EU batch")
    assert (second.rc, second.stdout.strip()) == (0, f"{NAME}: champion v1 → v2")
    entry = _history(three_versions)[-1]
    assert (entry["version"], entry["previous"]) == ("2", "1")
    assert entry["reason"] == "manual promote: hotfix for the EU batch"
    assert entry["actor"].startswith("cli:")
    again = cli_main(tmp_path, "promote", NAME, "2", "--format", "json")
    assert json.loads(again.stdout)["moved"] is False


@pytest.mark.slow
def test_rollback_asks_refuses_off_a_terminal_and_dry_runs(three_versions, cli_main, tmp_path):
    for version in ("1", "2"):
        assert cli_main(tmp_path, "promote", NAME, version).rc == 0
    moves = len(_history(three_versions))

    refused = cli_main(tmp_path, "rollback", NAME)  # pytest's stdin is not a terminal
    assert refused.rc == 2 and refused.stdout == ""
    assert "--yes" in refused.stderr and "v2 → v1" in refused.stderr
    dry = cli_main(tmp_path, "rollback", NAME, "--dry-run", "--format", "json")
    assert dry.rc == 0, dry
    assert json.loads(dry.stdout) == {"pipeline": NAME, "previous": "2", "champion": "1", "dry_run": True}
    assert (_champion(three_versions), len(_history(three_versions))) == ("2", moves)  # nothing moved

    done = cli_main(tmp_path, "rollback", NAME, "--yes", "--format", "json")
    assert done.rc == 0, done
    assert json.loads(done.stdout) == {"pipeline": NAME, "previous": "2", "champion": "1", "dry_run": False}
    assert _champion(three_versions) == "1"
    assert _history(three_versions)[-1]["reason"] == "rollback from v2"


@pytest.mark.slow
@pytest.mark.parametrize(("answer", "champion", "rc"), [("y\n", "1", 0), ("n\n", "2", 1)])
def test_rollback_on_a_terminal_asks_first(three_versions, cli_main, tmp_path, monkeypatch, answer, champion, rc):
    import io

    for version in ("1", "2"):
        assert cli_main(tmp_path, "promote", NAME, version).rc == 0

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Terminal(answer))
    result = cli_main(tmp_path, "rollback", NAME)
    assert result.rc == rc, result
    assert f"{NAME}: move champion v2 → v1?" in result.stdout
    assert _champion(three_versions) == champion


# ------------------------------------------------------------------------------------------------ the local stack


def test_local_stack_builds_dags_from_airloop_specs_dir(tmp_path, monkeypatch):
    from airloop.dev.localstack import LocalStack

    specs = tmp_path / "my-specs"
    monkeypatch.setenv("AIRLOOP_SPECS_DIR", str(specs))
    stack = LocalStack(ROOT, tmp_path / "run")
    ports = stack._ports()
    assert stack.client_env()["AIRLOOP_SPECS_DIR"] == str(specs)  # what the CLI of this stack reads
    assert stack.airflow_env(ports)["AIRLOOP_SPECS_DIR"] == str(specs)  # what the DAG factory reads
    assert LocalStack(ROOT, tmp_path / "run", specs_dir=tmp_path / "given").specs_dir == tmp_path / "given"
    monkeypatch.delenv("AIRLOOP_SPECS_DIR")
    assert LocalStack(ROOT, tmp_path / "run").specs_dir == ROOT / "include" / "pipelines"


def test_local_stack_urls_are_its_real_ports(tmp_path):
    from airloop.dev.localstack import LocalStack

    stack = LocalStack(ROOT, tmp_path / "run")
    stack._save({"ports": {"airflow": 18080, "mlflow": 15000, "worker_logs": 1, "trigger_logs": 2}})
    info = stack.info()
    assert (info["airflow_url"], info["mlflow_url"]) == ("http://127.0.0.1:18080", "http://127.0.0.1:15000")
    assert stack.client_env()["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:15000"


def test_make_up_starts_the_stack_without_the_demo():
    dry = subprocess.run(["make", "-n", "up"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    commands = [line for line in dry.stdout.splitlines() if "airloop" in line]
    assert commands[-1].endswith("bin/airloop stack up") and not any("demo" in c for c in commands)


# ------------------------------------------------------------------------------------------------------ help texts


def _commands() -> list[tuple[str, ...]]:
    """Every command path of the app: (), ("models",), ("data", "pull"), …"""
    import typer

    from airloop.cli import app

    group = typer.main.get_command(app)
    out: list[tuple[str, ...]] = [()]
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        out.append((name,))
        out += [(name, sub) for sub in getattr(command, "commands", {})]
    return out


def _help(cli_main, tmp_path: Path, *path: str) -> str:
    result = cli_main(tmp_path, *path, "--help")
    assert result.rc == 0, result
    return result.stdout


def _flat(text: str) -> str:
    """Help text without its box drawing and line wrapping, to look for whole sentences in it."""
    return " ".join(text.replace("│", " ").split())


def test_every_help_is_complete_and_has_no_type_beside_flags(cli_main, tmp_path, monkeypatch):
    """No `<bool>` beside a flag (it takes no value), and every option's help sentence shown whole: text in
    square brackets was once swallowed as rich markup, cutting `drift --method`'s default off."""
    import typer

    from airloop.cli import app

    monkeypatch.setenv("COLUMNS", "160")
    group = typer.main.get_command(app)
    commands = _commands()
    assert ("data", "pull") in commands and ("reproduce",) in commands and ("demo",) in commands
    for path in commands:
        text = _help(cli_main, tmp_path, *path)
        assert "<bool>" not in text, path
        command = group
        for name in path:
            command = command.commands[name]  # type: ignore[attr-defined]
        for param in command.params:
            if getattr(param, "help", None):
                assert _flat(param.help) in _flat(text), (path, param.name)
    assert "[default: (the spec's drift.method, else auto)]" in _flat(_help(cli_main, tmp_path, "drift"))


def test_demo_help_describes_the_round_it_drives(cli_main, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    text = _flat(_help(cli_main, tmp_path, "demo"))
    for what in ("embedded stack", "clean labelled batch", "drift → retrain → gate", "unlabelled batch", "stack down"):
        assert what in text, what


# ------------------------------------------------------------------------------------ progress: stderr, not stdout


@pytest.fixture
def pullable(tmp_path, env_for, settings_for, monkeypatch) -> str:
    """A registered version whose `data_md5` is tracked in the DVC remote: what `data pull` restores. Its md5."""
    from mlflow import MlflowClient

    from airloop.store.versioning import DataVersioner

    monkeypatch.chdir(tmp_path)
    versioner = DataVersioner.from_settings(settings_for(tmp_path))
    versioner.path("train.parquet").parent.mkdir(parents=True, exist_ok=True)
    generate("fraud", rows=50, seed=3, labels=True).to_parquet(versioner.path("train.parquet"), index=False)
    md5 = versioner.track("train.parquet").md5
    store = env_for(tmp_path)["MLFLOW_TRACKING_URI"]
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    client.create_registered_model(NAME)
    client.create_model_version(NAME, (tmp_path / "model").as_uri(), tags={"data_md5": md5})
    return md5


@pytest.mark.parametrize("terminal", [True, False])
def test_data_pull_shows_its_stages_on_a_terminal_and_stdout_stays_json(
    pullable, cli_main, tmp_path, monkeypatch, terminal
):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    out = tmp_path / "restored"
    result = cli_main(tmp_path, "data", "pull", f"{NAME}@1", "--out", str(out), "--format", "json")
    assert result.rc == 0, result
    payload = json.loads(result.stdout)  # nothing but the result on stdout
    assert payload["data_md5"] == pullable and Path(payload["path"]).is_file()
    stages = result.stderr.splitlines()
    if terminal:
        assert stages == [
            f"airloop: resolving {NAME} 1 in the model registry",
            f"airloop: restoring v1's training data (DVC md5 {pullable}) into {out}",
        ]
    else:
        assert stages == []  # a script's stderr carries errors only


def test_progress_shows_the_library_stage_messages_only_on_a_terminal(monkeypatch, capsys):
    """`reproduce`'s stages are INFO messages of `airloop.model.reproduce`/`rebuild`: shown once, on stderr, and the
    loggers are left as they were."""
    import logging

    from airloop.cli.app import progress

    stage = logging.getLogger("airloop.model.rebuild")
    before = (stage.level, stage.propagate, list(stage.handlers))
    for terminal in (True, False):
        monkeypatch.setattr(sys.stderr, "isatty", lambda terminal=terminal: terminal)
        with progress("airloop.model.rebuild") as say:
            say("resolving x 1")
            stage.info("rebuilding: training on %d rows", 40)
        out = capsys.readouterr()
        assert out.out == ""
        expected = "airloop: resolving x 1\nairloop: rebuilding: training on 40 rows\n" if terminal else ""
        assert out.err == expected
        assert (stage.level, stage.propagate, list(stage.handlers)) == before


@pytest.mark.parametrize(
    ("uri", "masked"),
    [
        ("http://user:pw@host:5000/x", "http://user:***@host:5000/x"),
        ("redis://:pw@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),  # an empty user: Redis's usual form
        ("postgresql+psycopg://a:b@db/mlflow", "postgresql+psycopg://a:***@db/mlflow"),
        ("http://host:5000/x", "http://host:5000/x"),
    ],
)
def test_debug_traceback_masks_passwords_in_urls(capsys, uri, masked):
    from airloop.cli import _print_traceback

    try:
        raise RuntimeError(f"cannot reach {uri}")
    except RuntimeError as exc:
        _print_traceback(exc)
    err = capsys.readouterr().err
    assert f"cannot reach {masked}" in err
    assert ":pw@" not in err and ":b@" not in err
