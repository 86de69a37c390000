"""Is XGBoost training bit-for-bit repeatable? Same data, seed and params, trained twice per setting.

`airloop reproduce` promises identical rebuilds on CPU for a given seed and thread count, and says CUDA is not
promised; this measures both on the machine it runs on, and what a different thread count does. Self-contained
(xgboost + numpy only) so it runs on a lent GPU machine that has neither airloop nor its dependencies.

Without a usable GPU it compares the CPU runs only and says that the CUDA rows were skipped.

    python bench/gpu_determinism.py [--rows 1000000] [--rounds 100] [--smoke]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import time

import numpy as np
import xgboost as xgb


def data(rows: int, features: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, features), dtype=np.float32)
    logit = x[:, :8] @ rng.standard_normal(8).astype(np.float32) + 0.5 * x[:, 8] * x[:, 9]
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    return x, y


def train(x, y, *, device: str, nthread: int, rounds: int) -> tuple[np.ndarray, str, float]:
    params = {
        "objective": "binary:logistic",
        "tree_method": "hist",
        "max_depth": 8,
        "eta": 0.1,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "seed": 42,
        "nthread": nthread,
        "device": device,
    }
    t0 = time.perf_counter()
    booster = xgb.train(params, xgb.QuantileDMatrix(x, label=y), num_boost_round=rounds)
    seconds = time.perf_counter() - t0
    booster.set_param({"device": "cpu"})  # predict on CPU either way: compare the models, not two predictors
    pred = booster.predict(xgb.DMatrix(x[:200_000]))
    raw = booster.save_raw("json")
    return pred, hashlib.sha256(bytes(raw)).hexdigest()[:12], seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes: the same code path in seconds, to show the script still runs (numbers mean nothing)",
    )
    args = ap.parse_args()
    if args.smoke:
        args.rows, args.features, args.rounds = 2_000, 12, 5
        print("smoke run: 2,000 rows × 12 features, 5 rounds (the numbers mean nothing)")
    cores = len(os.sched_getaffinity(0))
    # /proc/driver/nvidia is missing under sandboxed kernels; the device nodes are still there (as in airloop).
    visible = os.path.isdir("/proc/driver/nvidia/gpus") or os.path.exists("/dev/nvidia0")
    cuda = bool(xgb.build_info().get("USE_CUDA")) and visible
    versions = f"xgboost {xgb.__version__}, numpy {np.__version__}, python {platform.python_version()}"
    print(f"{versions}, {cores} cores, cuda={cuda}")
    x, y = data(args.rows, args.features)
    print(f"data: {args.rows:,} rows × {args.features} features, {args.rounds} rounds, hist, depth 8, subsample 0.8")
    half = max(1, cores // 2)
    settings = [("cpu", cores), ("cpu", cores), ("cpu", half)]
    if cuda:
        settings += [("cuda", cores), ("cuda", cores)]
    runs = []
    for device, nthread in settings:
        pred, digest, seconds = train(x, y, device=device, nthread=nthread, rounds=args.rounds)
        runs.append((device, nthread, pred, digest, seconds))
        print(f"  trained {device:<4} nthread={nthread:<3} {seconds:7.2f} s  model sha256 {digest}")

    def compare(a: int, b: int, what: str) -> None:
        pa, pb = runs[a][2], runs[b][2]
        same_pred = np.array_equal(pa, pb)
        same_model = runs[a][3] == runs[b][3]
        diff = float(np.max(np.abs(pa.astype(np.float64) - pb.astype(np.float64))))
        n = int(np.sum(pa != pb))
        print(f"| {what:<38} | {str(same_model):<11} | {str(same_pred):<16} | {n:>12,} | {diff:>12.3e} |")

    print("| comparison                             | same model  | same predictions | rows differ  | max abs diff |")
    print("| -------------------------------------- | ----------- | ---------------- | -----------: | -----------: |")
    compare(0, 1, f"cpu nthread={cores} vs again")
    compare(0, 2, f"cpu nthread={cores} vs nthread={half}")
    if cuda:
        compare(3, 4, "cuda vs cuda again")
        compare(0, 3, "cpu vs cuda")
    else:
        print("no usable GPU (an xgboost build with CUDA and a visible device): CUDA rows skipped")


if __name__ == "__main__":
    main()
