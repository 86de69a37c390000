"""`airloop check`: every spec loads and its feature modules import; exit 0 all good, 1 some invalid, 2 usage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "include" / "pipelines"


def _churn(spec_dict: dict, **changes) -> dict:
    """The shipped spec as a second pipeline, `churn`, with `changes` merged into its top-level sections."""
    data = {**spec_dict, "name": "churn"}
    for key, value in changes.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) else value
    return data


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    directory = tmp_path / "specs"
    directory.mkdir()
    shutil.copy(SHIPPED / "fraud_detection.yaml", directory)
    return directory


def test_shipped_specs_pass_from_the_default_folder(cli_main, tmp_path):
    result = cli_main(tmp_path, "check", "--format", "json")
    assert result.rc == 0, result
    report = json.loads(result.stdout)
    assert report["invalid"] == []
    assert {v["name"] for v in report["valid"]} == {p.stem for p in SHIPPED.glob("*.yaml")}


def test_every_invalid_spec_is_listed_with_file_and_field(cli_main, tmp_path, specs, spec_dict):
    misspelt = _write(specs / "churn.yaml", {**_churn(spec_dict), "ownr": "x"})
    method = _write(specs / "retail.yaml", {**_churn(spec_dict, drift={"method": "kolmogorov"}), "name": "retail"})
    result = cli_main(tmp_path, "check", "--specs-dir", str(specs))
    assert result.rc == 1, result
    lines = result.stdout.strip().splitlines()
    assert f"ok       {specs / 'fraud_detection.yaml'}" in lines
    assert f"invalid  {misspelt}: field 'ownr': Extra inputs are not permitted" in lines
    assert any(line.startswith(f"invalid  {method}: field 'drift.method': unknown drift method") for line in lines)
    assert lines[-1] == f"3 spec file(s) in {specs}: 1 valid, 2 invalid"
    assert "Traceback" not in result.stdout + result.stderr

    as_json = json.loads(cli_main(tmp_path, "check", "--specs-dir", str(specs), "--format", "json").stdout)
    assert [v["name"] for v in as_json["valid"]] == ["fraud_detection"]
    assert {i["file"] for i in as_json["invalid"]} == {str(misspelt), str(method)}


def test_a_custom_feature_module_that_fails_to_import_is_invalid(cli_main, tmp_path, specs, spec_dict):
    """The DAG parse never imports users' modules; `check` does, as the spec's first task would."""
    features = [*spec_dict["features"], {"name": "odd", "transform": "churn_features:odd", "column": "amount"}]
    churn = _write(specs / "churn.yaml", _churn(spec_dict, features=features))
    (specs / "churn_features.py").write_text(
        "import no_such_package_airloop\n\ndef odd(df):\n    return df['amount']\n"
    )
    result = cli_main(tmp_path, "check", "--specs-dir", str(specs), "--format", "json")
    assert result.rc == 1, result
    (invalid,) = json.loads(result.stdout)["invalid"]
    assert invalid["file"] == str(churn)
    assert invalid["error"].startswith(f"{churn}: field 'features.{len(features) - 1}' (odd): ")
    assert "no_such_package_airloop" in invalid["error"]

    (specs / "churn_features.py").write_text("def odd(df):\n    return df['amount']\n")
    healed = cli_main(tmp_path, "check", "--specs-dir", str(specs), "--format", "json")
    assert healed.rc == 0, healed
    assert sorted(v["name"] for v in json.loads(healed.stdout)["valid"]) == ["churn", "fraud_detection"]


def test_a_missing_folder_is_a_usage_error(cli_main, tmp_path):
    result = cli_main(tmp_path, "check", "--specs-dir", str(tmp_path / "nowhere"))
    assert result.rc == 2, result
    assert result.stderr.strip() == f"airloop: specs directory {tmp_path / 'nowhere'} does not exist"
    assert result.stdout == ""
