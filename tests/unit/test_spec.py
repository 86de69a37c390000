"""Pipeline specs: the shipped spec loads, its hash is stable, and every kind of mistake names its field."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pydantic
import pytest
import yaml

from airloop.catalog import find_spec, load_spec, load_specs, parse_spec
from airloop.data.features import TRANSFORMS
from airloop.errors import SpecError

pytestmark = pytest.mark.unit

Mutator = Callable[[dict[str, Any]], None]


def _write(directory, data: dict[str, Any], name: str = "fraud_detection"):
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _set(dotted: str, value: Any) -> Mutator:
    def mutate(data: dict[str, Any]) -> None:
        *parents, leaf = dotted.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[leaf] = value

    return mutate


def _add_feature(**feature: Any) -> Mutator:
    return lambda data: data["features"].append(feature)


def _add_column(name: str, **column: Any) -> Mutator:
    return lambda data: data["schema"]["columns"].__setitem__(name, column)


# ------------------------------------------------------------------------------------------------ the shipped spec


def test_shipped_spec_loads(spec):
    assert spec.name == "fraud_detection"
    assert spec.label.column == "is_fraud"
    assert spec.schema.id_column == "transaction_id"
    assert spec.schema.time_column == "event_time"
    assert spec.schema.columns["merchant_category"].dtype == "category"
    assert spec.schema.columns["is_fraud"].required is False
    assert spec.model.device == "auto"
    assert spec.gate.metric == "pr_auc"
    assert [f.name for f in spec.features][:2] == ["log_amount", "merchant"]


def test_load_specs_finds_the_shipped_spec(spec_path):
    shipped = sorted(p.stem for p in spec_path.parent.glob("*.yaml"))
    assert "fraud_detection" in shipped
    assert [s.name for s in load_specs(spec_path.parent)] == shipped


def test_find_spec_by_name(spec_path, spec):
    assert find_spec("fraud_detection", spec_path.parent) == spec


def test_find_spec_unknown_lists_known(spec_path):
    with pytest.raises(SpecError, match=r"unknown pipeline 'nope' \(known: fraud_detection[,;]"):
        find_spec("nope", spec_path.parent)


def test_spec_is_frozen(spec):
    with pytest.raises(pydantic.ValidationError):
        spec.name = "other"  # type: ignore[misc]


def test_spec_hash_is_stable(spec_path, spec):
    again = load_spec(spec_path)
    assert again.spec_hash == spec.spec_hash
    assert re.fullmatch(r"[0-9a-f]{16}", spec.spec_hash)


def test_spec_hash_ignores_formatting(tmp_path, spec_path, spec_dict, spec):
    # Same meaning, different YAML: sorted keys, block style, no comments.
    path = tmp_path / "fraud_detection.yaml"
    path.write_text(yaml.safe_dump(spec_dict, sort_keys=True, default_flow_style=False))
    assert path.read_text() != spec_path.read_text()
    assert load_spec(path).spec_hash == spec.spec_hash


@pytest.mark.parametrize(
    "mutate",
    [_set("model.params.eta", 0.5), _set("gate.min_improvement", 0.01), _set("schema.max_invalid_share", 0.3)],
    ids=["model-param", "gate", "schema"],
)
def test_spec_hash_changes_with_meaning(spec_dict, spec, mutate):
    mutate(spec_dict)
    assert parse_spec(spec_dict).spec_hash != spec.spec_hash


# ----------------------------------------------------------------------------------------------------- bad specs

BAD_SPECS: list[tuple[str, Mutator, list[str]]] = [
    ("unknown-top-level-key", _set("modle", {}), ["field 'modle'", "Extra inputs are not permitted"]),
    ("unknown-nested-key", _set("schema.columns.amount.dtyp", "float"), ["field 'schema.columns.amount.dtyp'"]),
    ("wrong-device", _set("model.device", "tpu"), ["field 'model.device'", "'auto', 'cpu' or 'cuda'"]),
    (
        "label-not-declared",
        _set("label.column", "chargeback"),
        ["field 'label.column'", "label column 'chargeback' is not a declared column"],
    ),
    (
        "feature-reads-undeclared-column",
        _add_feature(name="z", transform="identity", column="merchant_id"),
        ["field 'features.10'", "feature 'z' reads undeclared column 'merchant_id'"],
    ),
    (
        "feature-reads-label",
        _add_feature(name="z", transform="identity", column="is_fraud"),
        ["field 'features.10'", "feature 'z' reads the label column 'is_fraud'", "target leak"],
    ),
    (
        "unknown-transform",
        _add_feature(name="z", transform="frobnicate", column="amount"),
        ["field 'features.10' (z)", "unknown transform 'frobnicate'", "known: "],
    ),
    (
        "wrong-column-kind",
        _add_feature(name="z", transform="log1p", column="merchant_category"),
        [
            "field 'features.10' (z)",
            "transform 'log1p' needs a int/float/bool column",
            "'merchant_category' is category",
        ],
    ),
    (
        "wrong-number-of-inputs",
        _add_feature(name="z", transform="ratio", column="amount"),
        ["field 'features.10' (z)", "transform 'ratio' takes 2 column(s)"],
    ),
    (
        "category-without-domain",
        _add_column("channel", dtype="category"),
        ["field 'schema.columns.channel.domain'", "category columns need a non-empty domain"],
    ),
    (
        "domain-on-numeric-column",
        _add_column("channel", dtype="int", domain=["a"]),
        ["field 'schema.columns.channel.domain'", "only allowed for category or string columns"],
    ),
    (
        "min-greater-than-max",
        _set("schema.columns.amount.min", 60000),
        ["field 'schema.columns.amount.min'", "min (60000.0) is greater than max (50000.0)"],
    ),
    (
        "min-on-string-column",
        _set("schema.columns.transaction_id.min", 1),
        ["field 'schema.columns.transaction_id.min'"],
    ),
    ("unknown-dtype", _set("schema.columns.amount.dtype", "decimal"), ["field 'schema.columns.amount.dtype'"]),
    (
        "id-column-not-declared",
        _set("schema.id_column", "txn"),
        ["field 'schema.id_column'", "id_column 'txn' is not a declared column"],
    ),
    (
        "time-column-not-datetime",
        _set("schema.time_column", "amount"),
        ["field 'schema.time_column'", "time_column 'amount' must have dtype datetime"],
    ),
    ("invalid-share-above-one", _set("schema.max_invalid_share", 1.5), ["field 'schema.max_invalid_share'"]),
    ("split-fraction-too-big", _set("split.holdout_fraction", 0.6), ["field 'split.holdout_fraction'"]),
    (
        "duplicate-feature-names",
        _add_feature(name="log_amount", transform="identity", column="amount"),
        ["field 'features'", "duplicate feature names: ['log_amount']"],
    ),
    (
        "feature-outputs-collide",
        _add_feature(name="merchant__travel", transform="identity", column="amount"),
        ["field 'features'", "output columns collide: ['merchant__travel']"],
    ),
    # Fields that no longer exist: an old spec that still sets one fails naming it. A metric's direction is its own
    # (`airloop.metrics`); the monitor runs when curated data arrives, never on a `drift_check` clock.
    ("removed-gate-direction", _set("gate.direction", "maximize"), ["field 'gate.direction'", "Extra inputs"]),
    (
        "removed-drift-check-schedule",
        _set("schedules.drift_check", "@hourly"),
        ["field 'schedules.drift_check'", "Extra inputs are not permitted"],
    ),
    ("unknown-gate-metric", _set("gate.metric", "auc"), ["field 'gate.metric'", "'pr_auc', 'roc_auc'"]),
    (
        "gate-metric-of-another-task",
        _set("gate.metric", "accuracy"),
        ["field 'gate.metric'", "accuracy is a multiclass metric; label.task is binary"],
    ),
    (
        "performance-metric-of-another-task",
        _set("performance.metric", "rmse"),
        ["field 'performance.metric'", "rmse is a regression metric; label.task is binary"],
    ),
    (
        "task-changed-metric-not",
        _set("label.task", "multiclass"),
        ["field 'gate.metric'", "pr_auc is a binary metric; label.task is multiclass"],
    ),
    (
        "label-dtype-does-not-fit-task",
        _set("schema.columns.is_fraud.dtype", "float"),
        ["field 'label.task'", "a binary label needs a column of dtype int/bool; 'is_fraud' is float"],
    ),
    ("bad-cron", _set("schedules.retrain", "every day"), ["field 'schedules.retrain'", "neither a cron expression"]),
    ("bad-name", _set("name", "Fraud-Detection"), ["field 'name'"]),
    ("zero-boost-rounds", _set("model.num_boost_round", 0), ["field 'model.num_boost_round'"]),
    ("queue-with-space", _set("training.queue", "gpu queue"), ["field 'training.queue'"]),
]


@pytest.mark.parametrize(("mutate", "expected"), [b[1:] for b in BAD_SPECS], ids=[b[0] for b in BAD_SPECS])
def test_bad_spec_fails_naming_the_field(tmp_path, spec_dict, mutate, expected):
    mutate(spec_dict)
    path = _write(tmp_path, spec_dict)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    for fragment in expected:
        assert fragment in message


def test_unknown_transform_lists_every_known_one(spec_dict):
    _add_feature(name="z", transform="frobnicate", column="amount")(spec_dict)
    with pytest.raises(SpecError) as info:
        parse_spec(spec_dict, "s.yaml")
    listed = re.search(r"known: ([^)]*)\)", str(info.value)).group(1).split(", ")
    assert listed == sorted(TRANSFORMS)
    assert {"identity", "log1p", "one_hot", "cyclical", "ratio"} <= set(listed)


def test_name_must_match_file_name(tmp_path, spec_dict):
    path = _write(tmp_path, spec_dict, name="card_fraud")
    with pytest.raises(SpecError, match=r"field 'name': 'fraud_detection' must match the file name 'card_fraud'"):
        load_spec(path)


def test_unreadable_file(tmp_path):
    with pytest.raises(SpecError, match="cannot read spec"):
        load_spec(tmp_path / "fraud_detection.yaml")


def test_directory_is_not_a_spec(tmp_path):
    (tmp_path / "fraud_detection.yaml").mkdir()
    with pytest.raises(SpecError, match="cannot read spec"):
        load_spec(tmp_path / "fraud_detection.yaml")


def test_invalid_yaml(tmp_path):
    path = tmp_path / "fraud_detection.yaml"
    path.write_text("name: fraud_detection\nfeatures: [unclosed\n")
    with pytest.raises(SpecError, match=f"{re.escape(str(path))}: not valid YAML"):
        load_spec(path)


@pytest.mark.parametrize(("text", "kind"), [("- a\n- b\n", "list"), ("just text\n", "str"), ("", "NoneType")])
def test_spec_must_be_a_mapping(tmp_path, text, kind):
    path = tmp_path / "fraud_detection.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=f"must be a mapping, got {kind}"):
        load_spec(path)


def test_one_bad_file_fails_load_specs(tmp_path, spec_dict):
    _write(tmp_path, spec_dict)
    spec_dict["name"] = "broken"
    spec_dict["model"]["device"] = "tpu"
    _write(tmp_path, spec_dict, name="broken")
    with pytest.raises(SpecError, match=r"broken\.yaml: field 'model\.device'"):
        load_specs(tmp_path)


def test_every_error_is_reported_at_once(spec_dict):
    spec_dict["model"]["device"] = "tpu"
    spec_dict["split"]["valid_fraction"] = 0.9
    with pytest.raises(SpecError) as info:
        parse_spec(spec_dict, "s.yaml")
    assert "field 'model.device'" in str(info.value)
    assert "field 'split.valid_fraction'" in str(info.value)


def test_load_specs_isolated_keeps_the_good_specs_and_one_line_per_bad_file(tmp_path, spec_dict):
    """The DAG factory's read: a bad file is recorded with its file and field, the others still load."""
    from airloop.catalog import load_specs_isolated

    good = _write(tmp_path, spec_dict)
    spec_dict["name"] = "broken"
    spec_dict["model"]["device"] = "tpu"
    broken = _write(tmp_path, spec_dict, name="broken")
    (tmp_path / "draft.yml").write_text("name: [unclosed\n")
    loaded = load_specs_isolated(tmp_path)
    assert [s.name for s in loaded.specs.values()] == ["fraud_detection"] and list(loaded.specs) == [good]
    assert set(loaded.errors) == {broken, tmp_path / "draft.yml"}
    assert loaded.errors[broken].startswith(f"{broken}: field 'model.device'")
    assert "not valid YAML" in loaded.errors[tmp_path / "draft.yml"]
    assert all("\n" not in message for message in loaded.errors.values())


def test_unknown_drift_method_fails_at_load_naming_the_field(tmp_path, spec_dict):
    """`drift.method` is checked against the drift-statistic registry when specs load, not once a champion exists."""
    from airloop.monitor.drift import STATISTICS
    from airloop.monitor.speccheck import load_checked

    _write(tmp_path, spec_dict)
    spec_dict["name"] = "churn"
    spec_dict["drift"]["method"] = "kolmogorov"
    churn = _write(tmp_path, spec_dict, name="churn")
    checked = load_checked(tmp_path)
    assert [s.name for s in checked.specs.values()] == ["fraud_detection"]
    message = checked.errors[churn]
    assert message.startswith(f"{churn}: field 'drift.method': unknown drift method 'kolmogorov'")
    assert all(name in message for name in ("auto", *STATISTICS))  # the registry is the one list of names


@pytest.mark.parametrize("method", ["auto", "ks", "psi", "wasserstein", "jensenshannon", "chi2"])
def test_every_registered_drift_method_loads(tmp_path, spec_dict, method):
    from airloop.monitor.speccheck import load_checked

    spec_dict["drift"]["method"] = method
    path = _write(tmp_path, spec_dict)
    checked = load_checked(tmp_path)
    assert checked.errors == {} and checked.specs[path].drift.method == method


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16"])
def test_a_spec_that_is_not_utf8_is_its_own_error_beside_a_good_one(tmp_path, spec_dict, encoding):
    """A Latin-1 or UTF-16 file is a SpecError naming the file, not an exception out of the loader."""
    from airloop.catalog import load_spec, load_specs_isolated
    from airloop.monitor.speccheck import load_checked

    good = _write(tmp_path, spec_dict)
    spec_dict["name"] = "churn"
    bad = _write(tmp_path, spec_dict, name="churn")
    bad.write_bytes(("# café owner: Zoë\n" + bad.read_text()).encode(encoding))
    with pytest.raises(SpecError, match="not UTF-8 text"):
        load_spec(bad)
    for loaded in (load_specs_isolated(tmp_path), load_checked(tmp_path)):
        assert list(loaded.specs) == [good]
        assert list(loaded.errors) == [bad]
        assert loaded.errors[bad].startswith(f"{bad}: not UTF-8 text") and "\n" not in loaded.errors[bad]


def test_the_isolated_loader_records_any_exception_of_one_file(tmp_path, spec_dict):
    from airloop.catalog import load_specs_isolated

    good = _write(tmp_path, spec_dict)
    spec_dict["name"] = "churn"
    other = _write(tmp_path, spec_dict, name="churn")

    def check(spec, source):
        if spec.name == "churn":
            raise RuntimeError("a bug in one check\nsecond line")

    loaded = load_specs_isolated(tmp_path, check)
    assert list(loaded.specs) == [good]
    assert loaded.errors == {other: f"{other}: RuntimeError: a bug in one check"}
