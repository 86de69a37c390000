"""airloop's own training path on a GPU machine: does `device: auto` pick cuda, and what does it buy?

Runs `airloop.model.training.fit` (the function the train DAG calls) on generated fraud data twice — the spec as
shipped (`device: auto`) and forced to cpu — and prints the device each used, fit time and holdout PR-AUC.
Needs numpy, pandas, scikit-learn, pyyaml, pydantic and a CUDA build of xgboost; no Airflow, MLflow or DVC.

    python bench/gpu_fit.py --rows 2000000 [--smoke]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=300, help="boosting rounds, no early stopping (300)")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes: the same code path in seconds, to show the script still runs (numbers mean nothing)",
    )
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.rounds = 3_000, 10
        print("smoke run: 3,000 rows, 10 rounds (the numbers mean nothing)")
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

    import yaml

    from airloop.catalog import parse_spec
    from airloop.data.datagen import generate
    from airloop.data.features import build_features, feature_columns
    from airloop.model.training import choose_device, cuda_available, fit, time_split

    raw = yaml.safe_load((ROOT / "include" / "pipelines" / "fraud_detection.yaml").read_text())
    raw["model"]["early_stopping_rounds"] = None  # same number of rounds on both devices
    raw["model"]["num_boost_round"] = args.rounds
    t0 = time.perf_counter()
    df = generate("fraud", rows=args.rows, seed=1, labels=True)
    print(f"cuda_available={cuda_available()} choose_device('auto')={choose_device('auto')}")
    rows = []
    for device in ("auto", "cpu"):
        raw["model"]["device"] = device
        spec = parse_spec(raw, "gpu_fit")
        split = time_split(build_features(df, spec), spec)
        if device == "auto":
            print(f"data: {args.rows} rows generated + features in {time.perf_counter() - t0:.1f}s")
        result = fit(split, spec, feature_columns(spec))
        rows.append((device, result.device, result.seconds, result.metrics["pr_auc"]))
    print(f"\n{'requested':<10} {'used':<6} {'fit s':>8} {'pr_auc':>8}")
    for req, used, secs, pr in rows:
        print(f"{req:<10} {used:<6} {secs:8.2f} {pr:8.4f}")
    if rows[0][1] == "cuda":
        print(f"speed-up cuda vs cpu: {rows[1][2] / rows[0][2]:.1f}x")
    else:
        print("no usable GPU: auto fell back to cpu")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
