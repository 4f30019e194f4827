"""The one event bus: every event is journaled and sent to every attached client."""

from __future__ import annotations

import asyncio
from typing import Any

from controller.journal import Journal, now_iso

CLIENT_QUEUE = 1000


class EventBus:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()

    def publish(
        self,
        kind: str,
        activation: str | None = None,
        *,
        journal: bool = True,
        live: dict[str, Any] | None = None,
        **data: Any,
    ) -> dict[str, Any]:
        """Journal `data` and send it to every client; `live` goes to clients only
        (values that mean nothing after a restart, such as monotonic times)."""
        ts = self.journal.append(kind, activation, **data) if journal else now_iso()
        event = {"ts": ts, "kind": kind, "activation": activation, **data, **(live or {})}
        for q in list(self._subscribers):
            if q.full():
                # A stalled client loses its oldest events, never the controller's time.
                try:
                    q.get_nowait()
                except asyncio.QueueEmpty:
                    pass
            q.put_nowait(event)
        return event

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(CLIENT_QUEUE)
        self._subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(q)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)
