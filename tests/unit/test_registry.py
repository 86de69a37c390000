"""The MLflow registry round trip on a local sqlite store: train, gate, lineage, aliases, rollback, scoring.

One module-scoped fixture runs the loop twice (two labelled batches, two model versions); the tests read what it
left behind. Tests that move aliases put them back, so the order of tests does not matter.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from airloop import steps
from airloop.catalog import parse_spec
from airloop.contracts import GateDecision, Lineage, Skipped, Trained, to_xcom
from airloop.data import ingest
from airloop.data.datagen import generate
from airloop.errors import RegistryError, ServiceUnavailable
from airloop.model import training
from airloop.model.gate import decision_tags, gate_and_promote
from airloop.model.registry import Registry, experiment_name
from airloop.settings import Settings
from airloop.spec import PipelineSpec
from airloop.store.versioning import DataVersioner

pytestmark = pytest.mark.unit

NAME = "fraud_detection"
GIT = "0123abcd" * 5


@dataclass
class Loop:
    root: Path
    settings: Settings
    batches: list[str]  # batch ids, oldest first
    trained: list[Trained]  # steps.train results for v1, v2
    gated: list[GateDecision]  # steps.gate results for v1, v2
    gated_tags: list[dict[str, str]]  # tags of v1, v2 right after their gate (later tests may re-gate)
    after_v1: list[dict[str, Any]]  # describe_models after gating v1
    after_v2: list[dict[str, Any]]  # describe_models after gating v2


@pytest.fixture(scope="module")
def state(tmp_path_factory, settings_for, fast_spec) -> Loop:
    root = tmp_path_factory.mktemp("registry")
    settings = settings_for(root)
    models = Registry.from_settings(settings)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # MLflow puts a sqlite store's artifacts under ./mlruns
        batches, trained, gated, gated_tags, described = [], [], [], [], []
        for seed, trigger in [(101, "manual"), (102, "new_data")]:
            uri = steps.land(fast_spec, settings, generate("fraud", rows=3000, seed=seed), f"batch-{seed}.parquet")
            batches.append(steps.process(fast_spec, settings, uri).batch_id)
            result = steps.train(
                fast_spec, settings, Lineage(trigger=trigger, git_sha=GIT, extra_tags={"source": "unit"})
            )
            assert isinstance(result, Trained), result
            trained.append(result)
            gated.append(steps.gate(fast_spec, settings, version=result.version, data_md5=result.data_md5))
            gated_tags.append(models.client.get_model_version(NAME, result.version).tags)
            described.append(models.describe_models([NAME]))
        yield Loop(root, settings, batches, trained, gated, gated_tags, *described)


@pytest.fixture
def cwd(state, monkeypatch):
    monkeypatch.chdir(state.root)


def _registry(state: Loop) -> Registry:
    return Registry.from_settings(state.settings)


def _client(state: Loop):
    return _registry(state).client


def _tags(state: Loop, version: str) -> dict[str, str]:
    return _client(state).get_model_version(NAME, version).tags


def _champion(state: Loop) -> str | None:
    return _registry(state).champion_version(NAME)


def _holdout(state: Loop, spec: PipelineSpec, version_index: int, tmp_path) -> pd.DataFrame:
    path = DataVersioner.from_settings(state.settings).restore(
        state.trained[version_index].data_md5, tmp_path / "t.parquet"
    )
    return training.time_split(pd.read_parquet(path), spec).holdout


# ---------------------------------------------------------------------------------------------------- what was built


@pytest.mark.slow
def test_nothing_is_written_outside_the_tmp_root(state):
    assert (state.root / "mlruns").is_dir()
    assert (state.root / "mlflow.db").is_file()


@pytest.mark.slow
def test_train_results(state, fast_spec):
    v1, v2 = state.trained
    assert (v1.version, v2.version) == ("1", "2")
    assert list(v1.batches) == state.batches[:1]
    assert list(v2.batches) == state.batches
    assert (v1.n_rows, v2.n_rows) == (3000, 6000)
    assert v1.device == "cpu"
    assert v1.data_md5 != v2.data_md5
    assert set(v1.metrics) == {"pr_auc", "roc_auc", "log_loss"}
    assert v1.metrics["pr_auc"] > 0.1  # positives are ~2 %


@pytest.mark.slow
def test_first_version_is_promoted_to_champion(state):
    decision = state.gated[0]
    assert decision.decision == "promoted"
    assert decision.reason == "first version: no champion yet"
    assert decision.champion_version is None
    (entry,) = state.after_v1
    assert entry["champion"] == "1" and entry["challenger"] is None
    assert entry["versions"][0]["aliases"] == ["champion"]
    assert state.gated_tags[0]["promoted_by"] == "airloop-gate"
    assert state.gated_tags[0]["gate.champion_version"] == ""


@pytest.mark.slow
@pytest.mark.parametrize("index", [0, 1])
def test_lineage_tags_on_the_version(state, fast_spec, index):
    result = state.trained[index]
    tags = _tags(state, result.version)
    assert tags["pipeline"] == NAME
    assert tags["data_md5"] == result.data_md5
    assert tags["git_sha"] == GIT
    assert tags["spec_hash"] == fast_spec.spec_hash
    assert tags["training_batches"] == ",".join(state.batches[: index + 1])
    assert tags["trigger"] == ["manual", "new_data"][index]
    assert tags["device"] == "cpu"
    assert tags["source"] == "unit"
    for key, value in result.metrics.items():
        assert float(tags[f"metric.{key}"]) == pytest.approx(value, abs=1e-6)


@pytest.mark.slow
def test_lineage_tags_on_the_run(state):
    run = _client(state).get_run(state.trained[0].run_id)
    version_tags = _tags(state, "1")
    for key in ("pipeline", "data_md5", "git_sha", "spec_hash", "training_batches", "trigger", "device", "source"):
        assert run.data.tags[key] == version_tags[key], key
    assert run.data.params["n_rows"] == "3000"
    assert "eval_metric" not in run.data.params
    assert run.data.metrics["pr_auc"] == pytest.approx(state.trained[0].metrics["pr_auc"])
    artifacts = {a.path for a in _client(state).list_artifacts(run.info.run_id)}
    assert "feature_importance.png" in artifacts


@pytest.mark.slow
def test_training_data_is_restorable_from_the_lineage(state, tmp_path):
    md5 = _tags(state, "2")["data_md5"]
    df = pd.read_parquet(DataVersioner.from_settings(state.settings).restore(md5, tmp_path / "train.parquet"))
    assert len(df) == 6000
    assert df["event_time"].is_monotonic_increasing


@pytest.mark.slow
def test_gate_on_v2_records_its_decision(state):
    decision = state.gated[1]
    tags = state.gated_tags[1]
    assert decision.champion_version == "1"
    assert tags["gate.decision"] == decision.decision in ("promoted", "rejected")
    assert tags["gate.reason"] == decision.reason
    assert tags["gate.metric"] == "pr_auc"
    assert tags["gate.champion_version"] == "1"
    assert float(tags["gate.challenger_score"]) == pytest.approx(decision.challenger_score, abs=1e-6)
    assert float(tags["gate.champion_score"]) == pytest.approx(decision.champion_score, abs=1e-6)
    assert decision.champion_score is not None
    gain = decision.challenger_score - decision.champion_score
    assert (decision.decision == "promoted") == (gain > 0)
    (entry,) = state.after_v2
    if decision.decision == "promoted":
        assert (entry["champion"], entry["challenger"]) == ("2", None)
    else:
        assert (entry["champion"], entry["challenger"]) == ("1", "2")


@pytest.mark.slow
def test_gate_scores_both_versions_on_the_challengers_holdout(state, fast_spec, tmp_path, cwd):
    decision = state.gated[1]
    holdout = _holdout(state, fast_spec, 1, tmp_path)
    for version, key in (("2", "challenger_score"), ("1", "champion_score")):
        booster = _registry(state).load_booster(NAME, version)
        score = training.evaluate(booster, holdout, list(booster.feature_names), "is_fraud")["pr_auc"]
        assert score == pytest.approx(getattr(decision, key), abs=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("index", [0, 1])
def test_gate_reproduces_the_training_holdout_score(state, index):
    # The holdout rebuilt from the DVC md5 and the registered model give exactly the metric logged at training.
    assert state.gated[index].challenger_score == pytest.approx(state.trained[index].metrics["pr_auc"], abs=1e-9)


@pytest.mark.slow
def test_describe_models_shape(state):
    (entry,) = state.after_v2
    json.dumps(state.after_v2)  # the CLI prints it as JSON
    assert set(entry) == {"pipeline", "champion", "challenger", "versions"}
    assert entry["pipeline"] == NAME
    assert [v["version"] for v in entry["versions"]] == ["1", "2"]
    for v, result in zip(entry["versions"], state.trained, strict=True):
        assert {"version", "aliases", "metrics", "data_md5", "trigger", "gate", "created"} <= set(v)
        assert v["data_md5"] == result.data_md5
        assert v["metrics"] == pytest.approx(result.metrics, abs=1e-6)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", v["created"])
    aliases = {v["version"]: v["aliases"] for v in entry["versions"]}
    assert aliases[entry["champion"]] == ["champion"]
    assert entry["versions"][0]["trigger"] == "manual"
    assert entry["versions"][0]["gate"] == "promoted"


@pytest.mark.slow
def test_describe_unknown_model(state):
    assert _registry(state).describe_models(["nobody"]) == [
        {"pipeline": "nobody", "champion": None, "challenger": None, "versions": []}
    ]


# ------------------------------------------------------------------------------------------ gate, promote, rollback


@pytest.mark.slow
def test_gate_rejects_a_challenger_that_does_not_improve_enough(state, fast_spec, tmp_path, cwd):
    champion = _champion(state)
    other = "1" if champion == "2" else "2"
    data = copy.deepcopy(fast_spec.model_dump(mode="json", by_alias=True))
    data["gate"]["min_improvement"] = 1.0  # no pr_auc gain can reach this
    strict = parse_spec(data)
    decision = gate_and_promote(_registry(state), strict, other, _holdout(state, strict, int(other) - 1, tmp_path))
    assert decision.decision == "rejected"
    assert "must be > 0" in decision.reason or "< required 1.0" in decision.reason
    assert _champion(state) == champion
    assert str(_client(state).get_model_version_by_alias(NAME, "challenger").version) == other
    assert _tags(state, other)["gate.decision"] == "rejected"


@pytest.mark.slow
def test_gating_the_champion_again_keeps_it(state, fast_spec, tmp_path, cwd):
    champion = _champion(state)
    holdout = _holdout(state, fast_spec, int(champion) - 1, tmp_path)
    decision = gate_and_promote(_registry(state), fast_spec, champion, holdout)
    assert (decision.decision, decision.reason) == ("promoted", "already champion")
    assert _champion(state) == champion


@pytest.mark.slow
def test_promote_and_rollback_move_the_champion(state, cwd):
    models = _registry(state)
    champion = _champion(state)
    other = "1" if champion == "2" else "2"
    assert models.promote(NAME, other, actor="unit") == champion
    assert _champion(state) == other
    assert _tags(state, other)["trigger_promotion"] == "manual"
    assert _tags(state, other)["promoted_by"] == "unit"
    assert models.rollback(NAME, actor="unit") == (other, champion)
    assert _champion(state) == champion
    history = json.loads(_client(state).get_registered_model(NAME).tags["champion_history"])
    assert history[-2]["version"] == other and history[-2]["reason"] == "manual promote"
    assert history[-1] == {**history[-1], "version": champion, "previous": other, "reason": f"rollback from v{other}"}


@pytest.mark.slow
def test_promote_and_rollback_history_on_a_fresh_model(state, cwd):
    """A separate registered model with three versions (copies of v1): promote 1, 2, 3, then roll back twice."""
    models = _registry(state)
    c = models.client
    v1 = c.get_model_version(NAME, "1")
    c.create_registered_model("solo")
    for _ in range(3):
        c.create_model_version("solo", v1.source, run_id=v1.run_id)
    with pytest.raises(RegistryError, match="'solo' has no champion to roll back from"):
        models.rollback("solo")
    assert models.promote("solo", "1") is None
    with pytest.raises(RegistryError, match="champion v1 has no earlier champion to roll back to"):
        models.rollback("solo")
    assert models.promote("solo", "2") == "1"
    assert models.promote("solo", "3") == "2"
    history = c.get_registered_model("solo").tags["champion_history"]
    assert models.promote("solo", "3") == "3"  # already champion: a no-op
    assert c.get_registered_model("solo").tags["champion_history"] == history
    assert models.rollback("solo") == ("3", "2")
    assert models.rollback("solo") == ("2", "1")  # further back, not back to 3
    with pytest.raises(RegistryError, match="champion v1 has no earlier champion"):
        models.rollback("solo")
    assert models.champion_version("solo") == "1"


@pytest.mark.slow
def test_new_data_without_a_new_labelled_batch_trains_nothing(state, fast_spec, cwd):
    models = _registry(state)
    champion = _champion(state)
    models.promote(NAME, "2", actor="unit")  # v2 was trained on every labelled batch
    try:
        result = steps.train(fast_spec, state.settings, Lineage(trigger="new_data", git_sha=GIT))
    finally:
        models.promote(NAME, champion, actor="unit")
    assert result == Skipped(reason="no new labelled batch since v2: nothing new to learn")
    assert len(_client(state).search_model_versions(f"name='{NAME}'")) == 2


@pytest.mark.slow
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda models: models.rollback("nobody"), "no registered model 'nobody'"),
        (lambda models: models.promote(NAME, "99"), f"model '{NAME}' has no version 99"),
        (lambda models: models.promote("nobody", "1"), "model 'nobody' has no version 1"),
    ],
    ids=["rollback-unknown-model", "promote-unknown-version", "promote-unknown-model"],
)
def test_registry_errors(state, cwd, call, message):
    with pytest.raises(RegistryError, match=message):
        call(_registry(state))


@pytest.mark.slow
def test_resolve_takes_a_version_number_or_an_alias(state, cwd):
    models = _registry(state)
    champion = _champion(state)
    assert str(models.resolve(NAME, "champion").version) == champion
    mv = models.resolve(NAME, "1")
    assert (mv.name, str(mv.version), mv.run_id) == (NAME, "1", state.trained[0].run_id)
    assert models.resolve(NAME, "2").tags["data_md5"] == state.trained[1].data_md5


@pytest.mark.slow
@pytest.mark.parametrize(("name", "which"), [(NAME, "99"), (NAME, "nobody"), ("nobody", "1"), ("nobody", "champion")])
def test_resolve_names_what_is_unknown(state, cwd, name, which):
    with pytest.raises(RegistryError, match=f"^model '{name}' has no version or alias '{which}'$"):
        _registry(state).resolve(name, which)


def test_resolve_tells_an_unreadable_registry_from_a_missing_version(tmp_path):
    """A store that cannot be opened is not "no such version": MLflow is unreachable, and the message names it."""
    (tmp_path / "a-file").write_text("")  # where the store's directory would have to be
    uri = f"sqlite:///{tmp_path / 'a-file' / 'mlflow.db'}"
    models = Registry(uri)
    with pytest.raises(ServiceUnavailable, match=f"^the model registry \\(MLflow\\) is unreachable at {uri}: ") as err:
        models.resolve(NAME, "1")
    assert len(str(err.value).splitlines()) == 1


# --------------------------------------------------------------------------------------------------------- scoring


@pytest.mark.slow
def test_scoring_writes_predictions_with_the_champion_version(state, fast_spec, cwd):
    champion = _champion(state)
    scored = steps.score(fast_spec, state.settings)
    assert sorted(s.batch_id for s in scored) == sorted(state.batches)
    records = {r.batch_id: r for r in ingest.load_records(state.settings, NAME)}
    for s in scored:
        assert s.model_version == champion
        df = pd.read_parquet(Path(s.uri.removeprefix("file://")))
        assert list(df.columns) == ["transaction_id", "event_time", "score", "model_name", "model_version", "scored_at"]
        assert len(df) == s.rows == records[s.batch_id].n_valid
        assert (df["model_version"] == champion).all() and (df["model_name"] == NAME).all()
        assert df["score"].between(0, 1).all()
        assert not math.isnan(df["score"].sum())
    assert steps.score(fast_spec, state.settings) == []  # every batch is scored once


@pytest.mark.slow
def test_scoring_without_a_champion_does_nothing(state, fast_spec, cwd):
    data = fast_spec.model_dump(mode="json", by_alias=True)
    data["name"] = "unregistered_pipeline"
    assert steps.score(parse_spec(data), state.settings) == []


# -------------------------------------------------------------------------------- the CLI against this store


@pytest.mark.slow
def test_cli_models_json(state, cli_main):
    result = cli_main(state.root, "models", NAME, "--format", "json")
    assert result.rc == 0, result
    assert json.loads(result.stdout) == _registry(state).describe_models([NAME])


@pytest.mark.slow
def test_cli_models_table(state, cli_main):
    result = cli_main(state.root, "models")
    assert result.rc == 0, result
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{NAME}: "))  # one block per pipeline
    assert lines[start].startswith(f"{NAME}: champion={_champion(state)} ")
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("  "):
            break
        rows.append(line.split())
    assert [r[0] for r in rows] == ["1", "2"]
    assert rows[0][5] == state.trained[0].data_md5[:12]


@pytest.mark.slow
@pytest.mark.parametrize("which", ["champion", "1", "2"])
def test_cli_data_pull_restores_the_training_bytes(state, cli_main, tmp_path, which):
    version = _champion(state) if which == "champion" else which
    md5 = _tags(state, version)["data_md5"]
    result = cli_main(state.root, "data", "pull", f"{NAME}@{which}", "--out", str(tmp_path))
    assert result.rc == 0, result
    path = Path(result.stdout.strip())
    assert path == tmp_path / f"{NAME}-v{version}-{md5}.parquet"
    assert hashlib.md5(path.read_bytes()).hexdigest() == md5


@pytest.mark.slow
def test_cli_data_pull_json_names_version_md5_and_path(state, cli_main, tmp_path):
    version = _champion(state)
    md5 = _tags(state, version)["data_md5"]
    result = cli_main(state.root, "data", "pull", f"{NAME}@champion", "--out", str(tmp_path), "--format", "json")
    assert result.rc == 0, result
    path = str(tmp_path / f"{NAME}-v{version}-{md5}.parquet")
    assert json.loads(result.stdout) == {"pipeline": NAME, "version": version, "data_md5": md5, "path": path}


@pytest.mark.slow
def test_cli_promote_the_champion_is_a_no_op(state, cli_main):
    champion = _champion(state)
    result = cli_main(state.root, "promote", NAME, champion)
    assert (result.rc, result.stdout.strip()) == (0, f"{NAME}: v{champion} is already champion")
    assert _champion(state) == champion


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("data", "pull", f"{NAME}@99", "--out", "x"), f"airloop: model '{NAME}' has no version or alias '99'"),
        (("data", "pull", NAME, "--out", "x"), f"airloop: expected NAME@ALIAS or NAME@VERSION, got '{NAME}'"),
        (("promote", NAME, "99"), f"airloop: model '{NAME}' has no version 99"),
        (("rollback", "nobody"), "airloop: no registered model 'nobody'"),
    ],
    ids=["pull-unknown-version", "pull-without-alias", "promote-unknown-version", "rollback-unknown-model"],
)
def test_cli_registry_mistakes_exit_2_with_one_line(state, cli_main, args, message):
    result = cli_main(state.root, *args)
    assert result.rc == 2
    assert result.stdout == ""
    assert result.stderr.strip() == message


# ------------------------------------------------------------------------------------------------------ pure helpers


def test_git_sha_outside_a_checkout(tmp_path):
    assert steps.git_sha(tmp_path) == "unknown"


def test_git_sha_of_this_checkout():
    assert re.fullmatch(r"[0-9a-f]{40}", steps.git_sha(Path(__file__).parent))


def test_experiment_name():
    assert experiment_name(NAME) == "airloop-fraud_detection"


def test_a_registry_is_built_from_settings_without_touching_mlflow(settings_for, tmp_path):
    models = Registry.from_settings(settings_for(tmp_path))
    assert models.tracking_uri == settings_for(tmp_path).tracking_uri
    assert models._client is None  # the MLflow client comes on first use
    assert not (tmp_path / "mlflow.db").exists()


def test_gate_decision_is_frozen_keyword_only_and_tags_as_recorded():
    decision = GateDecision(
        version="2",
        decision="rejected",
        reason="r",
        metric="pr_auc",
        challenger_score=0.5,
        champion_version="1",
        champion_score=0.25,
    )
    with pytest.raises(TypeError):
        GateDecision("2", "rejected", "r", "pr_auc", 0.5, "1", 0.25)  # type: ignore[misc]
    with pytest.raises(AttributeError):
        decision.decision = "promoted"  # type: ignore[misc]
    assert list(to_xcom(decision)) == [
        "version",
        "decision",
        "reason",
        "metric",
        "challenger_score",
        "champion_version",
        "champion_score",
    ]
    assert decision_tags(decision) == {
        "gate.decision": "rejected",
        "gate.reason": "r",
        "gate.metric": "pr_auc",
        "gate.challenger_score": "0.500000",
        "gate.champion_version": "1",
        "gate.champion_score": "0.250000",
    }
    first = GateDecision(**{**to_xcom(decision), "champion_version": None, "champion_score": None})
    assert (decision_tags(first)["gate.champion_version"], decision_tags(first)["gate.champion_score"]) == ("", "")
