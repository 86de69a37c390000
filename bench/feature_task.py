"""Throughput of the feature task on one batch: read Parquet → validate → build features → write Parquet.

The library path is what `airloop.data.ingest.process_batch` runs for a batch with no invalid rows, minus DVC:
`validation.read_table` + `validation.validate_frame` + `features.build_features` + `storage.write_parquet` (with
the Parquet options process_batch uses, `CURATED_PARQUET` below).
Goal: ≥ 2M rows/s on the 1M-row generated fraud batch (best of --repeat).

Context, timed interleaved with it in the same process:
  * a naive pandas chain (read_parquet → per-column checks with `apply`/`isin` → `pd.get_dummies` → to_parquet)
    computing the same features, which is what the task would cost written without care;
  * DVC versioning of the written file (`DataVersioner.track`: `dvc add` + `dvc push` to a local remote), timed
    separately because it is I/O-bound and grows with the file, not the row count. Each call tracks a file with
    new content (as every real batch has), so nothing is deduplicated; the first call also pays `import dvc`.

    .venv/bin/python bench/feature_task.py [--rows N] [--repeat K] [--smoke]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from _common import DOMAINS, RANGES, Result, best, load_spec, log, med, parser, rate, report, smoke, spread, timed

GOAL_ROWS_S = 2_000_000
STAGES = ("read_table", "validate_frame", "build_features", "write_parquet")
# The Parquet options `airloop.data.ingest.process_batch` writes curated features with: keep the two in step.
CURATED_PARQUET = {"use_dictionary": False}


def library_task(spec, raw_uri: str, out_uri: str) -> dict[str, float]:
    """The library path, stage by stage; returns seconds per stage."""
    from airloop.data.features import build_features
    from airloop.data.validation import read_table, validate_frame
    from airloop.store import storage

    t = {}
    t0 = time.perf_counter()
    raw = read_table(raw_uri)
    t1 = time.perf_counter()
    result = validate_frame(raw, spec)
    if result.valid_rows is None or result.report.batch_error:
        raise RuntimeError(f"batch failed validation: {result.report}")
    t2 = time.perf_counter()
    features = build_features(result.valid_rows, spec)
    t3 = time.perf_counter()
    storage.write_parquet(features, out_uri, **CURATED_PARQUET)
    t4 = time.perf_counter()
    t.update(zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True))
    return t


# The naive chain's element-wise `apply` cannot compare the nullable distance column: it checks the others.
# The fraud spec's fairness slices group by these raw columns; curated data carries them (`slice__<column>`).
SLICED = ("country", "customer_age")
NAIVE_RANGES = {col: bounds for col, bounds in RANGES.items() if col != "distance_from_home_km"}


def naive_task(raw_path: Path, out_path: Path) -> None:
    """The same work written the way it often is: element-wise `apply`, `get_dummies`, no attention to copies."""
    df = pd.read_parquet(raw_path)
    ok = pd.Series(True, index=df.index)
    for col in df.columns:
        if col != "distance_from_home_km":
            ok &= df[col].notna()
    for col, (lo, hi) in NAIVE_RANGES.items():
        ok &= df[col].apply(lambda v, lo=lo, hi=hi: lo <= v <= hi)
    dist = df["distance_from_home_km"]
    ok &= dist.apply(lambda v: pd.isna(v) or 0 <= v <= 20_100)
    for col, domain in DOMAINS.items():
        ok &= df[col].isin(domain)
    ok &= ~df["transaction_id"].duplicated()
    df = df[ok]
    out = df[["transaction_id", "event_time", "is_fraud"]].copy()
    out["log_amount"] = np.log1p(df["amount"].clip(lower=0))
    dummies = pd.get_dummies(
        df[["merchant_category", "country"]].astype(
            {c: pd.CategoricalDtype(DOMAINS[c]) for c in ("merchant_category", "country")}
        ),
        prefix=["merchant", "country"],
        prefix_sep="__",
        dtype="float32",
    )
    angle = df["hour"] * (2 * np.pi / 24)
    out["hour_sin"], out["hour_cos"] = np.sin(angle), np.cos(angle)
    out["card_present"] = df["card_present"].astype("float32")
    out["customer_age"] = df["customer_age"].astype("float32")
    out["log_distance"] = np.log1p(df["distance_from_home_km"].clip(lower=0)).astype("float32")
    out["txn_count_24h"] = df["txn_count_24h"].astype("float32")
    out["account_age_days"] = df["account_age_days"].astype("float32")
    out["amount_per_txn"] = (df["amount"] / df["txn_count_24h"].replace(0, np.nan)).astype("float32")
    for col in SLICED:  # raw columns kept for the gate's fairness slices, as the library keeps them
        out[f"slice__{col}"] = df[col]
    pd.concat([out, dummies], axis=1).to_parquet(out_path, index=False)


def main() -> None:
    args = smoke(parser(__doc__.splitlines()[0], rows=1_000_000, repeat=5).parse_args(), rows=2_000, repeat=1)
    from airloop import uris
    from airloop.data.datagen import generate
    from airloop.data.features import build_features, feature_columns, slice_column
    from airloop.data.validation import validate_frame
    from airloop.store import storage

    spec = load_spec()
    import pandera.pandas  # noqa: F401  # imported up front: an import is not task time

    with tempfile.TemporaryDirectory(prefix="airloop-bench-features-") as tmp:
        tmp = Path(tmp)
        log(f"generating {args.rows:,} rows ...")
        raw_path = tmp / "landing" / "batch.parquet"
        storage.write_parquet(generate("fraud", rows=args.rows, seed=1, labels=True), uris.to_uri(raw_path))
        raw_uri = uris.to_uri(raw_path)
        lib_out, naive_out = tmp / "curated" / "lib.parquet", tmp / "curated" / "naive.parquet"

        lib_stages = library_task(spec, raw_uri, uris.to_uri(lib_out))  # warm-up (first-touch costs)
        naive_task(raw_path, naive_out)
        lib_cols = pd.read_parquet(lib_out).columns
        sliced = sorted({cut.column for cut in spec.slices.by}) if spec.slices else []
        expected = ["transaction_id", "event_time", "is_fraud", *feature_columns(spec), *map(slice_column, sliced)]
        if list(lib_cols) != expected:
            raise SystemExit(f"unexpected feature columns: {list(lib_cols)}")

        lib_total, naive_total, stages = [], [], {s: [] for s in STAGES}
        for i in range(args.repeat):
            for side in ("lib", "naive") if i % 2 == 0 else ("naive", "lib"):
                if side == "lib":
                    secs, lib_stages = timed(lambda: library_task(spec, raw_uri, uris.to_uri(lib_out)))
                    lib_total.append(secs)
                    for s in STAGES:
                        stages[s].append(lib_stages[s])
                else:
                    naive_total.append(timed(lambda: naive_task(raw_path, naive_out))[0])
            log(f"round {i + 1}/{args.repeat}: library {lib_total[-1]:.3f} s, naive {naive_total[-1]:.3f} s")

        # DVC: track new content each time (a real batch never repeats), like ingest.process_batch does.
        from airloop.store.versioning import DataVersioner

        versioner = DataVersioner(tmp / "dvc", str(tmp / "dvc-remote"))
        features = build_features(validate_frame(pd.read_parquet(raw_path), spec).valid_rows, spec)
        dvc_times = []
        for i in range(max(2, min(args.repeat, 4))):
            rel = f"curated/{spec.name}/batch-{i}.parquet"
            storage.write_parquet(features.iloc[i:], uris.to_uri(versioner.path(rel)), **CURATED_PARQUET)
            secs, tracked = timed(lambda rel=rel: versioner.track(rel))
            dvc_times.append(secs)
            log(f"dvc track {i + 1}: {secs:.2f} s ({tracked.size / 1e6:.0f} MB, md5 {tracked.md5[:8]})")
        size_mb = lib_out.stat().st_size / 1e6
        raw_mb = raw_path.stat().st_size / 1e6

    n = args.rows
    lib_best = best(lib_total)
    lib_rate = n / lib_best
    stage_txt = "; ".join(f"{s} {best(stages[s]):.3f} s ({best(stages[s]) / lib_best:.0%})" for s in STAGES)
    results = [
        Result(
            benchmark="feature_task (read → validate → features → write, no DVC)",
            metric="rows/s",
            measured=lib_rate,
            goal=f"≥ {GOAL_ROWS_S / 1e6:.0f}M rows/s",
            met=lib_rate >= GOAL_ROWS_S,
            display=f"{rate(n, lib_best)} ({lib_best:.3f} s per {n:,} rows)",
            extras=[
                f"library path: {spread(lib_total)}",
                f"stages (best of each): {stage_txt}",
                f"naive pandas chain (apply/isin/get_dummies): {spread(naive_total)} → "
                f"{rate(n, best(naive_total))}; library / naive time {lib_best / best(naive_total):.2f}×",
                f"raw Parquet {raw_mb:.0f} MB, curated features Parquet {size_mb:.0f} MB",
                f"DVC track (add + push to a local remote) of the {size_mb:.0f} MB curated file: first call "
                f"{dvc_times[0]:.2f} s (includes `import dvc` and `dvc init`), then median "
                f"{med(dvc_times[1:]):.2f} s over {len(dvc_times) - 1}; with DVC the task runs at "
                f"{rate(n, lib_best + med(dvc_times[1:]))}",
            ],
            params={"rows": n, "repeat": args.repeat, "stages": stages, "naive": naive_total, "dvc": dvc_times},
        )
    ]
    report(results, args.json, smoke=args.smoke)


if __name__ == "__main__":
    main()
