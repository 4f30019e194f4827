"""The one event bus: every event is journaled and sent to every attached client.

Clients of the control socket take events as encoded lines: an event is encoded once,
whatever the number of consoles, and each console's connection writes the same bytes.
Consoles also ask for `status` events: after any change the bus publishes the whole
status at most every STATUS_PERIOD, computed and encoded once for all of them, so a
console never asks for the status on each event and the alarm path never waits for it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controller.journal import Journal, now_iso

CLIENT_QUEUE = 1000
STATUS = "status"
# Consoles redraw from the status at most this often (seconds); the first status after
# a change waits this long too, so a trigger's relays and first audio go first.
STATUS_PERIOD = 0.1


def encode(event: dict[str, Any]) -> bytes:
    """An event as the control socket sends it: one JSON line."""
    return (json.dumps({"event": event}, ensure_ascii=False, default=str) + "\n").encode()


@dataclass(eq=False)
class _Subscription:
    queue: asyncio.Queue[Any]
    encoded: bool
    status: bool


class EventBus:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._subscribers: dict[asyncio.Queue[Any], _Subscription] = {}
        self._changed = asyncio.Event()

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
        line: bytes | None = None
        for sub in list(self._subscribers.values()):
            if kind == STATUS and not sub.status:
                continue
            if sub.encoded:
                if line is None:
                    line = encode(event)
                _put(sub.queue, line)
            else:
                _put(sub.queue, event)
        if kind != STATUS:
            self._changed.set()
        return event

    def subscribe(self, *, encoded: bool = False, status: bool = False) -> asyncio.Queue[Any]:
        """A queue of every event from now on: dicts, or with `encoded` the lines the
        socket sends. With `status`, also the coalesced `status` events (the first
        one soon after subscribing)."""
        q: asyncio.Queue[Any] = asyncio.Queue(CLIENT_QUEUE)
        self._subscribers[q] = _Subscription(q, encoded, status)
        if status:
            self._changed.set()
        return q

    def unsubscribe(self, q: asyncio.Queue[Any]) -> None:
        self._subscribers.pop(q, None)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def _status_wanted(self) -> bool:
        return any(sub.status for sub in self._subscribers.values())

    async def feed_status(self, compute: Callable[[], dict[str, Any]]) -> None:
        """Publish `status` events (live only, never journaled) while anyone wants
        them: after a change, at most one every STATUS_PERIOD."""
        while True:
            await self._changed.wait()
            await asyncio.sleep(STATUS_PERIOD)
            self._changed.clear()
            if self._status_wanted():
                self.publish(STATUS, journal=False, status=compute())


def _put(q: asyncio.Queue[Any], item: Any) -> None:
    if q.full():
        # A stalled client loses its oldest events, never the controller's time.
        try:
            q.get_nowait()
        except asyncio.QueueEmpty:
            pass
    q.put_nowait(item)
