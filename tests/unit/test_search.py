"""Model search: spec rules, the trial lists, the winner rule, and a whole search through the library on a
local MLflow store — one parent run, a child run per trial, the best by validation metric registered as it was
trained, then gated; retried steps reuse what an earlier try finished."""

from __future__ import annotations

import copy
import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from airloop import steps
from airloop.catalog import parse_spec
from airloop.contracts import (
    Lineage,
    PreparedSearch,
    SearchRun,
    Skipped,
    Trained,
    Trial,
    TrialJob,
    TrialResult,
    from_xcom,
    to_xcom,
)
from airloop.data.datagen import generate
from airloop.errors import AirloopError, SpecError
from airloop.model import search, search_runs, training
from airloop.model.registry import Registry

pytestmark = pytest.mark.unit

RETAIL = Path(__file__).resolve().parents[2] / "include" / "pipelines" / "retail_demand.yaml"
GRID = {"strategy": "grid", "space": {"max_depth": [2, 5], "eta": [0.1, 0.3]}}


def retail(search_conf: dict[str, Any] | None, **model: Any) -> Any:
    data = yaml.safe_load(RETAIL.read_text())
    data["model"].update(device="cpu", num_boost_round=60, early_stopping_rounds=10, nthread=1, **model)
    data["model"]["search"] = copy.deepcopy(search_conf)
    data["training"]["min_rows"] = 100
    return parse_spec(data, "retail_demand.yaml")


# ------------------------------------------------------------------------------------------------- spec rules


@pytest.mark.parametrize(
    ("conf", "field", "words"),
    [
        ({"space": {}}, "model.search.space", "at least one"),
        ({"space": {"max_depth": []}}, "model.search.space", "lists no values"),
        ({"space": {"objective": ["reg:absoluteerror"]}}, "model.search.space", "cannot be searched"),
        ({"space": {"device": ["cuda"]}}, "model.search.space", "cannot be searched"),
        ({"strategy": "grid", "space": {"eta": {"low": 0.1, "high": 0.3}}}, "model.search.space", "grid search"),
        ({"space": {"eta": {"low": 0.3, "high": 0.1}}}, "low", "below high"),
        ({"space": {"eta": {"low": 0.0, "high": 0.3, "log": True}}}, "low", "log range"),
        ({"strategy": "grid", "max_trials": 3, "space": GRID["space"]}, "model.search.space", "4 combinations"),
        ({"trials": 20, "max_trials": 10, "space": {"eta": [0.1]}}, "model.search.trials", "more than max_trials"),
        ({"metric": "pr_auc", "space": {"eta": [0.1]}}, "model.search.metric", "binary metric"),
        ({"space": {"eta": [0.1]}, "strategy": "bayes"}, "model.search.strategy", "grid"),
    ],
)
def test_bad_search_specs_name_the_field(conf, field, words):
    with pytest.raises(SpecError) as err:
        retail(conf)
    assert field in str(err.value) and words in str(err.value), str(err.value)


def test_spec_hash_ignores_an_absent_search():
    """Specs that do not search keep the hash they had before search existed (lineage stays comparable)."""
    data = yaml.safe_load(RETAIL.read_text())
    data["model"].pop("search")
    without = parse_spec(copy.deepcopy(data), "retail_demand.yaml")
    data["model"]["search"] = None
    assert parse_spec(data, "retail_demand.yaml").spec_hash == without.spec_hash
    assert retail(GRID).spec_hash != retail(None).spec_hash


def test_the_shipped_retail_spec_searches():
    from airloop.catalog import load_spec

    spec = load_spec(RETAIL)
    assert spec.model.search is not None and len(search.trials(spec)) == spec.model.search.trials


# ----------------------------------------------------------------------------------------------------- trials


def test_grid_is_every_combination_in_spec_order():
    assert [t.params for t in search.trials(retail(GRID))] == [
        {"max_depth": 2, "eta": 0.1},
        {"max_depth": 2, "eta": 0.3},
        {"max_depth": 5, "eta": 0.1},
        {"max_depth": 5, "eta": 0.3},
    ]
    assert [t.index for t in search.trials(retail(GRID))] == [0, 1, 2, 3]


def test_no_search_is_one_trial_with_the_spec_params():
    assert search.trials(retail(None)) == [Trial(index=0, params={})]


RANDOM = {
    "strategy": "random",
    "trials": 12,
    "space": {
        "max_depth": [3, 4, 5, 6],
        "eta": {"low": 0.01, "high": 0.3, "log": True},
        "min_child_weight": {"low": 1, "high": 10, "integer": True},
        "subsample": {"low": 0.5, "high": 1.0},
    },
}


def test_random_draws_are_seeded_distinct_and_in_range():
    first = [t.params for t in search.trials(retail(RANDOM))]
    assert first == [t.params for t in search.trials(retail(RANDOM))], "same seed, same trials"
    assert first != [t.params for t in search.trials(retail(RANDOM, seed=7))], "the seed changes them"
    assert len(first) == 12 and len({repr(sorted(p.items())) for p in first}) == 12
    for p in first:
        assert p["max_depth"] in (3, 4, 5, 6)
        assert 0.01 <= p["eta"] <= 0.3 and 0.5 <= p["subsample"] <= 1.0
        assert isinstance(p["min_child_weight"], int) and 1 <= p["min_child_weight"] <= 10
    # log-uniform: about half the draws fall below the geometric mean (0.055), far more than a uniform draw's 16 %
    draws = [t.params["eta"] for t in search.trials(retail({**RANDOM, "trials": 200, "max_trials": 256}))]
    assert 0.3 < np.mean(np.array(draws) < math.sqrt(0.01 * 0.3)) < 0.7


def test_random_over_a_small_list_space_tries_each_combination_once():
    conf = {"strategy": "random", "trials": 10, "space": {"max_depth": [3, 4], "eta": [0.1, 0.2]}}
    params = [t.params for t in search.trials(retail(conf))]
    assert len(params) == 4 and len({repr(sorted(p.items())) for p in params}) == 4


# ------------------------------------------------------------------------------------------------- winner rule


def _r(index: int, score: float | None, metric: str = "rmse") -> TrialResult:
    valid = {} if score is None else {metric: score}
    return TrialResult(
        index=index, run_id=f"run-{index}", params={}, valid=valid, best_iteration=1, device="cpu", seconds=0.1
    )


def test_best_follows_the_metric_direction_and_breaks_ties_by_index():
    assert search.best([_r(0, 5.0), _r(1, 3.0), _r(2, 4.0)], "rmse").index == 1
    assert search.best([_r(0, 0.5, "r2"), _r(1, 0.9, "r2"), _r(2, 0.7, "r2")], "r2").index == 1
    assert search.best([_r(0, 3.0), _r(1, 2.0), _r(2, 2.0)], "rmse").index == 1


def test_a_trial_without_a_finite_score_cannot_win():
    assert search.best([_r(0, float("nan")), _r(1, 9.0)], "rmse").index == 1
    assert search.best([_r(0, None), _r(1, 9.0)], "rmse").index == 1
    with pytest.raises(AirloopError, match="no search trial has a finite validation rmse"):
        search.best([_r(0, float("nan")), _r(1, None)], "rmse")


def test_selection_metric_defaults_to_the_gate_metric():
    assert search.selection_metric(retail(GRID)) == "rmse"
    assert search.selection_metric(retail({**GRID, "metric": "mae"})) == "mae"


RUN = SearchRun(
    data_md5="abc", batches=("b1",), n_rows=10, parent_run_id="r", lineage=Lineage(trigger="drift"), metric="rmse"
)


def test_jobs_round_trip_through_xcom():
    """One job per trial, each with the search's shared facts; as JSON and back, then gathered again."""
    prepared = PreparedSearch(run=RUN, trials=(Trial(index=0, params={"eta": 0.1}), Trial(index=1, params={})))
    jobs = prepared.jobs()
    assert jobs == [TrialJob(run=RUN, trial=t) for t in prepared.trials]
    wire = [to_xcom(j) for j in jobs]
    assert wire[0] == {
        "run": {
            "data_md5": "abc",
            "batches": ["b1"],
            "n_rows": 10,
            "parent_run_id": "r",
            "lineage": {"trigger": "drift", "git_sha": "unknown", "extra_tags": {}},
            "metric": "rmse",
        },
        "trial": {"index": 0, "params": {"eta": 0.1}},
    }
    assert PreparedSearch.from_jobs([from_xcom(TrialJob, j) for j in wire]) == prepared
    assert prepared.searched_keys() == ["eta"]
    with pytest.raises(AirloopError, match="without trials"):
        PreparedSearch.from_jobs([])


# ------------------------------------------------------------------------------------- a search through MLflow


@pytest.fixture(scope="module")
def searched(tmp_path_factory, settings_for):
    """One labelled retail batch curated, then a grid search of 4 trials: prepare → fit × 4 → select → gate."""
    root = tmp_path_factory.mktemp("search")
    settings = settings_for(root)
    spec = retail(GRID)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # a sqlite MLflow store keeps artifacts under ./mlruns
        steps.land(spec, settings, generate("retail", rows=1500, seed=3, labels=True), "b1.parquet")
        for uri in steps.discover(spec, settings):
            assert steps.process(spec, settings, uri).status == "curated"
        prepared = steps.prepare_search(spec, settings, Lineage(trigger="manual"), search_key="dag/run/prepare")
        again = steps.prepare_search(spec, settings, Lineage(trigger="manual"), search_key="dag/run/prepare")
        assert isinstance(prepared, PreparedSearch) and isinstance(again, PreparedSearch)
        jobs = prepared.jobs()
        results = [steps.fit_trial(spec, settings, j) for j in jobs]
        retried = steps.fit_trial(spec, settings, jobs[2])
        chosen = steps.select_trial(spec, settings, PreparedSearch.from_jobs(jobs), results, run_key="dag/run/select")
        chosen_again = steps.select_trial(spec, settings, prepared, results, run_key="dag/run/select")
        gated = steps.gate(spec, settings, version=chosen.version, data_md5=chosen.data_md5)
        yield {
            "spec": spec,
            "settings": settings,
            "prepared": prepared,
            "again": again,
            "results": results,
            "retried": retried,
            "chosen": chosen,
            "chosen_again": chosen_again,
            "gated": gated,
        }


def _children(s) -> list[Any]:
    c = Registry.from_settings(s["settings"]).client
    parent = c.get_run(s["prepared"].run.parent_run_id)
    runs = c.search_runs([parent.info.experiment_id], f"tags.`{search_runs.PARENT}` = '{parent.info.run_id}'")
    return sorted(runs, key=lambda r: int(r.data.tags[search_runs.TRIAL]))


def test_each_trial_is_a_child_run_scored_on_validation_only(searched):
    children = _children(searched)
    assert [int(r.data.tags[search_runs.TRIAL]) for r in children] == [0, 1, 2, 3], "no duplicate on retry"
    assert all(r.info.status == "FINISHED" for r in children)
    for run, trial in zip(children, searched["prepared"].trials, strict=True):
        assert {k: run.data.params[k] for k in trial.params} == {k: str(v) for k, v in trial.params.items()}
        assert "valid_rmse" in run.data.metrics and "valid_mae" in run.data.metrics
        assert not {"rmse", "mae", "r2"} & set(run.data.metrics), "a trial must never see the holdout"
        assert run.data.tags["data_md5"] == searched["prepared"].run.data_md5, "every trial, the same data"
        assert run.info.run_name == f"trial-{trial.index:02d}"


def test_the_best_validation_score_wins_and_is_registered_as_trained(searched):
    results, chosen = searched["results"], searched["chosen"]
    assert isinstance(chosen, Trained) and chosen.search is not None
    scores = [r.valid["rmse"] for r in results]
    assert chosen.search.best_index == int(np.argmin(scores))
    assert chosen.search.best_score == min(scores)
    winner = results[chosen.search.best_index]
    assert chosen.run_id == searched["prepared"].run.parent_run_id, "the parent run holds the registered model"

    from airloop.data.features import feature_columns

    registered = Registry.from_settings(searched["settings"]).load_booster("retail_demand", chosen.version)
    trained = search_runs.load_trial_booster(Registry.from_settings(searched["settings"]), winner.run_id)
    split = steps._restored_split(searched["spec"], searched["settings"], chosen.data_md5)
    features = feature_columns(searched["spec"])
    got = training.predict(registered, split.holdout, features)
    want = training.predict(trained, split.holdout, features)
    np.testing.assert_array_equal(got, want)  # the winner itself, not a refit
    holdout_rmse = float(np.sqrt(np.mean((want - split.holdout["units_sold"].to_numpy(dtype=float)) ** 2)))
    assert chosen.metrics["rmse"] == pytest.approx(holdout_rmse)
    valid = training.evaluate(trained, split.valid, features, "units_sold")
    assert winner.valid["rmse"] == pytest.approx(valid["rmse"])  # the score it won with is the real one


def test_the_parent_run_carries_lineage_and_every_trial_score(searched):
    registry = Registry.from_settings(searched["settings"])
    c = registry.client
    chosen = searched["chosen"]
    run = c.get_run(chosen.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["data_md5"] == chosen.data_md5 and run.data.tags["trigger"] == "manual"
    assert run.data.tags["search.best_run_id"] == chosen.search.best_run_id
    assert run.data.params["search.strategy"] == "grid" and run.data.params["search.trials"] == "4"
    assert run.data.params["search_trials"] == "4" and run.data.params["search_best_index"] == str(
        chosen.search.best_index
    )
    history = c.get_metric_history(run.info.run_id, "search_valid_rmse")
    assert sorted(m.step for m in history) == [0, 1, 2, 3]
    mv = c.get_model_version("retail_demand", chosen.version)
    assert mv.run_id == run.info.run_id and mv.tags["search.best_run_id"] == chosen.search.best_run_id
    assert mv.tags["search.trials"] == "4"
    winner = searched["results"][chosen.search.best_index]
    assert run.data.params["max_depth"] == str(winner.params["max_depth"])
    (version,) = registry.describe_models(["retail_demand"])[0]["versions"]
    assert version["search_trials"] == 4 and version["search_best_run_id"] == winner.run_id


def test_retries_reuse_what_an_earlier_try_finished(searched):
    assert searched["again"].run.parent_run_id == searched["prepared"].run.parent_run_id, "an open search resumes"
    assert searched["retried"] == searched["results"][2], "a finished trial is not trained again"
    again = searched["chosen_again"]
    assert again.version == searched["chosen"].version and again.reused
    versions = Registry.from_settings(searched["settings"]).client.search_model_versions("name='retail_demand'")
    assert len(versions) == 1


def test_the_winner_goes_through_the_gate(searched):
    gated = searched["gated"]
    assert gated.decision == "promoted" and gated.metric == "rmse"
    assert gated.challenger_score == pytest.approx(searched["chosen"].metrics["rmse"])


def test_train_runs_the_search_in_process(tmp_path, settings_for, monkeypatch):
    """`airloop`'s own path (no scheduler): `steps.train` runs prepare → trials → select one after another."""
    settings = settings_for(tmp_path)
    monkeypatch.chdir(tmp_path)
    spec = retail({"strategy": "random", "trials": 2, "space": {"max_depth": [2, 3, 4]}})
    steps.land(spec, settings, generate("retail", rows=800, seed=4, labels=True), "b1.parquet")
    for uri in steps.discover(spec, settings):
        steps.process(spec, settings, uri)
    out = steps.train(spec, settings, Lineage(trigger="manual"))
    assert isinstance(out, Trained) and out.search is not None
    assert out.version == "1" and out.search.trials == 2
    assert out.search.params["max_depth"] in (2, 3, 4)
    skipped = steps.train(spec, settings, Lineage(trigger="drift"))
    assert isinstance(skipped, Skipped) and "nothing new to learn" in skipped.reason


def test_train_with_a_search_checks_its_run_key_once(tmp_path, settings_for, monkeypatch):
    """The in-process search asks the registry for an earlier try's version once, not again at selection."""
    settings = settings_for(tmp_path)
    monkeypatch.chdir(tmp_path)
    spec = retail({"strategy": "random", "trials": 2, "space": {"max_depth": [2, 3]}})
    steps.land(spec, settings, generate("retail", rows=800, seed=5, labels=True), "b1.parquet")
    for uri in steps.discover(spec, settings):
        steps.process(spec, settings, uri)
    asked: list[str] = []
    original = Registry.version_for_run_key

    def counting(self, name, run_key):
        asked.append(run_key)
        return original(self, name, run_key)

    monkeypatch.setattr(Registry, "version_for_run_key", counting)
    out = steps.train(spec, settings, Lineage(trigger="manual"), run_key="dag/run/train")
    assert isinstance(out, Trained) and not out.reused and asked == ["dag/run/train"]
    again = steps.train(spec, settings, Lineage(trigger="manual"), run_key="dag/run/train")
    assert isinstance(again, Trained) and again.reused and again.version == out.version
    assert again.batches == out.batches and again.data_md5 == out.data_md5


def test_a_search_refuses_a_frame_it_cannot_score(searched):
    """All trials without a finite validation score: select fails loudly and registers nothing."""
    results = [dataclasses.replace(r, valid={"rmse": float("nan")}) for r in searched["results"]]
    with pytest.raises(AirloopError, match="no search trial"):
        steps.select_trial(searched["spec"], searched["settings"], searched["prepared"], results)
    registry = Registry.from_settings(searched["settings"])
    assert len(registry.client.search_model_versions("name='retail_demand'")) == 1
