"""The promotion rule: does a challenger replace the champion?

Exports `gate_and_promote`; its result is `airloop.contracts.GateDecision`. The challenger and the current
champion are scored on the same holdout by the spec's gate metric; a win must clear `gate.min_improvement`, then
governance has its say (candidate features must earn their place, no slice of the holdout may fall behind).
The decision is recorded on the version (`gate.*` tags) and the aliases move through the `Registry`: `champion`
for a promotion, `challenger` for a refusal.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from typing import TYPE_CHECKING, Any

from airloop.contracts import GateDecision, GateVerdict
from airloop.errors import RegistryError

if TYPE_CHECKING:
    import pandas as pd
    import xgboost as xgb
    from mlflow.entities.model_registry import ModelVersion

    from airloop.model.registry import Registry
    from airloop.model.slices import SliceVerdict
    from airloop.spec import PipelineSpec

log = logging.getLogger(__name__)
_ALREADY = "already champion"
_TAG_LIMIT = 5000  # characters a model version tag holds


def decision_tags(decision: GateDecision) -> dict[str, str]:
    """The decision as the version's `gate.*` tags (Model Ops shows them; empty strings for "none")."""
    return {
        "gate.decision": decision.decision,
        "gate.reason": decision.reason,
        "gate.metric": decision.metric,
        "gate.challenger_score": f"{decision.challenger_score:.6f}",
        "gate.champion_version": decision.champion_version or "",
        "gate.champion_score": "" if decision.champion_score is None else f"{decision.champion_score:.6f}",
    }


def gate_and_promote(
    registry: Registry, spec: PipelineSpec, version: str, holdout: pd.DataFrame, *, actor: str = "airloop-gate"
) -> GateDecision:
    """Score challenger and current champion on the same holdout; move `champion` only if the challenger wins.

    The champion read here must still be champion when the alias moves (compare-and-set); if another run moved
    it meanwhile, the gate runs again against the new champion. Callers hold the champion lock around this.
    """
    from airloop.model.training import evaluate

    name, metric = spec.name, spec.gate_metric
    challenger = registry.load_booster(name, version)
    features = list(challenger.feature_names or ())
    ch_score = evaluate(challenger, holdout, features, spec.label.column, spec.label.task)[metric]
    for _ in range(3):
        current = registry.champion_version(name)
        champ = None  # the champion's booster, loaded once per pass
        if current is None:
            decision = _decided(version, "promoted", "first version: no champion yet", metric, ch_score)
        elif current == version:
            decision = _decided(version, "promoted", _ALREADY, metric, ch_score, current, ch_score)
        else:
            champ = registry.load_booster(name, current)
            decision = _compare(spec, version, ch_score, current, champ, holdout)
        if decision.decision == "promoted" and decision.reason != _ALREADY:
            decision = _governance(registry, spec, decision, challenger, holdout, current, champ)
        if registry.champion_version(name) != current:
            log.warning("champion of %s moved while gating version %s: gating again", name, version)
            continue
        break
    else:
        raise RegistryError(f"{name}: champion kept moving while gating version {version}; not promoted")
    registry.tag_version(name, version, decision_tags(decision))
    if decision.decision == "promoted":
        registry.move_champion(name, version, reason=f"gate: {decision.reason}", actor=actor)
    else:
        registry.mark_challenger(name, version)
    log.info("gate %s v%s: %s (%s)", name, version, decision.decision, decision.reason)
    return decision


def _decided(
    version: str,
    decision: GateVerdict,
    reason: str,
    metric: str,
    challenger_score: float,
    champion_version: str | None = None,
    champion_score: float | None = None,
) -> GateDecision:
    return GateDecision(
        version=version,
        decision=decision,
        reason=reason,
        metric=metric,
        challenger_score=challenger_score,
        champion_version=champion_version,
        champion_score=champion_score,
    )


def _compare(
    spec: PipelineSpec, version: str, ch_score: float, current: str, champ: xgb.Booster, holdout: pd.DataFrame
) -> GateDecision:
    """The metric rule: the challenger must beat champion `current` by `gate.min_improvement`, and by more than 0.
    A champion that cannot score this data (features gone, another task) is replaced."""
    from airloop.metrics import improvement
    from airloop.model.training import booster_task, evaluate

    metric = spec.gate_metric
    missing = [f for f in champ.feature_names or [] if f not in holdout.columns]
    champ_task = booster_task(champ) or "binary"
    if missing or champ_task != spec.label.task:
        why = f"missing features {missing[:3]}" if missing else f"a {champ_task} model; the task is {spec.label.task}"
        reason = f"champion v{current} cannot score this data ({why})"
        return _decided(version, "promoted", reason, metric, ch_score, current)
    cp_score = evaluate(champ, holdout, list(champ.feature_names or ()), spec.label.column, spec.label.task)[metric]
    # Better is up for pr_auc or r2, down for log_loss or rmse: the gain is positive when the challenger is better.
    gain = improvement(metric, ch_score, cp_score)
    if math.isnan(ch_score):
        reason = f"challenger {metric} is undefined on the holdout"
        return _decided(version, "rejected", reason, metric, ch_score, current, cp_score)
    required = spec.gate.min_improvement
    if math.isnan(cp_score) or gain >= required and gain > 0:
        why = f"{metric} {ch_score:.4f} vs champion v{current} {cp_score:.4f} (+{gain:.4f} ≥ {required})"
        return _decided(version, "promoted", why, metric, ch_score, current, cp_score)
    why = (
        f"{metric} {ch_score:.4f} vs champion v{current} {cp_score:.4f} "
        f"(improvement {gain:+.4f} < required {required}, must be > 0)"
    )
    return _decided(version, "rejected", why, metric, ch_score, current, cp_score)


def _governance(
    registry: Registry,
    spec: PipelineSpec,
    decision: GateDecision,
    challenger: xgb.Booster,
    holdout: pd.DataFrame,
    current: str | None,
    champ: xgb.Booster | None,
) -> GateDecision:
    """The rules a metric win does not settle: candidate features must earn their place, and no group of the
    holdout may fall below the floor or fall further behind the others than under the champion.

    Slice metrics are recorded on the version (`gate.slices`, for Model Ops) and its run (`slice.*` metrics)
    whatever the outcome, so a refused challenger shows why.
    """
    from airloop.model import feature_gain, slices

    version = decision.version
    problems = []
    mv = registry.resolve(spec.name, version)
    ok, why = feature_gain.verdict(spec, mv.tags or {})
    if not ok:
        problems.append(why)
    if spec.slices is not None:
        mine = slices.slice_metrics(challenger, holdout, spec)
        theirs = None
        if champ is not None and all(f in holdout.columns for f in champ.feature_names or []):
            theirs = slices.slice_metrics(champ, holdout, spec)
        verdict = slices.judge(spec, mine, theirs)
        _record_slices(registry, spec, mv, mine, theirs, verdict, current)
        if not verdict.ok:
            problems.append(verdict.reason)
    if not problems:
        return decision
    return dataclasses.replace(decision, decision="rejected", reason=f"{decision.reason}; but {'; '.join(problems)}")


def _record_slices(
    registry: Registry,
    spec: PipelineSpec,
    mv: ModelVersion,
    mine: dict[str, Any],
    theirs: dict[str, Any] | None,
    verdict: SliceVerdict,
    current: str | None,
) -> None:
    """The slice verdict as the version's `gate.slices` tag, and each group's metric on the version's run."""
    from airloop.model.registry import run_id_of
    from airloop.model.slices import metric_key

    metric = spec.gate_metric
    body = {
        "metric": metric,
        "champion_version": current,
        "ok": verdict.ok,
        "reason": verdict.reason,
        "summary": verdict.worst,
        "challenger": mine,
        "champion": theirs,
    }
    text = json.dumps(body, sort_keys=True)
    if len(text) > _TAG_LIMIT:  # keep the verdict, drop the champion's detail
        text = json.dumps({**body, "champion": None, "truncated": True}, sort_keys=True)[:_TAG_LIMIT]
    registry.tag_version(spec.name, str(mv.version), {"gate.slices": text})
    metrics = {
        metric_key(label, group, metric): v["value"]
        for label, per in mine.items()
        for group, v in per.items()
        if math.isfinite(v["value"])
    }
    registry.log_metrics(run_id_of(mv), metrics)
