"""Watcher trigger that turns new files in a pipeline's landing zone into asset events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

if TYPE_CHECKING:
    from pydantic import JsonValue

log = logging.getLogger(__name__)
SEEN_KEY = "seen"


class LandingZoneTrigger(BaseEventTrigger):
    """Fires once per newly seen file (name + size + mtime) in a landing location.

    Listing is cheap (names and sizes, no reads) and runs in a thread, so the triggerer's event loop never blocks.
    The set of seen files is saved in the asset's state store *before* the event is yielded: a restart neither
    loses a file dropped while Airflow was down nor fires twice for a file already announced.

    Args:
        uri: landing location (`file:///…` or `s3://…`).
        pattern: glob for batch files, e.g. `*.parquet`.
        poll_interval: seconds between listings.
    """

    def __init__(self, *, uri: str, pattern: str = "*.parquet", poll_interval: float = 5.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.uri = uri
        self.pattern = pattern
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "airloop_airflow.triggers.LandingZoneTrigger",
            {"uri": self.uri, "pattern": self.pattern, "poll_interval": self.poll_interval},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airloop.steps import landing_files

        store = self.asset_state_store
        saved = await store.aget(SEEN_KEY, default=[]) if store is not None else []
        seen: set[str] = {str(key) for key in saved} if isinstance(saved, list) else set()
        while True:
            try:
                files = await asyncio.to_thread(landing_files, self.uri, self.pattern)
            except Exception as exc:  # an unreachable store must not kill the watcher: retry next poll
                log.warning("cannot list %s: %s", self.uri, exc)
                await asyncio.sleep(self.poll_interval)
                continue
            present = {f"{f.name}|{f.size}|{f.mtime}": f for f in files}
            new = [f for key, f in present.items() if key not in seen]
            if new or seen - present.keys():
                seen = set(present)  # forget files that left, so the state stays as small as the zone
                if store is not None:
                    keys: list[JsonValue] = [*sorted(seen)]
                    await store.aset(SEEN_KEY, keys)
            if new:
                yield TriggerEvent({"uri": self.uri, "files": [f.uri for f in new]})
            await asyncio.sleep(self.poll_interval)
