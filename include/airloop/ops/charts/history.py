"""Drift-check records reduced to what the drift history chart draws: checks, per-feature series, thinning.

Records come from the monitor's store as written over the loop's history, so old or broken ones (no per-feature
report, a statistic that is missing or not finite) are skipped here rather than drawn wrong.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airloop.ops.charts.svg import finite

MAX_POINTS = 300  # per series; longer histories keep every k-th check plus every drifted one


@dataclass(frozen=True)
class Check:
    """One drift check reduced to what the charts draw; `features` maps name to its report entry."""

    batch_id: str
    checked_at: float | None
    share: float
    detected: bool
    decayed: bool
    features: Mapping[str, Mapping[str, Any]]
    drift_share: float | None = None


@dataclass
class Series:
    """The finite statistics of one feature over checks, as (check index, report entry) pairs."""

    name: str
    points: list[tuple[int, Mapping[str, Any]]] = field(default_factory=list)

    @property
    def peak(self) -> float:
        return max((float(e["statistic"]) for _, e in self.points), default=0.0)


def _to_check(record: Any) -> Check | None:
    """A drift-check record as a `Check`, or None when it has no per-feature report to draw (old or broken)."""
    if not isinstance(record, Mapping):
        return None
    report = record.get("report")
    if not isinstance(report, Mapping):
        return None
    features = report.get("features")
    if not isinstance(features, Mapping) or not features:
        return None
    features = {str(k): v for k, v in features.items() if isinstance(v, Mapping)}
    if not features:
        return None
    share = finite(record.get("share_drifted"))
    if share is None:
        share = finite(report.get("share_drifted"))
    if share is None:
        share = sum(bool(f.get("drifted")) for f in features.values()) / len(features)
    return Check(
        batch_id=str(record.get("batch_id", "")),
        checked_at=finite(record.get("checked_at")),
        share=min(max(share, 0.0), 1.0),
        detected=bool(record.get("drift_detected")),
        decayed=bool(record.get("decayed")),
        features=features,
        drift_share=finite(report.get("drift_share")),
    )


def usable_checks(records: Iterable[Any]) -> list[Check]:
    return [c for c in map(_to_check, records) if c is not None]


def build_series(checks: list[Check]) -> dict[str, Series]:
    """Per feature, in first-seen order, the checks where its statistic is a finite number."""
    series: dict[str, Series] = {}
    for index, check in enumerate(checks):
        for name, entry in check.features.items():
            s = series.setdefault(name, Series(name))
            if finite(entry.get("statistic")) is not None:
                s.points.append((index, entry))
    return series


def ranked(series: Mapping[str, Series]) -> list[str]:
    """Feature names by their highest statistic, highest first; ties by name so the order is stable."""
    return sorted(series, key=lambda name: (-series[name].peak, name))


def kept_indices(count: int, max_points: int = MAX_POINTS) -> set[int]:
    """Every k-th check index (and the newest) so no series has more than about `max_points` points."""
    step = max(1, math.ceil(count / max_points))
    return set(range(0, count, step)) | ({count - 1} if count else set())


def decision_share(checks: list[Check], drift_share: float | None) -> float | None:
    """The argument when given, else the newest check's `report.drift_share`; None draws no decision line."""
    if drift_share is not None:
        value = finite(drift_share)
        if value is None or not 0.0 <= value <= 1.0:
            raise ValueError(f"drift_share must be a number in [0, 1], got {drift_share!r}")
        return value
    newest = next((c.drift_share for c in reversed(checks) if c.drift_share is not None), None)
    return None if newest is None else min(max(newest, 0.0), 1.0)
