"""The landing-zone watcher trigger, tested like the S3 provider's triggers: serialization and an async run."""

from __future__ import annotations

import asyncio

import pytest

from airloop_airflow.triggers import LandingZoneTrigger

pytestmark = pytest.mark.dags


def test_serialization():
    trigger = LandingZoneTrigger(uri="file:///data/landing/x", pattern="*.parquet", poll_interval=2.5)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airloop_airflow.triggers.LandingZoneTrigger"
    assert kwargs == {"uri": "file:///data/landing/x", "pattern": "*.parquet", "poll_interval": 2.5}
    assert LandingZoneTrigger(**kwargs).serialize() == trigger.serialize()


class FakeStateStore:
    """Stands in for the triggerer's per-asset state store (same async get/set interface)."""

    def __init__(self, initial=None):
        self.data = dict(initial or {})

    async def aget(self, key, default=None):
        return self.data.get(key, default)

    async def aset(self, key, value):
        self.data[key] = value


async def _next_event(trigger, timeout=5.0):
    gen = trigger.run()
    try:
        return await asyncio.wait_for(gen.__anext__(), timeout)
    finally:
        await gen.aclose()


def test_run_fires_for_new_files_only_and_saves_state(tmp_path):
    (tmp_path / "a.parquet").write_bytes(b"1")
    (tmp_path / ".tmp-upload.parquet").write_bytes(b"partial")
    (tmp_path / "notes.txt").write_text("ignored")
    trigger = LandingZoneTrigger(uri=tmp_path.as_uri(), pattern="*.parquet", poll_interval=0.05)
    trigger.asset_state_store = store = FakeStateStore()

    event = asyncio.run(_next_event(trigger))
    assert [f.rsplit("/", 1)[-1] for f in event.payload["files"]] == ["a.parquet"]
    assert len(store.data["seen"]) == 1, "state must be saved before the event is yielded"

    # Restarted with the saved state: the old file does not fire again, a new one does.
    (tmp_path / "b.parquet").write_bytes(b"2")
    again = LandingZoneTrigger(uri=tmp_path.as_uri(), pattern="*.parquet", poll_interval=0.05)
    again.asset_state_store = store
    event = asyncio.run(_next_event(again))
    assert [f.rsplit("/", 1)[-1] for f in event.payload["files"]] == ["b.parquet"]


def test_run_waits_while_nothing_new(tmp_path):
    trigger = LandingZoneTrigger(uri=(tmp_path / "missing").as_uri(), poll_interval=0.05)
    with pytest.raises(TimeoutError):
        asyncio.run(_next_event(trigger, timeout=0.5))
