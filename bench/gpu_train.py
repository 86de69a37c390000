"""CPU vs CUDA XGBoost training time on synthetic data, printed as one table.

Self-contained on purpose (xgboost + numpy + the standard library): it must run on a GPU machine that has neither
airloop nor its dependencies. Both devices get the same data and the same params (tree_method hist, max_depth 8,
--rounds boosting rounds, no early stopping); the matrix build (QuantileDMatrix) and the training are timed
separately, after a small untimed warm-up on each device (CUDA context creation is not training time).

Without a usable GPU (an xgboost build without CUDA, or no GPU under /proc/driver/nvidia/gpus) it prints the CPU
row, then a line saying no GPU was found, and exits 0.

    python bench/gpu_train.py [--rows N] [--features F] [--rounds R] [--json PATH] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import xgboost as xgb


def gpu_available() -> tuple[bool, str]:
    """(usable, reason): the same test airloop's training uses (build with CUDA + a GPU the driver lists)."""
    if not xgb.build_info().get("USE_CUDA"):
        return False, f"xgboost {xgb.__version__} was built without CUDA"
    gpus = Path("/proc/driver/nvidia/gpus")
    if gpus.is_dir() and any(gpus.iterdir()):
        return True, f"{len(list(gpus.iterdir()))} GPU(s) under /proc/driver/nvidia/gpus"
    nodes = [p for p in Path("/dev").glob("nvidia[0-9]*") if p.name[len("nvidia") :].isdigit()]
    if nodes:  # sandboxed kernels (gVisor) may hide /proc/driver/nvidia but keep the device nodes
        return True, f"{len(nodes)} GPU device node(s) under /dev"
    return False, "no GPU listed under /proc/driver/nvidia/gpus or /dev/nvidia*"


def make_data(rows: int, features: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian features; a label from a linear part, one interaction and noise (learnable, not trivial)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, features), dtype=np.float32)
    w = rng.standard_normal(min(10, features)).astype(np.float32)
    y = np.empty(rows, dtype=np.float32)
    step = 1_000_000
    for i in range(0, rows, step):  # chunked: no rows × 10 temporaries at 10M rows
        xs = x[i : i + step]
        z = xs[:, : len(w)] @ w
        if features > 11:
            z += 1.5 * xs[:, 10] * xs[:, 11]
        y[i : i + step] = (z + rng.standard_normal(len(xs)).astype(np.float32) > 0).astype(np.float32)
    return x, y


def params(device: str, depth: int, nthread: int | None) -> dict:
    p = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": depth, "eta": 0.1, "seed": 0}
    p["device"] = device
    if nthread:
        p["nthread"] = nthread
    return p


def run(device: str, x: np.ndarray, y: np.ndarray, rounds: int, depth: int, nthread: int | None) -> dict:
    warm = xgb.QuantileDMatrix(x[:2000], label=y[:2000])
    xgb.train(params(device, depth, nthread), warm, num_boost_round=2)
    t0 = time.perf_counter()
    dtrain = xgb.QuantileDMatrix(x, label=y)
    t1 = time.perf_counter()
    booster = xgb.train(params(device, depth, nthread), dtrain, num_boost_round=rounds)
    t2 = time.perf_counter()
    sample = slice(0, min(len(y), 200_000))
    booster.set_param({"device": "cpu"})  # the sample lives in host memory: predict there, no device mismatch
    p = booster.inplace_predict(x[sample])
    acc = float(((p > 0.5) == (y[sample] > 0.5)).mean())
    return {"device": device, "matrix_s": t1 - t0, "train_s": t2 - t1, "total_s": t2 - t0, "train_acc": acc}


def row(r: dict, base: dict, rows: int, features: int) -> str:
    speed = base["train_s"] / r["train_s"]
    return (
        f"| {r['device']:<6} | {rows:>11,} | {features:>8} | {r['matrix_s']:>9.2f} | {r['train_s']:>9.2f} | "
        f"{r['total_s']:>9.2f} | {speed:>13.1f}× | {r['train_acc']:>9.3f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--features", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--nthread", type=int, default=0, help="CPU threads (default: all cores)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes: the same code path in seconds, to show the script still runs (numbers mean nothing)",
    )
    args = ap.parse_args()
    if args.smoke:
        args.rows, args.features, args.rounds = 2_000, 12, 5
        print("smoke run: 2,000 rows × 12 features, 5 rounds (the numbers mean nothing)", flush=True)

    ok, reason = gpu_available()
    print(
        f"xgboost {xgb.__version__}, numpy {np.__version__}, python {platform.python_version()}, "
        f"{os.cpu_count()} cores; GPU check: {reason}",
        flush=True,
    )
    x, y = make_data(args.rows, args.features)
    print(f"data: {args.rows:,} rows × {args.features} float32 features ({x.nbytes / 1e9:.2f} GB)", flush=True)
    header = (
        "| device |        rows | features |  matrix s |   train s |   total s | train speedup | train acc |\n"
        "| ------ | ----------: | -------: | --------: | --------: | --------: | ------------: | --------: |"
    )
    cpu = run("cpu", x, y, args.rounds, args.depth, args.nthread or None)
    print(header)
    print(row(cpu, cpu, args.rows, args.features), flush=True)
    out = [cpu]
    if ok:
        cuda = run("cuda", x, y, args.rounds, args.depth, args.nthread or None)
        print(row(cuda, cpu, args.rows, args.features))
        out.append(cuda)
    else:
        print(f"no GPU found ({reason}): CUDA row skipped")
    if args.json:
        speedup = cpu["train_s"] / out[-1]["train_s"] if ok else None
        lines = [
            f"{r['device']}: QuantileDMatrix {r['matrix_s']:.2f} s, train {r['train_s']:.2f} s "
            f"({args.rounds} rounds, depth {args.depth}), train accuracy {r['train_acc']:.3f}"
            for r in out
        ]
        if not ok:
            lines.append(f"no GPU found: {reason}")
        record = {
            "benchmark": f"gpu_train ({args.rows:,} × {args.features}, {args.rounds} rounds)",
            "metric": "CPU / CUDA training time",
            "measured": speedup if speedup is not None else cpu["train_s"],
            "goal": "(context)",
            "met": None,
            "display": f"{speedup:.1f}× faster on CUDA" if speedup else f"CPU only: train {cpu['train_s']:.2f} s",
            "extras": lines,
            "params": {"rows": args.rows, "features": args.features, "rounds": args.rounds, "results": out},
        }
        args.json.write_text(json.dumps([record], indent=2))


if __name__ == "__main__":
    main()
