"""`make demo`: the loop on the embedded stack, driven the way a user would drive it — by dropping files.

Batches land in the landing zone; the real scheduler does the rest (watcher → features → train → gate →
score). This module only drops files and watches the runs through Airflow's REST API, printing one live
line per stage, and on failure the failing task's log tail. Running it again reuses the running stack and
lands new batches (new seeds), so the loop simply goes round again.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airloop.devstack import AirflowAPI, LocalStack
from airloop.errors import AirloopError

PIPELINE = "fraud_detection"


class StageFailed(AirloopError):
    pass


@dataclass
class Stage:
    label: str
    started: float

    def line(self, status: str) -> str:
        return f"  {self.label:<48} {status:<10} {time.monotonic() - self.started:6.1f}s"


class Progress:
    """One line per stage, rewritten in place on a terminal while it waits."""

    def __init__(self, stream=sys.stdout):
        self.stream = stream
        self.tty = stream.isatty()

    def wait(self, label: str, poll: Callable[[], Any], timeout: float, interval: float = 2.0) -> Any:
        stage = Stage(label, time.monotonic())
        deadline = time.monotonic() + timeout
        while True:
            result = poll()
            if result is not None:
                self._write(stage.line("done"), final=True)
                return result
            if time.monotonic() > deadline:
                self._write(stage.line("TIMEOUT"), final=True)
                raise StageFailed(f"{label}: not done after {timeout:.0f}s")
            if self.tty:
                self._write(stage.line("waiting"), final=False)
            time.sleep(interval)

    def _write(self, text: str, *, final: bool) -> None:
        if self.tty:
            self.stream.write("\r\033[K" + text + ("\n" if final else ""))
        elif final:
            self.stream.write(text + "\n")
        self.stream.flush()

    def say(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


class RunWatcher:
    """Waits for the next finished run of a DAG that was not there before."""

    def __init__(self, api: AirflowAPI):
        self.api = api

    def snapshot(self, dag_id: str) -> set[str]:
        return {r["dag_run_id"] for r in self.api.dag_runs(dag_id)}

    def finished_after(self, dag_id: str, before: set[str]) -> Callable[[], dict[str, Any] | None]:
        def poll() -> dict[str, Any] | None:
            new = [r for r in self.api.dag_runs(dag_id) if r["dag_run_id"] not in before]
            for run in sorted(new, key=lambda r: r.get("run_after") or ""):
                if run["state"] == "failed":
                    raise StageFailed(self.failure_report(dag_id, run["dag_run_id"]))
                if run["state"] == "success":
                    before.add(run["dag_run_id"])
                    return run
            return None

        return poll

    def failure_report(self, dag_id: str, run_id: str) -> str:
        lines = [f"DAG run {dag_id} / {run_id} failed"]
        for ti in self.api.task_instances(dag_id, run_id):
            if ti["state"] in ("failed", "upstream_failed") and ti["state"] == "failed":
                log = self.api.task_log(dag_id, run_id, ti["task_id"], ti["try_number"], ti.get("map_index", -1))
                tail = "\n".join(log.splitlines()[-30:])
                lines.append(f"--- task {ti['task_id']} (try {ti['try_number']}) log tail ---\n{tail}")
        return "\n".join(lines)


def run_demo(root: Path, *, rows: int = 40_000, timeout: int = 600, run_dir: Path | None = None) -> bool:
    out = Progress()
    stack = LocalStack(root, run_dir)
    out.say("airloop demo — embedded stack (Airflow standalone on SQLite, MLflow on SQLite, local DVC remote)")
    try:
        info = stack.up(progress=lambda m: out.say(f"  {m}"))
        return _loop(stack, info, out, rows=rows, timeout=timeout)
    except AirloopError as exc:
        out.say(f"\nDEMO FAILED: {exc}")
        out.say(f"Logs: {stack.logs}   Stop everything with: make down")
        return False


def _loop(stack: LocalStack, info: dict[str, Any], out: Progress, *, rows: int, timeout: int) -> bool:
    from airloop import loop, storage
    from airloop.datagen import generate
    from airloop.registry import describe_models
    from airloop.settings import Settings
    from airloop.spec import find_spec

    settings = Settings.from_mapping(stack.client_env(), base=stack.root)
    spec = find_spec(PIPELINE, settings.specs_dir)
    api = AirflowAPI(info["airflow_url"], info["username"], info["password"])
    runs = RunWatcher(api)
    dags = [f"{PIPELINE}__features", f"{PIPELINE}__train", f"{PIPELINE}__score"]

    def dags_ready():
        try:
            return all(api.get(f"/dags/{d}").get("dag_id") == d for d in dags) or None
        except AirloopError:
            return None

    out.wait("DAGs parsed (features, train, score)", dags_ready, timeout)
    landing = settings.location(spec.storage.landing)
    round_no = len(storage.list_files(landing, spec.storage.pattern))
    decisions = []

    def land(seed: int, labels: bool) -> str:
        df = generate(spec.generator, rows=rows, seed=seed, labels=labels)
        return loop.land(spec, settings, df, f"demo-{seed:04d}{'-labelled' if labels else ''}.parquet")

    for i in range(2):
        seed = 100 + round_no + i
        before = {d: runs.snapshot(d) for d in dags}
        uri = land(seed, labels=True)
        out.say(f"\nBatch {i + 1}: landed {uri.rsplit('/', 1)[-1]} ({rows} labelled rows)")
        out.wait("validate → features → DVC (features DAG)", runs.finished_after(dags[0], before[dags[0]]), timeout)
        out.wait("train → MLflow run → register (train DAG)", runs.finished_after(dags[1], before[dags[1]]), timeout)
        entry = describe_models([PIPELINE], tracking_uri=settings.tracking_uri)[0]
        latest = entry["versions"][-1]
        decisions.append(latest)
        out.say(f"  gate: v{latest['version']} {latest['gate']} — {latest['gate_reason']}")

    seed = 100 + round_no + 2
    before_score = runs.snapshot(dags[2])
    uri = land(seed, labels=False)
    out.say(f"\nBatch 3: landed {uri.rsplit('/', 1)[-1]} ({rows} rows to score, no labels)")
    sha = storage.sha256(uri)
    from airloop.ingest import batch_id_for
    from airloop.scoring import predictions_uri

    pred_uri = predictions_uri(settings, spec, batch_id_for(uri, sha))
    poll_runs = runs.finished_after(dags[2], before_score)
    out.wait(
        "score with models:/fraud_detection@champion",
        lambda: (poll_runs() and None) or (pred_uri if storage.exists(pred_uri) else None),
        timeout,
    )

    _summary(out, settings, info, decisions, pred_uri)
    return True


def _summary(out: Progress, settings, info: dict[str, Any], decisions: list[dict], pred_uri: str) -> None:
    import pandas as pd

    from airloop import storage
    from airloop.registry import describe_models

    entry = describe_models([PIPELINE], tracking_uri=settings.tracking_uri)[0]
    champ = next(v for v in entry["versions"] if v["version"] == entry["champion"])
    preds = pd.read_parquet(storage.local_path(pred_uri))
    m = champ["metrics"]
    out.say("\n=== airloop demo: the loop completed ===")
    out.say(f"pipeline          {PIPELINE}")
    out.say(f"champion          v{champ['version']}  (trigger: {champ['trigger']}, created {champ['created']})")
    out.say(
        f"champion metrics  pr_auc={m.get('pr_auc', float('nan')):.4f}  roc_auc={m.get('roc_auc', 0):.4f}  "
        f"log_loss={m.get('log_loss', 0):.4f}  (holdout)"
    )
    out.say(f"training data     DVC md5 {champ['data_md5']}")
    out.say("gate decisions this run:")
    for d in decisions:
        out.say(f"  v{d['version']}: {d['gate']} — {d['gate_reason']}")
    out.say(f"scored batch      {len(preds)} rows → {storage.local_path(pred_uri)}")
    out.say(
        f"                  model versions in file: {sorted(preds['model_version'].unique().tolist())}, "
        f"mean score {preds['score'].mean():.4f}"
    )
    out.say(f"Airflow UI        {info['airflow_url']}   login: {info['username']} / {info['password']}")
    out.say(f"MLflow UI         {info['mlflow_url']}")
    out.say("Next: `.venv/bin/airloop models`, run `make demo` again for another round, `make down` to stop.")
