"""Fairness slices: a model's gate metric on each group of the holdout, and the gate's rule over them.

A model can win on the whole holdout while getting worse for one country or age band. The spec's `slices` name
the raw columns to group by (numeric ones cut into `bins`); the gate scores challenger and champion per group and
refuses a challenger whose worst group falls below `floor`, or whose gap between its best and worst group widens
beyond the champion's by more than `max_gap_increase`. Groups too small to judge (`min_rows`) or where the metric
is undefined (one class only) are reported, not judged.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import xgboost as xgb

    from airloop.spec import PipelineSpec, SliceSpec

MAX_GROUPS = 50  # per slice: more groups than this are not a fairness view but a second id column


def groups(holdout: pd.DataFrame, cut: SliceSpec) -> pd.Series | None:
    """Each holdout row's group name for one slice; None when the data has no such column (curated before the
    spec named the slice)."""
    import pandas as pd

    from airloop.data.features import slice_column

    column = slice_column(cut.column)
    if column not in holdout.columns:
        return None
    values = holdout[column]
    if cut.bins is None:
        return values.astype("string").fillna("(missing)")
    bands = pd.cut(values.astype(float), bins=cut.bins, right=False)
    names = bands.map(lambda b: f"{_num(b.left)}-{_num(b.right)}", na_action="ignore")
    return names.astype("string").fillna("(outside bins)")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def slice_metrics(booster: xgb.Booster, holdout: pd.DataFrame, spec: PipelineSpec) -> dict[str, dict[str, Any]]:
    """`{slice: {group: {"value": metric, "n": rows}}}` for the gate's metric; a slice whose column the data lacks
    maps to `{}`."""
    from airloop.model.training import evaluate

    out: dict[str, dict[str, Any]] = {}
    if spec.slices is None:
        return out
    metric = spec.gate_metric
    features = list(booster.feature_names or [])
    for cut in spec.slices.by:
        names = groups(holdout, cut)
        if names is None:
            out[cut.label] = {}
            continue
        per: dict[str, Any] = {}
        counts = names.value_counts()
        for group in sorted(counts.index[:MAX_GROUPS]):
            part = holdout[(names == group).to_numpy()]
            value = evaluate(booster, part, features, spec.label.column, spec.label.task)[metric]
            per[str(group)] = {"value": float(value), "n": int(len(part))}
        out[cut.label] = per
    return out


@dataclass
class SliceVerdict:
    ok: bool
    reason: str
    worst: dict[str, Any]  # per slice: the worst judged group and its value, and the gap (challenger and champion)


def judge(
    spec: PipelineSpec, challenger: dict[str, dict[str, Any]], champion: dict[str, dict[str, Any]] | None
) -> SliceVerdict:
    """The gate's slice rule. `champion` is None for a first version (only the floor applies then)."""
    from airloop.metrics import metric_direction

    conf = spec.slices
    if conf is None:
        return SliceVerdict(True, "no slices", {})
    metric = spec.gate_metric
    maximize = metric_direction(metric) == "maximize"
    summary: dict[str, Any] = {}
    problems: list[str] = []
    for label, per in challenger.items():
        if not per:
            problems.append(f"slice '{label}': the holdout has no column to group by (data curated before it?)")
            continue
        judged = _judged(per, conf.min_rows)
        if not judged:
            summary[label] = {"judged": 0}
            continue
        worst_group = min(judged, key=judged.__getitem__) if maximize else max(judged, key=judged.__getitem__)
        gap = max(judged.values()) - min(judged.values())
        entry = {"group": worst_group, "value": judged[worst_group], "gap": gap, "judged": len(judged)}
        if conf.floor is not None and (
            judged[worst_group] < conf.floor if maximize else judged[worst_group] > conf.floor
        ):
            problems.append(
                f"slice '{label}': group {worst_group} {metric} {judged[worst_group]:.4f} is "
                f"{'below' if maximize else 'above'} the floor {conf.floor}"
            )
        champ = _judged((champion or {}).get(label, {}), conf.min_rows)
        common = set(champ) & set(judged)
        if champion is not None and conf.max_gap_increase is not None and len(common) >= 2:
            mine = [judged[g] for g in common]
            theirs = [champ[g] for g in common]
            champ_gap = max(theirs) - min(theirs)
            entry["champion_gap"] = champ_gap
            widened = (max(mine) - min(mine)) - champ_gap
            if widened > conf.max_gap_increase:
                problems.append(
                    f"slice '{label}': the gap between groups widens by {widened:.4f} {metric} over the champion's "
                    f"({champ_gap:.4f}), more than max_gap_increase {conf.max_gap_increase}"
                )
        summary[label] = entry
    if problems:
        return SliceVerdict(False, "; ".join(problems), summary)
    return SliceVerdict(True, "every slice within its limits", summary)


def _judged(per: dict[str, Any], min_rows: int) -> dict[str, float]:
    return {g: float(v["value"]) for g, v in per.items() if v["n"] >= min_rows and math.isfinite(float(v["value"]))}


def metric_key(label: str, group: str, metric: str) -> str:
    """An MLflow metric name for one group (`slice.country.US.pr_auc`): MLflow allows letters, digits, `_-./ `."""
    clean = re.sub(r"[^A-Za-z0-9_\-./ ]", "_", group)
    return f"slice.{label}.{clean}.{metric}"
