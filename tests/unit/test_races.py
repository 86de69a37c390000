"""Races and retries around the registry: one champion, no lost or doubled promotion, one version per run.

Runs on a real local MLflow store and DVC remote. The racing tests widen the window between reading the champion
and moving the alias (a sleep inside the move), so that without the champion lock the race would be lost every
time, not once in a while.
"""

from __future__ import annotations

import threading
import time

import pytest

from airloop import steps
from airloop.contracts import Lineage, Trained
from airloop.data.datagen import generate
from airloop.errors import AirloopError
from airloop.model import gate
from airloop.model.registry import Registry
from airloop.store import locks

pytestmark = [pytest.mark.unit, pytest.mark.slow]
NAME = "fraud_detection"


@pytest.fixture(scope="module")
def world(tmp_path_factory, settings_for, fast_spec):
    """Champion v1 and two challengers v2, v3 trained on more data, none of them gated yet."""
    root = tmp_path_factory.mktemp("races")
    settings = settings_for(root)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        versions = []
        for seed in (401, 402, 403):
            steps.process(
                fast_spec,
                settings,
                steps.land(fast_spec, settings, generate("fraud", rows=3000, seed=seed), f"b{seed}.parquet"),
            )
            versions.append(steps.train(fast_spec, settings, Lineage(trigger="manual")))
        assert all(isinstance(v, Trained) for v in versions), versions
        steps.gate(fast_spec, settings, version="1", data_md5=versions[0].data_md5)
        yield {"settings": settings, "spec": fast_spec, "trained": versions, "root": root}


@pytest.fixture
def cwd(world, monkeypatch):
    monkeypatch.chdir(world["root"])


def _history(world):
    return Registry.from_settings(world["settings"]).champion_history(NAME)


def _slow_moves(monkeypatch, seconds: float = 0.6):
    """Every alias move first waits: the window between 'read the champion' and 'move the alias' gets wide."""
    original = Registry.move_champion

    def slow(*args, **kwargs):
        time.sleep(seconds)
        return original(*args, **kwargs)

    monkeypatch.setattr(Registry, "move_champion", slow)


def test_racing_gates_leave_one_champion_and_an_unbroken_history(world, cwd, monkeypatch):
    settings, spec, trained = world["settings"], world["spec"], world["trained"]
    _slow_moves(monkeypatch)
    start = len(_history(world))
    decisions, errors = {}, []

    def gate(i: int) -> None:
        try:
            decisions[i] = steps.gate(spec, settings, version=trained[i].version, data_md5=trained[i].data_md5)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=gate, args=(i,)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    model = Registry.from_settings(settings).describe_models([NAME])[0]
    assert sum("champion" in v["aliases"] for v in model["versions"]) == 1
    moves = _history(world)[start:]
    # Every promotion is recorded against the champion it actually replaced: none lost, none doubled.
    before = "1"
    for move in moves:
        assert move["previous"] == before, moves
        before = move["version"]
    assert before == model["champion"]
    promoted = [d for d in decisions.values() if d.decision == "promoted"]
    assert len(moves) == len(promoted)
    # Each winner was compared against the very champion it replaced (not one that was replaced meanwhile).
    for d in promoted:
        (move,) = [m for m in moves if m["version"] == d.version]
        assert move["previous"] == d.champion_version, (d, moves)


def test_champion_moved_during_comparison_is_gated_again(world, cwd, monkeypatch):
    """Compare-and-set inside the registry: a move by someone else between read and write forces a re-gate."""
    settings, spec, trained = world["settings"], world["spec"], world["trained"]
    models = Registry.from_settings(settings)
    models.promote(NAME, "1", actor="test")
    original = gate._compare
    moved = []

    def compare_while_someone_promotes(*args, **kwargs):
        if not moved:  # another process promotes v2 while we compare v3 against v1
            moved.append(models.promote(NAME, "2", actor="other"))
        return original(*args, **kwargs)

    monkeypatch.setattr(gate, "_compare", compare_while_someone_promotes)
    decision = steps.gate(spec, settings, version=trained[2].version, data_md5=trained[2].data_md5)
    assert moved == ["1"]
    assert decision.champion_version == "2", "gated again, against the champion that is current now"
    tags = models.client.get_model_version(NAME, "3").tags
    assert tags["gate.champion_version"] == "2"


def test_rollback_waits_for_the_champion_lock(world, cwd):
    settings = world["settings"]
    models = Registry.from_settings(settings)
    models.promote(NAME, "1", actor="test")
    models.promote(NAME, "3", actor="test")
    with steps.champion_lock(settings, NAME):
        with pytest.raises(AirloopError, match="still held"):
            with steps.champion_lock(settings, NAME, timeout=0.5):
                pass
        result: dict = {}
        t = threading.Thread(target=lambda: result.update(moved=steps.rollback(NAME, settings, actor="test")))
        t.start()
        time.sleep(0.5)
        assert t.is_alive() and models.champion_version(NAME) == "3", "rollback waits for the lock"
    t.join(60)
    assert result["moved"] == ("3", "1")
    assert models.champion_version(NAME) == "1"


def test_a_retried_training_run_reuses_its_version(world, cwd, monkeypatch):
    settings, spec = world["settings"], world["spec"]
    models = Registry.from_settings(settings)
    count = len(models.describe_models([NAME])[0]["versions"])
    key = "fraud_detection__retrain/manual__2026-11-26/train"
    original = Registry.log_model_version

    def register_then_die(*args, **kwargs):  # the worker is killed right after MLflow registered the version
        original(*args, **kwargs)
        raise KeyboardInterrupt("worker killed")

    monkeypatch.setattr(Registry, "log_model_version", register_then_die)
    with pytest.raises(KeyboardInterrupt):
        steps.train(spec, settings, Lineage(trigger="manual"), run_key=key)
    monkeypatch.setattr(Registry, "log_model_version", original)
    retry = steps.train(spec, settings, Lineage(trigger="manual"), run_key=key)
    again = steps.train(spec, settings, Lineage(trigger="manual"), run_key=key)
    assert isinstance(retry, Trained) and isinstance(again, Trained), (retry, again)
    versions = models.describe_models([NAME])[0]["versions"]
    assert len(versions) == count + 1, "exactly one new version for one unit of work"
    assert retry.reused is True and retry.version == again.version == versions[-1]["version"]
    assert retry.data_md5 == versions[-1]["data_md5"] and retry.metrics["pr_auc"] > 0
    other = steps.train(spec, settings, Lineage(trigger="manual"), run_key=key + "-another-run")
    assert isinstance(other, Trained) and other.version != retry.version and not other.reused


def test_local_lock_is_exclusive_across_threads(tmp_path):
    uri = (tmp_path / "l.lock").as_uri()
    inside, overlaps = [], []

    def worker():
        with locks.exclusive(uri, timeout=30, poll=0.01):
            if inside:
                overlaps.append(1)
            inside.append(1)
            time.sleep(0.05)
            inside.pop()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == []
