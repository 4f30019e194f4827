"""What a start needs from history: the snapshot of what is open, kept up to date row by
row, stored in the head and at the start of every segment."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from controller.journal.store import Row

TERMINAL_KINDS = ("cleared", "declined")
# Rows of an activation that say nothing about its state: left out of the snapshot so
# it stays small however long an alarm runs.
NOISE_KINDS = frozenset({"announcement_started", "announcement_ended", "first_audio",
                         "cache_miss", "retriggered", "resumed"})


@dataclass
class Recovered:
    """What a starting controller needs from history, and nothing more.

    `open_activations` holds, for every activation that was neither cleared nor
    declined, its own rows oldest first (the engine rebuilds silence, ticks, held or
    confirmed state, form answers and elapsed time from them).
    """

    open_activations: dict[str, list[Row]] = field(default_factory=dict)
    last_row: Row | None = None
    # The newest row other than a start: when the site was last seen running
    # (scheduled runs due after it and before now were missed).
    last_activity: Row | None = None
    threat_level: str = "normal"

    def fold(self, row: Row) -> None:
        self.last_row = row
        if row.kind not in ("controller_started", "checkpoint", "segment"):
            self.last_activity = row
        if row.kind == "threat_level":
            self.threat_level = row.data.get("level", "normal")
        if row.activation is None:
            return
        if row.kind == "triggered":
            self.open_activations[row.activation] = [row]
        elif row.kind in TERMINAL_KINDS:
            self.open_activations.pop(row.activation, None)
        elif row.activation in self.open_activations and (
                row.kind not in NOISE_KINDS
                or (row.kind == "retriggered" and row.data.get("sounds_again"))):
            # A re-trigger that ended a silence changes what is restored; others do not.
            self.open_activations[row.activation].append(row)

    def to_json(self) -> dict[str, Any]:
        return {
            "open": {act: [r.to_json() for r in rows] for act, rows in self.open_activations.items()},
            "last_row": self.last_row.to_json() if self.last_row else None,
            "last_activity": self.last_activity.to_json() if self.last_activity else None,
            "threat_level": self.threat_level,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Recovered:
        def row(value: Any) -> Row | None:
            return Row.from_json(value) if isinstance(value, dict) else None

        return cls(
            {str(act): [Row.from_json(r) for r in rows] for act, rows in obj.get("open", {}).items()},
            row(obj.get("last_row")),
            row(obj.get("last_activity")),
            str(obj.get("threat_level", "normal")),
        )

    def copy(self) -> Recovered:
        return Recovered.from_json(self.to_json())


def digest(state: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(state)).hexdigest()


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str).encode()


def recover(rows: Iterable[Row]) -> Recovered:
    """Recovered state from rows, oldest first."""
    out = Recovered()
    for row in rows:
        out.fold(row)
    return out
