"""Faults: raised once, shown until they clear, journaled both ways."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from controller import messages
from controller.events import EventBus
from controller.journal import now_iso


@dataclass
class Fault:
    key: str
    code: str
    params: dict[str, Any]
    since: str
    since_mono: float = field(default_factory=time.monotonic)
    acknowledged: bool = False

    @property
    def message(self) -> str:
        return messages.render(self.code, "en", self.params)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "code": self.code,
            "params": self.params,
            "message": self.message,
            "text": messages.texts(self.code, self.params),
            "since": self.since,
            "acknowledged": self.acknowledged,
        }


class FaultBook:
    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.active: dict[str, Fault] = {}

    def raise_(self, key: str, code: str, **params: Any) -> None:
        """Raise (or re-word) the fault `key`; `code` and `params` name its message in
        controller/messages.py."""
        current = self.active.get(key)
        if current is not None and (current.code, current.params) == (code, params):
            return  # an outage is reported once, not at every poll
        fault = Fault(key, code, params, now_iso())
        self.active[key] = fault
        self.bus.publish("fault", key=key, code=code, params=params, message=fault.message)

    def clear(self, key: str, message: str = "", *, leave_notice: bool = False) -> None:
        """End the fault `key`. With `leave_notice`, a fault nobody acknowledged stays on
        the consoles as a notice until someone does: a gap in the sound that healed
        itself in a second must still be seen."""
        fault = self.active.pop(key, None)
        if fault is None:
            return
        self.bus.publish("fault_cleared", key=key, message=message)
        if leave_notice and not fault.acknowledged:
            notice = Fault(f"notice:{key}", fault.code, fault.params, fault.since)
            self.active[notice.key] = notice
            self.bus.publish("fault", key=notice.key, code=notice.code, params=notice.params,
                             message=notice.message)

    def acknowledge(self, key: str, operator: str) -> bool:
        fault = self.active.get(key)
        if fault is None:
            return False
        fault.acknowledged = True
        self.bus.publish("fault_acknowledged", key=key, operator=operator)
        if key.startswith("notice:"):
            # A notice (a missed drill, a reminder) has done its job once read.
            self.clear(key, f"acknowledged by {operator}")
        return True

    def list(self) -> list[dict[str, Any]]:
        return [f.as_dict() for f in self.active.values()]
