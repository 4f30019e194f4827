"""Reading the journal for people: paged, bounded in memory, on a worker of its own.

No request loads the whole journal: lists are pages of activations, newest first; an
activation's timeline is a page of its own rows and the output commands it caused;
exports stream row by row. The controller runs these on `JournalReader`, one low-priority
thread with read-only connections, never on the executor the alarm path uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from controller.journal.state import TERMINAL_KINDS
from controller.journal.store import (
    JournalDamaged,
    Row,
    connect,
    head_path,
    iter_rows,
    read_json,
    segment_files,
    to_row,
)

PAGE_MAX = 500
# Rows of the site looked at, after an activation ended, for the outputs its end released.
RELEASE_ROWS = 400
# Rows after which a row's activation changed state (for output rows written before each
# output said which alarm wanted it).
STATE_KINDS = ("triggered", "held", "confirmed", "silenced", "cleared", "declined", "resumed")


class Segments:
    """Read-only connections to every segment, for one request."""

    def __init__(self, path: Path) -> None:
        self.files = segment_files(path)
        self.conns: list[sqlite3.Connection] = []
        try:
            for file in self.files:
                self.conns.append(connect(file, readonly=True))
        except sqlite3.Error as exc:
            self.close()
            raise JournalDamaged(f"{file}: {exc}") from None

    def close(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self.conns = []

    def __enter__(self) -> Segments:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(self, sql: str, args: tuple = (), newest_first: bool = False) -> Iterator[tuple]:
        conns = list(reversed(self.conns)) if newest_first else self.conns
        try:
            for conn in conns:
                yield from conn.execute(sql, args)
        except sqlite3.DatabaseError as exc:
            raise JournalDamaged(str(exc)) from None


def _summary(row: Row) -> dict[str, Any]:
    return {
        "activation": row.activation,
        "seq": row.seq,
        "started": row.ts,
        "scenario": row.data.get("scenario"),
        "drill": bool(row.data.get("drill", False)),
        "source": row.data.get("source"),
        "origin": row.data.get("origin", ""),
        "note": row.data.get("note"),
        "ended": None,
        "outcome": "open",
        "ended_by": None,
    }


def list_activations(path: Path, limit: int = 50, before: int | None = None,
                     drill: bool | None = None) -> dict[str, Any]:
    """A page of activations, newest first: {"activations": [...], "next_before": seq|None}."""
    limit = max(1, min(limit, PAGE_MAX))
    items: list[dict[str, Any]] = []
    with Segments(path) as seg:
        sql = ("SELECT seq, ts, kind, activation, data FROM events WHERE kind='triggered'"
               + (" AND seq < ?" if before else "") + " ORDER BY seq DESC")
        more = False
        for raw in seg.query(sql, (before,) if before else (), newest_first=True):
            row = to_row(*raw)
            if drill is not None and bool(row.data.get("drill", False)) != drill:
                continue
            if len(items) == limit:
                more = True
                break
            items.append(_summary(row))
        for item in items:
            for seq, ts, kind, act, data in seg.query(
                    "SELECT seq, ts, kind, activation, data FROM events WHERE activation=? AND "
                    "kind IN ('cleared', 'declined') LIMIT 1", (item["activation"],)):
                end = to_row(seq, ts, kind, act, data)
                item.update(ended=end.ts, outcome=end.kind, ended_by=end.data.get("by"),
                            reason=end.data.get("reason"))
                break
    return {"activations": items, "next_before": items[-1]["seq"] if more else None}


def activation_rows(path: Path, activation: str, limit: int = 200, after: int = 0,
                    may_switch: dict[str, set[str]] | None = None) -> dict[str, Any]:
    """A page of one activation's timeline: its own rows and the output commands it
    caused, oldest first: {"timeline": [...], "next_after": seq|None}.

    An output row caused by the activation is one whose `wanted_by` names it, or the one
    that released an output it wanted. Rows written before outputs said who wanted them
    are attributed, when `may_switch` (scenario → the outputs it can switch) is given, to
    the activation that last changed state among those that can switch that output, and
    marked so; without it they are not attributed.
    Raises KeyError when the activation is not in the journal.
    """
    limit = max(1, min(limit, PAGE_MAX))
    with Segments(path) as seg:
        own = [to_row(*r) for r in seg.query(
            "SELECT seq, ts, kind, activation, data FROM events WHERE activation=? "
            "ORDER BY seq", (activation,))]
        if not own:
            raise KeyError(activation)
        first = own[0].seq
        end = next((r.seq for r in own if r.kind in TERMINAL_KINDS), None)
        stop = (end + RELEASE_ROWS) if end is not None else None
        caused = _caused_outputs(seg, activation, first, stop, may_switch)
    rows = sorted([r for r in own if r.seq > after] + [r for r in caused if r.seq > after],
                  key=lambda r: r.seq)
    page = rows[:limit]
    return {"timeline": [_shown(r) for r in page],
            "next_after": page[-1].seq if len(rows) > limit else None}


def _shown(row: Row) -> dict[str, Any]:
    out = row.as_dict()
    if row.kind == "output" and "wanted_by" not in row.data:
        out["attributed"] = "by scenario and order (an older row does not say which alarm wanted it)"
    return out


def _scenario_of(activation: str | None) -> str:
    # Activation ids are "<scenario>-<6 hex digits>".
    return (activation or "").rsplit("-", 1)[0]


def _caused_outputs(seg: Segments, activation: str, first: int, stop: int | None,
                    may_switch: dict[str, set[str]] | None) -> list[Row]:
    kinds = ",".join(f"'{k}'" for k in ("output", *STATE_KINDS))
    sql = (f"SELECT seq, ts, kind, activation, data FROM events WHERE kind IN ({kinds}) "
           f"AND seq >= ?" + (" AND seq <= ?" if stop is not None else "") + " ORDER BY seq")
    wanted: dict[str, set[str]] = {}
    last_owner: dict[str, str] = {}  # output → the activation that last changed state
    holding: set[str] = set()
    out: list[Row] = []
    ended = False
    for raw in seg.query(sql, (first, stop) if stop is not None else (first,)):
        row = to_row(*raw)
        if row.kind != "output":
            if may_switch is not None and row.activation:
                for name in may_switch.get(_scenario_of(row.activation), ()):
                    last_owner[name] = row.activation
            if row.activation == activation and row.kind in TERMINAL_KINDS:
                ended = True
            continue
        name = str(row.data.get("output"))
        if "wanted_by" in row.data:
            now = {str(a) for a in row.data.get("wanted_by") or []}
            before = wanted.get(name, set())
            wanted[name] = now
            if activation in now:
                holding.add(name)
            if activation in now or activation in before:
                out.append(row)
                if activation not in now:
                    holding.discard(name)
        elif last_owner.get(name) == activation:
            out.append(row)
        if ended and not holding and "wanted_by" in row.data:
            break  # everything it wanted is released
    return out


def find_triggered(path: Path, activation: str) -> Row | None:
    with Segments(path) as seg:
        for raw in seg.query("SELECT seq, ts, kind, activation, data FROM events "
                             "WHERE activation=? AND kind='triggered' LIMIT 1", (activation,)):
            return to_row(*raw)
    return None


def rows_of_kinds(path: Path, kinds: tuple[str, ...]) -> Iterator[Row]:
    """Rows of these kinds from every segment, oldest first, streamed."""
    marks = ",".join("?" for _ in kinds)
    yield from iter_rows(path, f"kind IN ({marks})", kinds)


def anchor(path: Path) -> dict[str, Any] | None:
    """The head as a paper anchor: the newest row's number, hash, time and signature."""
    head = read_json(head_path(path))
    if not head or "unreadable" in head or "seq" not in head:
        return None
    return {"seq": head.get("seq"), "hash": head.get("hash"), "ts": head.get("ts"),
            "key": head.get("key"), "sig": head.get("sig")}


def anchor_text(found: dict[str, Any] | None) -> str:
    if not found:
        return "journal anchor: none (the journal has no head)"
    return (f"journal anchor: row {found['seq']}, hash {found['hash']}, {found['ts']}, "
            f"signed by {found.get('key') or '—'}: {found.get('sig') or 'unsigned'}")


def export_csv(path: Path) -> Iterator[str]:
    """The whole journal as CSV, row by row, ending with the head as an anchor row."""
    buf = io.StringIO()
    writer = csv.writer(buf)

    def line(values: list[Any]) -> str:
        buf.seek(0)
        buf.truncate()
        writer.writerow(values)
        return buf.getvalue()

    yield line(["seq", "time_utc", "kind", "activation", "details"])
    for row in iter_rows(path):
        yield line([row.seq, row.ts, row.kind, row.activation or "",
                    json.dumps(row.data, ensure_ascii=False)])
    found = anchor(path)
    if found:
        yield line([found["seq"], found["ts"], "anchor", "",
                    json.dumps({"hash": found["hash"], "key": found.get("key"),
                                "signature": found.get("sig")})])


def activations(rows: list[Row]) -> list[dict[str, Any]]:
    """One summary per activation from rows in memory (small journals, tests)."""
    summary: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.activation is None:
            continue
        if row.kind == "triggered":
            summary[row.activation] = _summary(row)
        elif row.activation in summary and row.kind in TERMINAL_KINDS:
            summary[row.activation].update(ended=row.ts, outcome=row.kind,
                                           ended_by=row.data.get("by"))
    return list(summary.values())


class JournalReader:
    """Journal queries for the control socket: one worker thread at low CPU priority,
    a bounded number waiting; the alarm path never waits behind them."""

    def __init__(self, path: Path, max_waiting: int = 32) -> None:
        self.path = path
        self.max_waiting = max_waiting
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="journal-reader",
                                        initializer=_lower_priority)
        self._waiting = 0

    async def run(self, fn, *args: Any, **kwargs: Any) -> Any:
        from controller.errors import OperationFailed

        if self._waiting >= self.max_waiting:
            raise OperationFailed("the journal is answering many requests; try again shortly")
        self._waiting += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, partial(fn, self.path, *args, **kwargs))
        finally:
            self._waiting -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _lower_priority() -> None:
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
