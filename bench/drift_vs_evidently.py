"""Drift on 1M rows × 20 numeric columns: airloop's `compare(method="wasserstein")` against Evidently's
`DataDriftPreset`, each as a whole separate process, printed as one table.

Goals (from the issue): airloop ≥ 100× faster and ≤ ¼ of Evidently's peak RSS, with per-column normed Wasserstein
scores (`wasserstein_distance(ref, cur) / max(std(ref), 0.001)`) equal to Evidently's within 1e-6.

How it measures:
- Evidently 0.7 needs pandas < 3 and airloop's venv has pandas 3, so Evidently runs in its own virtualenv
  (default `.run/bench-evidently-venv`, created with uv on first use and reused afterwards).
- The data is generated once (numpy, fixed seed): a reference of N rows × C normal columns and a current batch in
  which some columns shift or widen (they drift) and the others keep their distribution or move a little (they do
  not). Both go to Parquet in a temporary directory.
- Each side is one fresh process that imports its libraries, reads the two Parquet files (Evidently: whole
  DataFrames with `pd.read_parquet`; airloop: `ParquetColumns`, one column at a time, as `airloop drift` reads
  Parquet), computes, and writes its per-column scores as JSON. Wall time is the whole process; peak RSS is the
  process's maximum resident set (`/usr/bin/time -v`, else `getrusage(RUSAGE_CHILDREN)` in a wrapper process per
  side). The workers also report their own import / read / compute times and the RSS after reading, so the table
  shows what the data alone costs.
- Evidently runs the preset with `num_method="wasserstein"`: above 1,000 reference rows its automatic choice for a
  numeric column is that same normed Wasserstein distance; naming it keeps the comparison exact at small --rows.

Nothing is asserted: the script prints numbers (and, with --json, the result records `run_all.py` reads) and
exits 0, also when Evidently cannot be installed or fails (it then says what failed); 1 when airloop's side fails.

A smoke run (--smoke: 2,000 rows × 5 columns) installs nothing: it runs airloop's side, and Evidently's only when
its venv is already there; otherwise it prints airloop's row and says the comparison was skipped.

    .venv/bin/python bench/drift_vs_evidently.py [--rows N] [--columns C] [--repeat K] [--venv DIR] [--json PATH]
        [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
AIRLOOP_PYTHON = ROOT / ".venv" / "bin" / "python"
DEFAULT_VENV = ROOT / ".run" / "bench-evidently-venv"
EVIDENTLY_REQUIREMENTS = ["evidently==0.7.*", "pandas<3", "pyarrow"]

GOAL_SPEEDUP = 100.0  # Evidently wall / airloop wall ≥ this
GOAL_RSS = 0.25  # airloop peak RSS / Evidently peak RSS ≤ this
GOAL_DIFF = 1e-6  # max |airloop score − Evidently score| over the columns ≤ this
SEED = 20261126

# Wrapper used when /usr/bin/time is missing: runs the command, then prints its children's peak RSS (KiB on Linux).
_RUSAGE_WRAPPER = (
    "import json, resource, subprocess, sys; "
    "rc = subprocess.call(sys.argv[1:]); "
    "print('BENCH_RUSAGE ' + json.dumps({'rc': rc, "
    "'maxrss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}), file=sys.stderr)"
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------------- worker
# Runs in a fresh process: airloop's venv for "airloop", the Evidently venv for "evidently". Only the standard
# library is imported at module level, so this file imports in either venv.


def _maxrss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def worker(side: str, data: Path, out: Path) -> None:
    t0 = time.perf_counter()
    import pandas as pd

    if side == "airloop":
        from airloop.monitor.drift import compare
    else:
        from evidently import Report
        from evidently.presets import DataDriftPreset
    t_import = time.perf_counter()
    rss_import = _maxrss_mb()

    if side == "airloop":  # airloop reads Parquet a column at a time, as `airloop drift` does
        from airloop.monitor.drift import ParquetColumns

        reference = ParquetColumns(data / "reference.parquet")
        current = ParquetColumns(data / "current.parquet")
    else:  # Evidently needs whole DataFrames
        reference = pd.read_parquet(data / "reference.parquet")
        current = pd.read_parquet(data / "current.parquet")
    t_read = time.perf_counter()
    rss_read = _maxrss_mb()

    if side == "airloop":
        report = compare(reference, current, method="wasserstein")
        scores = {name: f.statistic for name, f in report.features.items()}
        methods = {name: f.method for name, f in report.features.items()}
        drifted = report.drifted_columns
    else:
        snapshot = Report([DataDriftPreset(num_method="wasserstein")]).run(
            current_data=current, reference_data=reference
        )
        scores, methods, drifted = {}, {}, []
        for metric in snapshot.dict()["metrics"]:
            config = metric["config"]
            if not config.get("type", "").endswith(":ValueDrift"):
                continue
            name = config["column"]
            scores[name] = float(metric["value"])
            methods[name] = config.get("method")
            if scores[name] >= float(config.get("threshold", 0.1)):
                drifted.append(name)
    t_compute = time.perf_counter()

    from importlib import metadata

    names = ["pandas", "numpy", "pyarrow", "scipy"] + (["evidently"] if side == "evidently" else [])
    out.write_text(
        json.dumps(
            {
                "side": side,
                "scores": scores,
                "methods": methods,
                "drifted": drifted,
                "seconds": {
                    "import": t_import - t0,
                    "read": t_read - t_import,
                    "compute": t_compute - t_read,
                },
                "rss_mb": {"after_import": rss_import, "after_read": rss_read, "peak_inside": _maxrss_mb()},
                "versions": {n: _version(metadata, n) for n in names},
                "python": sys.version.split()[0],
            }
        )
    )


def _version(metadata, name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


# ---------------------------------------------------------------------------------------------------------- setup


def _uv() -> list[str]:
    if exe := shutil.which("uv"):
        return [exe]
    return ["python3", "-m", "uv"]


def ensure_evidently_venv(venv: Path, *, create: bool = True) -> Path:
    """The Evidently venv's python, creating the venv with uv if it is missing or lacks Evidently.

    With `create=False` (smoke runs) a missing or broken venv is an error instead: nothing is installed.
    """
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import evidently, pandas, pyarrow; print(evidently.__version__, pandas.__version__)"]
    if python.exists():
        ok = subprocess.run(probe, capture_output=True, text=True)
        if ok.returncode == 0:
            log(f"reusing {venv} (evidently, pandas: {ok.stdout.strip()})")
            return python
    if not create:
        raise RuntimeError(f"no working Evidently venv at {venv} (a full run creates it with uv)")
    log(f"creating {venv} with uv: {' '.join(EVIDENTLY_REQUIREMENTS)}")
    t0 = time.perf_counter()
    venv.parent.mkdir(parents=True, exist_ok=True)
    base = getattr(sys, "_base_executable", None) or sys.executable
    steps = [
        [*_uv(), "venv", "--quiet", "--allow-existing", "--python", base, str(venv)],
        [*_uv(), "pip", "install", "--quiet", "--python", str(python), *EVIDENTLY_REQUIREMENTS],
    ]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-20:])
            raise RuntimeError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n{tail}")
    ok = subprocess.run(probe, capture_output=True, text=True)
    if ok.returncode != 0:
        raise RuntimeError(f"Evidently does not import in {venv}:\n{ok.stderr.strip()[-2000:]}")
    log(f"  done in {time.perf_counter() - t0:.0f} s (evidently, pandas: {ok.stdout.strip()})")
    return python


def make_data(rows: int, columns: int, directory: Path, seed: int = SEED) -> dict[str, str]:
    """Write reference.parquet and current.parquet; return what was done to each current column.

    Column j is normal with its own location and scale in the reference. In the current batch, by j % 5: a shift
    of 0.5 σ (normed Wasserstein ≈ 0.5, drifts), a scale × 1.3 (≈ 0.24, drifts), a shift of 0.02 σ (≈ 0.02, does
    not drift), and twice the same distribution (≈ 0, does not drift).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    ref, cur, plan = {}, {}, {}
    for j in range(columns):
        name = f"x{j:02d}"
        loc, scale = 10.0 * j - 50.0, 1.0 + (j % 7)
        ref[name] = rng.normal(loc, scale, rows)
        kind = j % 5
        if kind == 0:
            cur[name], plan[name] = rng.normal(loc + 0.5 * scale, scale, rows), "shift 0.5 σ"
        elif kind == 1:
            cur[name], plan[name] = rng.normal(loc, 1.3 * scale, rows), "scale × 1.3"
        elif kind == 2:
            cur[name], plan[name] = rng.normal(loc + 0.02 * scale, scale, rows), "shift 0.02 σ"
        else:
            cur[name], plan[name] = rng.normal(loc, scale, rows), "same"
    pq.write_table(pa.table(ref), directory / "reference.parquet")
    pq.write_table(pa.table(cur), directory / "current.parquet")
    return plan


# -------------------------------------------------------------------------------------------------------- measure


def run_side(python: Path, side: str, data: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """One whole worker process: its wall time, peak RSS and the JSON it wrote (or the error)."""
    out = data / f"{side}.json"
    out.unlink(missing_ok=True)
    cmd = [str(python), str(Path(__file__).resolve()), "--worker", side, "--data", str(data), "--out", str(out)]
    time_bin = Path("/usr/bin/time")
    if time_bin.exists():
        wrapped, how = [str(time_bin), "-v", *cmd], "/usr/bin/time -v"
    else:
        wrapped, how = [sys.executable, "-c", _RUSAGE_WRAPPER, *cmd], "getrusage(RUSAGE_CHILDREN)"
    log(f"running {side} ({how}) ...")
    t0 = time.perf_counter()
    proc = subprocess.run(wrapped, capture_output=True, text=True, cwd=ROOT, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - t0
    peak_kb = None
    if m := re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr):
        peak_kb = int(m.group(1))
    elif m := re.search(r"BENCH_RUSAGE (\{.*\})", proc.stderr):
        peak_kb = json.loads(m.group(1))["maxrss_kb"]
    exit_status = proc.returncode
    if m := re.search(r"Exit status: (\d+)", proc.stderr):
        exit_status = int(m.group(1))
    result: dict[str, Any] = {"side": side, "wall": wall, "peak_mb": peak_kb / 1024 if peak_kb else None}
    if exit_status != 0 or not out.exists():
        lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith("\t")]  # drop time -v's report
        result["error"] = f"exit {exit_status}:\n" + "\n".join(lines[-25:])
        return result
    result.update(json.loads(out.read_text()))
    log(f"  {side}: {wall:.1f} s, peak RSS {result['peak_mb']:.0f} MB")
    return result


def best_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest successful run, with the highest peak RSS of all runs (RSS should not depend on luck)."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[-1]
    out = dict(min(ok, key=lambda r: r["wall"]))
    peaks = [r["peak_mb"] for r in ok if r["peak_mb"] is not None]
    out["peak_mb"] = max(peaks) if peaks else None
    out["walls"] = [r["wall"] for r in ok]
    return out


# --------------------------------------------------------------------------------------------------------- report


def _fmt(x: float | None, spec: str) -> str:
    return "n/a" if x is None else format(x, spec)


def table(sides: list[dict[str, Any]]) -> str:
    head = f"{'side':<10} {'wall s':>8} {'import s':>9} {'read s':>7} {'compute s':>10} {'peak RSS MB':>12} "
    head += f"{'RSS after read MB':>18}"
    lines = [head, "-" * len(head)]
    for s in sides:
        if "error" in s:
            lines.append(f"{s['side']:<10} {_fmt(s['wall'], '8.2f')}  failed (see below)")
            continue
        sec = s["seconds"]
        lines.append(
            f"{s['side']:<10} {s['wall']:>8.2f} {sec['import']:>9.2f} {sec['read']:>7.2f} {sec['compute']:>10.2f} "
            f"{_fmt(s['peak_mb'], '12.0f')} {s['rss_mb']['after_read']:>18.0f}"
        )
    return "\n".join(lines)


def verdict(met: bool | None) -> str:
    return {True: "MET", False: "MISSED", None: "n/a"}[met]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="rows in each of reference and current (1,000,000)")
    p.add_argument("--columns", type=int, default=20, help="numeric columns (default 20)")
    p.add_argument("--repeat", type=int, default=1, help="whole-process runs of each side; best wall is used (1)")
    p.add_argument("--venv", type=Path, default=DEFAULT_VENV, help=f"Evidently's venv (default {DEFAULT_VENV})")
    p.add_argument("--json", type=Path, default=None, help="also write result records for run_all.py here")
    p.add_argument(
        "--smoke",
        action="store_true",
        help="2,000 rows × 5 columns, one run, nothing installed: shows the script still runs (numbers mean nothing)",
    )
    p.add_argument("--worker", choices=["airloop", "evidently"], help=argparse.SUPPRESS)
    p.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.worker, args.data, args.out)
        return 0

    if args.smoke:
        args.rows, args.columns, args.repeat = 2_000, 5, 1
        log("smoke run: 2,000 rows × 5 columns, one run (the numbers mean nothing)")
    failures: list[str] = []
    skipped = None
    try:
        ev_python: Path | None = ensure_evidently_venv(args.venv, create=not args.smoke)
    except Exception as exc:  # report it and go on with airloop alone
        ev_python = None
        if args.smoke:
            skipped = str(exc)
        else:
            failures.append(f"Evidently venv: {exc}")
        log(f"Evidently venv: {exc}")

    with tempfile.TemporaryDirectory(prefix="drift-vs-evidently-") as tmp:
        data = Path(tmp)
        log(f"generating {args.rows:,} × {args.columns} reference and current batches ...")
        t0 = time.perf_counter()
        plan = make_data(args.rows, args.columns, data)
        size_mb = sum(f.stat().st_size for f in data.glob("*.parquet")) / 2**20
        log(f"  {time.perf_counter() - t0:.1f} s, {size_mb:.0f} MB of Parquet")

        runs: dict[str, list[dict[str, Any]]] = {"airloop": [], "evidently": []}
        for i in range(max(1, args.repeat)):
            order = ["airloop", "evidently"] if i % 2 == 0 else ["evidently", "airloop"]
            for side in order:
                if side == "airloop":
                    runs[side].append(run_side(AIRLOOP_PYTHON, "airloop", data))
                elif ev_python is not None:
                    runs[side].append(run_side(ev_python, "evidently", data, env={"DO_NOT_TRACK": "1"}))

    air = best_run(runs["airloop"])
    ev = best_run(runs["evidently"]) if runs["evidently"] else None
    for s in (air, ev):
        if s is not None and "error" in s:
            failures.append(f"{s['side']} worker failed, {s['error']}")

    print(f"\nDrift, {args.rows:,} rows × {args.columns} numeric columns (reference and current), normed Wasserstein")
    print(f"(one whole process per side; best of {max(1, args.repeat)}; machine: {os.cpu_count()} cores)\n")
    print(table([s for s in (air, ev) if s is not None]))

    speedup = rss_ratio = max_diff = None
    compute_speedup = None
    n_cols = 0
    if ev is not None and "error" not in ev and "error" not in air:
        speedup = ev["wall"] / air["wall"]
        compute_speedup = ev["seconds"]["compute"] / air["seconds"]["compute"]
        if air["peak_mb"] and ev["peak_mb"]:
            rss_ratio = air["peak_mb"] / ev["peak_mb"]
        common = sorted(set(air["scores"]) & set(ev["scores"]))
        n_cols = len(common)
        missing = sorted(set(air["scores"]) ^ set(ev["scores"]))
        if missing:
            failures.append(f"columns scored by one side only: {', '.join(missing)}")
        if common:
            max_diff = max(abs(air["scores"][c] - ev["scores"][c]) for c in common)

    met_speed = None if speedup is None else speedup >= GOAL_SPEEDUP
    met_rss = None if rss_ratio is None else rss_ratio <= GOAL_RSS
    met_diff = None if max_diff is None else (max_diff <= GOAL_DIFF and n_cols == args.columns)
    print()
    print(
        f"Evidently / airloop wall time:    {_fmt(speedup, '.1f')}×  (goal ≥ {GOAL_SPEEDUP:.0f}×: {verdict(met_speed)})"
        f"; compute only (in-process, after reading): {_fmt(compute_speedup, '.1f')}×"
    )
    print(f"airloop / Evidently peak RSS:     {_fmt(rss_ratio, '.3f')}   (goal ≤ {GOAL_RSS}: {verdict(met_rss)})")
    print(
        f"max |score difference|:           {_fmt(max_diff, '.2e')} over {n_cols} columns "
        f"(goal ≤ {GOAL_DIFF:.0e}: {verdict(met_diff)})"
    )

    if ev is not None and "error" not in ev and "error" not in air:
        print("\nper column (current batch's change → normed Wasserstein, airloop vs Evidently):")
        for c in sorted(air["scores"]):
            a, e = air["scores"][c], ev["scores"].get(c)
            diff = "" if e is None else f"  |Δ| {abs(a - e):.1e}"
            print(f"  {c}  {plan.get(c, '?'):<13} {a:.6f}  {_fmt(e, '.6f')}{diff}")
        print(
            f"drifted columns (≥ 0.1): airloop {len(air['drifted'])}, Evidently {len(ev['drifted'])}; "
            f"same set: {sorted(air['drifted']) == sorted(ev['drifted'])}"
        )
        print(f"Evidently's method per column: {sorted({str(m) for m in ev['methods'].values()})}")
        print(
            f"versions — airloop venv: python {air['python']}, {_versions(air)}; "
            f"Evidently venv: python {ev['python']}, {_versions(ev)}"
        )
    if args.repeat > 1:
        for s in (air, ev):
            if s is not None and "walls" in s:
                print(f"{s['side']} walls: {', '.join(f'{w:.2f}' for w in s['walls'])} s")
    if skipped:
        print(f"\ncomparison with Evidently skipped: {skipped}")
    for f in failures:
        print(f"\nFAILED: {f}")

    if args.json is not None:
        _write_json(args, air, ev, speedup, compute_speedup, rss_ratio, max_diff, n_cols, met_speed, met_rss, met_diff)
    return 1 if "error" in air else 0  # Evidently may fail (said above); airloop's own side may not


def _versions(side: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in side["versions"].items())


def _write_json(args, air, ev, speedup, compute_speedup, rss_ratio, max_diff, n_cols, met_speed, met_rss, met_diff):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from dataclasses import asdict

    from _common import Result

    params = {"rows": args.rows, "columns": args.columns, "repeat": args.repeat}
    ok = ev is not None and "error" not in ev and "error" not in air
    extras = []
    if ok:
        for s in (air, ev):
            sec = s["seconds"]
            extras.append(
                f"{s['side']}: {s['wall']:.2f} s whole process (import {sec['import']:.2f}, read {sec['read']:.2f}, "
                f"compute {sec['compute']:.2f}), peak RSS {_fmt(s['peak_mb'], '.0f')} MB "
                f"({s['rss_mb']['after_read']:.0f} MB after reading)"
            )
    name = f"drift_vs_evidently ({args.rows:,} × {args.columns})"
    results = [
        Result(
            name + " time",
            "Evidently wall / airloop wall",
            speedup or float("nan"),
            f"≥ {GOAL_SPEEDUP:.0f}×",
            met_speed,
            f"{_fmt(speedup, '.1f')}× (compute only {_fmt(compute_speedup, '.1f')}×)",
            extras,
            params,
        ),
        Result(
            name + " peak RSS",
            "airloop peak RSS / Evidently peak RSS",
            rss_ratio or float("nan"),
            f"≤ {GOAL_RSS}",
            met_rss,
            f"{_fmt(rss_ratio, '.3f')} ({_fmt(air.get('peak_mb'), '.0f')} MB vs "
            f"{_fmt(ev.get('peak_mb') if ev else None, '.0f')} MB)",
            [],
            params,
        ),
        Result(
            name + " scores",
            "max |airloop − Evidently| normed Wasserstein",
            max_diff if max_diff is not None else float("nan"),
            f"≤ {GOAL_DIFF:.0e}",
            met_diff,
            f"{_fmt(max_diff, '.1e')} over {n_cols} columns",
            [],
            params,
        ),
    ]
    args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    sys.exit(main())
