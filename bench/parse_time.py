"""DAG parse time of dags/airloop_pipelines.py, over and above `import airflow.sdk`.

Airflow re-parses DAG files all the time, each in a fresh process, so the factory must stay light. Measured in fresh
subprocesses, interleaved, median of --repeat runs:

  (a) `import airflow.sdk` alone                       (wall time of the subprocess)
  (b) `import airflow.sdk`, then runpy the DAG file    (wall time, and perf_counter around runpy inside it)

Headline: (b)'s in-process runpy time, the less noisy number; (b) − (a) in wall time is shown beside it.

Python's bytecode cache decides much of the result: where PYTHONDONTWRITEBYTECODE=1 is set (this machine sets it)
and nothing was precompiled at install, every process compiles every module it imports from source. Both cases are
measured, each in its own pycache prefix in a temp dir (the repo and the venv are never written to):

  cached  bytecode written on a warm-up run and read afterwards (Python's default; Airflow's DAG processor)
  cold    no bytecode at all (PYTHONDONTWRITEBYTECODE=1, an empty pycache prefix): every parse compiles

Two more in-process measurements explain where the time goes: a breakdown of the DAG file's phases, and a
reference DAG file with three trivial TaskFlow DAGs (what any DAG file using `@dag`/`@task` pays for Airflow's
lazily imported names).

A smoke run (--smoke) measures the cached mode only, one round, without the untimed first run.

    .venv/bin/python bench/parse_time.py [--repeat K] [--smoke]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, Result, log, med, parser, report, smoke, spread

DAG_FILE = ROOT / "dags" / "airloop_pipelines.py"
GOAL_S = 0.15

SDK_ONLY = """
import json, time
t0 = time.perf_counter()
import airflow.sdk
print(json.dumps({"sdk": time.perf_counter() - t0}))
"""

# Garbage-collector time, so a full (generation 2) collection that happens to land inside the DAG file is visible.
GC_PROBE = """
import gc, time
_gc = {"s": 0.0, "full": 0, "t": 0.0}
def _gc_cb(phase, info):
    if phase == "start":
        _gc["t"] = time.perf_counter()
    else:
        _gc["s"] += time.perf_counter() - _gc["t"]
        _gc["full"] += info["generation"] == 2
gc.callbacks.append(_gc_cb)
"""

SDK_THEN_DAG = (
    GC_PROBE
    + """
import json, runpy, sys, time
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
g0, f0 = _gc["s"], _gc["full"]
ns = runpy.run_path(sys.argv[1])
t2 = time.perf_counter()
n = sum(type(v).__name__ == "DAG" for v in ns.values())
print(json.dumps({"sdk": t1 - t0, "dag": t2 - t1, "n_dags": n, "gc": _gc["s"] - g0, "full_gc": _gc["full"] - f0}))
"""
)

# The DAG file's work, phase by phase (same order as dags/airloop_pipelines.py → factory.build_all).
BREAKDOWN = (
    GC_PROBE
    + """
import json, sys, time
import airflow.sdk
out = {}
def phase(name, fn):
    g, t = _gc["s"], time.perf_counter()
    r = fn()
    out[name] = [time.perf_counter() - t, _gc["s"] - g]
    return r
def sdk_names():
    import pendulum
    from airflow.sdk import Asset, AssetWatcher, Metadata, dag, get_current_context, task
    from airflow.sdk.exceptions import AirflowSkipException
phase("airflow.sdk lazy names (dag, task, Asset, ...) + pendulum", sdk_names)
phase("airflow.triggers.base (watcher trigger base class)", lambda: __import__("airflow.triggers.base"))
phase("import airloop_airflow.factory (rest)", lambda: __import__("airloop_airflow.factory"))
import airloop_airflow.config as config
import airloop_airflow.factory as f
specs = phase("load_checked (airloop.monitor.speccheck: pydantic models, YAML, features, drift methods)",
              lambda: list(__import__("airloop.monitor.speccheck", fromlist=["load_checked"])
                           .load_checked(config.settings().specs_dir).specs.values()))
dags = phase("build_dags (every DAG of each spec)", lambda: [f.build_dags(s) for s in specs])
print(json.dumps(out))
"""
)

TRIVIAL_DAG = '''
"""Reference: three one-task TaskFlow DAGs wired by an asset, the least any DAG file like ours pays."""
import pendulum
from airflow.sdk import Asset, dag, task

START = pendulum.datetime(2026, 1, 1, tz="UTC")
ready = Asset(name="ref.ready", uri="ref://ready")

for i in range(3):
    @dag(dag_id=f"ref_{i}", schedule=ready if i else None, start_date=START, catchup=False, tags=["ref"])
    def ref():
        @task(outlets=[ready] if i == 0 else [])
        def work() -> int:
            return 1

        work()

    globals()[f"ref_{i}"] = ref()
'''

TRIVIAL_IN_PROCESS = (
    GC_PROBE
    + """
import json, runpy, sys, time
import airflow.sdk
g, t = _gc["s"], time.perf_counter()
runpy.run_path(sys.argv[1])
print(json.dumps({"dag": time.perf_counter() - t, "gc": _gc["s"] - g}))
"""
)


def child_env(home: Path, pycache: Path, *, cached: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOOP_")}
    env.update(
        AIRFLOW_HOME=str(home),
        PYTHONPATH=str(ROOT / "plugins"),
        PYTHONPYCACHEPREFIX=str(pycache),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
    )
    if cached:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_child(code: str, env: dict[str, str], *args: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall, json.loads(proc.stdout.strip().splitlines()[-1])


def measure(mode: str, env: dict[str, str], trivial: Path, repeat: int) -> dict[str, list]:
    keys = ("wall_a", "wall_b", "in_b", "gc_b", "full_gc_b", "sdk_a", "sdk_b", "trivial", "gc_trivial", "breakdown")
    runs: dict[str, list] = {k: [] for k in keys}
    for i in range(repeat):
        order = ["a", "b", "ref", "phases"]
        for kind in order if i % 2 == 0 else reversed(order):
            if kind == "a":
                wall, out = run_child(SDK_ONLY, env)
                runs["wall_a"].append(wall)
                runs["sdk_a"].append(out["sdk"])
            elif kind == "b":
                wall, out = run_child(SDK_THEN_DAG, env, str(DAG_FILE))
                if out["n_dags"] < 1:
                    raise RuntimeError(f"no DAG from {DAG_FILE}")
                runs["wall_b"].append(wall)
                runs["sdk_b"].append(out["sdk"])
                runs["in_b"].append(out["dag"])
                runs["gc_b"].append(out["gc"])
                runs["full_gc_b"].append(out["full_gc"])
            elif kind == "ref":
                out = run_child(TRIVIAL_IN_PROCESS, env, str(trivial))[1]
                runs["trivial"].append(out["dag"])
                runs["gc_trivial"].append(out["gc"])
            else:
                runs["breakdown"].append(run_child(BREAKDOWN, env)[1])
        log(f"[{mode}] round {i + 1}/{repeat}: in-process DAG file {runs['in_b'][-1]:.3f} s")
    return runs


def main() -> None:
    args = smoke(parser(__doc__.splitlines()[0], rows=0, repeat=5).parse_args(), repeat=1)
    modes = (("cached", True),) if args.smoke else (("cached", True), ("cold", False))
    results = []
    with tempfile.TemporaryDirectory(prefix="airloop-bench-parse-") as tmp:
        tmp = Path(tmp)
        trivial = tmp / "reference_dag.py"
        trivial.write_text(TRIVIAL_DAG)
        measured = {}
        for mode, cached in modes:
            home, pycache = tmp / f"home-{mode}", tmp / f"pycache-{mode}"
            home.mkdir()
            pycache.mkdir()
            env = child_env(home, pycache, cached=cached)
            # Untimed first run: writes airflow.cfg, and (cached mode) the bytecode every later run reads.
            for code, extra in ((SDK_THEN_DAG, [str(DAG_FILE)]), (TRIVIAL_IN_PROCESS, [str(trivial)]), (BREAKDOWN, [])):
                if not args.smoke:
                    run_child(code, env, *extra)
            measured[mode] = measure(mode, env, trivial, args.repeat)

        for mode, label in (
            ("cached", "bytecode cached (Python's default)"),
            ("cold", "no bytecode at all (PYTHONDONTWRITEBYTECODE=1, nothing precompiled)"),
        ):
            if mode not in measured:
                continue
            m = measured[mode]
            headline = med(m["in_b"])
            wall_diff = med(m["wall_b"]) - med(m["wall_a"])
            phases = {
                k: (med([b[k][0] for b in m["breakdown"]]), med([b[k][1] for b in m["breakdown"]]))
                for k in m["breakdown"][0]
            }
            no_gc = [t - g for t, g in zip(m["in_b"], m["gc_b"], strict=True)]
            extras = [
                f"in-process runpy of the DAG file after `import airflow.sdk`: {spread(m['in_b'])}; "
                f"of which garbage collection {med(m['gc_b']):.3f} s (median; a full collection landed in "
                f"{sum(1 for x in m['full_gc_b'] if x)}/{len(m['full_gc_b'])} runs); without GC {med(no_gc):.3f} s",
                f"wall (b) − (a), fresh subprocesses: {wall_diff:.3f} s "
                f"(median (a) {med(m['wall_a']):.3f} s, median (b) {med(m['wall_b']):.3f} s)",
                f"`import airflow.sdk` itself (in-process): {med(m['sdk_a'] + m['sdk_b']):.3f} s",
                f"reference DAG file, 3 trivial TaskFlow DAGs (in-process): {spread(m['trivial'])}, "
                f"of which GC {med(m['gc_trivial']):.3f} s",
                "breakdown of the DAG file (in-process, medians): "
                + "; ".join(f"{k} {t * 1000:.0f} ms (GC {g * 1000:.0f} ms)" for k, (t, g) in phases.items()),
            ]
            results.append(
                Result(
                    benchmark=f"parse_time ({label})",
                    metric="s per DAG file above `import airflow.sdk` (in-process)",
                    measured=headline,
                    goal=f"≤ {GOAL_S} s",
                    met=headline <= GOAL_S,
                    display=f"{headline:.3f} s (wall diff {wall_diff:.3f} s)",
                    extras=extras,
                    params={"repeat": args.repeat, "mode": mode, "raw": m},
                )
            )
    report(results, args.json, smoke=args.smoke)


if __name__ == "__main__":
    main()
