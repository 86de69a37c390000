"""Every benchmark script still runs: each one's --smoke mode (tiny sizes, same code path) exits 0 and prints its
table. Benchmarks that nothing runs rot silently; the numbers of a smoke run mean nothing and are not checked.

The GPU scripts run on the CPU here and must say that CUDA was skipped; `drift_vs_evidently.py` installs nothing
in a smoke run, so it either compares with an Evidently venv that is already there or says it skipped that.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
TIMEOUT_S = 300  # a smoke run takes seconds; this only stops a hung one on a loaded machine

pytestmark = pytest.mark.slow  # one fresh interpreter per script, each importing pandas/xgboost/mlflow/airflow

# script → patterns that its stdout must contain (each matched against one line), for its table and, where the
# run depends on the machine, for what it said about the part it skipped.
EXPECTED: dict[str, list[str]] = {
    "feature_task": [r"^== feature_task \(.*\): .*not judged: smoke run\)$", r"^   - DVC track "],
    "validation": [r"^== validation \(clean batch\): ", r"^== validation \(dirty batch, ~1% invalid rows\): "],
    "train_overhead": [r"^== train_overhead \(.*\): ", r"^   - MLflow logging \(log_model_version"],
    "parse_time": [r"^== parse_time \(bytecode cached", r"^   - breakdown of the DAG file"],
    "drift_memory": [r"^airloop drift: wall [\d.]+ s, peak RSS \d+ MB .*, exit 0$"],
    "drift_vs_evidently": [
        r"^airloop +[\d.]+ +[\d.]+ +[\d.]+ +[\d.]+ +\d+ +\d+$",
        r"^(evidently +[\d.]+ |comparison with Evidently skipped: )",
    ],
    "gpu_train": [r"^\| cpu +\| +2,000 \|", r"^(\| cuda +\| |no GPU found \(.*\): CUDA row skipped$)"],
    "gpu_determinism": [r"^\| cpu nthread=\d+ vs again +\| True", r"^(\| cuda vs cuda again|no usable GPU .*skipped$)"],
    "gpu_fit": [r"^auto +(cpu|cuda) +[\d.]+ +[\d.]+$", r"^cpu +cpu +[\d.]+ +[\d.]+$"],
}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )


def test_every_script_has_a_smoke_case():
    scripts = {p.stem for p in BENCH.glob("*.py") if not p.stem.startswith("_")} - {"run_all"}
    assert scripts == set(EXPECTED), "add the new benchmark to EXPECTED (with a --smoke mode)"


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_smoke_run_prints_its_table(script):
    proc = run(str(BENCH / f"{script}.py"), "--smoke")
    assert proc.returncode == 0, (
        f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
    )
    lines = proc.stdout.splitlines()
    for pattern in EXPECTED[script]:
        assert any(re.search(pattern, line) for line in lines), f"no line matches {pattern!r} in:\n{proc.stdout}"


def test_run_all_smoke_writes_the_report_only_where_told(tmp_path):
    doc = tmp_path / "benchmarks.md"
    proc = run(str(BENCH / "run_all.py"), "--smoke", "--only", "gpu_train", "--doc", str(doc))
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    text = doc.read_text()
    assert "(--smoke: tiny sizes, numbers mean nothing)" in text
    assert re.search(r"^\| gpu_train \(2,000 × 12, 5 rounds\) \| ", text, re.MULTILINE), text
