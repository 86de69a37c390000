"""Governance: candidate features must earn their place, fairness slices in the gate, stale champions retrain.

Data sets are made up here with numpy so that what each rule must find is known: a noise feature that adds
nothing next to an informative one, and a store type whose demand a model gets badly wrong.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from airloop import steps
from airloop.catalog import parse_spec
from airloop.contracts import Lineage, Trained
from airloop.data.features import slice_column
from airloop.errors import SpecError
from airloop.model import feature_gain, slices
from airloop.model.registry import Registry

pytestmark = pytest.mark.unit

STORES = ["mall", "street", "online"]


def sales(
    rows: int, seed: int, *, noisy_store: str | None = None, noise: float = 25.0, slope: float = -2.5
) -> pd.DataFrame:
    """Units sold from price, promotion and store type; `noisy_store`'s demand is unpredictable (a group the
    model serves badly); `lucky` is pure noise, `size` a second informative input. Each seed is a later week."""
    rng = np.random.default_rng(seed)
    price = rng.uniform(1, 20, rows)
    promo = rng.random(rows) < 0.3
    store = rng.choice(STORES, rows)
    size = rng.uniform(50, 500, rows)
    effect = pd.Series(store).map({"mall": 8.0, "street": 0.0, "online": 4.0}).to_numpy()
    units = 60 + slope * price + 12 * promo + effect + 0.04 * size + rng.normal(0, 2, rows)
    if noisy_store:
        units = units + np.where(store == noisy_store, rng.normal(0, noise, rows), 0.0)
    return pd.DataFrame(
        {
            "sale_id": [f"s{seed}-{i:05d}" for i in range(rows)],
            "day": pd.Timestamp("2026-03-01", tz="UTC")
            + pd.Timedelta(weeks=seed)
            + pd.to_timedelta(np.arange(rows) * 1000 // rows, unit="min"),
            "price": price,
            "promo": promo,
            "store_type": store,
            "size": size,
            "lucky": rng.uniform(0, 1, rows),
            "units_sold": np.clip(units, 0, None),
        }
    )


def sales_spec(**extra: Any) -> dict[str, Any]:
    spec = {
        "name": "store_sales",
        "storage": {"landing": "landing/store_sales"},
        "schema": {
            "id_column": "sale_id",
            "time_column": "day",
            "columns": {
                "sale_id": {"dtype": "string", "unique": True},
                "day": {"dtype": "datetime"},
                "price": {"dtype": "float", "min": 0, "max": 1000},
                "promo": {"dtype": "bool"},
                "store_type": {"dtype": "category", "domain": STORES},
                "size": {"dtype": "float", "min": 0, "max": 10000},
                "lucky": {"dtype": "float", "min": 0, "max": 1},
                "units_sold": {"dtype": "float", "min": 0, "required": False},
            },
        },
        "label": {"column": "units_sold", "task": "regression"},
        "features": [
            {"name": "log_price", "transform": "log1p", "column": "price"},
            {"name": "promo", "transform": "identity", "column": "promo"},
            {"name": "store", "transform": "one_hot", "column": "store_type"},
            {"name": "size", "transform": "identity", "column": "size", "candidate": True},
            {"name": "lucky", "transform": "identity", "column": "lucky", "candidate": True},
        ],
        "model": {"device": "cpu", "num_boost_round": 80, "early_stopping_rounds": 10, "nthread": 1, "seed": 3},
        "training": {"min_rows": 100, "retrain_on_new_data": True},
        "gate": {"metric": "rmse"},
    }
    for key, value in extra.items():
        spec[key] = value if not isinstance(value, dict) else {**spec.get(key, {}), **value}
    return spec


def run(tmp_path, settings_for, monkeypatch, spec_data: dict[str, Any], batches: list[pd.DataFrame]) -> dict:
    """Land, curate, train and gate each batch in turn (retrain_on_new_data): versions and gate decisions."""
    spec = parse_spec(copy.deepcopy(spec_data), "store_sales.yaml")
    settings = settings_for(tmp_path)
    monkeypatch.chdir(tmp_path)
    out: dict[str, Any] = {"spec": spec, "settings": settings, "trained": [], "tested": [], "gated": []}
    for i, df in enumerate(batches):
        steps.land(spec, settings, df, f"b{i}.parquet")
        for uri in steps.discover(spec, settings):
            assert steps.process(spec, settings, uri).status == "curated"
        trained = steps.train(spec, settings, Lineage(trigger="manual"))
        assert isinstance(trained, Trained), trained
        out["trained"].append(trained)
        if feature_gain.candidates(spec):
            out["tested"].append(
                steps.measure_feature_gain(spec, settings, version=trained.version, data_md5=trained.data_md5)
            )
        out["gated"].append(steps.gate(spec, settings, version=trained.version, data_md5=trained.data_md5))
    return out


# ---------------------------------------------------------------------------------------------------- spec rules


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"slices": {"by": [{"column": "nope"}]}}, "slices.by.0.column", "not a declared column"),
        ({"slices": {"by": [{"column": "units_sold"}]}}, "slices.by.0.column", "is the label"),
        ({"slices": {"by": [{"column": "store_type", "bins": [0, 1]}]}}, "slices.by.0.bins", "int or float"),
        ({"slices": {"by": [{"column": "price"}]}}, "slices.by.0.bins", "needs bins"),
        ({"slices": {"by": [{"column": "price", "bins": [5, 1]}]}}, "slices.by.0.bins", "increase strictly"),
        ({"slices": {"by": [{"column": "price", "bins": [5]}]}}, "slices.by.0.bins", "two edges"),
        ({"slices": {"by": []}}, "slices.by", "at least 1"),
        (
            {"slices": {"by": [{"column": "store_type"}, {"column": "store_type"}]}},
            "slices.by",
            "must be unique",
        ),
        ({"training": {"max_model_age": "30 days"}}, "training.max_model_age", "match pattern"),
        ({"gate": {"metric": "rmse", "require_feature_gain": True}}, None, None),
    ],
)
def test_bad_governance_specs_name_the_field(change, field, words):
    data = sales_spec(**change)
    if field is None:  # require_feature_gain with candidates is fine; without any candidate it is refused
        parse_spec(copy.deepcopy(data), "store_sales.yaml")
        for feat in data["features"]:
            feat.pop("candidate", None)
        field, words = "gate.require_feature_gain", "no feature is marked candidate"
    with pytest.raises(SpecError) as err:
        parse_spec(data, "store_sales.yaml")
    assert f"field '{field}'" in str(err.value) and words in str(err.value), str(err.value)


def test_a_model_needs_a_feature_that_is_not_on_trial():
    data = sales_spec()
    for feat in data["features"]:
        feat["candidate"] = True
    with pytest.raises(SpecError, match="every feature is a candidate"):
        parse_spec(data, "store_sales.yaml")


@pytest.mark.parametrize(("text", "seconds"), [("90m", 5400), ("1.5h", 5400), ("30d", 30 * 86400), ("2w", 14 * 86400)])
def test_max_model_age_units(text, seconds):
    spec = parse_spec(sales_spec(training={"max_model_age": text}), "store_sales.yaml")
    assert spec.training.max_model_age_seconds == seconds


def test_governance_fields_left_at_default_keep_the_spec_hash():
    """Specs written before these fields existed keep their hash (lineage stays comparable)."""
    plain = sales_spec()
    for feat in plain["features"]:
        feat.pop("candidate", None)
    explicit = copy.deepcopy(plain)
    explicit["training"]["max_model_age"] = None
    explicit["gate"].update(require_feature_gain=False, min_feature_gain=0.0)
    explicit["slices"] = None
    explicit["features"][0]["candidate"] = False
    explicit["schema"]["columns"]["price"]["pii"] = None
    a, b = parse_spec(plain, "a.yaml"), parse_spec(explicit, "b.yaml")
    assert a.spec_hash == b.spec_hash
    assert parse_spec(sales_spec(), "c.yaml").spec_hash != a.spec_hash  # a candidate flag is a real change


# ------------------------------------------------------------------------------------------------ slices: rules


def _spec_with_slices(**conf: Any):
    return parse_spec(sales_spec(slices={"by": [{"column": "store_type"}], "min_rows": 10, **conf}), "s.yaml")


def _per(**values: tuple[float, int]) -> dict[str, dict[str, Any]]:
    return {"store_type": {g: {"value": v, "n": n} for g, (v, n) in values.items()}}


def test_floor_refuses_the_worst_group_in_the_metrics_direction():
    spec = _spec_with_slices(floor=10.0)  # rmse: lower is better, so the floor is a ceiling
    verdict = slices.judge(spec, _per(mall=(4.0, 50), street=(12.5, 50), online=(5.0, 50)), None)
    assert not verdict.ok and "group street rmse 12.5000 is above the floor 10.0" in verdict.reason
    assert verdict.worst["store_type"]["group"] == "street"
    assert slices.judge(spec, _per(mall=(4.0, 50), street=(9.0, 50)), None).ok


def test_gap_widening_against_the_champion_refuses():
    spec = _spec_with_slices(max_gap_increase=2.0)
    champion = _per(mall=(4.0, 50), street=(5.0, 50), online=(4.5, 50))  # gap 1.0
    wider = _per(mall=(3.0, 50), street=(7.0, 50), online=(3.5, 50))  # gap 4.0: widened by 3.0
    verdict = slices.judge(spec, wider, champion)
    assert not verdict.ok and "widens by 3.0000" in verdict.reason
    assert slices.judge(spec, _per(mall=(3.0, 50), street=(5.5, 50), online=(3.5, 50)), champion).ok
    assert slices.judge(spec, wider, None).ok, "a first version has no champion gap to compare with"


def test_small_or_undefined_groups_are_reported_not_judged():
    spec = _spec_with_slices(floor=10.0)
    per = _per(mall=(4.0, 50), street=(99.0, 3), online=(float("nan"), 80))
    verdict = slices.judge(spec, per, None)
    assert verdict.ok and verdict.worst["store_type"]["judged"] == 1


def test_a_slice_the_data_cannot_group_by_refuses_with_a_clear_reason():
    verdict = slices.judge(_spec_with_slices(), {"store_type": {}}, None)
    assert not verdict.ok and "no column to group by" in verdict.reason


def test_numeric_bins_name_their_bands():
    spec = parse_spec(sales_spec(slices={"by": [{"column": "price", "bins": [0, 5, 10.5], "name": "price_band"}]}), "s")
    frame = pd.DataFrame({slice_column("price"): [1.0, 5.0, 10.4, 11.0, None]})
    assert slices.groups(frame, spec.slices.by[0]).tolist() == [
        "0-5",
        "5-10.5",
        "5-10.5",
        "(outside bins)",
        "(outside bins)",
    ]
    assert slices.groups(pd.DataFrame({"x": [1]}), spec.slices.by[0]) is None
    assert slices.metric_key("price_band", "5-10.5", "rmse") == "slice.price_band.5-10.5.rmse"
    assert slices.metric_key("country", "Côte d'Ivoire", "rmse") == "slice.country.C_te d_Ivoire.rmse"


# ------------------------------------------------------------------------------------ slices: through the gate


@pytest.mark.slow  # trains, versions and gates through DVC and MLflow
def test_the_gate_refuses_a_challenger_that_fails_a_group(tmp_path, settings_for, monkeypatch):
    """v1 learned an older price response: it is off for every store type alike. v2 learns the new response,
    but street stores' demand has turned to noise: it wins on the whole holdout (far better for malls and online)
    while its gap between store types widens beyond the limit, so the gate refuses it."""
    data = sales_spec(slices={"by": [{"column": "store_type"}], "min_rows": 30, "max_gap_increase": 3.0})
    for feat in data["features"]:
        feat.pop("candidate", None)
    world = run(
        tmp_path,
        settings_for,
        monkeypatch,
        data,
        [sales(800, 1, slope=-1.0), sales(3000, 2, noisy_store="street")],
    )
    first, second = world["gated"]
    assert first.decision == "promoted"
    assert second.decision == "rejected", second
    assert second.reason.startswith("rmse") and "vs champion v1" in second.reason, "it won on the metric"
    assert "but slice 'store_type': the gap between groups widens by" in second.reason
    c = Registry.from_settings(world["settings"]).client
    tags = c.get_model_version("store_sales", "2").tags
    record = __import__("json").loads(tags["gate.slices"])
    assert record["ok"] is False and set(record["challenger"]["store_type"]) == set(STORES)
    assert record["summary"]["store_type"]["group"] == "street"
    run_metrics = c.get_run(c.get_model_version("store_sales", "2").run_id).data.metrics
    assert {f"slice.store_type.{s}.rmse" for s in STORES} <= set(run_metrics)
    assert Registry.from_settings(world["settings"]).champion_version("store_sales") == "1"

    from airloop.ops import views

    view = views.pipeline_detail(world["spec"], world["settings"])["slices"]
    assert view["version"] == "2" and view["ok"] is False and view["champion_version"] == "1"
    rows = {r["group"]: r for r in view["rows"]}
    assert set(rows) == set(STORES) and rows["street"]["worst"]
    gap = max(r["value"] for r in rows.values()) - min(r["value"] for r in rows.values())
    champion_gap = max(r["champion_value"] for r in rows.values()) - min(r["champion_value"] for r in rows.values())
    assert gap > champion_gap + 3.0, "better on average, but street stores fall further behind the others"


def test_a_gate_pass_loads_the_champion_once_and_resolves_the_challenger_once(monkeypatch):
    """With slices set, the metric rule and the slice rule share one download of the champion's booster."""
    from types import SimpleNamespace

    from airloop.model import gate, training

    spec = parse_spec(sales_spec(slices={"by": [{"column": "store_type"}]}), "store_sales.yaml")
    calls: list[str] = []

    class _Booster:
        feature_names = ["price"]

        def attr(self, key: str) -> str | None:
            return "regression" if key == "airloop_task" else None

    class _Models:
        def load_booster(self, name, version):
            calls.append(f"load v{version}")
            return _Booster()

        def champion_version(self, name):
            return "1"

        def resolve(self, name, version):
            calls.append(f"resolve v{version}")
            return SimpleNamespace(name=name, version=version, tags={}, run_id="r" * 32)

        def tag_version(self, *args):
            pass

        log_metrics = mark_challenger = move_champion = tag_version

    scores = iter([2.0, 3.0])  # challenger, then champion: rmse, lower wins
    monkeypatch.setattr(training, "evaluate", lambda *a, **k: {"rmse": next(scores)})
    monkeypatch.setattr(slices, "slice_metrics", lambda *a: {"store_type": {}})
    holdout = pd.DataFrame({"price": [1.0], "units_sold": [1.0]})
    gate.gate_and_promote(_Models(), spec, "2", holdout)  # type: ignore[arg-type]
    assert calls == ["load v2", "load v1", "resolve v2"]


@pytest.mark.slow  # trains, versions and gates through DVC and MLflow
def test_a_floor_refuses_even_a_first_version(tmp_path, settings_for, monkeypatch):
    data = sales_spec(slices={"by": [{"column": "store_type"}], "min_rows": 30, "floor": 6.0})
    for feat in data["features"]:
        feat.pop("candidate", None)
    world = run(tmp_path, settings_for, monkeypatch, data, [sales(2000, 5, noisy_store="online")])
    (gated,) = world["gated"]
    assert gated.decision == "rejected" and "group online rmse" in gated.reason, gated
    assert Registry.from_settings(world["settings"]).champion_version("store_sales") is None


# ------------------------------------------------------------------------------------------ feature-gain test


@pytest.fixture(scope="module")
def tested(tmp_path_factory, settings_for):
    """Two versions of a spec with two candidate features: `size` (informative) and `lucky` (noise)."""
    root = tmp_path_factory.mktemp("gain")
    with pytest.MonkeyPatch.context() as mp:
        data = sales_spec(gate={"metric": "rmse", "require_feature_gain": True, "min_feature_gain": 0.3})
        yield run(root, settings_for, mp, data, [sales(2000, 11)])


def test_each_candidate_feature_is_measured_with_and_without(tested):
    (result,) = tested["tested"]
    size, lucky = result.features["size"], result.features["lucky"]
    assert size["adds"] is True and size["gain"] > 0.5, size  # leaving size out costs real RMSE
    assert lucky["adds"] is False and lucky["gain"] < 0.3, lucky  # noise earns nothing (beyond chance)
    assert size["with"] == lucky["with"] == pytest.approx(tested["trained"][0].metrics["rmse"])
    assert size["without"] == pytest.approx(size["with"] + size["gain"])  # rmse: the gain is a drop in error
    models = Registry.from_settings(tested["settings"])
    tags = models.client.get_model_version("store_sales", "1").tags
    assert tags["feature_gain.size.adds"] == "true" and tags["feature_gain.lucky.adds"] == "false"
    described = models.describe_models(["store_sales"])[0]
    assert described["versions"][0]["feature_gain"]["lucky"]["adds"] is False


def test_the_gate_can_require_every_candidate_to_add(tested):
    (gated,) = tested["gated"]
    assert gated.decision == "rejected"
    assert "candidate feature(s) lucky" in gated.reason and "size" not in gated.reason.split("but")[1]


@pytest.mark.slow  # trains, versions and gates through DVC and MLflow
def test_without_the_requirement_the_gain_is_only_recorded(tmp_path, settings_for, monkeypatch):
    world = run(tmp_path, settings_for, monkeypatch, sales_spec(), [sales(1500, 12)])
    assert world["gated"][0].decision == "promoted"
    assert set(world["tested"][0].features) == {"size", "lucky"}


def test_the_without_model_differs_only_by_the_feature(tested):
    """Same split, same params and seed: refitting the with-model's recipe reproduces its score exactly."""
    from airloop.data.features import feature_columns
    from airloop.model import training

    spec, settings = tested["spec"], tested["settings"]
    trained = tested["trained"][0]
    models = Registry.from_settings(settings)
    params = models.recorded(models.resolve("store_sales", "1"), "params")
    split = steps._restored_split(spec, settings, trained.data_md5)
    again = training.fit(split, spec, feature_columns(spec), feature_gain._overrides(params))
    assert again.metrics["rmse"] == trained.metrics["rmse"]


def test_a_gate_without_a_recorded_test_refuses_when_required():
    spec = parse_spec(sales_spec(gate={"metric": "rmse", "require_feature_gain": True}), "s.yaml")
    ok, why = feature_gain.verdict(spec, {})
    assert not ok and "no feature-gain test recorded" in why
    ok, _ = feature_gain.verdict(
        spec, {**feature_gain.tags({"size": {"gain": 1.0, "adds": True}, "lucky": {"gain": 0.2, "adds": True}})}
    )
    assert ok


# ------------------------------------------------------------------------------------------------- staleness


@pytest.mark.slow  # trains, versions and gates through DVC and MLflow
def test_a_champion_older_than_max_model_age_is_stale(tmp_path, settings_for, monkeypatch):
    data = sales_spec(training={"max_model_age": "30d"})
    for feat in data["features"]:
        feat.pop("candidate", None)
    world = run(tmp_path, settings_for, monkeypatch, data, [sales(800, 21)])
    spec, settings = world["spec"], world["settings"]
    created = Registry.from_settings(settings).resolve("store_sales", "1").creation_timestamp / 1000
    fresh = steps.staleness(spec, settings, now=created + 29 * 86400)
    old = steps.staleness(spec, settings, now=created + 31 * 86400)
    assert fresh.stale is False and old.stale is True, (fresh, old)
    assert old.champion_version == "1" and math.isclose(old.age_seconds or 0, 31 * 86400, abs_tol=1)
    assert "31.0 days old, older than max_model_age 30d" in old.reason
    no_limit = parse_spec({**data, "training": {"min_rows": 100}}, "store_sales.yaml")
    assert steps.staleness(no_limit, settings, now=created + 999 * 86400).stale is False


def test_no_champion_is_never_stale(tmp_path, settings_for):
    spec = parse_spec(sales_spec(training={"max_model_age": "1m"}), "store_sales.yaml")
    assert steps.staleness(spec, settings_for(tmp_path)).reason == "no champion yet"
