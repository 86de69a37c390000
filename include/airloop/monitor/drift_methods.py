"""The names a spec's `drift.method` may take: `auto`, or one of the built-in drift statistics.

Each statistic is one module in `monitor/drift/` (named as the statistic) that registers its descriptor when the
package loads them from `BUILTIN_STATISTICS`. The list lives outside that package because importing the package
pulls in numpy and pandas, and the DAG parse checks every spec's method: here the check costs nothing.
"""

from __future__ import annotations

AUTO = "auto"
BUILTIN_STATISTICS = ("chi2", "jensenshannon", "ks", "psi", "wasserstein")


def unknown_method(method: str) -> str | None:
    """Why `method` is not a drift method (one line listing the known ones), or None when it is one."""
    if method == AUTO or method in BUILTIN_STATISTICS:
        return None
    return f"unknown drift method '{method}' (known: {AUTO}, {', '.join(sorted(BUILTIN_STATISTICS))})"
