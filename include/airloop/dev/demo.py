"""`make demo`: the loop on the embedded stack, driven the way a user would drive it — by dropping files.

Batches land in the landing zone; the real scheduler does the rest (watcher → features → train → gate →
score). This module only drops files and watches the runs through Airflow's REST API, printing one live
line per stage, and on failure the failing task's log tail. Running it again reuses the running stack and
lands new batches (new seeds), so the loop simply goes round again: a clean batch (the monitor finds no
drift, nothing retrains), a drifted batch (drift event → retrain → gate), and a batch to score.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airloop.dev.airflow_api import AirflowAPI
from airloop.dev.localstack import LocalStack
from airloop.errors import AirloopError
from airloop.naming import DagKind, dag_ids

if TYPE_CHECKING:
    from airloop.model.registry import Registry
    from airloop.settings import Settings
    from airloop.spec import PipelineSpec

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
            if ti["state"] == "failed":
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
        return run_loop(stack, info, out, rows=rows, timeout=timeout)
    except AirloopError as exc:
        out.say(f"\nDEMO FAILED: {exc}")
        out.say(f"Logs: {stack.logs}   Stop everything with: make down")
        return False


# The DAGs the demo waits on (the staleness DAG runs daily: no round of the demo waits for it).
DEMO_DAGS = (DagKind.FEATURES, DagKind.TRAIN, DagKind.SCORE, DagKind.MONITOR, DagKind.RETRAIN)


def run_loop(stack: LocalStack, info: dict[str, Any], out: Progress, *, rows: int, timeout: int) -> bool:
    """Drive one round of the loop on a running stack: bootstrap (if no champion), clean, drifted, to-score."""
    loop = LoopRound.start(stack, info, out, rows=rows, timeout=timeout)
    loop.bootstrap()
    for i, drift in ((2, "none"), (3, "covariate")):
        loop.labelled_batch(i, drift)
    pred_uri = loop.batch_to_score()
    out.say("\nThe drift chain:")
    for line in loop.chain:
        out.say(f"  {line}")

    _summary(out, loop.registry, info, loop.decisions, pred_uri)
    return True


@dataclass
class LoopRound:
    """One round of the demo's loop: the batches it lands, the runs it waits for, what the gate and monitor said.

    Each stage is a method, in the order `run_loop` calls them; `decisions` and `chain` collect what the summary
    and the drift chain print.
    """

    out: Progress
    runs: RunWatcher
    settings: Settings
    spec: PipelineSpec
    registry: Registry
    generator: str
    rows: int
    timeout: int
    first_seed: int  # seeds follow the batches already landed, so every round lands new data
    dag: dict[DagKind, str]
    decisions: list[dict[str, Any]] = field(default_factory=list)
    chain: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, stack: LocalStack, info: dict[str, Any], out: Progress, *, rows: int, timeout: int) -> LoopRound:
        """The round's context, once the stack's DAGs are parsed."""
        from airloop.catalog import find_spec
        from airloop.model.registry import Registry
        from airloop.settings import Settings
        from airloop.store import storage

        settings = Settings.from_mapping(stack.client_env(), base=stack.root)
        registry = Registry.from_settings(settings)
        spec = find_spec(PIPELINE, settings.specs_dir)
        if spec.generator is None:
            raise AirloopError(f"the {PIPELINE} spec names no generator: the demo has no batches to land")
        api = AirflowAPI(info["airflow_url"], info["username"], info["password"])
        dag = dag_ids(PIPELINE, DEMO_DAGS)

        def dags_ready():
            try:
                return all(api.get(f"/dags/{d}").get("dag_id") == d for d in dag.values()) or None
            except AirloopError:
                return None

        out.wait(f"DAGs parsed ({', '.join(DEMO_DAGS)})", dags_ready, timeout)
        landing = settings.location(spec.storage.landing)
        round_no = len(storage.list_files(landing, spec.storage.pattern))
        return cls(out, RunWatcher(api), settings, spec, registry, spec.generator, rows, timeout, 100 + round_no, dag)

    def land(self, seed: int, labels: bool, drift: str = "none") -> str:
        from airloop import steps
        from airloop.data.datagen import generate

        df = generate(self.generator, rows=self.rows, seed=seed, labels=labels, drift=drift)
        name = f"demo-{seed:04d}{'-' + drift if drift != 'none' else ''}{'-labelled' if labels else ''}.parquet"
        return steps.land(self.spec, self.settings, df, name)

    def snapshot(self) -> dict[DagKind, set[str]]:
        return {k: self.runs.snapshot(d) for k, d in self.dag.items()}

    def wait_run(self, label: str, kind: DagKind, before: dict[DagKind, set[str]]) -> dict[str, Any]:
        return self.out.wait(label, self.runs.finished_after(self.dag[kind], before[kind]), self.timeout)

    def gate_decision(self) -> dict[str, Any]:
        """The newest version (the one the gate just judged), recorded and printed."""
        d = self.registry.describe_models([PIPELINE])[0]["versions"][-1]
        self.decisions.append(d)
        self.out.say(f"  gate: v{d['version']} {d['gate']} — {d['gate_reason']}")
        return d

    def bootstrap(self) -> None:
        """Batch 1: the first labelled batch trains v1 (skipped when an earlier run left a champion)."""
        champion = self.registry.champion_version(PIPELINE)
        if champion is not None:
            self.out.say(f"\nChampion v{champion} exists from an earlier run.")
            return
        before = self.snapshot()
        uri = self.land(self.first_seed, labels=True)
        self.out.say(f"\nBatch 1: landed {uri.rsplit('/', 1)[-1]} ({self.rows} labelled rows) — no champion yet")
        self.wait_run("validate → features → DVC (features DAG)", DagKind.FEATURES, before)
        self.wait_run("train → MLflow run → register → gate (train DAG)", DagKind.TRAIN, before)
        self.gate_decision()

    def labelled_batch(self, i: int, drift: str) -> None:
        """Batches 2 and 3, a clean one and a drifted one: the monitor decides whether anything retrains."""
        before = self.snapshot()
        t_land = time.time()
        uri = self.land(self.first_seed + i, labels=True, drift=drift)
        what = "clean" if drift == "none" else f"{drift}-drifted"
        self.out.say(f"\nBatch {i}: landed {uri.rsplit('/', 1)[-1]} ({self.rows} labelled rows, {what})")
        self.chain.append(f"{_clock(t_land)} batch {i} landed ({what})")
        self.wait_run("validate → features → DVC (features DAG)", DagKind.FEATURES, before)
        check = self.out.wait(
            "drift check vs the champion's training data (monitor DAG)",
            drift_check_of(self.settings, self.spec, uri),
            self.timeout,
        )
        verdict = "DRIFT" if check["drift_detected"] else "no drift"
        self.out.say(
            f"  monitor: {verdict} — {check['share_drifted']:.0%} of features drifted "
            f"(top: {', '.join(check['top_drifted'][:3]) or '-'}) vs champion v{check['champion_version']}"
        )
        self.chain.append(f"{_clock(check['checked_at'])} monitor: {verdict} ({check['share_drifted']:.0%})")
        if not check["drift_detected"]:
            self.wait_run("train DAG: new data alone does not retrain", DagKind.TRAIN, before)
            retrains = self.runs.snapshot(self.dag[DagKind.RETRAIN]) - before[DagKind.RETRAIN]
            self.out.say(f"  retrain runs started: {len(retrains)} (expected 0)")
            return
        self.wait_run("retrain → register → gate (retrain DAG)", DagKind.RETRAIN, before)
        latency = time.time() - t_land
        d = self.gate_decision()
        self.chain.append(f"{_clock(time.time())} retrain v{d['version']} (trigger {d['trigger']}) gate: {d['gate']}")
        self.chain.append(f"drift-to-decision latency: {latency:.1f}s from landing the drifted batch")

    def batch_to_score(self) -> str:
        """Batch 4, without labels, is scored by the champion; the predictions' URI."""
        from airloop.data.ingest import batch_id_for
        from airloop.model.scoring import predictions_uri
        from airloop.store import storage

        before_score = self.runs.snapshot(self.dag[DagKind.SCORE])
        uri = self.land(self.first_seed + 4, labels=False)
        self.out.say(f"\nBatch 4: landed {uri.rsplit('/', 1)[-1]} ({self.rows} rows to score, no labels)")
        pred_uri = predictions_uri(self.settings, self.spec, batch_id_for(uri, storage.sha256(uri)))
        poll_runs = self.runs.finished_after(self.dag[DagKind.SCORE], before_score)
        self.out.wait(
            f"score with models:/{PIPELINE}@champion",
            lambda: (poll_runs() and None) or (pred_uri if storage.exists(pred_uri) else None),
            self.timeout,
        )
        return pred_uri


def _clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


def drift_check_of(settings, spec, raw_uri: str) -> Callable[[], dict[str, Any] | None]:
    """Poll for the monitor's drift check of the batch behind `raw_uri`."""
    from airloop.data.ingest import batch_id_for
    from airloop.monitor.checks import load_checks
    from airloop.store import storage

    batch_id = batch_id_for(raw_uri, storage.sha256(raw_uri))
    return lambda: next((c for c in load_checks(settings, spec.name) if c["batch_id"] == batch_id), None)


def _summary(out: Progress, registry: Registry, info: dict[str, Any], decisions: list[dict], pred_uri: str) -> None:
    """The round's outcome: the champion now (read afresh: the round may have moved it), the gate's decisions, the
    scored batch, and where to look next."""
    import pandas as pd

    from airloop import uris

    entry = registry.describe_models([PIPELINE])[0]
    champ = next(v for v in entry["versions"] if v["version"] == entry["champion"])
    preds = pd.read_parquet(uris.local_path(pred_uri))
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
        out.say(f"  v{d['version']} ({d['trigger']}): {d['gate']} — {d['gate_reason']}")
    if not decisions:
        out.say("  none: no batch this run was a reason to retrain")
    out.say(f"scored batch      {len(preds)} rows → {uris.local_path(pred_uri)}")
    out.say(
        f"                  model versions in file: {sorted(preds['model_version'].unique().tolist())}, "
        f"mean score {preds['score'].mean():.4f}"
    )
    out.say(f"Airflow UI        {info['airflow_url']}   login: {info['username']} / {info['password']}")
    out.say(f"MLflow UI         {info['mlflow_url']}")
    out.say(f"Model Ops         {info['model_ops_url']}   (champions, gate decisions, drift history; in the UI's nav)")
    out.say("Next: `.venv/bin/airloop models`, run `make demo` again for another round, `make down` to stop.")
