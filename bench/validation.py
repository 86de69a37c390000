"""Validation throughput: `airloop.data.validation.validate_frame` vs hand-written, vectorized pandas checks.

Both sides check the fraud spec's rules on the same 1M-row generated batch and produce the same thing: a boolean
invalid-row mask, per-check failure counts, and the valid rows (no copy when every row is valid). The hand-written
side is what a careful engineer would write for this one schema: literal rules, dtype checks, `isna`, numpy range
comparisons on the underlying arrays, `isin`, and `is_unique` before the (slower) `duplicated`. Timed interleaved
in one process, best of --repeat; the ratio airloop / hand-written is the headline (goal ≤ 1.3×).

A second, "dirty" batch (~1 % of rows broken: out-of-range values, unknown categories, nulls, duplicate ids) is
timed the same way, because Pandera's failure path (failure-case frames) costs more than its success path. Both
sides' masks are compared on both batches: a benchmark of checks that disagree would measure nothing.

    .venv/bin/python bench/validation.py [--rows N] [--repeat K] [--smoke]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from _common import DOMAINS, RANGES, Result, best, interleaved, load_spec, log, parser, rate, report, smoke, spread

GOAL = 1.3

# The fraud spec's rules, written out by hand (include/pipelines/fraud_detection.yaml).
REQUIRED = [
    "transaction_id",
    "event_time",
    "amount",
    "merchant_category",
    "country",
    "hour",
    "card_present",
    "customer_age",
    "distance_from_home_km",
    "txn_count_24h",
    "account_age_days",
]
NON_NULLABLE = [c for c in REQUIRED if c != "distance_from_home_km"] + ["is_fraud"]
KINDS = {  # acceptable numpy dtype kinds per column (extension dtypes report theirs too)
    "amount": "f",
    "distance_from_home_km": "f",
    "hour": "iu",
    "customer_age": "iu",
    "txn_count_24h": "iu",
    "account_age_days": "iu",
    "is_fraud": "iu",
    "card_present": "b",
}
STRINGS = ["transaction_id", "merchant_category", "country"]


def _values(s: pd.Series) -> np.ndarray:
    """The column as a numpy array for comparisons: zero-copy for numpy dtypes, NaN for nulls otherwise."""
    if isinstance(s.dtype, np.dtype):
        return s.to_numpy()
    return s.to_numpy(dtype="float64", na_value=np.nan)


def hand_validate(df: pd.DataFrame) -> tuple[np.ndarray, dict[str, int], pd.DataFrame]:
    """Hand-written checks of the fraud schema: (invalid-row mask, failure counts per check, valid rows)."""
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"missing columns: {missing}")
    for col, kinds in KINDS.items():
        if col in df.columns and df[col].dtype.kind not in kinds:
            raise TypeError(f"{col}: dtype {df[col].dtype}")
    for col in STRINGS:
        if not isinstance(df[col].dtype, pd.StringDtype):
            raise TypeError(f"{col}: dtype {df[col].dtype}")
    if not isinstance(df["event_time"].dtype, pd.DatetimeTZDtype):
        raise TypeError(f"event_time: dtype {df['event_time'].dtype}")

    bad = np.zeros(len(df), dtype=bool)
    counts: dict[str, int] = {}

    def flag(check: str, mask: np.ndarray) -> None:
        n = int(mask.sum())
        if n:
            counts[check] = n
            np.logical_or(bad, mask, out=bad)

    for col in NON_NULLABLE:
        if col in df.columns and not (isinstance(df[col].dtype, np.dtype) and df[col].dtype.kind in "iub"):
            flag(f"{col}:not_null", df[col].isna().to_numpy())  # numpy int/bool columns cannot hold a null
    for col, (lo, hi) in RANGES.items():
        if col in df.columns:
            v = _values(df[col])
            flag(f"{col}:in_range", (v < lo) | (v > hi))  # NaN compares False: nulls are the null check's job
    for col, domain in DOMAINS.items():
        s = df[col]
        flag(f"{col}:isin", ~s.isin(domain).to_numpy() & s.notna().to_numpy())
    ids = df["transaction_id"]
    if not ids.is_unique:  # the common case costs one hash pass, not two
        flag("transaction_id:unique", ids.duplicated(keep="first").to_numpy())
    return bad, counts, (df.loc[~bad] if bad.any() else df)


def airloop_validate(df: pd.DataFrame, spec):
    from airloop.data.validation import validate_frame

    return validate_frame(df, spec)


def make_dirty(df: pd.DataFrame, seed: int = 7, share: float = 0.01) -> pd.DataFrame:
    """~`share` of rows broken in ways a real feed breaks, dtypes unchanged (so no coercion is involved)."""
    rng = np.random.default_rng(seed)
    df = df.copy()
    n = len(df)

    def pick(frac: float) -> np.ndarray:
        return rng.choice(n, size=max(1, int(n * share * frac)), replace=False)

    df.loc[pick(0.2), "amount"] = -1.0
    df.loc[pick(0.1), "hour"] = 24
    df.loc[pick(0.1), "customer_age"] = 150
    df.loc[pick(0.2), "country"] = "XX"
    df.loc[pick(0.2), "merchant_category"] = pd.NA
    dup = pick(0.2)
    dup = dup[dup > 0]
    df.loc[dup, "transaction_id"] = df["transaction_id"].to_numpy()[dup - 1]
    return df


def main() -> None:
    args = smoke(parser(__doc__.splitlines()[0], rows=1_000_000, repeat=7).parse_args(), rows=2_000, repeat=1)
    from airloop.data.datagen import generate

    spec = load_spec()
    import pandera.pandas  # noqa: F401  # imported up front: an import is not validation time

    log(f"generating {args.rows:,} rows ...")
    clean = generate("fraud", rows=args.rows, seed=1, labels=True)
    dirty = make_dirty(clean)

    results = []
    for label, df in (("clean batch", clean), ("dirty batch, ~1% invalid rows", dirty)):
        res = airloop_validate(df, spec)
        mask, counts, valid = hand_validate(df)
        agree = np.array_equal(res.invalid_mask, mask) and len(valid) == (
            len(res.valid_rows) if res.valid_rows is not None else 0
        )
        if not agree:
            raise SystemExit(
                f"{label}: the two sides disagree: airloop {int(res.invalid_mask.sum())} invalid rows, "
                f"hand-written {int(mask.sum())} ({counts})"
            )
        log(f"{label}: both sides flag {int(mask.sum()):,} rows; timing {args.repeat} rounds ...")
        times = interleaved(
            {"airloop": lambda df=df: airloop_validate(df, spec), "hand": lambda df=df: hand_validate(df)},
            args.repeat,
        )
        ratio = best(times["airloop"]) / best(times["hand"])
        per_round = [a / h for a, h in zip(times["airloop"], times["hand"], strict=True)]
        extras = [
            f"airloop validate_frame: {spread(times['airloop'])} → {rate(len(df), best(times['airloop']))}",
            f"hand-written pandas:    {spread(times['hand'])} → {rate(len(df), best(times['hand']))}",
            f"ratio per round: min {min(per_round):.2f}×, max {max(per_round):.2f}×",
            f"invalid rows: {int(mask.sum()):,} of {len(df):,}; both sides' masks are identical",
        ]
        if label.startswith("dirty"):
            extras.append("failure counts (hand-written): " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        results.append(
            Result(
                benchmark=f"validation ({label})",
                metric="airloop / hand-written time",
                measured=ratio,
                goal=f"≤ {GOAL}×",
                met=ratio <= GOAL,
                display=f"{ratio:.2f}× ({rate(len(df), best(times['airloop']))} vs "
                f"{rate(len(df), best(times['hand']))})",
                extras=extras,
                params={"rows": len(df), "repeat": args.repeat, "times": times},
            )
        )
    report(results, args.json, smoke=args.smoke)


if __name__ == "__main__":
    main()
