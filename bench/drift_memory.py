"""Peak memory of `airloop drift` on a large Parquet pair (default 10M rows × 20 numeric columns).

The data is written row group by row group, so making it needs little memory; then the CLI runs in its own
process and its peak RSS (`/usr/bin/time -v`, else the kernel's figure for waited-for children) is printed next to
the size of the data. Goal: under 2 GB.

    .venv/bin/python bench/drift_memory.py [--rows N] [--columns K] [--smoke]
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 1_000_000


def write(path: Path, rows: int, columns: int, shift: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    names = [f"x{i}" for i in range(columns)]
    with pq.ParquetWriter(path, pa.schema([(n, pa.float64()) for n in names])) as writer:
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            data = {name: rng.normal(shift if i % 2 else 0.0, 1.0, n) for i, name in enumerate(names)}
            writer.write_table(pa.table(data))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--columns", type=int, default=20)
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes: the same code path in seconds, to show the script still runs (numbers mean nothing)",
    )
    args = ap.parse_args()
    if args.smoke:
        args.rows, args.columns = 2_000, 4
        print("smoke run: 2,000 rows × 4 columns (the numbers mean nothing)")
    with tempfile.TemporaryDirectory() as tmp:
        ref, cur = Path(tmp) / "reference.parquet", Path(tmp) / "current.parquet"
        write(ref, args.rows, args.columns, 0.0, 1)
        write(cur, args.rows, args.columns, 0.2, 2)
        time_bin = ["/usr/bin/time", "-v"] if Path("/usr/bin/time").exists() else []
        cmd = [
            *time_bin,
            str(Path(sys.executable).parent / "airloop"),
            "drift",
            "--reference",
            str(ref),
            "--current",
            str(cur),
        ]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
    if time_bin:
        peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1))
    else:  # the largest waited-for child so far: the CLI is this script's only child (KiB on Linux)
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    raw_gb = 2 * args.rows * args.columns * 8 / 1e9
    print(out.stdout.splitlines()[0] if out.stdout else out.stderr[-500:])
    print(f"rows {args.rows:,} × {args.columns} columns per side ({raw_gb:.1f} GB of float64 in both files)")
    print(
        f"airloop drift: wall {wall:.1f} s, peak RSS {peak_kb / 1024:.0f} MB "
        f"(goal < 2048 MB: {'met' if peak_kb / 1024 < 2048 else 'NOT met'}), exit {out.returncode}"
    )
    return 0 if out.returncode == 0 else 1  # a failed CLI measured nothing


if __name__ == "__main__":
    raise SystemExit(main())
