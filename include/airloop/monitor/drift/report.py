"""Drift results: one `FeatureDrift` per compared column and the dataset-level `DriftReport`.

`to_dict()` is the machine form (stored with each drift check, read by the UI and the retrain trigger); it holds only
JSON types and never NaN, so `json.dumps(..., allow_nan=False)` accepts it. `to_table()` is the form for people.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one column.

    Attributes:
        column: Column name.
        kind: `numeric` or `categorical`.
        method: Registered statistic that measured it.
        statistic: The statistic's value (0.0 when a side had no values).
        p_value: The test's p-value, or None for distances.
        threshold: Threshold the decision used (on the p-value for tests, on the statistic for distances).
        drifted: Whether this column drifted.
        missing_share_reference: Share of reference rows missing a value (not part of the statistic).
        missing_share_current: Share of current rows missing a value.
    """

    column: str
    kind: str
    method: str
    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool
    missing_share_reference: float
    missing_share_current: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "method": self.method,
            "statistic": float(self.statistic),
            "p_value": None if self.p_value is None else float(self.p_value),
            "threshold": float(self.threshold),
            "drifted": bool(self.drifted),
            "missing_share_reference": float(self.missing_share_reference),
            "missing_share_current": float(self.missing_share_current),
        }


@dataclass(frozen=True)
class DriftReport:
    """Drift of a dataset: the per-column results and the dataset decision.

    The dataset drifted when the share of drifted columns reaches `drift_share`; with no columns compared it did not.

    Attributes:
        features: Per-column results, keyed by column name, in comparison order.
        drift_share: Share of drifted columns at which the dataset counts as drifted.
        n_reference: Rows in the reference frame.
        n_current: Rows in the current frame.
    """

    features: Mapping[str, FeatureDrift]
    drift_share: float
    n_reference: int
    n_current: int

    @property
    def drifted_columns(self) -> list[str]:
        return [name for name, f in self.features.items() if f.drifted]

    @property
    def share_drifted(self) -> float:
        return len(self.drifted_columns) / len(self.features) if self.features else 0.0

    @property
    def drift_detected(self) -> bool:
        return bool(self.features) and self.share_drifted >= self.drift_share

    def to_dict(self) -> dict[str, Any]:
        return {
            "drift_detected": self.drift_detected,
            "share_drifted": float(self.share_drifted),
            "drift_share": float(self.drift_share),
            "n_reference": int(self.n_reference),
            "n_current": int(self.n_current),
            "features": {str(name): f.to_dict() for name, f in self.features.items()},
        }

    def to_table(self) -> str:
        """A fixed-width text table: one summary line, then one line per column."""
        n, drifted = len(self.features), len(self.drifted_columns)
        lines = [
            f"drift detected: {'yes' if self.drift_detected else 'no'} — {drifted} of {n} columns drifted "
            f"({self.share_drifted:.0%}; dataset drifts at {self.drift_share:.0%}); "
            f"reference {self.n_reference} rows, current {self.n_current} rows"
        ]
        rows = [
            ("column", "kind", "method", "statistic", "p-value", "threshold", "drifted", "missing ref", "missing cur")
        ]
        for name, f in self.features.items():
            rows.append(
                (
                    str(name),
                    f.kind,
                    f.method,
                    f"{f.statistic:.4g}",
                    "-" if f.p_value is None else f"{f.p_value:.3g}",
                    f"{f.threshold:g}",
                    "DRIFT" if f.drifted else "-",
                    f"{f.missing_share_reference:.1%}",
                    f"{f.missing_share_current:.1%}",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            left = r[:3]
            right = r[3:]
            cells = [c.ljust(w) for c, w in zip(left, widths[:3], strict=True)]
            cells += [c.rjust(w) for c, w in zip(right, widths[3:], strict=True)]
            lines.append("  ".join(cells).rstrip())
        return "\n".join(lines)
