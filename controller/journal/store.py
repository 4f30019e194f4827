"""The journal's files: segments of one hash chain, the head, the spill file.

A journal named `journal.sqlite` is a set of files in one directory:

- `journal.sqlite` — the live segment, the one being written (SQLite, WAL, FULL sync);
- `journal.0001.sqlite`, `journal.0002.sqlite`, … — older segments, closed and read-only;
- `journal.sqlite.head` — the newest row's number and hash, signed, with the snapshot of
  what is open (so a start reads what is open, not history);
- `journal.sqlite.spill` — rows that could not be written, fsynced, replayed at start;
- `journal.sqlite.pub` — the public key that checks the signatures;
- `*.damaged-TIME` — files found damaged at a start, moved aside and kept as evidence.

Every row carries the hash of the previous one, across segments: the first row of a
segment follows the last row of the one before.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
SCHEMA_VERSION = 2
FILE_MODE = 0o640

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
CREATE INDEX IF NOT EXISTS events_kind ON events(kind, seq);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
-- The newest row, signed in the same transaction that wrote it: rows found after the
-- head at a start (a crash between the two writes) are known to be the controller's.
CREATE TABLE IF NOT EXISTS seal (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL,
    ts   TEXT NOT NULL,
    key  TEXT NOT NULL,
    sig  TEXT NOT NULL
);
"""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _b(value: str | bytes | None) -> bytes:
    if value is None:
        return b""
    return value if isinstance(value, bytes) else value.encode()


def row_hash(seq: int, ts: str | bytes, kind: str | bytes, activation: str | bytes | None,
             data: str | bytes, prev: str | bytes) -> str:
    """SHA-256 of a row's fields (text or the raw bytes found in a damaged file)."""
    material = b"\x1f".join([str(seq).encode(), _b(ts), _b(kind), _b(activation), _b(data),
                             _b(prev)])
    return hashlib.sha256(material).hexdigest()


@dataclass(frozen=True)
class Row:
    seq: int
    ts: str
    kind: str
    activation: str | None
    data: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "ts": self.ts, "kind": self.kind,
                "activation": self.activation, **self.data}

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "ts": self.ts, "kind": self.kind,
                "activation": self.activation, "data": self.data}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Row:
        return cls(int(obj["seq"]), str(obj["ts"]), str(obj["kind"]), obj.get("activation"),
                   dict(obj.get("data") or {}))


def text(value: str | bytes | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.decode("utf-8", errors="replace")


def to_row(seq: int, ts, kind, activation, data) -> Row:
    """A Row from stored columns; damaged text is shown, never fatal."""
    raw = text(data) or ""
    try:
        payload = json.loads(raw)
        if not isinstance(payload, dict):
            payload = {"value": payload}
    except json.JSONDecodeError:
        payload = {"unreadable": raw}
    return Row(seq, text(ts) or "", text(kind) or "", text(activation), payload)


class JournalDamaged(Exception):
    """The journal file cannot be read as a journal."""


def connect(path: Path, readonly: bool = False, busy: float = 5.0) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=busy,
                               check_same_thread=False)
        # Bytes, so one damaged character never makes a whole query fail.
        conn.text_factory = bytes
        return conn
    conn = sqlite3.connect(path, timeout=busy, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


# -- which files --------------------------------------------------------------------------

def head_path(path: Path) -> Path:
    return path.with_name(path.name + ".head")


def spill_path(path: Path) -> Path:
    return path.with_name(path.name + ".spill")


def public_key_path(path: Path) -> Path:
    return path.with_name(path.name + ".pub")


def archive_path(path: Path, number: int) -> Path:
    return path.with_name(f"{path.stem}.{number:04d}{path.suffix}")


def archived_segments(path: Path) -> list[tuple[int, Path]]:
    """Closed segments, oldest first."""
    pattern = re.compile(rf"^{re.escape(path.stem)}\.(\d{{4,}}){re.escape(path.suffix)}$")
    found = []
    if path.parent.is_dir():
        for entry in path.parent.iterdir():
            m = pattern.match(entry.name)
            if m:
                found.append((int(m.group(1)), entry))
    return sorted(found)


def segment_files(path: Path) -> list[Path]:
    """Every segment, oldest first; the live one last (if it exists)."""
    files = [p for _, p in archived_segments(path)]
    if path.exists():
        files.append(path)
    return files


def damaged_files(path: Path) -> list[Path]:
    if not path.parent.is_dir():
        return []
    return sorted(p for p in path.parent.iterdir()
                  if p.name.startswith(path.stem) and ".damaged-" in p.name)


def private(path: Path, mode: int = FILE_MODE) -> None:
    with contextlib.suppress(OSError):
        os.chmod(path, mode)


def fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomic(path: Path, content: bytes, sync: bool = True, mode: int = FILE_MODE) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, content)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


# -- reading rows --------------------------------------------------------------------------

def iter_raw(conn: sqlite3.Connection, where: str = "", params: tuple = (),
             order: str = "ASC", batch: int = 2000) -> Iterator[tuple]:
    """(seq, ts, kind, activation, data, prev, hash) in pages, never the whole table."""
    last = None
    while True:
        clause = where
        args: tuple = params
        if last is not None:
            cmp = ">" if order == "ASC" else "<"
            clause = f"({where}) AND seq {cmp} ?" if where else f"seq {cmp} ?"
            args = (*params, last)
        sql = ("SELECT seq, ts, kind, activation, data, prev, hash FROM events"
               + (f" WHERE {clause}" if clause else "") + f" ORDER BY seq {order} LIMIT {batch}")
        rows = conn.execute(sql, args).fetchall()
        if not rows:
            return
        yield from rows
        if len(rows) < batch:
            return
        last = rows[-1][0]


def iter_rows(path: Path, where: str = "", params: tuple = ()) -> Iterator[Row]:
    """Rows of every segment, oldest first, streamed."""
    for file in segment_files(path):
        try:
            conn = connect(file, readonly=True)
        except sqlite3.Error as exc:
            raise JournalDamaged(f"{file}: {exc}") from None
        try:
            for seq, ts, kind, act, data, _prev, _hash in iter_raw(conn, where, params):
                yield to_row(seq, ts, kind, act, data)
        except sqlite3.DatabaseError as exc:
            raise JournalDamaged(f"{file}: {exc}") from None
        finally:
            conn.close()


def read_rows(path: Path) -> list[Row]:
    """Every row, oldest first (for tools and tests on small journals)."""
    return list(iter_rows(path))


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"unreadable": True}
    return obj if isinstance(obj, dict) else {"unreadable": True}


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
