"""One broken spec breaks only its own DAGs: it becomes one failing `<name>__invalid_spec` DAG, the others parse.

Each DagBag is parsed in a fresh process, since the DAG file reads `AIRLOOP_SPECS_DIR` when it is imported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.dags

ROOT = Path(__file__).resolve().parents[2]
FRAUD = ROOT / "include" / "pipelines" / "fraud_detection.yaml"
KINDS = ("features", "train", "score", "monitor", "retrain", "staleness")

# Parse the real DAG folder, then run each invalid-spec DAG's only task body and record what it raised.
PARSE = """
import json
{prelude}
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder={dags!r})
raised = {{}}
for dag_id, dag in bag.dags.items():
    if dag_id.endswith("__invalid_spec"):
        (task,) = dag.tasks
        try:
            task.python_callable()
        except Exception as exc:
            raised[dag_id] = [type(exc).__name__, str(exc), task.retries]
print(json.dumps({{"errors": bag.import_errors, "dag_ids": sorted(bag.dag_ids), "raised": raised}}))
"""


def parse(specs_dir: Path, prelude: str = "") -> dict:
    """Parse the DAG folder in a fresh process, after running `prelude` there (to patch the factory, say)."""
    env = {**os.environ, "AIRLOOP_SPECS_DIR": str(specs_dir), "PYTHONPATH": str(ROOT / "plugins")}
    code = PARSE.format(dags=str(ROOT / "dags"), prelude=prelude)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def churn_text(owner_field: str = "owner", method: str = "auto") -> str:
    """fraud_detection's spec as a second pipeline, `churn`, with the owner field and drift method given."""
    text = FRAUD.read_text().replace("name: fraud_detection", "name: churn", 1)
    text = text.replace("\nowner:", f"\n{owner_field}:", 1)
    return text.replace("drift: {method: auto,", f"drift: {{method: {method},", 1)


@pytest.fixture
def specs_dir(tmp_path: Path) -> Path:
    shutil.copy(FRAUD, tmp_path / FRAUD.name)
    return tmp_path


def test_a_misspelt_field_breaks_only_its_own_spec_and_fixing_it_heals(specs_dir: Path):
    churn = specs_dir / "churn.yaml"
    churn.write_text(churn_text(owner_field="ownr"))
    bag = parse(specs_dir)
    assert bag["errors"] == {}
    assert {f"fraud_detection__{k}" for k in KINDS} <= set(bag["dag_ids"])
    assert [d for d in bag["dag_ids"] if d.startswith("churn")] == ["churn__invalid_spec"]
    kind, message, retries = bag["raised"]["churn__invalid_spec"]
    assert kind == "AirflowFailException" and retries == 0
    assert str(churn) in message and "field 'ownr'" in message

    churn.write_text(churn_text())
    healed = parse(specs_dir)
    assert healed["errors"] == {} and healed["raised"] == {}
    assert {f"{name}__{k}" for name in ("churn", "fraud_detection") for k in KINDS} == set(healed["dag_ids"])


def test_bad_yaml_and_unknown_drift_method_fail_at_parse_without_scipy(specs_dir: Path):
    (specs_dir / "churn.yaml").write_text(churn_text(method="kolmogorov"))
    (specs_dir / "draft.yaml").write_text("name: draft\nschema: {columns: [\n")
    bag = parse(specs_dir)
    assert bag["errors"] == {}
    assert {f"fraud_detection__{k}" for k in KINDS} <= set(bag["dag_ids"])
    assert {"churn__invalid_spec", "draft__invalid_spec"} <= set(bag["dag_ids"])
    assert "field 'drift.method'" in bag["raised"]["churn__invalid_spec"][1]
    assert "unknown drift method 'kolmogorov'" in bag["raised"]["churn__invalid_spec"][1]
    assert "not valid YAML" in bag["raised"]["draft__invalid_spec"][1]


def test_the_dag_parse_imports_neither_scipy_nor_xgboost():
    """The drift-method check reads `monitor.drift_methods`, a list of names: the parse loads no numeric library."""
    code = (
        "import sys; from airloop_airflow.factory import build_all; dags = build_all(); "
        "print(len(dags), 'scipy' in sys.modules, 'xgboost' in sys.modules, 'pandas' in sys.modules, "
        "'numpy' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "plugins")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)
    count, scipy, xgboost, pandas, numpy = out.stdout.split()[-5:]
    assert int(count) > 0 and (scipy, xgboost) == ("False", "False"), out.stdout + out.stderr
    assert (pandas, numpy) == ("False", "False"), out.stdout + out.stderr  # 0.17 s parse, not 1.2 s


def test_the_dag_parse_of_a_scaffolded_pipeline_imports_no_pandas(tmp_path: Path):
    """`airloop new`'s feature module is imported at every parse (the feature check): it must not pull pandas in."""
    specs = tmp_path / "specs"
    new = [sys.executable, "-m", "airloop.cli", "new", "shop", "--dir", str(specs), "--tests-dir", str(tmp_path)]
    made = subprocess.run(new, capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    assert (specs / "features_shop.py").is_file()
    code = (
        "import sys; from airloop_airflow.factory import build_all; dags = build_all(); "
        "print({f'shop__{k}' for k in ('features', 'train', 'score', 'monitor', 'retrain')} <= set(dags), "
        "'features_shop' in sys.modules, 'pandas' in sys.modules, 'numpy' in sys.modules)"
    )
    env = {**os.environ, "AIRLOOP_SPECS_DIR": str(specs), "PYTHONPATH": str(ROOT / "plugins")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)
    built, imported, pandas, numpy = out.stdout.split()[-4:]
    assert (built, imported) == ("True", "True"), out.stdout + out.stderr
    assert (pandas, numpy) == ("False", "False"), out.stdout + out.stderr


def test_a_custom_feature_module_that_does_not_import_breaks_only_its_own_spec(specs_dir: Path):
    """The DAG parse imports custom feature modules with the same check as `airloop check`, one spec at a time."""
    text = churn_text().replace(
        "\n  - {name: log_amount,",
        '\n  - {name: basket, transform: "no_such_churn_features:basket"}\n  - {name: log_amount,',
        1,
    )
    assert "no_such_churn_features" in text
    churn = specs_dir / "churn.yaml"
    churn.write_text(text)
    bag = parse(specs_dir)
    assert bag["errors"] == {}
    assert {f"fraud_detection__{k}" for k in KINDS} <= set(bag["dag_ids"])
    assert [d for d in bag["dag_ids"] if d.startswith("churn")] == ["churn__invalid_spec"]
    kind, message, _ = bag["raised"]["churn__invalid_spec"]
    assert kind == "AirflowFailException" and "\n" not in message
    assert str(churn) in message and "feature 'basket'" in message
    assert "no module 'no_such_churn_features'" in message


# The retrain builder raises for churn only, after churn's features/train/score/monitor DAGs were built.
FAIL_CHURN_RETRAIN = """
from airloop_airflow import factory
_retrain = factory.retrain_dag
def _boom(spec, *args):
    if spec.name == "churn":
        raise RuntimeError("retrain builder broke")
    return _retrain(spec, *args)
factory.retrain_dag = _boom
"""


def test_a_spec_whose_builder_raises_midway_leaves_none_of_its_dags_behind(specs_dir: Path):
    """DAGs are not auto-registered: churn's DAGs built before the failing builder do not stay live."""
    (specs_dir / "churn.yaml").write_text(churn_text())
    bag = parse(specs_dir, prelude=FAIL_CHURN_RETRAIN)
    assert bag["errors"] == {}
    assert {f"fraud_detection__{k}" for k in KINDS} <= set(bag["dag_ids"])
    assert [d for d in bag["dag_ids"] if d.startswith("churn")] == ["churn__invalid_spec"]
    assert "retrain builder broke" in bag["raised"]["churn__invalid_spec"][1]


def test_a_spec_file_that_is_not_utf8_breaks_only_its_own_spec(specs_dir: Path):
    """A Latin-1 file beside fraud_detection: no import error, its own invalid_spec DAG, the others intact."""
    (specs_dir / "legacy.yaml").write_bytes(churn_text().replace("name: churn", "name: légacy", 1).encode("latin-1"))
    bag = parse(specs_dir)
    assert bag["errors"] == {}
    assert {f"fraud_detection__{k}" for k in KINDS} <= set(bag["dag_ids"])
    assert [d for d in bag["dag_ids"] if d.startswith("legacy")] == ["legacy__invalid_spec"]
    kind, message, _ = bag["raised"]["legacy__invalid_spec"]
    assert kind == "AirflowFailException" and str(specs_dir / "legacy.yaml") in message
