"""Shared helpers for the benchmark scripts: timing, machine facts and the result record `run_all.py` reads.

Every benchmark measures both sides of a comparison in the same process, interleaved, and reports a ratio (or a
rate next to a baseline measured in the same run): on a small, shared machine only such numbers are comparable
from one run to the next. Nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SPEC_PATH = ROOT / "include" / "pipelines" / "fraud_detection.yaml"


@dataclass
class Result:
    """One benchmark's outcome; `run_all.py` turns a list of these into the table in docs/benchmarks.md."""

    benchmark: str
    metric: str  # what `measured` is, e.g. "s per DAG file"
    measured: float
    goal: str  # human-readable, e.g. "≤ 0.15 s"
    met: bool | None  # None: informational, no goal
    display: str  # `measured` formatted for the table
    extras: list[str] = field(default_factory=list)  # context lines: baselines, breakdowns, caveats
    params: dict[str, Any] = field(default_factory=dict)


SMOKE_HELP = (
    "tiny sizes, one round: the same code path in seconds, to show the script still runs (numbers mean nothing)"
)


def parser(description: str, *, rows: int, repeat: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--rows", type=int, default=rows, help=f"rows in the generated batch (default {rows:,})")
    p.add_argument("--repeat", type=int, default=repeat, help=f"timed repetitions of each side (default {repeat})")
    p.add_argument("--json", type=Path, default=None, help="also write the result record(s) to this file")
    p.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
    return p


def smoke(args: argparse.Namespace, **tiny: Any) -> argparse.Namespace:
    """With --smoke, replace the sizes in `args` by `tiny` (e.g. rows=2000, repeat=1) and say so on stderr.

    A benchmark that nothing runs rots silently; the test suite runs every script this way (tests/unit/
    test_bench_smoke.py), so a smoke run must take the same code path as a real one, only on less data.
    """
    if getattr(args, "smoke", False):
        for name, value in tiny.items():
            setattr(args, name, value)
        log("smoke run: " + ", ".join(f"{k}={v}" for k, v in tiny.items()) + " (the numbers mean nothing)")
    return args


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time of one call, with a collection beforehand so garbage from the last call is not billed to it."""
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def interleaved(sides: dict[str, Callable[[], Any]], repeat: int, warmup: int = 1) -> dict[str, list[float]]:
    """Run every side `warmup` times untimed, then `repeat` rounds of one timed call each, alternating the order.

    Alternating (A B, B A, ...) keeps a slow phase of a noisy machine from always landing on the same side.
    """
    for _ in range(warmup):
        for fn in sides.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for i in range(repeat):
        for name in names if i % 2 == 0 else reversed(names):
            times[name].append(timed(sides[name])[0])
    return times


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def best(xs: list[float]) -> float:
    """Best of N: what the headline ratios use. Other load on a shared machine only ever adds time."""
    return min(xs)


def spread(xs: list[float]) -> str:
    """`best, median, max, n` for the extra lines: the reader sees how noisy a number was."""
    return f"best {min(xs):.3f} s (median {med(xs):.3f}, max {max(xs):.3f}, n={len(xs)})"


def rate(rows: int, seconds: float) -> str:
    r = rows / seconds
    return f"{r / 1e6:.2f}M rows/s" if r >= 1e6 else f"{r / 1e3:.0f}k rows/s"


def load_spec():
    from airloop.catalog import load_spec as _load

    return _load(SPEC_PATH)


def versions(*names: str) -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg": [round(x, 2) for x in load],
        "versions": versions(
            "apache-airflow",
            "pandas",
            "pyarrow",
            "numpy",
            "pandera",
            "xgboost",
            "mlflow",
            "dvc",
            "scikit-learn",
            "pydantic",
            "PyYAML",
        ),
    }


def report(results: list[Result], json_path: Path | None, *, smoke: bool = False) -> None:
    """Print the results for a human and, with --json, write them for `run_all.py`.

    A smoke run's numbers come from tiny inputs: they are printed, but not judged against the goals.
    """
    for r in results:
        if smoke:
            r.met = None
        verdict = "not judged: smoke run" if smoke else {True: "MET", False: "MISSED", None: "info"}[r.met]
        print(f"\n== {r.benchmark}: {r.display}  (goal {r.goal}: {verdict})")
        for line in r.extras:
            print(f"   - {line}")
    if json_path is not None:
        json_path.write_text(json.dumps([asdict(r) for r in results], indent=2))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# The fraud spec's rules restated by hand, for the hand-written baselines (kept literal on purpose: a baseline
# that derived them from the spec would measure airloop's own machinery).
RANGES = {
    "amount": (0, 50_000),
    "hour": (0, 23),
    "customer_age": (18, 120),
    "distance_from_home_km": (0, 20_100),
    "txn_count_24h": (0, 1000),
    "account_age_days": (0, 40_000),
    "is_fraud": (0, 1),
}

DOMAINS = {
    "merchant_category": [
        "grocery",
        "restaurants",
        "fuel",
        "travel",
        "electronics",
        "online_retail",
        "entertainment",
        "health",
        "jewelry",
        "gaming",
    ],
    "country": ["US", "GB", "DE", "FR", "ES", "IT", "NL", "BR", "IN", "NG", "MX", "CN"],
}
