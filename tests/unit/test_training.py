"""Training: device choice, the time split, metrics, and a small real XGBoost fit."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

from airloop import metrics
from airloop.data.datagen import generate
from airloop.data.features import build_features, feature_columns
from airloop.data.ingest import BatchRecord
from airloop.data.validation import validate_frame
from airloop.errors import AirloopError
from airloop.model import training
from airloop.spec import ModelSpec
from airloop.store.versioning import DataVersioner

pytestmark = pytest.mark.unit


# ----------------------------------------------------------------------------------------------------------- device


def test_cpu_is_always_cpu(monkeypatch):
    monkeypatch.setattr(training, "cuda_available", lambda: True)
    assert training.choose_device("cpu") == "cpu"


@pytest.mark.parametrize(("requested", "gpu", "expected"), [("auto", True, "cuda"), ("cuda", True, "cuda")])
def test_gpu_is_used_when_available(monkeypatch, requested, gpu, expected):
    monkeypatch.setattr(training, "cuda_available", lambda: gpu)
    assert training.choose_device(requested) == expected


def test_auto_without_gpu_is_cpu_quietly(monkeypatch, caplog):
    monkeypatch.setattr(training, "cuda_available", lambda: False)
    with caplog.at_level(logging.WARNING, logger="airloop.model.training"):
        assert training.choose_device("auto") == "cpu"
    assert not caplog.records


def test_cuda_without_gpu_falls_back_to_cpu_loudly(monkeypatch, caplog):
    monkeypatch.setattr(training, "cuda_available", lambda: False)
    with caplog.at_level(logging.WARNING, logger="airloop.model.training"):
        assert training.choose_device("cuda") == "cpu"
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "no usable GPU" in caplog.records[0].getMessage()


def test_cuda_available_is_a_bool():
    assert isinstance(training.cuda_available(), bool)


def test_xgb_params():
    model = ModelSpec(params={"max_depth": 3, "device": "cuda", "tree_method": "approx"}, seed=7, nthread=2)
    params = training.xgb_params(model, "cpu")
    assert params["device"] == "cpu"  # the chosen device wins over anything in the spec's params
    assert params["tree_method"] == "approx"  # spec params override the defaults
    assert params["max_depth"] == 3 and params["seed"] == 7 and params["nthread"] == 2
    assert params["objective"] == "binary:logistic"
    # nthread 0 ("all cores") is recorded as the number it meant here, so a rebuild can use the same count
    assert training.xgb_params(ModelSpec(), "cpu")["nthread"] == training.usable_cores() >= 1


# ------------------------------------------------------------------------------------------------------- time split


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    """n rows with distinct times in shuffled order."""
    rng = np.random.default_rng(seed)
    times = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.arange(n) * 60, unit="s")
    df = pd.DataFrame({"transaction_id": [f"t{i:05d}" for i in range(n)], "event_time": times, "x": np.arange(n)})
    return df.iloc[rng.permutation(n)].reset_index(drop=True)


@pytest.mark.parametrize("n", [3, 10, 101, 1000])
def test_time_split_sizes_match_the_fractions(spec, n):
    split = training.time_split(_frame(n), spec)
    n_hold = max(1, round(n * spec.split.holdout_fraction))
    n_valid = max(1, round(n * spec.split.valid_fraction))
    assert (len(split.train), len(split.valid), len(split.holdout)) == (n - n_hold - n_valid, n_valid, n_hold)


def test_time_split_is_ordered_by_time(spec):
    split = training.time_split(_frame(1000), spec)
    for part in (split.train, split.valid, split.holdout):
        assert part["event_time"].is_monotonic_increasing
    assert split.train["event_time"].max() < split.valid["event_time"].min()
    assert split.valid["event_time"].max() < split.holdout["event_time"].min()
    assert split.holdout["x"].tolist() == list(range(800, 1000))  # the newest fifth


def test_time_split_breaks_time_ties_by_id(spec):
    df = _frame(20)
    df["event_time"] = pd.Timestamp("2026-01-01", tz="UTC")
    split = training.time_split(df, spec)
    assert split.holdout["transaction_id"].tolist() == [f"t{i:05d}" for i in range(16, 20)]


def test_time_split_is_deterministic(spec):
    a = training.time_split(_frame(500, seed=1), spec)
    b = training.time_split(_frame(500, seed=2), spec)  # same rows, other order
    for part in ("train", "valid", "holdout"):
        pd.testing.assert_frame_equal(getattr(a, part), getattr(b, part))


@pytest.mark.parametrize("n", [0, 1, 2])
def test_time_split_too_few_rows(spec, n):
    with pytest.raises(AirloopError, match=f"{n} rows are too few"):
        training.time_split(_frame(n), spec)


# ---------------------------------------------------------------------------------------------------------- metrics


def test_classification_metrics_match_sklearn():
    y = np.array([0, 0, 1, 1, 0, 1, 0, 0])
    p = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.05, 0.6])
    m = metrics.classification_metrics(y, p)
    assert m["pr_auc"] == pytest.approx(average_precision_score(y, p))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["log_loss"] == pytest.approx(log_loss(y, p))
    assert m["positive_rate"] == pytest.approx(3 / 8)
    assert m["n"] == 8.0


def test_classification_metrics_single_class_auc_is_nan():
    m = metrics.classification_metrics(np.zeros(5, dtype=int), np.full(5, 0.2))
    assert math.isnan(m["pr_auc"]) and math.isnan(m["roc_auc"])
    assert m["log_loss"] == pytest.approx(-math.log(0.8))
    assert m["positive_rate"] == 0.0


def test_classification_metrics_clip_certain_wrong_predictions():
    m = metrics.classification_metrics(np.array([0, 1]), np.array([1.0, 0.0]))
    assert math.isfinite(m["log_loss"]) and m["log_loss"] > 10


# --------------------------------------------------------------------------------------------------- training set


def test_no_labelled_batch_to_train_on(fast_spec, tmp_path):
    records = [
        BatchRecord("a", "sha", "file:///a", "curated", has_labels=False, curated_path="a.parquet", md5="m"),
        BatchRecord("b", "sha", "file:///b", "rejected"),
    ]
    with pytest.raises(AirloopError, match="no labelled curated batch"):
        training.assemble_training_set(fast_spec, records, DataVersioner(tmp_path, str(tmp_path / "remote")))


def test_too_few_labelled_rows(spec, tmp_path):
    # spec.training.min_rows is 1000; the curated batch already in the workspace has 50 rows.
    features = build_features(generate("fraud", rows=50, seed=3), spec)
    features.to_parquet(tmp_path / "b.parquet", index=False)
    records = [BatchRecord("b", "sha", "file:///b", "curated", has_labels=True, curated_path="b.parquet", md5="m")]
    with pytest.raises(AirloopError, match=r"50 labelled rows, fewer than training.min_rows \(1000\)"):
        training.assemble_training_set(spec, records, DataVersioner(tmp_path, str(tmp_path / "remote")))


# -------------------------------------------------------------------------------------------------------------- fit


@pytest.fixture(scope="module")
def fitted(fast_spec):
    """A real fit on 3000 generated rows (with the xgboost import, a few seconds: its tests are marked slow)."""
    raw = generate("fraud", rows=3000, seed=31)
    features = build_features(validate_frame(raw, fast_spec).valid_rows, fast_spec)
    split = training.time_split(features, fast_spec)
    return split, training.fit(split, fast_spec, feature_columns(fast_spec))


@pytest.mark.slow
def test_fit_learns_well_above_the_base_rate(fitted):
    split, fit = fitted
    base_rate = split.holdout["is_fraud"].mean()
    assert 0 < base_rate < 0.1
    assert fit.metrics["pr_auc"] > 4 * base_rate
    assert fit.metrics["roc_auc"] > 0.8


@pytest.mark.slow
def test_fit_result(fitted, fast_spec):
    split, fit = fitted
    assert fit.device == "cpu"
    assert fit.feature_names == feature_columns(fast_spec)
    assert 0 <= fit.best_iteration < fast_spec.model.num_boost_round
    assert fit.extra == {"n_train": len(split.train), "n_valid": len(split.valid), "n_holdout": len(split.holdout)}
    assert fit.extra["n_holdout"] == 600
    for key in ("pr_auc", "roc_auc", "log_loss", "valid_pr_auc", "valid_log_loss", "train_seconds"):
        assert math.isfinite(fit.metrics[key]), key
    assert fit.metrics["n"] == len(split.holdout)
    assert fit.params["device"] == "cpu" and fit.params["nthread"] == 1


@pytest.mark.slow
def test_holdout_metrics_are_reproducible_from_the_booster(fitted, fast_spec):
    split, fit = fitted
    again = training.evaluate(fit.booster, split.holdout, fit.feature_names, "is_fraud")
    assert again["pr_auc"] == pytest.approx(fit.metrics["pr_auc"])


@pytest.mark.slow
def test_predict(fitted):
    split, fit = fitted
    p = training.predict(fit.booster, split.holdout, fit.feature_names)
    assert p.shape == (len(split.holdout),)
    assert ((p >= 0) & (p <= 1)).all()
    # Column order does not matter: features are selected by name.
    shuffled = split.holdout[list(reversed(split.holdout.columns))]
    np.testing.assert_array_equal(training.predict(fit.booster, shuffled, fit.feature_names), p)


@pytest.mark.slow
def test_importance_png(fitted, tmp_path):
    _, fit = fitted
    path = training.importance_png(fit.booster, tmp_path / "imp.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_validation_metrics_come_from_training_and_match_a_fresh_evaluation(fitted, fast_spec):
    split, fit = fitted
    again = training.evaluate(fit.booster, split.valid, fit.feature_names, fast_spec.label.column)
    assert fit.metrics["valid_log_loss"] == pytest.approx(again["log_loss"], rel=1e-3)
    # xgboost's aucpr interpolates the PR curve, sklearn's average precision does not: close, not equal.
    assert fit.metrics["valid_pr_auc"] == pytest.approx(again["pr_auc"], abs=0.05)
