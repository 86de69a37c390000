"""The bad-input corpus (`airloop.data.datagen.bad`) through `airloop validate` and the feature step the DAG runs.

For every kind of bad batch: a clear one-line verdict and no traceback from the CLI, the raw file never changed,
bad rows or whole batches quarantined with a report that names the problem, a re-delivered batch processed once,
and no model trained on rejected data. Then bad specs and bad calls, each with one clear message.

The CLI runs as real processes (a crash in a native reader would show there, not in-process), several at a time;
the feature step runs in-process on a tmp landing zone with a real DVC workspace, the way the DAG's mapped `process`
task calls it. `AIRLOOP_RELIABILITY_TABLE=path pytest -k table` writes the Markdown summary of a run to `path`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from airloop import steps, uris
from airloop.contracts import Lineage, Skipped, Trained
from airloop.data import ingest
from airloop.data.datagen import generate
from airloop.data.datagen.bad import DESCRIPTIONS, BadBatch, corpus, markdown_table
from airloop.data.ingest import BatchRecord
from airloop.settings import Settings
from airloop.store import storage

pytestmark = pytest.mark.unit

NAME = "fraud_detection"
KINDS = list(DESCRIPTIONS)
TRAIN_FILE = "labelled-train.parquet"  # a clean labelled batch big enough to train on, landed beside the corpus
MAX_REPORT_BYTES = 64 * 1024  # a report is for people and XCom: a 5 MB cell must not make a 5 MB report


@pytest.fixture(scope="module")
def batches() -> dict[str, BadBatch]:
    return {b.kind: b for b in corpus()}


def test_corpus_is_deterministic_and_complete(batches):
    assert len(batches) >= 16
    required = {
        "wrong_dtypes",
        "missing_column",
        "extra_columns",
        "renamed_column",
        "all_null_column",
        "nan_inf_storm",
        "out_of_range_rows",
        "out_of_range_storm",
        "unseen_categories",
        "duplicate_keys",
        "empty_file",
        "zero_rows",
        "truncated_parquet",
        "corrupt_parquet",
        "csv_named_parquet",
        "random_bytes",
        "wrong_encoding",
        "huge_single_row",
        "redelivered",
    }
    assert required <= set(batches)
    assert {b.expect for b in batches.values()} == {"good", "partial", "rejected", "duplicate"}
    assert batches["redelivered"].data == batches["good"].data
    assert len({b.filename for b in batches.values()}) == len(batches)
    assert all(b.filename.endswith(".parquet") for b in batches.values())
    again = {b.kind: b.data for b in corpus()}
    assert again == {k: b.data for k, b in batches.items()}


# --------------------------------------------------------------------------------------------- airloop validate


@dataclass
class CliRun:
    rc: int
    stdout: str
    stderr: str
    sha_before: str
    sha_after: str


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory, env_for, batches) -> dict[str, CliRun]:
    """`python -m airloop.cli validate FILE --pipeline fraud_detection --format json`, one process per corpus file."""
    root = tmp_path_factory.mktemp("bad-cli")
    paths = {}
    for b in batches.values():
        paths[b.kind] = root / b.filename
        paths[b.kind].write_bytes(b.data)
    before = {kind: storage.sha256(str(p)) for kind, p in paths.items()}

    def one(kind: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "airloop.cli", "validate", str(paths[kind]), "--pipeline", NAME, "--format", "json"],
            cwd=root,
            env={**os.environ, **env_for(root), "DVC_NO_ANALYTICS": "1"},
            capture_output=True,
            text=True,
            timeout=180,
        )

    with ThreadPoolExecutor(max_workers=max(2, min(8, os.cpu_count() or 2))) as pool:
        done = dict(zip(paths, pool.map(one, paths), strict=True))
    return {
        kind: CliRun(p.returncode, p.stdout, p.stderr, before[kind], storage.sha256(str(paths[kind])))
        for kind, p in done.items()
    }


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_validate_gives_a_clear_verdict_and_never_changes_the_file(cli_runs, batches, kind):
    run, batch = cli_runs[kind], batches[kind]
    assert "Traceback" not in run.stdout + run.stderr, run.stderr
    assert run.sha_after == run.sha_before, "validate must only read its input"
    lines = run.stderr.strip().splitlines()
    if batch.expect in ("good", "duplicate"):  # the CLI has no state: a re-delivery is a valid file
        assert run.rc == 0, run
        assert json.loads(run.stdout)["valid"] is True
        assert run.stderr == ""
        return
    assert len(lines) == 1, run.stderr
    line = lines[0]
    assert line.startswith("airloop: ") and batch.reason in line, line
    if run.rc == 2:  # unusable file: one line, nothing on stdout
        assert batch.expect == "rejected"
        assert run.stdout == ""
        return
    assert run.rc == 1, run
    report = json.loads(run.stdout)
    assert report["valid"] is False
    assert batch.reason in run.stdout
    assert len(run.stdout) < MAX_REPORT_BYTES
    if batch.expect == "partial":
        assert "would quarantine these rows" in line
        assert 0 < report["n_invalid_rows"] < report["n_rows"]
    else:
        assert "would reject the whole batch" in line


@pytest.mark.parametrize(
    ("encoding", "text"),
    [("latin-1", "café"), ("utf-16", "plain ascii")],
    ids=["latin-1", "utf-16"],
)
def test_csv_in_a_wrong_encoding_is_refused_in_one_line(airloop, tmp_path, encoding, text):
    df = generate("fraud", rows=50, seed=3)
    df.loc[2, "transaction_id"] = text
    path = tmp_path / "batch.csv"
    path.write_bytes(df.to_csv(index=False).encode(encoding))
    before = path.read_bytes()
    result = airloop("validate", str(path), "--pipeline", NAME)
    assert_one_line_error(result, "cannot read as CSV")
    assert "not UTF-8" in result.stderr
    assert path.read_bytes() == before


# ---------------------------------------------------------------------------------- the feature step (the DAG's)


@dataclass
class Landed:
    root: Path
    settings: Settings
    uris: dict[str, str]  # kind (or TRAIN_FILE) → raw URI in the landing zone
    sha_before: dict[str, str]
    discovered: list[str]
    records: dict[str, BatchRecord] = field(default_factory=dict)  # kind → what steps.process returned
    raised: dict[str, str] = field(default_factory=dict)  # kind → traceback, when steps.process raised
    pending_after: list[str] = field(default_factory=list)
    trained: Trained | Skipped | None = None

    def by_kind(self, kind: str) -> BatchRecord:
        return self.records[kind]


@pytest.fixture(scope="module")
def landed(tmp_path_factory, settings_for, fast_spec, batches) -> Landed:
    """Land the corpus and one clean labelled batch, discover + process each file like the DAG, then train.

    Runs DVC and MLflow for real (several seconds), so tests using it are marked slow.
    """
    root = tmp_path_factory.mktemp("bad-dag")
    settings = settings_for(root)
    landing = uris.local_path(settings.location(fast_spec.storage.landing))
    landing.mkdir(parents=True)
    raw = {}
    for b in batches.values():
        (landing / b.filename).write_bytes(b.data)
        raw[b.kind] = uris.to_uri(landing / b.filename)
    raw[TRAIN_FILE] = steps.land(fast_spec, settings, generate("fraud", rows=3000, seed=4242), TRAIN_FILE)
    state = Landed(
        root, settings, raw, {k: storage.sha256(u) for k, u in raw.items()}, steps.discover(fast_spec, settings)
    )
    kind_of = {uri: kind for kind, uri in raw.items()}
    for uri in state.discovered:  # the DAG maps `process` over discover's list; here one after the other
        kind = kind_of[uri]
        try:
            state.records[kind] = steps.process(fast_spec, settings, uri)
        except Exception:  # a test below reports it: bad data must never make `process` raise
            state.raised[kind] = traceback.format_exc()
    state.pending_after = steps.discover(fast_spec, settings)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # MLflow puts a sqlite store's artifacts under ./mlruns
        state.trained = steps.train(fast_spec, settings, Lineage(trigger="manual", git_sha="0" * 40))
    return state


@pytest.mark.slow
def test_every_file_is_discovered_and_processed_without_raising(landed):
    assert sorted(landed.discovered) == sorted(landed.uris.values())
    assert landed.raised == {}, "\n".join(landed.raised.values())
    assert landed.pending_after == [], "every file, rejected or duplicate included, is processed exactly once"


@pytest.mark.slow
def test_raw_files_stay_in_landing_unchanged(landed, fast_spec):
    landing = uris.local_path(landed.settings.location(fast_spec.storage.landing))
    assert sorted(p.name for p in landing.iterdir()) == sorted(uris.local_path(u).name for u in landed.uris.values())
    assert {k: storage.sha256(u) for k, u in landed.uris.items()} == landed.sha_before


def _quarantine(rec: BatchRecord) -> Path:
    return uris.local_path(rec.quarantine_uri)


def _report(rec: BatchRecord) -> tuple[dict[str, Any], str]:
    path = _quarantine(rec) / "report.json"
    text = path.read_text()
    assert len(text) < MAX_REPORT_BYTES, f"{path}: {len(text)} bytes"
    return json.loads(text), text


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_is_handled_as_expected(landed, batches, kind):
    batch, rec = batches[kind], landed.by_kind(kind)
    curated_dir = Path(landed.settings.dvc_workspace) / "curated" / NAME
    if batch.expect == "duplicate":
        assert rec.status == "duplicate"
        assert batch.reason in rec.reason
        return
    if batch.expect == "rejected":
        assert rec.status == "rejected"
        assert rec.curated_path is None and rec.md5 is None and not rec.has_labels
        assert batch.reason in rec.reason, rec.reason
        assert "Traceback" not in rec.reason and "\n" not in rec.reason
        report, _ = _report(rec)
        assert report["valid"] is False and report["batch_error"] == rec.reason
        assert report["raw_uri"] == landed.uris[kind]
        quarantined = sorted(p.name for p in _quarantine(rec).iterdir())
        assert quarantined == sorted([batch.filename, "report.json"])
        assert (_quarantine(rec) / batch.filename).read_bytes() == batch.data, "a byte-identical copy"
        assert not list(curated_dir.glob(f"{rec.batch_id}*"))
        return
    assert rec.status == "curated"
    assert rec.n_rows == rec.n_valid + rec.n_invalid
    curated = pd.read_parquet(Path(landed.settings.dvc_workspace) / rec.curated_path)
    assert len(curated) == rec.n_valid
    if batch.expect == "good":
        assert rec.n_invalid == 0 and rec.quarantine_uri is None
        return
    assert 0 < rec.n_invalid <= 0.2 * rec.n_rows
    report, text = _report(rec)
    assert report["n_invalid_rows"] == rec.n_invalid
    assert batch.reason in text
    rows = pd.read_parquet(_quarantine(rec) / "rows.parquet")
    assert len(rows) == rec.n_invalid
    if kind != "duplicate_keys":  # a repeated id is in both: its first occurrence is curated
        assert not set(rows["transaction_id"]) & set(curated["transaction_id"])


@pytest.mark.slow
def test_a_huge_cell_is_quarantined_whole_and_reported_short(landed):
    rec = landed.by_kind("huge_single_row")
    rows = pd.read_parquet(_quarantine(rec) / "rows.parquet")
    assert rows["merchant_category"].str.len().tolist() == [5_000_000]  # the quarantine keeps the row as it came
    report, _ = _report(rec)
    (example,) = report["failures"][0]["examples"]
    assert example.endswith("(5,000,000 characters)") and len(example) < 300


@pytest.mark.slow
def test_duplicate_keys_keep_the_first_occurrence(landed):
    rec = landed.by_kind("duplicate_keys")
    curated = pd.read_parquet(Path(landed.settings.dvc_workspace) / rec.curated_path)
    assert curated["transaction_id"].is_unique
    assert rec.n_invalid == 10


@pytest.mark.slow
def test_extra_columns_are_not_curated(landed):
    rec = landed.by_kind("extra_columns")
    curated = pd.read_parquet(Path(landed.settings.dvc_workspace) / rec.curated_path)
    assert not {"merchant_name", "ip_address"} & set(curated.columns)


@pytest.mark.slow
def test_a_redelivered_batch_is_processed_once(landed, fast_spec):
    records = ingest.load_records(landed.settings, NAME)
    sha = landed.sha_before["good"]
    assert landed.sha_before["redelivered"] == sha
    same = [r for r in records if r.sha256 == sha]
    assert len(same) == 1 and same[0].status == "curated" and same[0].raw_uri == landed.uris["good"]
    assert landed.uris["redelivered"] not in {r.raw_uri for r in records}
    curated = list((Path(landed.settings.dvc_workspace) / "curated" / NAME).glob("bad-redelivered*"))
    assert curated == []
    # A second delivery of the re-delivery (the DAG run retried) is again a duplicate, not new data.
    again = steps.process(fast_spec, landed.settings, landed.uris["redelivered"])
    assert again.status == "duplicate"
    assert len([r for r in ingest.load_records(landed.settings, NAME) if r.sha256 == sha]) == 1


@pytest.mark.slow
def test_no_model_trains_on_rejected_data(landed, batches):
    records = {r.batch_id: r for r in ingest.load_records(landed.settings, NAME)}
    rejected = {r.batch_id for r in records.values() if r.status == "rejected"}
    assert rejected == {landed.by_kind(k).batch_id for k, b in batches.items() if b.expect == "rejected"}
    trained = landed.trained
    assert isinstance(trained, Trained), trained
    assert not set(trained.batches) & rejected
    curated = {r.batch_id for r in records.values() if r.status == "curated" and r.has_labels}
    assert set(trained.batches) == curated
    assert trained.n_rows == sum(records[b].n_valid for b in trained.batches), "curated rows only"


# --------------------------------------------------------------------------------------- bad specs and bad calls


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str


@pytest.fixture
def airloop(env_for, monkeypatch, capsys, tmp_path):
    """`airloop ARGS` in-process (like conftest's `cli_main`), with an optional specs directory of bad specs."""
    from airloop import cli

    def call(*args: str, specs_dir: Path | None = None) -> Result:
        for key, value in env_for(tmp_path).items():
            monkeypatch.setenv(key, value)
        if specs_dir is not None:
            monkeypatch.setenv("AIRLOOP_SPECS_DIR", str(specs_dir))
        monkeypatch.chdir(tmp_path)
        monkeypatch.setattr(sys, "argv", ["airloop", *args])
        capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            cli.main()  # anything but SystemExit escaping here is a traceback a user would see
        out = capsys.readouterr()
        return Result(info.value.code, out.out, out.err)

    return call


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.rc == 2, result
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _spec_text(spec_path: Path, **replace: str) -> str:
    text = spec_path.read_text()
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    return text


BAD_SPEC_FILES = {
    "invalid-yaml": ("features: [unclosed\n", ["not valid YAML", "line 2"]),
    "not-a-mapping": ("- just\n- a list\n", ["must be a mapping, got list"]),
    "unknown-key": ({"model:": "modle:"}, ["field 'modle'"]),
    "bad-device": ({"device: auto": "device: tpu"}, ["field 'model.device'"]),
    "name-mismatch": ({"name: fraud_detection": "name: card_fraud"}, ["must match the file name"]),
    "bad-dtype": ({"amount: {dtype: float": "amount: {dtype: decimal"}, ["field 'schema.columns.amount.dtype'"]),
}


@pytest.mark.parametrize("case", BAD_SPEC_FILES, ids=list(BAD_SPEC_FILES))
def test_validate_with_a_bad_spec_says_which_field(airloop, tmp_path, spec_path, batches, case):
    change, fragments = BAD_SPEC_FILES[case]
    specs = tmp_path / "specs"
    specs.mkdir()
    text = change if isinstance(change, str) else _spec_text(spec_path, **change)
    (specs / f"{NAME}.yaml").write_text(text)
    (tmp_path / "good.parquet").write_bytes(batches["good"].data)
    result = airloop("validate", "good.parquet", "--pipeline", NAME, specs_dir=specs)
    assert_one_line_error(result, f"airloop: {specs / NAME}.yaml: ", *fragments)
    assert result.stdout == ""


def test_a_spec_with_several_errors_names_each_field_no_traceback(airloop, tmp_path, spec_path, batches):
    specs = tmp_path / "specs"
    specs.mkdir()
    text = _spec_text(spec_path, **{"device: auto": "device: tpu", "holdout_fraction: 0.2": "holdout_fraction: 0.9"})
    (specs / f"{NAME}.yaml").write_text(text)
    (tmp_path / "good.parquet").write_bytes(batches["good"].data)
    result = airloop("validate", "good.parquet", "--pipeline", NAME, specs_dir=specs)
    assert result.rc == 2 and result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("airloop: ")
    assert any("field 'model.device'" in line for line in lines)
    assert any("field 'split.holdout_fraction'" in line for line in lines)
    assert all(line.removeprefix("airloop: ").startswith(f"{specs / NAME}.yaml: field '") for line in lines)


def test_drift_with_an_unknown_method_lists_the_known_ones(airloop, tmp_path, batches):
    for name in ("ref", "cur"):
        (tmp_path / f"{name}.parquet").write_bytes(batches["good"].data)
    result = airloop("drift", "--reference", "ref.parquet", "--current", "cur.parquet", "--method", "bogus")
    assert result.rc == 2 and "Traceback" not in result.stderr
    assert "unknown drift method 'bogus'" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    known = result.stderr.split("(known: ", 1)[1].rstrip(")\n").split(", ")
    assert known == ["auto", "chi2", "jensenshannon", "ks", "psi", "wasserstein"]  # the drift registry's, sorted


def test_drift_uses_the_specs_method_and_refuses_an_unknown_one(airloop, tmp_path, spec_path, batches):
    for name in ("ref", "cur"):
        (tmp_path / f"{name}.parquet").write_bytes(batches["good"].data)
    specs = tmp_path / "specs"
    specs.mkdir()
    args = ("drift", "--reference", "ref.parquet", "--current", "cur.parquet", "--pipeline", NAME, "--format", "json")
    (specs / f"{NAME}.yaml").write_text(_spec_text(spec_path, **{"method: auto": "method: psi"}))
    result = airloop(*args, specs_dir=specs)
    assert result.rc == 0, result
    assert {f["method"] for f in json.loads(result.stdout)["features"].values()} <= {"psi", "chi2"}
    (specs / f"{NAME}.yaml").write_text(_spec_text(spec_path, **{"method: auto": "method: bogus"}))
    result = airloop(*args, specs_dir=specs)
    known = "(known: auto, chi2, jensenshannon, ks, psi, wasserstein)"
    assert_one_line_error(result, f"unknown drift method 'bogus' {known}")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("validate", "good.parquet", "--pipeline", "nope"), "unknown pipeline 'nope' (known: fraud_detection"),
        (("validate", "missing.parquet", "--pipeline", NAME), "missing.parquet: no such file"),
        (("validate", ".", "--pipeline", NAME), "is a directory, not a file"),
        (("validate", "good.parquet", "--pipeline", NAME, "--strict"), "No such option: --strict"),
        (("drift", "--reference", "good.parquet", "--current", "good.parquet", "--drift-share", "2"), "--drift-share"),
        (("drift", "--reference", "good.parquet", "--current", "good.parquet", "--format", "xml"), "--format"),
        (("generate", "--pipeline", NAME, "--out", "x", "--rows", "-5"), "--rows"),
        (("data", "pull", NAME, "--out", "x"), "expected NAME@ALIAS or NAME@VERSION"),
    ],
    ids=[
        "unknown-pipeline",
        "missing-file",
        "directory",
        "unknown-option",
        "bad-drift-share",
        "bad-format",
        "negative-rows",
        "bad-model-ref",
    ],
)
def test_bad_calls_exit_2_without_traceback(airloop, tmp_path, batches, args, fragment):
    (tmp_path / "good.parquet").write_bytes(batches["good"].data)
    result = airloop(*args)
    assert result.rc == 2, result
    assert "Traceback" not in result.stderr + result.stdout
    assert fragment in result.stderr
    assert not (tmp_path / "x").exists()


# -------------------------------------------------------------------------------------------------- the summary


def _result_cell(batch: BadBatch, run: CliRun, rec: BatchRecord, raw_uri: str) -> str:
    cli = f"`validate` exit {run.rc}"
    if rec.status == "duplicate":
        return f"{cli} · DAG: duplicate, skipped (same content as `{uris.local_path(rec.reason.split()[-1]).name}`)"
    if rec.status == "rejected":
        reason = rec.reason.removeprefix(f"{raw_uri}: ").replace(str(uris.local_path(raw_uri)), batch.filename)
        reason = reason if len(reason) <= 140 else reason[:139] + "…"
        return f"{cli} · DAG: rejected, quarantined whole — {reason}"
    if rec.n_invalid:
        rows = "row" if rec.n_invalid == 1 else "rows"
        return f"{cli} · DAG: curated {rec.n_valid}/{rec.n_rows}, {rec.n_invalid} {rows} quarantined"
    return f"{cli} · DAG: curated {rec.n_valid}/{rec.n_rows}"


@pytest.mark.slow
def test_reliability_table(cli_runs, landed, batches):
    results = {k: _result_cell(b, cli_runs[k], landed.by_kind(k), landed.uris[k]) for k, b in batches.items()}
    table = markdown_table(list(batches.values()), results)
    assert table.count("\n") == len(batches) + 2
    for kind, batch in batches.items():
        assert f"| `{kind}` |" in table
        status = {"good": "curated", "partial": "quarantined", "rejected": "rejected", "duplicate": "duplicate"}
        assert status[batch.expect] in results[kind]
    out = os.environ.get("AIRLOOP_RELIABILITY_TABLE")
    if out:
        Path(out).write_text(table)
    print(table)
