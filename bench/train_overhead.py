"""Overhead of the training task over a bare `xgboost.train` on the same data, params and early stopping.

~300k generated labelled rows → `build_features` → `training.time_split`; then, interleaved, best of --repeat:

  (a) `airloop.model.training.fit(split, spec, feature_columns(spec))`: QuantileDMatrix + DMatrix, `xgboost.train` with
      early stopping on the validation slice, then holdout and validation metrics (predict + scikit-learn).
  (b) bare: `xgb.train(xgb_params(spec.model, "cpu"), xgb.DMatrix(train X, y), num_boost_round=<spec's>,
      evals=[(xgb.DMatrix(valid X, y), "valid")], early_stopping_rounds=<spec's>)`.

Both run on the CPU (the spec's `device: auto` is pinned to `cpu` for the comparison) with the same params, the same
number of rounds and the same early stopping on the same validation rows. Headline: (a − b) / b, goal ≤ 10 %.

MLflow logging (`Registry.log_model_version` into a SQLite tracking store in a temp dir) is reported as an extra
line so the full task cost is visible; it is not part of the overhead.

    .venv/bin/python bench/train_overhead.py [--rows N] [--repeat K] [--smoke]
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from _common import Result, best, interleaved, load_spec, log, med, parser, report, smoke, spread, timed

GOAL = 0.10


def bare_train(split, spec, cols: list[str], *, quantile: bool = False):
    import xgboost as xgb

    from airloop.model.training import xgb_params

    label = spec.label.column
    matrix = xgb.QuantileDMatrix if quantile else xgb.DMatrix
    dtrain = matrix(split.train[cols], label=split.train[label])
    dvalid = xgb.DMatrix(split.valid[cols], label=split.valid[label])
    return xgb.train(
        xgb_params(spec.model, "cpu"),
        dtrain,
        num_boost_round=spec.model.num_boost_round,
        evals=[(dvalid, "valid")],
        early_stopping_rounds=spec.model.early_stopping_rounds,
        verbose_eval=False,
    )


def main() -> None:
    p = parser(__doc__.splitlines()[0], rows=300_000, repeat=5)
    p.add_argument(
        "--nthread",
        type=int,
        default=0,
        help="xgboost threads for both sides (default 0: the spec's, i.e. all cores). On a loaded 2-core machine "
        "multi-threaded training times swing widely; 1 gives steadier ratios",
    )
    args = smoke(p.parse_args(), rows=3_000, repeat=1)
    import xgboost  # noqa: F401  # imported up front: an import is not training time

    from airloop.data.datagen import generate
    from airloop.data.features import build_features, feature_columns
    from airloop.model import training

    spec = load_spec()
    model = {"device": "cpu"} | ({"nthread": args.nthread} if args.nthread else {})
    spec = spec.model_copy(update={"model": spec.model.model_copy(update=model)})
    cols = feature_columns(spec)
    log(f"generating {args.rows:,} rows ...")
    split = training.time_split(build_features(generate("fraud", rows=args.rows, seed=3, labels=True), spec), spec)
    log(f"train {len(split.train):,} / valid {len(split.valid):,} / holdout {len(split.holdout):,} rows")

    fits, bares = [], []

    def run_fit():
        fits.append(training.fit(split, spec, cols))

    def run_bare():
        bares.append(bare_train(split, spec, cols))

    # A third side attributes the training-section difference: fit() builds a QuantileDMatrix, the bare run a DMatrix.
    sides = {"airloop": run_fit, "bare": run_bare, "bare_q": lambda: bare_train(split, spec, cols, quantile=True)}
    times = interleaved(sides, args.repeat)
    fit, bare = fits[-1], bares[-1]
    ev_hold, ev_valid = [], []
    for _ in range(3):
        ev_hold.append(timed(lambda: training.evaluate(fit.booster, split.holdout, cols, spec.label.column))[0])
        ev_valid.append(timed(lambda: training.evaluate(fit.booster, split.valid, cols, spec.label.column))[0])
    a, b = best(times["airloop"]), best(times["bare"])
    overhead = (a - b) / b
    train_section = [f.seconds for f in fits[1:]]  # fit's own timing of DMatrix building + xgb.train
    per_round = [(a - b) / b for a, b in zip(times["airloop"], times["bare"], strict=True)]
    best_a, best_b = fit.best_iteration, int(bare.best_iteration)
    extras = [
        f"airloop fit(): {spread(times['airloop'])} (best iteration {best_a})",
        f"bare xgboost.train: {spread(times['bare'])} (best iteration {best_b})",
        f"overhead per round: min {min(per_round):+.1%}, max {max(per_round):+.1%}; xgboost threads: "
        f"{args.nthread or 'all cores'}",
        f"inside fit(): matrices + xgb.train best {best(train_section):.3f} s "
        f"({(best(train_section) - b) / b:+.1%} vs bare), holdout + valid metrics "
        f"{med([t - f.seconds for t, f in zip(times['airloop'], fits[1:], strict=True)]):.3f} s "
        f"(timed alone: holdout {med(ev_hold):.3f} s, "
        f"valid {med(ev_valid):.3f} s)",
        f"bare xgboost.train on a QuantileDMatrix (what fit() builds): {spread(times['bare_q'])} "
        f"({(best(times['bare_q']) - b) / b:+.1%} vs DMatrix, best of each)",
        f"holdout PR-AUC {fit.metrics['pr_auc']:.3f}, ROC-AUC {fit.metrics['roc_auc']:.3f}",
    ]
    if best_a != best_b:
        extras.append(
            f"early stopping chose different rounds ({best_a} vs {best_b}): QuantileDMatrix and DMatrix "
            "sketch the same data independently; compare per-round costs with that in mind"
        )

    # MLflow logging, the rest of the task: a SQLite store in a temp dir, cwd there so ./mlruns stays there too.
    from airloop.model.training import TrainingSet

    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="airloop-bench-mlflow-") as tmp:
        os.chdir(tmp)
        try:
            t0 = time.perf_counter()
            import mlflow  # noqa: F401
            import mlflow.xgboost  # noqa: F401

            from airloop.model.registry import Registry

            import_s = time.perf_counter() - t0
            data = TrainingSet(
                path=Path(tmp) / "train.parquet", md5="0" * 32, batches=["bench-batch"], n_rows=args.rows
            )
            registry = Registry(f"sqlite:///{tmp}/mlflow.db")
            log_times = []
            for i in range(2):
                secs, logged = timed(
                    lambda i=i: registry.log_model_version(
                        spec, fit, data, split.holdout, trigger=f"bench{i}", workdir=tmp
                    )
                )
                log_times.append(secs)
                log(f"mlflow log_model_version {i + 1}: {secs:.2f} s (version {logged.version})")
        finally:
            os.chdir(cwd)
    extras.append(
        f"MLflow logging (log_model_version, SQLite store): first call {log_times[0]:.2f} s (creates the store), "
        f"second {log_times[1]:.2f} s; `import mlflow` {import_s:.2f} s. Full task ≈ fit "
        f"{a:.2f} s + logging {log_times[1]:.2f} s"
    )
    threads = f"{args.nthread} thread{'s' if args.nthread > 1 else ''}" if args.nthread else "all cores"
    results = [
        Result(
            benchmark=f"train_overhead (fit() vs bare xgboost.train, {threads})",
            metric="(airloop − bare) / bare",
            measured=overhead,
            goal=f"≤ {GOAL:.0%}",
            met=overhead <= GOAL,
            display=f"{overhead:+.1%} ({a:.2f} s vs {b:.2f} s)",
            extras=extras,
            params={
                "rows": args.rows,
                "repeat": args.repeat,
                "nthread": args.nthread,
                "times": times,
                "mlflow": log_times,
            },
        )
    ]
    report(results, args.json, smoke=args.smoke)


if __name__ == "__main__":
    main()
