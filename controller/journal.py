"""The journal: an append-only, hash-chained SQLite log of everything dabyl does.

Rows are written by one worker thread fed through a queue, so a slow or broken
disk never blocks an alarm. When a write fails the rows stay in memory, a fault is
raised, and the worker retries until the disk takes them again; nothing is lost
while the process lives.

Each row carries the SHA-256 of the previous row. A head file beside the database
(`journal.sqlite.head`) keeps the sequence number and hash of the newest row, so
`verify` finds both an edited row and rows cut off the end.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY,
    ts         TEXT NOT NULL,
    kind       TEXT NOT NULL,
    activation TEXT,
    data       TEXT NOT NULL,
    prev       TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_activation ON events(activation);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
"""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def row_hash(seq: int, ts: str, kind: str, activation: str | None, data: str, prev: str) -> str:
    material = "\x1f".join([str(seq), ts, kind, activation or "", data, prev])
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True)
class Row:
    seq: int
    ts: str
    kind: str
    activation: str | None
    data: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "ts": self.ts,
            "kind": self.kind,
            "activation": self.activation,
            **self.data,
        }


@dataclass
class Recovered:
    """What a starting controller needs from history, and nothing more.

    `open_activations` holds, for every activation that was neither cleared nor
    declined, its own rows oldest first (the engine rebuilds silence, ticks, held or
    confirmed state, form answers and elapsed time from them).
    """

    open_activations: dict[str, list[Row]]
    last_row: Row | None = None
    # The newest row other than a start: when the site was last seen running
    # (scheduled runs due after it and before now were missed).
    last_activity: Row | None = None
    threat_level: str = "normal"


def recover(rows: Iterable[Row]) -> Recovered:
    """Recovered state from rows, oldest first."""
    open_: dict[str, list[Row]] = {}
    out = Recovered(open_)
    for row in rows:
        out.last_row = row
        if row.kind != "controller_started":
            out.last_activity = row
        if row.kind == "threat_level":
            out.threat_level = row.data.get("level", "normal")
        if row.activation is None:
            continue
        if row.kind == "triggered":
            open_[row.activation] = [row]
        elif row.kind in TERMINAL_KINDS:
            open_.pop(row.activation, None)
        elif row.activation in open_:
            open_[row.activation].append(row)
    return out


class JournalDamaged(Exception):
    """The journal file cannot be read as a journal."""


def _connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    else:
        conn = sqlite3.connect(path, timeout=5, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    return conn


def read_rows(path: Path) -> list[Row]:
    """Every row, oldest first. Raises JournalDamaged if the file is not a journal."""
    if not path.exists():
        return []
    try:
        conn = _connect(path, readonly=True)
        try:
            rows = conn.execute(
                "SELECT seq, ts, kind, activation, data FROM events ORDER BY seq"
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise JournalDamaged(f"{path}: {exc}") from None
    out = []
    for seq, ts, kind, activation, data in rows:
        try:
            payload = json.loads(data)
        except json.JSONDecodeError:
            payload = {"unreadable": data}
        out.append(Row(seq, ts, kind, activation, payload))
    return out


def head_path(path: Path) -> Path:
    return path.with_name(path.name + ".head")


def verify(path: Path) -> tuple[bool, list[str], int]:
    """Check the chain and the head. Returns (ok, problems, rows checked)."""
    problems: list[str] = []
    if not path.exists():
        return False, [f"{path}: no journal file"], 0
    try:
        conn = _connect(path, readonly=True)
        try:
            integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
            if integrity != "ok":
                problems.append(f"database integrity check failed: {integrity}")
            rows = conn.execute(
                "SELECT seq, ts, kind, activation, data, prev, hash FROM events ORDER BY seq"
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return False, [f"the journal file is damaged: {exc}"], 0
    prev = GENESIS
    expected_seq = 1
    for seq, ts, kind, activation, data, stored_prev, stored_hash in rows:
        if seq != expected_seq:
            problems.append(f"row {expected_seq}: missing (next row is {seq})")
            expected_seq = seq
        if stored_prev != prev:
            problems.append(f"row {seq}: does not follow row {seq - 1} (chain broken)")
        if row_hash(seq, ts, kind, activation, data, stored_prev) != stored_hash:
            problems.append(f"row {seq}: contents were changed after it was written")
        prev = stored_hash
        expected_seq = seq + 1
    last_seq = rows[-1][0] if rows else 0
    head = head_path(path)
    if head.exists():
        try:
            anchor = json.loads(head.read_text())
            if int(anchor["seq"]) > last_seq:
                problems.append(
                    f"rows {last_seq + 1}..{anchor['seq']} are missing: "
                    "the journal was truncated"
                )
            elif int(anchor["seq"]) == last_seq and anchor["hash"] != prev:
                problems.append("the newest row does not match the head record")
        except (ValueError, KeyError, TypeError, OSError):
            problems.append(f"{head}: head record is unreadable")
    elif rows:
        problems.append(f"{head}: head record is missing")
    return not problems, problems, len(rows)


FaultCallback = Callable[[str | None], None]


class Journal:
    """The one journal writer. `append` never blocks and never raises."""

    def __init__(self, path: Path, on_fault: FaultCallback | None = None) -> None:
        self.path = path
        self._on_fault = on_fault or (lambda message: None)
        self._queue: queue.Queue[tuple[str, str, str | None, str] | None] = queue.Queue()
        self._pending: list[tuple[str, str, str | None, str]] = []
        self._thread: threading.Thread | None = None
        self._written = threading.Condition()
        self._accepted = 0
        self._committed = 0
        self._conn: sqlite3.Connection | None = None
        self._seq = 0
        self._prev = GENESIS
        self._fault: str | None = None
        self.damaged: str | None = None

    # -- life cycle -------------------------------------------------------
    def open(self) -> Recovered:
        """Read what is there (for recovery) and start the writer.

        A damaged file is never overwritten: it is reported as a fault, and the
        journal keeps new rows in memory until an operator moves the file away.
        """
        rows: list[Row] = []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            rows = read_rows(self.path)
            # Create or check the schema now, so damage is known before the alarm
            # path needs it; the writer thread opens its own connection.
            self._open_connection()
            self._close_connection()
        except (JournalDamaged, sqlite3.DatabaseError, OSError) as exc:
            self.damaged = str(exc)
            self._set_fault(f"journal unusable, rows kept in memory: {exc}")
        self._thread = threading.Thread(target=self._run, name="journal-writer", daemon=True)
        self._thread.start()
        return recover(rows)

    def _open_connection(self) -> None:
        conn = _connect(self.path)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            conn.close()
            raise JournalDamaged(f"{self.path}: written by a newer dabyl (schema {version})")
        conn.executescript(SCHEMA)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        last = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        if last:
            self._seq, self._prev = last
        self._conn = conn

    def _close_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._conn = None

    def close(self, timeout: float = 5.0) -> None:
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None

    # -- writing ------------------------------------------------------------
    def append(self, kind: str, activation: str | None = None, **data: Any) -> str:
        """Queue one row; returns its timestamp."""
        ts = data.pop("ts", None) or now_iso()
        payload = json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)
        with self._written:
            self._accepted += 1
        self._queue.put((ts, kind, activation, payload))
        return ts

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything appended so far is on disk."""
        deadline = time.monotonic() + timeout
        with self._written:
            target = self._accepted
            while self._committed < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._written.wait(left)
        return True

    @property
    def backlog(self) -> int:
        """Rows accepted but not yet on disk."""
        with self._written:
            return self._accepted - self._committed

    def _run(self) -> None:
        if not self.damaged:
            self._reconnect()
        try:
            self._loop()
        finally:
            self._close_connection()

    def _loop(self) -> None:
        backoff = 0.2
        stopping = False
        while True:
            if not self._pending:
                item = self._queue.get()
                if item is None:
                    return
                self._pending.append(item)
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                self._pending.append(item)
            if self.damaged:
                # Nothing can be written to a damaged file; rows stay in memory (and on
                # every console) until an operator moves the file away and restarts.
                if stopping:
                    return
                item = self._queue.get()
                if item is None:
                    return
                self._pending.append(item)
                continue
            try:
                self._write(self._pending)
            except (sqlite3.Error, OSError) as exc:
                # One stable message: the outage is reported once, not at every retry.
                self._set_fault(f"journal write failed, rows kept in memory: {exc}")
                if stopping:
                    return
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                self._reconnect()
                continue
            backoff = 0.2
            with self._written:
                self._committed += len(self._pending)
                self._written.notify_all()
            self._pending = []
            if self._fault and not self.damaged:
                self._set_fault(None)
            if stopping:
                return

    def _reconnect(self) -> None:
        if self.damaged:
            return
        self._close_connection()
        try:
            self._open_connection()
        except (sqlite3.Error, OSError, JournalDamaged):
            self._conn = None

    def _write(self, batch: Iterable[tuple[str, str, str | None, str]]) -> None:
        if self._conn is None:
            raise OSError(self.damaged or "journal is not open")
        seq, prev = self._seq, self._prev
        rows = []
        for ts, kind, activation, payload in batch:
            seq += 1
            digest = row_hash(seq, ts, kind, activation, payload, prev)
            rows.append((seq, ts, kind, activation, payload, prev, digest))
            prev = digest
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO events (seq, ts, kind, activation, data, prev, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.execute("COMMIT")
        except BaseException:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise
        self._seq, self._prev = seq, prev
        self._write_head(seq, prev)

    def _write_head(self, seq: int, digest: str) -> None:
        head = head_path(self.path)
        tmp = head.with_name(head.name + ".tmp")
        with open(tmp, "w") as fh:
            fh.write(json.dumps({"seq": seq, "hash": digest}))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, head)

    def _set_fault(self, message: str | None) -> None:
        if message == self._fault:
            return
        self._fault = message
        try:
            self._on_fault(message)
        except Exception:  # noqa: BLE001 - a listener must never stop the writer
            pass


# -- reading for people -------------------------------------------------------

TERMINAL_KINDS = ("cleared", "declined")


def activations(rows: list[Row]) -> list[dict[str, Any]]:
    """One summary per activation: when, what, who, drill, and how it ended."""
    summary: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.activation is None:
            continue
        if row.kind == "triggered":
            summary[row.activation] = {
                "activation": row.activation,
                "started": row.ts,
                "scenario": row.data.get("scenario"),
                "drill": row.data.get("drill", False),
                "source": row.data.get("source"),
                "origin": row.data.get("origin", ""),
                "ended": None,
                "outcome": "open",
            }
        elif row.activation in summary and row.kind in TERMINAL_KINDS:
            summary[row.activation]["ended"] = row.ts
            summary[row.activation]["outcome"] = row.kind
    return list(summary.values())


def timeline(rows: list[Row], activation: str) -> list[Row]:
    """An activation's rows plus what the site did meanwhile (outputs, faults,
    devices) until it ended. Empty when the activation is not in the journal."""
    mine = [r for r in rows if r.activation == activation]
    if not mine:
        return []
    first, last = mine[0].seq, mine[-1].seq
    return [r for r in rows if first <= r.seq <= last and r.activation in (None, activation)]


def export_csv(rows: list[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["seq", "time_utc", "kind", "activation", "details"])
    for row in rows:
        writer.writerow(
            [row.seq, row.ts, row.kind, row.activation or "", json.dumps(row.data, ensure_ascii=False)]
        )
    return out.getvalue()
