"""Personal data (spec `pii: drop | hash`): raw personal values never leave raw storage.

A made-up customer data set (numpy only, no generator of the project's) carries an email address (the id column,
hashed), a full name and a phone number (dropped) and a loyalty number (an int, hashed, sometimes missing). Three
batches go through the loop with a key — the first with invalid rows whose bad values sit in personal columns, the
second repeating some customers, the third rejected outright — then train, gate and score, with every log record
captured at DEBUG and `airloop validate` run on a batch. Every file under the deployment's root that is not raw
storage (landing, quarantined rows) is then searched for the raw values, as bytes and, for Parquet, as decoded
cells. Every raw value starts with one of a few markers (a made-up first name, the phone prefix, the bad loyalty
numbers' prefix), so searching for the markers, in any case, searches for every value, even one cut short; a
positive control proves the search finds them in raw storage. Loyalty numbers that are numbers are checked by
structure instead (curated data has no such column): digits alone would match unrelated numbers.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import io
import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from airloop import steps
from airloop.catalog import parse_spec
from airloop.contracts import GateDecision, Lineage, Trained
from airloop.data import ingest, pii
from airloop.data.ingest import BatchRecord
from airloop.data.validation import validate_frame
from airloop.errors import AirloopError, SpecError
from airloop.model.scoring import ScoredBatch
from airloop.settings import Settings
from airloop.spec import PipelineSpec
from airloop.store.versioning import DataVersioner

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
KEY = "k3y-for-tests-only-" + "0f" * 16
OTHER_KEY = "another-key-" + "a1" * 16
NAME = "customer_churn"
ROWS = 700

# Every raw personal value starts with one of these (an email with the first name, in lower case): searching for
# them searches for every value, even one cut short in a one-line summary.
FIRST = ["Ysolde", "Quillon", "Zorawar", "Marisela", "Thibaut", "Oyelaran", "Ksenija", "Eulalio"]
LAST = ["Vantongeren", "Brzezicki", "Okonkwo", "Haldorsen", "Quintanar", "Lindqvist"]
EMAIL_DOMAIN = "@pii-example.test"
PHONE_PREFIX = "+44 7700 "
BAD_LOYALTY = "LN-"
MARKERS = [EMAIL_DOMAIN, PHONE_PREFIX, BAD_LOYALTY, *FIRST]


def customers(rows: int, seed: int, *, start: str, repeat: pd.DataFrame | None = None) -> pd.DataFrame:
    """Customers who churn more when young, on the basic plan and spending little; all personal columns are text."""
    rng = np.random.default_rng(seed)
    first = rng.choice(FIRST, rows)
    last = rng.choice(LAST, rows)
    age = rng.integers(18, 90, rows)
    spend = rng.gamma(2.0, 30.0, rows)
    plan = rng.choice(["basic", "plus", "pro"], rows)
    loyalty = [None if rng.random() < 0.05 else str(7_000_000 + seed * 10_000 + i) for i in range(rows)]
    names = list(zip(first, last, strict=True))
    logit = 1.5 - 0.04 * age - 0.01 * spend + (plan == "basic") * 1.0
    df = pd.DataFrame(
        {
            "email": [f"{f.lower()}.{la.lower()}.{seed}x{i:05d}{EMAIL_DOMAIN}" for i, (f, la) in enumerate(names)],
            "full_name": [f"{f} {la}" for f, la in names],
            "phone": [f"{PHONE_PREFIX}{seed}{i:05d}" for i in range(rows)],
            "loyalty_no": pd.array(loyalty, dtype="string"),
            "seen_at": pd.Timestamp(start, tz="UTC") + pd.to_timedelta(rng.integers(0, 30 * 24, rows), unit="h"),
            "age": age,
            "monthly_spend": spend,
            "plan": plan,
            "churned": (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int),
        }
    )
    if repeat is not None:  # customers seen before come back (same email) in this batch
        n = len(repeat)
        df.loc[: n - 1, ["email", "full_name", "phone"]] = repeat[["email", "full_name", "phone"]].to_numpy()
    return df


def with_invalid_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Bad values in personal columns: duplicate emails, loyalty numbers that are not numbers, a missing name."""
    df = df.copy()
    df.loc[10:13, "email"] = df.loc[0:3, "email"].to_numpy()  # the first of each stays valid
    df.loc[20:23, "loyalty_no"] = [f"{BAD_LOYALTY}{i:04d}-{LAST[i % len(LAST)]}" for i in range(4)]
    df.loc[30, "full_name"] = None
    return df


def spec_data() -> dict[str, Any]:
    return {
        "name": NAME,
        "storage": {"landing": f"landing/{NAME}"},
        "schema": {
            "id_column": "email",
            "time_column": "seen_at",
            "columns": {
                "email": {"dtype": "string", "unique": True, "pii": "hash"},
                "full_name": {"dtype": "string", "pii": "drop"},
                "phone": {"dtype": "string", "nullable": True, "pii": "drop"},
                "loyalty_no": {"dtype": "int", "nullable": True, "pii": "hash"},
                "seen_at": {"dtype": "datetime"},
                "age": {"dtype": "int", "min": 18, "max": 120},
                "monthly_spend": {"dtype": "float", "min": 0},
                "plan": {"dtype": "category", "domain": ["basic", "plus", "pro"]},
                "churned": {"dtype": "int", "required": False},
            },
        },
        "label": {"column": "churned", "task": "binary"},
        "features": [
            {"name": "age", "transform": "identity", "column": "age"},
            {"name": "log_spend", "transform": "log1p", "column": "monthly_spend"},
            {"name": "plan", "transform": "one_hot", "column": "plan"},
        ],
        "model": {"device": "cpu", "num_boost_round": 20, "early_stopping_rounds": 5, "nthread": 1, "seed": 7},
        "training": {"min_rows": 100, "retrain_on_new_data": True},
        "gate": {"metric": "roc_auc"},
    }


def make_spec(data: dict[str, Any] | None = None) -> PipelineSpec:
    return parse_spec(copy.deepcopy(data or spec_data()), f"{NAME}.yaml")


def env_with(env_for, root: Path, **extra: str) -> dict[str, str]:
    return {**env_for(root), "AIRLOOP_SPECS_DIR": str(root / "specs"), **extra}


def hmac_hex(value: Any, key: str = KEY) -> str:
    return hmac.new(key.encode(), str(value).encode(), hashlib.sha256).hexdigest()


# ------------------------------------------------------------------------------------------- the whole loop


@dataclass
class World:
    root: Path
    spec: PipelineSpec
    settings: Settings
    raw: dict[str, pd.DataFrame]
    batches: dict[str, BatchRecord]
    trained: Trained
    gated: GateDecision
    scored: list[ScoredBatch]
    log_text: str
    cli_out: str
    cli_rc: int


LOGGERS = ("", "mlflow", "sqlalchemy.engine", "alembic")  # the root and the loggers that do not propagate to it


@pytest.fixture(scope="module")
def world(tmp_path_factory, env_for) -> World:
    from airloop import cli

    root = tmp_path_factory.mktemp("pii")
    (root / "specs").mkdir()
    (root / "specs" / f"{NAME}.yaml").write_text(yaml.safe_dump(spec_data(), sort_keys=False))
    spec = make_spec()
    settings = Settings.from_mapping(env_with(env_for, root, AIRLOOP_PII_KEY=KEY), base=root)
    first = with_invalid_rows(customers(ROWS, 1, start="2026-01-01"))
    raw = {
        "first": first,
        "second": customers(ROWS, 2, start="2026-02-01", repeat=first.iloc[40:90]),
        "rejected": customers(300, 3, start="2026-03-01"),
    }
    raw["rejected"].loc[150:, "email"] = raw["rejected"].loc[:149, "email"].to_numpy()  # half are duplicates

    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    saved = {name: logging.getLogger(name).level for name in LOGGERS}
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # MLflow puts a sqlite store's artifacts under ./mlruns
        for name in LOGGERS:
            logging.getLogger(name).addHandler(handler)
            logging.getLogger(name).setLevel(logging.DEBUG)
        try:
            batches = {}
            for role, df in raw.items():
                batches[role] = steps.process(spec, settings, steps.land(spec, settings, df, f"{role}.parquet"))
            trained = steps.train(spec, settings, Lineage(trigger="manual"))
            assert isinstance(trained, Trained), trained
            gated = steps.gate(spec, settings, version=trained.version, data_md5=trained.data_md5)
            scored = steps.score(spec, settings)
            # `airloop validate` on the raw first batch, as a person would run it (stdout and stderr both kept).
            for key, value in env_with(env_for, root, AIRLOOP_PII_KEY=KEY).items():
                mp.setenv(key, value)
            landed = settings.location(spec.storage.landing).removeprefix("file://") + "/first.parquet"
            mp.setattr(sys, "argv", ["airloop", "validate", landed, "--pipeline", NAME])
            out, err = io.StringIO(), io.StringIO()
            mp.setattr(sys, "stdout", out)
            mp.setattr(sys, "stderr", err)
            with pytest.raises(SystemExit) as exited:
                cli.main()
        finally:
            for name in LOGGERS:
                logging.getLogger(name).removeHandler(handler)
                logging.getLogger(name).setLevel(saved[name])
    cli_out = out.getvalue() + err.getvalue()
    yield World(
        root, spec, settings, raw, batches, trained, gated, scored, buffer.getvalue(), cli_out, exited.value.code
    )


def _decoded(path: Path, blob: bytes) -> bytes:
    """A Parquet file's cells as text (its pages may be compressed), else the bytes as they are."""
    if not blob.startswith(b"PAR1"):
        return blob
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return blob + table.to_pandas().astype(str).to_csv().encode()


def _found(blob: bytes) -> list[str]:
    """The markers in `blob`, whatever their case (an email holds the first name in lower case)."""
    blob = blob.lower()
    return [m for m in MARKERS if m.lower().encode() in blob]


def _is_raw_storage(world: World, path: Path) -> bool:
    """Landing and quarantined rows hold raw data by design; a quarantine's report.json does not."""
    landing = Path(world.settings.location(world.spec.storage.landing).removeprefix("file://"))
    quarantine = Path(world.settings.area("quarantine", NAME).removeprefix("file://"))
    return path.is_relative_to(landing) or (path.is_relative_to(quarantine) and path.name != "report.json")


@pytest.mark.slow
def test_the_loop_ran_through_training_and_scoring(world):
    b = world.batches
    assert b["first"].status == "curated" and b["first"].n_invalid == 9, b["first"]
    assert b["second"].status == "curated" and b["second"].n_invalid == 0, b["second"]
    assert b["rejected"].status == "rejected", b["rejected"]
    assert world.trained.version == "1" and world.gated.decision == "promoted"
    assert {s.batch_id for s in world.scored} == {b["first"].batch_id, b["second"].batch_id}
    assert world.cli_rc == 1, world.cli_out


@pytest.mark.slow
def test_raw_personal_values_reach_no_file_log_or_output_outside_raw_storage(world):
    scanned, leaks, raw_hits = 0, {}, set()
    for path in sorted(p for p in world.root.rglob("*") if p.is_file()):
        found = _found(_decoded(path, path.read_bytes()))
        if _is_raw_storage(world, path):
            raw_hits.update(found)
            continue
        scanned += 1
        if found:
            leaks[str(path.relative_to(world.root))] = found
    assert raw_hits == set(MARKERS), "positive control: the search finds every marker in raw storage"
    assert scanned > 20, "curated Parquet, DVC, MLflow, predictions, state and reports were searched"
    names = {p.name for p in world.root.rglob("*") if p.is_file() and not _is_raw_storage(world, p)}
    assert {"input_example.json", "MLmodel", "report.json", "mlflow.db"} <= names
    assert not leaks, leaks
    assert "<pii>" in world.log_text, "the rejected batch's reason was logged, masked"
    assert not _found(world.log_text.encode()), _found(world.log_text.encode())
    assert "<pii>" in world.cli_out and not _found(world.cli_out.encode()), world.cli_out


@pytest.mark.slow
def test_reports_name_the_failure_and_mask_the_value(world):
    quarantine = Path(world.batches["first"].quarantine_uri.removeprefix("file://"))
    report = json.loads((quarantine / "report.json").read_text())
    by_column = {(f["column"], f["check"].split("(")[0]): f for f in report["failures"]}
    assert by_column[("email", "field_uniqueness")]["count"] == 4
    assert set(by_column[("email", "field_uniqueness")]["examples"]) == {"<pii>"}
    assert set(by_column[("loyalty_no", "coerce_dtype")]["examples"]) == {"<pii>"}
    assert by_column[("full_name", "not_nullable")]["examples"] == [None]
    rows = pd.read_parquet(quarantine / "rows.parquet")
    assert len(rows) == 9 and rows["email"].str.endswith(EMAIL_DOMAIN).all(), "quarantined rows stay raw"
    assert "<pii>" in (world.batches["rejected"].reason or "") and "email" in (world.batches["rejected"].reason or "")


@pytest.mark.slow
def test_curated_columns_are_hashed_or_gone(world):
    rec = ingest.load_records(world.settings, NAME)
    first = next(r for r in rec if r.batch_id == world.batches["first"].batch_id)
    curated = ingest.read_curated(first, DataVersioner.from_settings(world.settings))
    assert not {"full_name", "phone", "loyalty_no"} & set(curated.columns), "drop columns and unused hashes leave"
    raw = world.raw["first"]
    valid = raw.drop(index=[*range(10, 14), *range(20, 24), 30])
    assert sorted(curated["email"]) == sorted(hmac_hex(e) for e in valid["email"])
    assert curated["email"].str.fullmatch(r"[0-9a-f]{64}").all()


@pytest.mark.slow
def test_the_same_email_in_two_batches_hashes_the_same(world):
    versioner = DataVersioner.from_settings(world.settings)
    frames = {r.batch_id: ingest.read_curated(r, versioner) for r in ingest.load_records(world.settings, NAME) if r.md5}
    first, second = (frames[world.batches[k].batch_id] for k in ("first", "second"))
    shared = set(first["email"]) & set(second["email"])
    assert shared == {hmac_hex(e) for e in world.raw["first"]["email"].iloc[40:90]}
    preds = pd.read_parquet(next(s.uri for s in world.scored if s.batch_id == world.batches["second"].batch_id))
    assert shared <= set(preds["email"]), "predictions join back on the hashed id"


# ------------------------------------------------------------------------------------------- the key


def test_hash_is_hmac_sha256_of_the_value_with_the_key():
    spec = make_spec()
    df = pd.DataFrame(
        {
            "email": pd.array(["a@x.test", None, "a@x.test", "b@x.test"], dtype="string"),
            "full_name": ["A", "B", "C", "D"],
            "loyalty_no": pd.array([12, 34, None, 12], dtype="Int64"),
            "age": [20, 30, 40, 50],
        }
    )
    out = pii.apply(df, spec, KEY)
    assert list(out.columns) == ["email", "loyalty_no", "age"]
    assert out["email"].tolist()[0] == out["email"].tolist()[2] == hmac_hex("a@x.test")
    assert out["email"].isna().tolist() == [False, True, False, False], "nulls stay null"
    assert out["loyalty_no"].tolist()[0] == out["loyalty_no"].tolist()[3] == hmac_hex(12) == hmac_hex("12")
    assert out["loyalty_no"].isna().tolist() == [False, False, True, False]
    assert pii.keyed_hash("a@x.test", KEY) == hmac_hex("a@x.test")
    other = pii.apply(df, spec, OTHER_KEY)
    assert other["email"][0] != out["email"][0] and other["email"][0] == hmac_hex("a@x.test", OTHER_KEY)
    assert df["full_name"].tolist() == ["A", "B", "C", "D"] and df["email"][0] == "a@x.test", "input untouched"


def test_a_spec_without_personal_data_needs_no_key(spec):
    df = pd.DataFrame({"x": [1]})
    assert pii.apply(df, spec, None) is df
    pii.require_key(spec, None)


def test_dropping_needs_no_key():
    data = spec_data()
    data["schema"]["columns"]["email"].pop("pii")
    data["schema"]["columns"]["loyalty_no"].pop("pii")
    df = pd.DataFrame({"email": ["a"], "full_name": ["A"], "phone": ["1"]})
    assert list(pii.apply(df, make_spec(data), None).columns) == ["email"]


def test_a_missing_key_fails_clearly_loses_nothing_and_the_batch_runs_once_the_key_is_there(
    tmp_path, env_for, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    spec = make_spec()
    keyless = Settings.from_mapping(env_with(env_for, tmp_path), base=tmp_path)
    assert keyless.pii_key is None
    uri = steps.land(spec, keyless, customers(200, 5, start="2026-01-01"), "batch.parquet")
    before = Path(uri.removeprefix("file://")).read_bytes()
    with pytest.raises(AirloopError) as info:
        steps.process(spec, keyless, uri)
    message = str(info.value)
    for needed in (NAME, "email", "loyalty_no", "AIRLOOP_PII_KEY", "airloop_pii", "token_hex"):
        assert needed in message, message
    assert Path(uri.removeprefix("file://")).read_bytes() == before, "the raw file is untouched"
    assert not list(tmp_path.rglob("report.json")) and not ingest.load_records(keyless, NAME)
    assert steps.discover(spec, keyless) == [uri], "still pending"

    keyed = Settings.from_mapping(env_with(env_for, tmp_path, AIRLOOP_PII_KEY=KEY), base=tmp_path)
    assert steps.process(spec, keyed, uri).status == "curated"
    assert steps.discover(spec, keyed) == []


def test_empty_key_counts_as_missing(tmp_path):
    assert Settings.from_mapping({"AIRLOOP_PII_KEY": ""}, base=tmp_path).pii_key is None
    with pytest.raises(AirloopError, match="no key was given"):
        pii.require_key(make_spec(), "")


def test_settings_never_show_the_key(tmp_path):
    s = Settings.from_mapping({"AIRLOOP_PII_KEY": KEY}, base=tmp_path)
    assert s.pii_key == KEY
    assert KEY not in repr(s) and KEY not in str(s) and "pii_key" not in repr(s)


def test_validation_reports_mask_personal_values_and_keep_the_rest():
    spec = make_spec()
    df = with_invalid_rows(customers(60, 9, start="2026-01-01"))
    df.loc[40, "age"] = 150
    report = validate_frame(df, spec).report
    by_column = {f.column: f for f in report.failures}
    assert by_column["age"].examples == [150], "values of other columns stay: they say what to fix"
    assert set(by_column["email"].examples) == {"<pii>"} and by_column["email"].count == 4
    assert set(by_column["loyalty_no"].examples) == {"<pii>"}
    text = json.dumps(report.to_dict()) + report.summary()
    assert not _found(text.encode()), text
    assert "email: field_uniqueness (4 rows, e.g. '<pii>')" in report.summary()


# ------------------------------------------------------------------------------------------- deployments


def test_airflow_connection_airloop_pii_gives_the_key_masked(tmp_path):
    """In a task, the connection's password is the key (over AIRLOOP_PII_KEY) ; log lines show either as ***."""
    script = (
        "import logging, sys\n"
        f"sys.path.insert(0, {str(ROOT / 'plugins')!r})\n"
        "from airloop_airflow import config\n"
        "from airflow.sdk.log import redact\n"
        "s = config.task_settings()\n"
        "print(s.pii_key == 'from-the-connection', redact('key: from-the-connection'),\n"
        "      redact('env: from-env-key'), redact('url: pass-in-url'))\n"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AIRLOOP"))},
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRLOOP_PII_KEY": "from-env-key",
        "MLFLOW_TRACKING_URI": "http://airloop:pass-in-url@mlflow:5000",
        "AIRFLOW_CONN_AIRLOOP_PII": json.dumps({"conn_type": "generic", "password": "from-the-connection"}),
    }
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "True key: *** env: *** url: ***", done.stdout


def test_compose_gives_every_airflow_container_the_key():
    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    airflow = [s for s in compose["services"].values() if "AIRFLOW__CORE__EXECUTOR" in (s.get("environment") or {})]
    assert airflow and all(
        s["environment"]["AIRLOOP_PII_KEY"] == "${AIRLOOP_PII_KEY:?see .env.example}" for s in airflow
    )
    assert "AIRLOOP_PII_KEY=" in (ROOT / ".env.example").read_text()


def test_local_stacks_generate_a_key_per_run_folder(tmp_path):
    from airloop.dev.localstack import LocalStack
    from airloop.dev.nativestack import NativeStack

    for stack in (LocalStack(ROOT, tmp_path / "embedded"), NativeStack(ROOT, tmp_path / "native")):
        ports = stack._ports()
        key = stack.airflow_env(ports)["AIRLOOP_PII_KEY"]
        assert len(key) == 64 and key == stack._secrets()["pii_key"]
        assert "AIRLOOP_PII_KEY" not in stack.client_env(), "tasks hash; clients never need the key"
        stack._save({"ports": ports, "secrets": stack._secrets()})
        assert (stack.run / "stack.json").stat().st_mode & 0o077 == 0
        again = type(stack)(ROOT, stack.run)
        assert again.airflow_env(ports)["AIRLOOP_PII_KEY"] == key, "kept: hashes stay the same across restarts"
    embedded = LocalStack(ROOT, tmp_path / "embedded")._secrets()["pii_key"]
    assert embedded != NativeStack(ROOT, tmp_path / "native")._secrets()["pii_key"]
    old = NativeStack(ROOT, tmp_path / "old")
    old._save({"secrets": {k: v for k, v in old._secrets().items() if k != "pii_key"}})
    assert len(NativeStack(ROOT, tmp_path / "old")._secrets()["pii_key"]) == 64, "an older run folder gains one"


# ------------------------------------------------------------------------------------------- spec rules


def _cols(data: dict[str, Any]) -> dict[str, Any]:
    return data["schema"]["columns"]


REFUSALS = [
    ("label", lambda d: _cols(d)["churned"].update(pii="hash"), "schema.columns.churned.pii", "label column"),
    ("time", lambda d: _cols(d)["seen_at"].update(pii="drop"), "schema.columns.seen_at.pii", "time column"),
    ("drop-id", lambda d: _cols(d)["email"].update(pii="drop"), "schema.columns.email.pii", "use pii: hash"),
    (
        "hash-float",
        lambda d: _cols(d)["monthly_spend"].update(pii="hash"),
        "schema.columns.monthly_spend.pii",
        "only string, int or category",
    ),
    (
        "feature-reads-drop",
        lambda d: d["features"].append({"name": "n", "transform": "category_code", "column": "full_name"}),
        "features.3",
        "'full_name', which is pii: drop",
    ),
    (
        "slice-over-pii",
        lambda d: d.update(slices={"by": [{"column": "loyalty_no", "bins": [0, 1e9]}]}),
        "slices.by.0.column",
        "personal data",
    ),
]


@pytest.mark.parametrize(("case", "change", "field", "why"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_spec_refuses_personal_data_where_it_cannot_go(case, change, field, why):
    data = spec_data()
    change(data)
    with pytest.raises(SpecError) as info:
        parse_spec(data, f"{NAME}.yaml")
    assert f"field '{field}'" in str(info.value) and why in str(info.value), str(info.value)


def test_the_key_cannot_be_written_into_a_spec():
    data = spec_data()
    data["schema"]["pii_key"] = KEY
    with pytest.raises(SpecError, match="pii_key"):
        parse_spec(data, f"{NAME}.yaml")
