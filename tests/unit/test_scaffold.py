"""`airloop new`: the files it writes, what it refuses, schema inference from a sample, and that its output works.

The command runs in-process through `airloop.cli.main()` (the `cli_main` fixture: same exit-code path as a real
process). Every call names `--dir` and `--tests-dir` under pytest's tmp directory, so nothing lands in the checkout.
The generated test modules are run by a real pytest process, as a user would run them, and checked with ruff
(the project lints `include/` and `tests/`, where they normally go).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from airloop.catalog import load_spec
from airloop.data.features import feature_columns
from airloop.dev import scaffold
from airloop.dev.scaffold import ScaffoldError, infer_schema, render, rules

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
TASKS = scaffold.supported_tasks()


def sample(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """A small batch with one column of each kind the inference tells apart."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i:04d}" for i in range(n)],
            "signup_time": pd.date_range("2026-01-01", periods=n, freq="h", tz="UTC"),
            "age": rng.integers(18, 90, n),
            "balance": np.where(np.arange(n) % 7 == 0, np.nan, rng.normal(1000, 300, n)),
            "plan": rng.choice(["basic", "pro", "enterprise"], n),
            "region": pd.Series(
                np.where(np.arange(n) % 5 == 0, None, rng.choice(["north", "south"], n)), dtype="string"
            ),
            "email": [f"user{i}@example.com" for i in range(n)],
            "is_active": rng.random(n) < 0.5,
            "churned": np.arange(n) % 2,
        }
    )


def new(cli_main, root: Path, *args: str):
    return cli_main(root, "new", *args, "--dir", str(root / "pipes"), "--tests-dir", str(root / "tests"))


def assert_one_line_error(result, fragment: str) -> None:
    assert result.rc == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("airloop: ")
    assert fragment in lines[0], lines[0]


# --------------------------------------------------------------------------------------------------- the command


def test_new_writes_spec_module_and_test(tmp_path, cli_main):
    result = new(cli_main, tmp_path, "shop")
    assert result.rc == 0, result
    spec_path = tmp_path / "pipes" / "shop.yaml"
    assert spec_path.is_file()
    assert (tmp_path / "pipes" / "features_shop.py").is_file()
    assert (tmp_path / "tests" / "test_features_shop.py").is_file()
    spec = load_spec(spec_path)
    assert spec.name == "shop"
    assert spec.label.task == "binary"
    assert spec.schema.time_column == "event_time"
    assert any(f.transform == "features_shop:missing_count" for f in spec.features)
    # next steps: how to validate, where batches go, which DAGs appear
    assert "airloop validate --pipeline shop FILE" in result.stdout
    assert "landing/shop" in result.stdout
    assert "shop__features" in result.stdout and "shop__retrain" in result.stdout
    assert "AIRLOOP_SPECS_DIR" in result.stdout  # --dir is not the settings' specs directory


def test_new_skeleton_comments_and_options(tmp_path, cli_main):
    result = new(cli_main, tmp_path, "orders", "--label", "returned", "--time-column", "ordered_at")
    assert result.rc == 0, result
    text = (tmp_path / "pipes" / "orders.yaml").read_text()
    assert text.startswith("# The orders pipeline")
    assert "# queue: gpu" in text and "docs/authoring.md" in text
    spec = load_spec(tmp_path / "pipes" / "orders.yaml")
    assert spec.label.column == "returned"
    assert spec.schema.time_column == "ordered_at"
    assert spec.schema.columns["returned"].required is False


def test_new_refuses_to_overwrite_and_writes_nothing(tmp_path, cli_main):
    assert new(cli_main, tmp_path, "shop").rc == 0
    spec_path = tmp_path / "pipes" / "shop.yaml"
    spec_path.write_text(spec_path.read_text() + "# my edit\n")
    result = new(cli_main, tmp_path, "shop")
    assert_one_line_error(result, "refusing to overwrite")
    assert str(spec_path) in result.stderr
    assert spec_path.read_text().endswith("# my edit\n")

    # one existing file (here only the test) stops all three
    (tmp_path / "tests" / "test_features_cart.py").write_text("# mine\n")
    result = new(cli_main, tmp_path, "cart")
    assert_one_line_error(result, "test_features_cart.py")
    assert not (tmp_path / "pipes" / "cart.yaml").exists()
    assert not (tmp_path / "pipes" / "features_cart.py").exists()
    assert (tmp_path / "tests" / "test_features_cart.py").read_text() == "# mine\n"


def test_new_refuses_a_yml_spec_of_the_same_name(tmp_path, cli_main):
    (tmp_path / "pipes").mkdir()
    (tmp_path / "pipes" / "shop.yml").write_text("name: shop\n")
    assert_one_line_error(new(cli_main, tmp_path, "shop"), "shop.yml")


@pytest.mark.parametrize("name", ["Shop", "9lives", "a", "shop-floor", "x" * 64, "shop.v2"])
def test_new_refuses_names_the_spec_refuses(tmp_path, cli_main, name):
    result = new(cli_main, tmp_path, name)
    assert_one_line_error(result, f"'{name}' is not a valid pipeline name")
    assert not (tmp_path / "pipes").exists()


def test_check_name_uses_the_spec_pattern():
    from airloop.spec import NAME_RE

    assert scaffold.spec_name_pattern() == NAME_RE
    scaffold.check_name("ab")
    with pytest.raises(ScaffoldError, match="lower-case letter"):
        scaffold.check_name("_ab")


def test_new_from_parquet_infers_the_schema(tmp_path, cli_main):
    sample().to_parquet(tmp_path / "sample.parquet", index=False)
    result = new(cli_main, tmp_path, "churn", "--from", str(tmp_path / "sample.parquet"), "--label", "churned")
    assert result.rc == 0, result
    spec = load_spec(tmp_path / "pipes" / "churn.yaml")
    cols = spec.schema.columns
    assert spec.schema.id_column == "customer_id"  # *_id, unique, never missing
    assert spec.schema.time_column == "signup_time"  # the only timestamp column
    assert spec.label.column == "churned"
    assert {n: c.dtype for n, c in cols.items()} == {
        "customer_id": "string",
        "signup_time": "datetime",
        "age": "int",
        "balance": "float",
        "plan": "category",
        "region": "category",
        "email": "string",
        "is_active": "bool",
        "churned": "int",
    }
    assert cols["customer_id"].unique
    assert cols["balance"].nullable and cols["region"].nullable and not cols["age"].nullable
    assert cols["plan"].domain == ["basic", "enterprise", "pro"]
    assert cols["region"].domain == ["north", "south"]
    assert (cols["churned"].min, cols["churned"].max, cols["churned"].required) == (0, 1, False)
    assert cols["age"].min is None and cols["age"].max is None  # ranges only as comments
    transforms = {f.name: (f.transform, f.inputs) for f in spec.features}
    assert transforms == {
        "age": ("identity", ["age"]),
        "balance": ("identity", ["balance"]),
        "plan": ("one_hot", ["plan"]),
        "region": ("one_hot", ["region"]),
        "is_active": ("identity", ["is_active"]),
        "missing_count": ("features_churn:missing_count", []),
    }
    text = (tmp_path / "pipes" / "churn.yaml").read_text()
    assert re.search(r"age: \{dtype: int\} +# observed \d+ … \d+", text)  # the range as a comment only
    assert "# email: no feature" in text
    assert 'pattern: "*.parquet"' in text


def test_new_from_csv_parses_timestamps_and_int_gaps(tmp_path, cli_main):
    df = sample()
    df["visits"] = pd.Series(np.where(np.arange(len(df)) % 4 == 0, None, np.arange(len(df))), dtype="Int64")
    df.to_csv(tmp_path / "sample.csv", index=False)
    result = new(cli_main, tmp_path, "churn", "--from", str(tmp_path / "sample.csv"), "--label", "churned")
    assert result.rc == 0, result
    spec = load_spec(tmp_path / "pipes" / "churn.yaml")
    cols = spec.schema.columns
    assert cols["signup_time"].dtype == "datetime"  # ISO text in CSV
    assert cols["visits"].dtype == "int" and cols["visits"].nullable  # floats with gaps in CSV
    assert spec.storage.pattern == "*.csv"


@pytest.mark.parametrize(
    ("mutate", "args", "fragment"),
    [
        (None, ["--label", "nope"], "--label 'nope' is not a column of the sample"),
        (None, ["--label", "age"], "a binary label is 0/1 or true/false"),
        (lambda df: df.drop(columns=["churned"]), [], "no label column found"),
        (lambda df: df.rename(columns={"customer_id": "customer"}), ["--label", "churned"], "pass --id-column"),
        (lambda df: df.assign(seen_at=df["signup_time"]), ["--label", "churned"], "several timestamp columns"),
        (None, ["--label", "churned", "--time-column", "age"], "does not hold timestamps"),
    ],
    ids=["unknown-label", "label-not-binary", "no-label", "no-id", "two-timestamps", "time-not-timestamps"],
)
def test_new_from_refuses_what_it_cannot_infer(tmp_path, cli_main, mutate, args, fragment):
    df = sample()
    (mutate(df) if mutate else df).to_parquet(tmp_path / "s.parquet", index=False)
    result = new(cli_main, tmp_path, "churn", "--from", str(tmp_path / "s.parquet"), *args)
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "pipes" / "churn.yaml").exists()


def test_new_from_a_missing_file_is_a_one_line_error(tmp_path, cli_main):
    assert_one_line_error(new(cli_main, tmp_path, "churn", "--from", str(tmp_path / "no.parquet")), "no such file")


# ------------------------------------------------------------------------------------------- inference functions


def test_infer_schema_roles_by_name_and_explicit_columns():
    df = sample().rename(columns={"churned": "target"})
    inferred = infer_schema(df)
    assert (inferred.id_column, inferred.time_column, inferred.label) == ("customer_id", "signup_time", "target")
    inferred = infer_schema(df, label="target", id_column="email")
    assert inferred.id_column == "email"
    assert next(c for c in inferred.columns if c.name == "email").unique


def test_infer_schema_category_only_for_few_repeated_values():
    n = 60
    df = sample(n).assign(
        survey=[f"Q{i % 25:02d}" for i in range(n)],  # 25 survey codes: ≤ 50 distinct, repeated: a category
        city=[f"city{i % 40}" for i in range(n)],  # 40 distinct in 60 rows: most seen once, free text
        size=["s", "m", "l"] * (n // 3),
    )
    inferred = infer_schema(df, label="churned")
    cols = {c.name: c for c in inferred.columns}
    assert cols["survey"].dtype == "category" and cols["survey"].domain == [f"Q{i:02d}" for i in range(25)]
    assert cols["city"].dtype == "string" and cols["city"].domain is None
    assert cols["size"].dtype == "category" and cols["size"].domain == ["l", "m", "s"]
    assert set(inferred.skipped) == {"city", "email"}
    assert "≤ 50 distinct values or ≤ 1% of rows" in inferred.skipped["city"]


@pytest.mark.parametrize(("distinct", "dtype"), [(50, "category"), (100, "category"), (101, "string")])
def test_category_rule_is_50_distinct_values_or_1_percent_of_rows(distinct, dtype):
    n = 10_000
    df = pd.DataFrame({"id": range(n), "churned": np.arange(n) % 2, "code": [f"c{i % distinct}" for i in range(n)]})
    col = next(c for c in infer_schema(df, label="churned").columns if c.name == "code")
    assert col.dtype == dtype


def test_survey_codes_become_a_feature_and_the_rule_is_in_the_spec(tmp_path, cli_main):
    df = sample(120).assign(answer=[f"A{i % 25}" for i in range(120)])
    df.to_parquet(tmp_path / "survey.parquet", index=False)
    result = new(cli_main, tmp_path, "survey", "--from", str(tmp_path / "survey.parquet"), "--label", "churned")
    assert result.rc == 0, result
    spec = load_spec(tmp_path / "pipes" / "survey.yaml")
    assert spec.schema.columns["answer"].dtype == "category"
    assert next(f for f in spec.features if f.name == "answer").transform == "category_code"  # > 20 values
    assert next(f for f in spec.features if f.name == "plan").transform == "one_hot"
    text = (tmp_path / "pipes" / "survey.yaml").read_text()
    assert "# inferred: text is a category: ≤ 50 distinct values or ≤ 1% of rows" in text
    assert "# email: no feature: free text or an identifier, not a category" in text


@pytest.mark.parametrize(("rows", "warned"), [(120, True), (1000, False)])
def test_new_warns_when_the_sample_is_smaller_than_min_rows(tmp_path, cli_main, rows, warned):
    sample(rows).to_parquet(tmp_path / "s.parquet", index=False)
    result = new(cli_main, tmp_path, "small", "--from", str(tmp_path / "s.parquet"), "--label", "churned")
    assert result.rc == 0, result
    assert load_spec(tmp_path / "pipes" / "small.yaml").training.min_rows == 1000
    warning = f"airloop: warning: the sample has {rows} rows, fewer than training.min_rows (1000)"
    assert (warning in result.stderr) is warned, result.stderr
    assert "make up" in result.stdout


def test_domain_values_that_yaml_would_misread_are_quoted(tmp_path):
    df = sample().assign(code=["01", "yes", "null", "a: b"] * 15)
    plan = scaffold.plan("codes", tmp_path, tmp_path, sample=df, label="churned")
    assert "'01'" in plan.files[plan.spec_path]
    scaffold.write(plan)
    spec = load_spec(plan.spec_path)
    assert spec.schema.columns["code"].domain == ["01", "a: b", "null", "yes"]


def test_values_xgboost_cannot_name_get_category_code(tmp_path):
    df = sample().assign(band=["<10", "[10,20)", "20+"] * 20)
    plan = scaffold.plan("bands", tmp_path, tmp_path, sample=df, label="churned")
    scaffold.write(plan)
    spec = load_spec(plan.spec_path)
    assert next(f for f in spec.features if f.name == "band").transform == "category_code"


def test_bool_label_stays_bool(tmp_path):
    df = sample().assign(churned=lambda d: d.churned == 1)
    plan = scaffold.plan("flags", tmp_path, tmp_path, sample=df, label="churned")
    scaffold.write(plan)
    assert load_spec(plan.spec_path).schema.columns["churned"].dtype == "bool"


def test_custom_feature_name_avoids_a_column_called_missing_count(tmp_path):
    plan = scaffold.plan("gaps", tmp_path, tmp_path, sample=sample().assign(missing_count=1), label="churned")
    scaffold.write(plan)
    names = [f.name for f in load_spec(plan.spec_path).features]
    assert "missing_count" in names and "n_missing_inputs" in names


@pytest.mark.skipif("regression" not in TASKS, reason="this spec accepts label.task binary only")
def test_regression_label_and_metrics(tmp_path, cli_main):
    df = sample().assign(spend=np.linspace(0, 500, 60))
    df.to_parquet(tmp_path / "s.parquet", index=False)
    result = new(cli_main, tmp_path, "spend", "--from", str(tmp_path / "s.parquet"), "--task", "regression")
    assert_one_line_error(result, "no label column found")  # no column named label, target, …
    result = new(
        cli_main, tmp_path, "spend", "--from", str(tmp_path / "s.parquet"), "--task", "regression", "--label", "spend"
    )
    assert result.rc == 0, result
    spec = load_spec(tmp_path / "pipes" / "spend.yaml")
    assert spec.label.task == "regression"
    assert spec.schema.columns["spend"].dtype == "float"
    assert spec.gate.metric == "rmse" and spec.performance.metric == "rmse"
    assert spec.performance.max_drop == pytest.approx(0.1 * np.std(df["spend"]), rel=1e-3)
    assert "churned" in spec.schema.columns  # any other column stays a column (and a feature)


@pytest.mark.skipif("multiclass" not in TASKS, reason="this spec accepts label.task binary only")
def test_multiclass_text_label_becomes_a_category(tmp_path, cli_main):
    df = sample().assign(tier=["gold", "silver", "bronze"] * 20).drop(columns=["churned"])
    df.to_parquet(tmp_path / "s.parquet", index=False)
    args = ["--from", str(tmp_path / "s.parquet"), "--task", "multiclass", "--label", "tier"]
    assert new(cli_main, tmp_path, "tiers", *args).rc == 0
    spec = load_spec(tmp_path / "pipes" / "tiers.yaml")
    assert spec.schema.columns["tier"].dtype == "category"
    assert spec.schema.columns["tier"].domain == ["bronze", "gold", "silver"]
    assert spec.gate.metric == "mlogloss"
    assert "tier" not in {c for f in spec.features for c in f.inputs}


@pytest.mark.parametrize("task", TASKS)
def test_skeleton_loads_for_every_supported_task(tmp_path, task):
    plan = scaffold.plan(f"s_{task}", tmp_path, tmp_path, task=task)
    scaffold.write(plan)
    assert load_spec(plan.spec_path).label.task == task


def test_no_timestamp_column_means_no_time_column(tmp_path):
    plan = scaffold.plan("untimed", tmp_path, tmp_path, sample=sample().drop(columns=["signup_time"]), label="churned")
    scaffold.write(plan)
    assert load_spec(plan.spec_path).schema.time_column is None


def test_unsupported_task_is_refused_plainly(monkeypatch):
    monkeypatch.setattr(rules, "supported_tasks", lambda: ("binary",))
    with pytest.raises(ScaffoldError, match="accepts label.task binary, not regression"):
        rules.check_task("regression")


# ------------------------------------------------------------------------------------------- the generated code


def test_generated_tests_pass_and_the_code_is_lint_clean(tmp_path, cli_main):
    """The generated test modules run green in a fresh pytest process; generated Python passes the project's ruff."""
    sample().to_parquet(tmp_path / "sample.parquet", index=False)
    assert new(cli_main, tmp_path, "shop").rc == 0
    assert new(cli_main, tmp_path, "churn", "--from", str(tmp_path / "sample.parquet"), "--label", "churned").rc == 0
    long_name = "a" + "_very_long_pipeline_name" * 2 + "_x" * 7  # 63 characters: the longest name allowed
    assert new(cli_main, tmp_path, long_name).rc == 0
    if "multiclass" in TASKS:
        assert new(cli_main, tmp_path, "classes", "--task", "multiclass").rc == 0
    if "regression" in TASKS:
        assert new(cli_main, tmp_path, "amounts", "--task", "regression").rc == 0

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "ignore::pytest.PytestUnknownMarkWarning",
        ]
        + ["tests"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    expected = 3 * (3 + ("multiclass" in TASKS) + ("regression" in TASKS))
    assert f"{expected} passed" in proc.stdout, proc.stdout

    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    python = [*sorted((tmp_path / "pipes").glob("*.py")), *sorted((tmp_path / "tests").glob("*.py"))]
    config = ["--config", str(ROOT / "pyproject.toml")]  # run from ROOT: its `src` makes airloop first-party
    for check in (["check"], ["format", "--check"]):
        lint = subprocess.run(
            [ruff, *check, *config, *map(str, python)], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr


def test_generated_spec_builds_features_with_the_custom_function(tmp_path):
    plan = scaffold.plan("gapsfeat", tmp_path, tmp_path / "tests", sample=sample(), label="churned")
    scaffold.write(plan)
    spec = load_spec(plan.spec_path)
    assert feature_columns(spec)[-1] == "missing_count"
    data = yaml.safe_load(plan.files[plan.spec_path])
    assert data["gate"] == {"metric": "pr_auc", "min_improvement": 0.0}  # the direction is the metric's own


def test_id_column_needs_a_sample(tmp_path, cli_main):
    assert_one_line_error(new(cli_main, tmp_path, "shop", "--id-column", "order_id"), "--id-column needs --from")


# ----------------------------------------------------------------------------------------------- the templates


def test_templates_are_files_that_load_as_what_they_become():
    """The Python templates are linted by the project's ruff with the rest of include/; the YAML one must load."""
    text = render.template("spec.yaml")
    data = yaml.safe_load(text)
    assert data["name"] == "$name" and data["label"] == {"column": "$label", "task": "$task"}
    assert {m[1] for m in map(render.BLOCK.match, text.splitlines()) if m} == {"time_column", "columns", "features"}
    for name in ("features.py", "tests.py"):
        compile(render.template(name), name, "exec")
    assert render.template("tests.py").count(render.SPEC_NEXT_TO_TEST) == 1


def test_yaml_template_aligns_notes_after_substitution():
    text = "a: $x  #: note on $x\n  #: more\n  # ${rows}\nb: 1\n"
    filled = render.fill_yaml(text, {"x": "v" * 45}, {"rows": ["  - 1", "  - 2"]})
    assert filled.splitlines() == [
        f"a: {'v' * 45}  # note on {'v' * 45}",
        " " * 39 + " # more",
        "  - 1",
        "  - 2",
        "b: 1",
    ]
    assert render.fill_yaml("a: $x  #: n\n", {"x": "v"}, {}) == "a: v" + " " * 35 + " # n\n"


def test_generated_test_finds_a_spec_on_another_drive_by_its_absolute_path(tmp_path, monkeypatch):
    def no_relative_path(*args):
        raise ValueError("path is on mount 'D:', start on mount 'C:'")

    monkeypatch.setattr(render.os.path, "relpath", no_relative_path)
    text = render.features_test("shop", tmp_path / "pipes" / "shop.yaml", tmp_path / "tests" / "test_features_shop.py")
    assert f'SPEC = "{(tmp_path / "pipes" / "shop.yaml").resolve().as_posix()}"' in text
    assert "SPEC_PATH = Path(SPEC)\n" in text and render.SPEC_NEXT_TO_TEST not in text


def test_the_feature_module_template_imports_without_pandas(tmp_path):
    """Every `airloop new` feature module is imported at each DAG parse: pandas (and numpy) only in annotations."""
    (tmp_path / "features_shop.py").write_text(render.template("features.py"))
    probe = "import sys, features_shop; sys.exit(sorted({'pandas', 'numpy'} & set(sys.modules)) or 0)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
