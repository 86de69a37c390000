"""The spec takes any tabular source with a label column, not only the shipped fraud data.

Three data sets the framework has never seen are made up here with numpy (no generator of the project's): a
multiclass one without a time column (string labels), a regression one with a time column, a binary one without a
time column (integer ids, a bool feature). Each runs the whole loop through the library: validation, the feature
step, train → register, gate, a second batch with a retrain and a gate that must respect the metric's direction,
scoring and drift. Spec-level tests cover the metric/task rules, the random split and the metric directions.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, get_args

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, log_loss, mean_absolute_error, mean_squared_error, r2_score

from airloop import metrics, steps
from airloop.catalog import parse_spec
from airloop.contracts import GateDecision, Lineage, Trained
from airloop.data.ingest import BatchRecord
from airloop.data.validation import validate_frame
from airloop.errors import AirloopError, SpecError
from airloop.metrics import DEFAULT_METRIC, KEY_METRICS, METRICS, TASK_METRICS, Metric, improvement, metric_direction
from airloop.model import gate, training
from airloop.model.registry import CHALLENGER, Registry
from airloop.monitor import checks
from airloop.settings import Settings
from airloop.spec import PipelineSpec
from airloop.store.versioning import DataVersioner

pytestmark = pytest.mark.unit

FAST_MODEL = {"device": "cpu", "num_boost_round": 30, "early_stopping_rounds": 5, "nthread": 1, "seed": 7}

# ------------------------------------------------------------------------------------------- made-up data sets

SPECIES = ["alpha", "beta", "gamma"]


def plants(rows: int, seed: int, *, shift: float = 0.0, labels: bool = True) -> pd.DataFrame:
    """Three plant species told apart by two lengths and the soil they grow in; no time column at all."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 3, rows)
    soil_p = np.array([[0.7, 0.2, 0.1], [0.2, 0.6, 0.2], [0.1, 0.2, 0.7]])[kind]
    soil = np.array(["clay", "sand", "loam"])[(soil_p.cumsum(axis=1) > rng.random((rows, 1))).argmax(axis=1)]
    df = pd.DataFrame(
        {
            "plant_id": [f"p{seed}-{i:05d}" for i in range(rows)],
            "petal_len": np.array([1.5, 4.3, 5.6])[kind] + rng.normal(0, 0.5, rows) + shift,
            "petal_wid": np.array([0.3, 1.3, 2.0])[kind] + rng.normal(0, 0.25, rows),
            "soil": soil,
        }
    )
    if labels:
        df["species"] = np.array(SPECIES)[kind]
    return df


def sales(rows: int, seed: int, *, start: str = "2026-03-01", shift: float = 1.0, labels: bool = True) -> pd.DataFrame:
    """Units sold per sale from price, promotion and store type, over time."""
    rng = np.random.default_rng(seed)
    price = rng.uniform(1, 20, rows) * shift
    promo = rng.random(rows) < 0.3
    store = rng.choice(["mall", "street", "online"], rows)
    effect = pd.Series(store).map({"mall": 8.0, "street": 0.0, "online": 4.0}).to_numpy()
    df = pd.DataFrame(
        {
            "sale_id": [f"s{seed}-{i:05d}" for i in range(rows)],
            "day": pd.Timestamp(start, tz="UTC") + pd.to_timedelta(rng.integers(0, 30 * 24, rows), unit="h"),
            "price": price,
            "promo": promo,
            "store_type": store,
        }
    )
    if labels:
        df["units_sold"] = np.clip(60 - 2.5 * price + 12 * promo + effect + rng.normal(0, 2, rows), 0, None)
    return df


def customers(rows: int, seed: int, *, first_id: int = 0, shift: float = 1.0, labels: bool = True) -> pd.DataFrame:
    """Customers who churn more on a short tenure and a high fee; integer ids, no time column."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, rows)
    fee = rng.uniform(10, 120, rows) * shift
    plan = rng.choice(["basic", "plus", "pro"], rows)
    df = pd.DataFrame(
        {
            "customer_id": np.arange(first_id, first_id + rows),
            "tenure_months": tenure,
            "monthly_fee": fee,
            "plan": plan,
            "autopay": rng.random(rows) < 0.5,
        }
    )
    if labels:
        logit = -1.0 - 0.06 * tenure + 0.03 * fee - 0.8 * df["autopay"].to_numpy()
        df["churned"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return df


def _spec(name: str, schema: dict, label: dict, features: list[dict], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "storage": {"landing": f"landing/{name}"},
        "schema": schema,
        "label": label,
        "features": features,
        "model": dict(FAST_MODEL),
        "training": {"min_rows": 100, "retrain_on_new_data": True},
        **extra,
    }


def plant_spec() -> dict[str, Any]:
    """Multiclass, no time column, no gate section (the task's default metric, mlogloss, is filled in)."""
    return _spec(
        "plant_species",
        {
            "id_column": "plant_id",
            "columns": {
                "plant_id": {"dtype": "string", "unique": True},
                "petal_len": {"dtype": "float", "min": -5, "max": 50},
                "petal_wid": {"dtype": "float", "min": -5, "max": 50},
                "soil": {"dtype": "category", "domain": ["clay", "sand", "loam"]},
                "species": {"dtype": "string", "required": False},
            },
        },
        {"column": "species", "task": "multiclass"},
        [
            {"name": "petal_len", "transform": "identity", "column": "petal_len"},
            {"name": "petal_wid", "transform": "identity", "column": "petal_wid"},
            {"name": "soil", "transform": "one_hot", "column": "soil"},
        ],
        drift={"drift_share": 0.2},
    )


def sales_spec() -> dict[str, Any]:
    """Regression with a time column, with the gate and performance sections a regression pipeline writes."""
    return _spec(
        "store_sales",
        {
            "id_column": "sale_id",
            "time_column": "day",
            "columns": {
                "sale_id": {"dtype": "string", "unique": True},
                "day": {"dtype": "datetime"},
                "price": {"dtype": "float", "min": 0, "max": 1000},
                "promo": {"dtype": "bool"},
                "store_type": {"dtype": "category", "domain": ["mall", "street", "online"]},
                "units_sold": {"dtype": "float", "min": 0, "required": False},
            },
        },
        {"column": "units_sold", "task": "regression"},
        [
            {"name": "log_price", "transform": "log1p", "column": "price"},
            {"name": "promo", "transform": "identity", "column": "promo"},
            {"name": "store", "transform": "one_hot", "column": "store_type"},
        ],
        gate={"metric": "rmse", "min_improvement": 0.0},
        performance={"metric": "rmse", "max_drop": 5.0},
        drift={"drift_share": 0.2},
    )


def churn_spec() -> dict[str, Any]:
    """Binary without a time column, integer ids, an unbounded int label (validation adds the 0/1 check)."""
    return _spec(
        "churn_risk",
        {
            "id_column": "customer_id",
            "columns": {
                "customer_id": {"dtype": "int", "unique": True},
                "tenure_months": {"dtype": "int", "min": 0, "max": 600},
                "monthly_fee": {"dtype": "float", "min": 0, "max": 10000},
                "plan": {"dtype": "category", "domain": ["basic", "plus", "pro"]},
                "autopay": {"dtype": "bool"},
                "churned": {"dtype": "int", "required": False},
            },
        },
        {"column": "churned", "task": "binary"},
        [
            {"name": "tenure_months", "transform": "identity", "column": "tenure_months"},
            {"name": "log_fee", "transform": "log1p", "column": "monthly_fee"},
            {"name": "plan", "transform": "one_hot", "column": "plan"},
            {"name": "autopay", "transform": "identity", "column": "autopay"},
        ],
        gate={"metric": "roc_auc"},
        drift={"drift_share": 0.15},  # one shifted feature of six
    )


@dataclass
class Case:
    """One made-up data set: its spec, how to make batches, and the column a strong shift moves."""

    name: str
    spec: dict[str, Any]
    make: Any  # (rows, seed, **kw) -> DataFrame
    first: dict[str, Any]
    second: dict[str, Any]
    unlabelled: dict[str, Any]
    shifted: dict[str, Any]
    shifted_feature: str


CASES = {
    "multiclass_no_time": Case(
        "plant_species",
        plant_spec(),
        plants,
        {"seed": 1},
        {"seed": 2},
        {"seed": 3, "labels": False},
        {"seed": 4, "labels": False, "shift": 6.0},
        "petal_len",
    ),
    "regression_with_time": Case(
        "store_sales",
        sales_spec(),
        sales,
        {"seed": 1, "start": "2026-03-01"},
        {"seed": 2, "start": "2026-04-01"},
        {"seed": 3, "start": "2026-05-01", "labels": False},
        {"seed": 4, "start": "2026-05-15", "labels": False, "shift": 4.0},
        "log_price",
    ),
    "binary_no_time": Case(
        "churn_risk",
        churn_spec(),
        customers,
        {"seed": 1, "first_id": 0},
        {"seed": 2, "first_id": 10_000},
        {"seed": 3, "first_id": 20_000, "labels": False},
        {"seed": 4, "first_id": 30_000, "labels": False, "shift": 8.0},
        "log_fee",
    ),
}
ROWS = 1200


@dataclass
class World:
    case: Case
    spec: PipelineSpec
    settings: Settings
    validated: list[Any]
    batches: dict[str, BatchRecord]  # steps.process results by role
    trained: list[Trained]
    gated: list[GateDecision]
    tags: list[dict[str, str]]
    scored: dict[str, pd.DataFrame]  # predictions by role
    drift: dict[str, dict[str, Any]]  # drift checks by role


@pytest.fixture(scope="module", params=list(CASES), ids=list(CASES))
def world(request, tmp_path_factory, settings_for) -> World:
    case = CASES[request.param]
    spec = parse_spec(copy.deepcopy(case.spec), f"{case.name}.yaml")
    root = tmp_path_factory.mktemp(case.name)
    settings = settings_for(root)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # MLflow puts a sqlite store's artifacts under ./mlruns
        frames = {role: case.make(ROWS, **getattr(case, role)) for role in ("first", "second", "unlabelled")}
        validated = [validate_frame(frames["first"], spec, require_label=True).report]
        batches, trained, gated, tags = {}, [], [], []
        for role in ("first", "second"):
            uri = steps.land(spec, settings, frames[role], f"{role}.parquet")
            batches[role] = steps.process(spec, settings, uri)
            result = steps.train(spec, settings, Lineage(trigger="manual"))
            assert isinstance(result, Trained), result
            trained.append(result)
            gated.append(steps.gate(spec, settings, version=result.version, data_md5=result.data_md5))
            tags.append(Registry.from_settings(settings).client.get_model_version(case.name, result.version).tags)
        for role in ("unlabelled", "shifted"):
            df = frames[role] if role in frames else case.make(ROWS, **case.shifted)
            batches[role] = steps.process(spec, settings, steps.land(spec, settings, df, f"{role}.parquet"))
        by_batch = {b.batch_id: role for role, b in batches.items()}
        scored = {by_batch[s.batch_id]: pd.read_parquet(s.uri) for s in steps.score(spec, settings)}
        found = checks.check_pending(spec, settings, DataVersioner.from_settings(settings))
        drift = {by_batch[c["batch_id"]]: c for c in found}
        yield World(case, spec, settings, validated, batches, trained, gated, tags, scored, drift)


# ------------------------------------------------------------------------------------------- the loop, per data set


@pytest.mark.slow
def test_batches_validate_and_are_curated(world):
    assert world.validated[0].valid, world.validated[0].summary()
    for role, batch in world.batches.items():
        assert batch.status == "curated", (role, batch.reason)
        assert batch.n_valid == ROWS
    assert world.batches["first"].has_labels and not world.batches["unlabelled"].has_labels
    if world.spec.schema.time_column is None:
        assert world.batches["first"].time_min is None


@pytest.mark.slow
def test_train_registers_task_metrics(world):
    task = world.spec.label.task
    v1, v2 = world.trained
    assert (v1.version, v2.version) == ("1", "2")
    assert set(v1.metrics) == set(TASK_METRICS[task])
    for result, tags in zip(world.trained, world.tags, strict=True):
        assert tags["task"] == task
        for name in TASK_METRICS[task]:
            assert float(tags[f"metric.{name}"]) == pytest.approx(result.metrics[name], abs=1e-6)
        assert not {f"metric.{m}" for m in METRICS if m not in TASK_METRICS[task]} & set(tags)
    m = v1.metrics
    if task == "multiclass":
        assert m["accuracy"] > 0.8 and m["macro_f1"] > 0.8 and m["mlogloss"] < 0.6
        assert tags["classes"] == '["alpha", "beta", "gamma"]', "learned from the data, sorted"
    elif task == "regression":
        assert m["r2"] > 0.8 and m["rmse"] < m["mae"] * 2
    else:
        assert m["roc_auc"] > 0.7


@pytest.mark.slow
def test_first_version_is_promoted_with_the_gate_metric(world):
    first = world.gated[0]
    assert first.decision == "promoted" and first.champion_version is None
    assert first.metric == world.spec.gate.metric
    assert world.tags[0]["gate.metric"] == world.spec.gate.metric
    if world.case.name == "plant_species":
        assert world.spec.gate.metric == "mlogloss", "no gate section: the task's default"


@pytest.mark.slow
def test_retrain_gate_respects_the_metric_direction(world):
    second = world.gated[1]
    metric = world.spec.gate.metric
    assert second.champion_version == "1" and second.metric == metric and second.champion_score is not None
    gain = improvement(metric, second.challenger_score, second.champion_score)
    better = second.challenger_score < second.champion_score
    if metric_direction(metric) == "maximize":
        better = second.challenger_score > second.champion_score
    assert (second.decision == "promoted") == (better and gain >= world.spec.gate.min_improvement)
    champion = Registry.from_settings(world.settings).champion_version(world.case.name)
    assert champion == ("2" if second.decision == "promoted" else "1")


@pytest.mark.slow
def test_scoring_columns_follow_the_task(world):
    task, schema = world.spec.label.task, world.spec.schema
    keys = [schema.id_column] + ([schema.time_column] if schema.time_column else [])
    preds = world.scored["unlabelled"]
    assert len(preds) == ROWS
    cols = list(preds.columns)
    assert cols[: len(keys)] == keys
    assert {"score", "model_name", "model_version", "scored_at"} <= set(cols)
    assert set(preds["model_version"]) == {Registry.from_settings(world.settings).champion_version(world.case.name)}
    if task == "multiclass":
        proba = [f"proba_{c}" for c in SPECIES]
        assert cols[len(keys) : len(keys) + 5] == ["prediction", "score", *proba]
        assert set(preds["prediction"]) <= set(SPECIES)
        np.testing.assert_allclose(preds[proba].sum(axis=1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(preds["score"], preds[proba].max(axis=1))
        assert (preds["prediction"] == preds[proba].idxmax(axis=1).str.removeprefix("proba_")).all()
    elif task == "regression":
        assert "prediction" in cols and preds["prediction"].equals(preds["score"])
        assert preds["prediction"].between(-20, 120).all()
    else:
        assert "prediction" not in cols
        assert preds["score"].between(0, 1).all()


@pytest.mark.slow
def test_strongly_shifted_numeric_column_is_drift(world):
    shifted = world.drift["shifted"]
    assert shifted["drift_detected"] is True
    assert world.case.shifted_feature in shifted["top_drifted"]
    assert shifted["performance"] is None, "no labels, no live metric"


# ------------------------------------------------------------------------------------------------ spec rules


WRONG_METRICS = [
    (
        "rmse-on-binary",
        churn_spec,
        "gate",
        {"metric": "rmse"},
        "gate.metric",
        "rmse is a regression metric; label.task is binary",
    ),
    (
        "pr-auc-on-regression",
        sales_spec,
        "gate",
        {"metric": "pr_auc"},
        "gate.metric",
        "pr_auc is a binary metric; label.task is regression",
    ),
    (
        "r2-on-multiclass",
        plant_spec,
        "gate",
        {"metric": "r2"},
        "gate.metric",
        "r2 is a regression metric; label.task is multiclass",
    ),
    (
        "perf-accuracy-on-regression",
        sales_spec,
        "performance",
        {"metric": "accuracy"},
        "performance.metric",
        "accuracy is a multiclass metric; label.task is regression",
    ),
    (
        "direction-is-the-metrics-own",  # a spec cannot state it, not even rightly: there is nothing to obey
        sales_spec,
        "gate",
        {"metric": "rmse", "direction": "minimize"},
        "gate.direction",
        "Extra inputs are not permitted",
    ),
]


@pytest.mark.parametrize(("make", "section", "value", "field", "message"), [w[1:] for w in WRONG_METRICS],
                         ids=[w[0] for w in WRONG_METRICS])  # fmt: skip
def test_metric_that_does_not_fit_the_task_names_field_and_task(make, section, value, field, message):
    data = make()
    data[section] = value
    with pytest.raises(SpecError) as info:
        parse_spec(data, "s.yaml")
    assert str(info.value) == f"s.yaml: field '{field}': {message}"


@pytest.mark.parametrize(
    ("make", "metric", "direction"),
    [(churn_spec, "pr_auc", "maximize"), (plant_spec, "mlogloss", "minimize"), (sales_spec, "rmse", "minimize")],
)
def test_gate_defaults_follow_the_task(make, metric, direction):
    data = make()
    data.pop("gate", None)
    data.pop("performance", None)
    spec = parse_spec(data)
    assert (spec.gate.metric, metric_direction(spec.gate.metric)) == (metric, direction)
    assert DEFAULT_METRIC[spec.label.task] == metric
    assert spec.performance.metric is None  # live decay reads the gate's metric


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["label"].update(task="regression"), ["field 'label.task'", "'species' is string"]),
        (lambda d: d["label"].update(classes=["alpha"]), ["field 'label.classes'", "at least 2 classes"]),
        (lambda d: d["label"].update(classes=["a", "a", "b"]), ["field 'label.classes'", "duplicate classes"]),
        (
            lambda d: d["label"].update(task="binary", classes=["a", "b"]),
            ["field 'label.classes'", "only a multiclass label has classes"],
        ),
        (lambda d: d["label"].update(classes=[1, 2]), ["field 'label.classes'", "are not str"]),
        (
            lambda d: d["schema"].update(time_column="petal_len"),
            ["field 'schema.time_column'", "must have dtype datetime"],
        ),
        (lambda d: d["schema"].update(time_column="when"), ["field 'schema.time_column'", "not a declared column"]),
    ],
    ids=["string-label-regression", "one-class", "duplicate-classes", "classes-on-binary", "int-classes-on-string",
         "time-not-datetime", "time-undeclared"],
)  # fmt: skip
def test_label_and_time_column_rules(mutate, expected):
    data = plant_spec()
    mutate(data)
    with pytest.raises(SpecError) as info:
        parse_spec(data, "s.yaml")
    for fragment in expected:
        assert fragment in str(info.value)


def test_time_column_is_optional():
    spec = parse_spec(plant_spec())
    assert spec.schema.time_column is None
    assert parse_spec(sales_spec()).schema.time_column == "day"


def test_metric_direction_table():
    assert METRICS == {
        "pr_auc": ("binary", "maximize"),
        "roc_auc": ("binary", "maximize"),
        "log_loss": ("binary", "minimize"),
        "mlogloss": ("multiclass", "minimize"),
        "accuracy": ("multiclass", "maximize"),
        "macro_f1": ("multiclass", "maximize"),
        "rmse": ("regression", "minimize"),
        "mae": ("regression", "minimize"),
        "r2": ("regression", "maximize"),
    }
    assert TASK_METRICS == {
        "binary": ("pr_auc", "roc_auc", "log_loss"),
        "multiclass": ("mlogloss", "accuracy", "macro_f1"),
        "regression": ("rmse", "mae", "r2"),
    }
    assert set(get_args(Metric)) == set(METRICS) == set(KEY_METRICS), "a spec's metric has a task and is tagged"
    assert improvement("rmse", 2.0, 3.0) == 1.0 and improvement("r2", 0.9, 0.8) == pytest.approx(0.1)
    assert improvement("log_loss", 0.5, 0.4) == pytest.approx(-0.1)


# -------------------------------------------------------------------------------------------------- random split


def _ids_frame(n: int, order_seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(order_seed)
    df = pd.DataFrame({"plant_id": [f"p{i:05d}" for i in range(n)], "x": np.arange(n)})
    return df.iloc[rng.permutation(n)].reset_index(drop=True)


@pytest.mark.parametrize("n", [3, 10, 101, 1000])
def test_random_split_sizes_match_the_fractions(n):
    spec = parse_spec(plant_spec())
    split = training.split_frame(_ids_frame(n), spec)
    n_hold = max(1, round(n * spec.split.holdout_fraction))
    n_valid = max(1, round(n * spec.split.valid_fraction))
    assert (len(split.train), len(split.valid), len(split.holdout)) == (n - n_hold - n_valid, n_valid, n_hold)
    ids = [set(p["plant_id"]) for p in (split.train, split.valid, split.holdout)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert set.union(*ids) == {f"p{i:05d}" for i in range(n)}


def test_random_split_is_deterministic_whatever_the_row_order():
    spec = parse_spec(plant_spec())
    a = training.split_frame(_ids_frame(500, order_seed=1), spec)
    b = training.split_frame(_ids_frame(500, order_seed=2), spec)
    for part in ("train", "valid", "holdout"):
        pd.testing.assert_frame_equal(getattr(a, part), getattr(b, part))


def test_random_split_is_random_and_depends_on_the_seed():
    data = plant_spec()
    hold = training.split_frame(_ids_frame(1000), parse_spec(data)).holdout["x"]
    assert hold.min() < 100 and hold.max() > 900 and 350 < hold.mean() < 650, "spread over all rows, not a slice"
    data["model"]["seed"] = 8
    other = training.split_frame(_ids_frame(1000), parse_spec(data)).holdout["x"]
    assert set(hold) != set(other)


def test_random_split_keeps_held_out_rows_held_out_as_the_window_grows():
    """A row held out of v1 is mostly still held out of v2: the champion is rarely judged on rows it learned."""
    spec = parse_spec(plant_spec())
    v1 = set(training.split_frame(_ids_frame(2000).query("x < 1000"), spec).holdout["x"])
    v2 = set(training.split_frame(_ids_frame(2000), spec).holdout["x"])
    assert len(v1 & v2) > 0.85 * len(v1)


def test_time_split_needs_a_time_column():
    with pytest.raises(AirloopError, match="no schema.time_column"):
        training.time_split(_ids_frame(10), parse_spec(plant_spec()))


def test_time_column_spec_still_splits_by_time():
    spec = parse_spec(sales_spec())
    df = sales(200, seed=5).sample(frac=1, random_state=3)
    split = training.split_frame(df, spec)
    assert split.valid["day"].max() <= split.holdout["day"].min()


# ------------------------------------------------------------------------------------------------- metrics


def test_multiclass_metrics_match_sklearn():
    classes = ["a", "b", "c"]
    y = np.array(["a", "b", "c", "a", "c", "b"], dtype=object)
    p = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3], [0.2, 0.2, 0.6], [0.6, 0.3, 0.1]])
    m = metrics.multiclass_metrics(y, p, classes)
    assert m["mlogloss"] == pytest.approx(log_loss(y, p, labels=classes))
    assert m["accuracy"] == pytest.approx(4 / 6)
    guess = np.array(classes)[p.argmax(axis=1)]
    assert m["macro_f1"] == pytest.approx(f1_score(y.astype(str), guess, average="macro"))
    assert m["n"] == 6.0


def test_multiclass_metrics_count_an_unknown_class_as_wrong():
    m = metrics.multiclass_metrics(np.array(["a", "zzz"], dtype=object), np.array([[0.9, 0.1], [0.5, 0.5]]), ["a", "b"])
    assert m["accuracy"] == 0.5
    assert math.isfinite(m["mlogloss"]) and m["mlogloss"] > 5


def test_regression_metrics_match_sklearn():
    y = np.array([3.0, 5.0, 2.5, 7.0])
    pred = np.array([2.5, 5.0, 4.0, 8.0])
    m = metrics.regression_metrics(y, pred)
    assert m["rmse"] == pytest.approx(math.sqrt(mean_squared_error(y, pred)))
    assert m["mae"] == pytest.approx(mean_absolute_error(y, pred))
    assert m["r2"] == pytest.approx(r2_score(y, pred))
    assert math.isnan(metrics.regression_metrics(np.array([1.0]), np.array([2.0]))["r2"])


def test_xgb_params_per_task():
    spec = parse_spec(plant_spec())
    multi = training.xgb_params(spec.model, "cpu", "multiclass", 3)
    assert (multi["objective"], multi["num_class"], multi["eval_metric"]) == ("multi:softprob", 3, ["mlogloss"])
    reg = training.xgb_params(spec.model, "cpu", "regression")
    assert reg["objective"] == "reg:squarederror" and reg["eval_metric"] == ["rmse"] and "num_class" not in reg


# --------------------------------------------------------------------------------- gate direction (no MLflow)


class _Booster:
    feature_names = ["f"]

    def __init__(self, task: str) -> None:
        self.task = task

    def attr(self, key: str) -> str | None:
        return self.task if key == "airloop_task" else None


@pytest.mark.parametrize(
    ("metric", "challenger", "champion", "min_improvement", "decision"),
    [
        ("rmse", 2.0, 3.0, 0.0, "promoted"),  # lower rmse wins
        ("rmse", 4.0, 3.0, 0.0, "rejected"),  # higher rmse loses
        ("rmse", 3.0, 3.0, 0.0, "rejected"),  # a tie is no improvement
        ("rmse", 2.6, 3.0, 0.5, "rejected"),  # better by 0.4 rmse, 0.5 required
        ("rmse", 2.4, 3.0, 0.5, "promoted"),
        ("mae", 1.0, 1.5, 0.0, "promoted"),
        ("r2", 0.9, 0.8, 0.0, "promoted"),  # r2 is maximized
        ("r2", 0.7, 0.8, 0.0, "rejected"),
    ],
)
def test_regression_gate_follows_the_metric_direction(
    monkeypatch, metric, challenger, champion, min_improvement, decision
):
    data = sales_spec()
    data["gate"] = {"metric": metric, "min_improvement": min_improvement}
    spec = parse_spec(data)
    monkeypatch.setattr(Registry, "load_booster", lambda self, name, version: _Booster("regression"))
    monkeypatch.setattr(training, "evaluate", lambda *a, **k: {metric: champion})
    holdout = pd.DataFrame({"f": [1.0], "units_sold": [1.0]})
    result = gate._compare(spec, "2", challenger, "1", Registry("unused").load_booster("m", "1"), holdout)
    assert result.decision == decision, result.reason
    assert (result.challenger_score, result.champion_score, result.metric) == (challenger, champion, metric)


def test_gate_promotes_over_a_champion_of_another_task(monkeypatch):
    spec = parse_spec(sales_spec())
    monkeypatch.setattr(Registry, "load_booster", lambda self, name, version: _Booster("binary"))
    result = gate._compare(spec, "2", 3.0, "1", Registry("unused").load_booster("m", "1"), pd.DataFrame({"f": [1.0]}))
    assert result.decision == "promoted" and "binary model; the task is regression" in result.reason


# ------------------------------------------------------------------------------------------------- label checks


def test_declared_classes_quarantine_an_unknown_label():
    data = plant_spec()
    data["label"]["classes"] = SPECIES
    df = plants(50, seed=9)
    df.loc[3, "species"] = "delta"
    report = validate_frame(df, parse_spec(data)).report
    assert report.n_invalid_rows == 1
    assert any(f.column == "species" and f.examples == ["delta"] for f in report.failures)


def test_unbounded_binary_label_must_be_zero_or_one():
    df = customers(50, seed=9)
    df.loc[[1, 2], "churned"] = [2, -1]
    report = validate_frame(df, parse_spec(churn_spec())).report
    assert report.n_invalid_rows == 2
    assert any(f.column == "churned" and f.check.startswith("isin") for f in report.failures)


def test_spec_classes_fix_the_class_order():
    data = plant_spec()
    data["label"]["classes"] = ["gamma", "alpha", "beta"]
    spec = parse_spec(data)
    assert training.resolve_classes(spec, pd.Series(["alpha", "beta"])) == ["gamma", "alpha", "beta"]
    assert metrics.encode_labels(pd.Series(["beta", "gamma", "x"]), spec.label.classes).tolist() == [2, 0, -1]
    learned = training.resolve_classes(parse_spec(plant_spec()), pd.Series(["gamma", "alpha", "gamma", None]))
    assert learned == ["alpha", "gamma"]


@pytest.mark.slow
def test_regression_gate_on_real_models_promotes_lower_rmse_and_rejects_higher(tmp_path, settings_for, monkeypatch):
    """Three real versions gated on one holdout: weak (first), strong (lower rmse: promoted), weak (rejected)."""
    from airloop.data.features import build_features, feature_columns

    monkeypatch.chdir(tmp_path)
    settings = settings_for(tmp_path)
    strong = parse_spec(sales_spec())
    weak_data = sales_spec()
    weak_data["model"].update(num_boost_round=2, early_stopping_rounds=None, params={"eta": 0.05, "max_depth": 1})
    weak = parse_spec(weak_data)
    raw = sales(1500, seed=11)
    features = build_features(validate_frame(raw, strong).valid_rows, strong)
    split = training.split_frame(features, strong)
    data = training.TrainingSet(tmp_path / "unused.parquet", "0" * 32, ["made-up"], len(features))
    models = Registry.from_settings(settings)
    decisions = []
    for spec in (weak, strong, weak):
        fit = training.fit(split, spec, feature_columns(spec))
        logged = models.log_model_version(strong, fit, data, split.holdout, trigger="t")
        decisions.append(gate.gate_and_promote(models, strong, logged.version, split.holdout))
    first, better, worse = decisions
    assert first.decision == "promoted"
    assert better.decision == "promoted" and better.challenger_score < better.champion_score, better.reason
    assert worse.decision == "rejected" and worse.challenger_score > worse.champion_score, worse.reason
    assert models.champion_version("store_sales") == "2"
    assert models.version_tags("store_sales", CHALLENGER)["version"] == "3"
