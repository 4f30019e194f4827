"""The one journal writer.

`append` never blocks and never raises: rows go through a queue to one worker thread,
so a slow or broken disk never holds up an alarm. The worker commits each batch with a
seal (the newest row, signed) in the same transaction, then writes the head (signed, with
the snapshot of what is open). A caller that must not answer before its row is safe
waits on `durable(ticket)`.

When the database cannot take a batch, the rows are written to the spill file (space
reserved in advance, fsynced) and a fault is raised; the worker retries, and the spill
file is replayed at the next start if the process dies meanwhile. A row is never written
twice: once committed it is never retried, and replayed rows the journal already holds
are skipped.

At open, the live segment is checked against the head: a truncated file, a lost WAL, a
changed or undecodable row, rows nobody signed, or a journal rolled back behind what the
key last signed are damage. The damaged files are moved aside (never deleted, never
written), the good rows are copied into a new live segment that continues the same
chain, a `journal_damaged` row says what happened, and what was open comes from the last
good snapshot. The fault stays until an operator acknowledges it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from controller.journal import signing
from controller.journal.spill import Spill
from controller.journal.state import Recovered, canonical, digest
from controller.journal.store import (
    GENESIS,
    SCHEMA,
    SCHEMA_VERSION,
    JournalDamaged,
    Row,
    archive_path,
    archived_segments,
    connect,
    fsync_dir,
    head_path,
    iter_raw,
    iter_rows,
    now_iso,
    private,
    public_key_path,
    read_json,
    row_hash,
    spill_path,
    stamp,
    text,
    to_row,
    write_atomic,
)

log = logging.getLogger("dabyl.journal")

SEGMENT_BYTES = 16 * 1024 * 1024
CHECKPOINT_ROWS = 1000
CHECKPOINT_SECONDS = 60.0
BUSY_SECONDS = 0.5
MAX_BATCH = 256  # rows per transaction: a segment is checked for rotation between them

# on_fault(key, code, params): code None clears the fault `key`.
FaultCallback = Callable[[str, str | None, dict[str, Any]], None]
WRITE_FAULT = "journal"
HEAD_FAULT = "journal:head"
SPILL_FAULT = "journal:spill"
KEY_FAULT = "journal:key"
DAMAGE_FAULT = "notice:journal:damaged"


@dataclass
class Planned:
    ticket: int
    seq: int
    ts: str
    kind: str
    activation: str | None
    payload: str
    prev: str
    hash: str
    spilled: bool = False

    def tuple(self) -> tuple:
        return (self.seq, self.ts, self.kind, self.activation, self.payload, self.prev, self.hash)

    def row(self) -> Row:
        return to_row(self.seq, self.ts, self.kind, self.activation, self.payload)

    def identity(self) -> tuple:
        return (self.ts, self.kind, self.activation, self.payload)


class Journal:
    """The one journal writer. `append` never blocks and never raises."""

    def __init__(self, path: Path, on_fault: FaultCallback | None = None, *,
                 key_path: Path | None = None, timezone: str = "UTC",
                 segment_bytes: int = SEGMENT_BYTES, checkpoint_rows: int = CHECKPOINT_ROWS,
                 checkpoint_seconds: float = CHECKPOINT_SECONDS) -> None:
        self.path = Path(path)
        self._on_fault = on_fault or (lambda key, code, params: None)
        self.key_path = key_path
        self.tz = ZoneInfo(timezone)
        self.segment_bytes = segment_bytes
        self.checkpoint_rows = checkpoint_rows
        self.checkpoint_seconds = checkpoint_seconds
        self.signer: signing.Signer | None = None
        self.spill: Spill | None = None
        self._queue: queue.Queue[tuple | None] = queue.Queue()
        self._lock = threading.Lock()
        self._accepted = 0
        self._committed_ticket = 0
        self._spilled_ticket = 0
        self._waiters: list[tuple[int, Future[str]]] = []
        self._planned: list[Planned] = []
        self._conn: sqlite3.Connection | None = None
        self._seq = 0
        self._prev = GENESIS
        self._state = Recovered()
        self._segment = 1
        self._segment_year: int | None = None
        self._since_checkpoint = 0
        self._checkpoint_at = time.monotonic()
        self._head_dirty = False
        self._faults: dict[str, tuple[str, dict[str, Any]]] = {}
        self._thread: threading.Thread | None = None
        self.damage: dict[str, Any] | None = None
        self.lost = 0

    # -- life cycle ---------------------------------------------------------------------
    def open(self) -> Recovered:
        """Check the files, recover what was open, and start the writer. Reads the head,
        the live segment and the spill file: never the older segments."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.key_path is not None:
            try:
                self.signer = signing.Signer.load_or_create(self.key_path)
                pub = public_key_path(self.path)
                pem = signing.public_pem(self.signer.public)
                if not pub.exists() or pub.read_bytes() != pem:
                    write_atomic(pub, pem)
            except (signing.KeyError_, OSError) as exc:
                self.signer = None
                self._fault(KEY_FAULT, "journal_key", path=str(self.key_path), error=str(exc))
        self.spill = Spill(spill_path(self.path))
        try:
            self.spill.open()
        except OSError as exc:
            self.spill = None
            self._fault(SPILL_FAULT, "journal_spill_failed", path=str(spill_path(self.path)),
                        error=str(exc))
        try:
            recovered = self._open_files()
        except (sqlite3.Error, OSError, JournalDamaged) as exc:
            # Even the new segment cannot be made (no disk, no permission): everything
            # goes to the spill file, and the state is the head's.
            self._conn = None
            self._fault(WRITE_FAULT, "journal_write_failed", error=str(exc),
                        spill=str(spill_path(self.path)))
            recovered = self._head_state() or Recovered()
        recovered = self._replay_spill(recovered)
        self._thread = threading.Thread(target=self._run, name="journal-writer", daemon=True)
        self._thread.start()
        return recovered

    def close(self, timeout: float = 10.0) -> int:
        """Write what is queued and stop. Returns the number of rows that are neither in
        the journal nor in the spill file (lost with the process)."""
        if self._thread is None:
            return 0
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None
        if self.spill is not None:
            self.spill.close()
        return self.lost

    # -- appending ----------------------------------------------------------------------
    def append(self, kind: str, activation: str | None = None, **data: Any) -> str:
        """Queue one row; returns its timestamp.

        Every row carries `mono`, the seconds since the machine booted (CLOCK_BOOTTIME,
        which no one can set and which counts through suspend): with the boot id in the
        `controller_started` row, an inspector sees the order and the true time between
        rows even across a jump of the wall clock."""
        ts = data.pop("ts", None) or now_iso()
        data.setdefault("mono", round(time.clock_gettime(time.CLOCK_BOOTTIME), 3))
        payload = json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)
        with self._lock:
            self._accepted += 1
            self._queue.put((self._accepted, ts, kind, activation, payload))
        return ts

    @property
    def accepted(self) -> int:
        """The ticket of the newest row appended."""
        return self._accepted

    def durable(self, ticket: int | None = None) -> Future[str]:
        """Resolves with "journal" once every row up to `ticket` is committed, or with
        "spill" once they are at least in the spill file (both survive kill -9)."""
        fut: Future[str] = Future()
        with self._lock:
            ticket = self._accepted if ticket is None else ticket
            where = self._where(ticket)
            if where is None:
                self._waiters.append((ticket, fut))
        if where is not None:
            fut.set_result(where)
        return fut

    def _where(self, ticket: int) -> str | None:
        if self._committed_ticket >= ticket:
            return "journal"
        if self._spilled_ticket >= ticket:
            return "spill"
        return None

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything appended so far is committed to the journal."""
        deadline = time.monotonic() + timeout
        target = self._accepted
        while self._committed_ticket < target:
            fut = self.durable(target)
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                fut.result(min(left, 0.2))
            if self._committed_ticket < target:
                time.sleep(min(0.01, max(0.0, deadline - time.monotonic())))
        return True

    @property
    def backlog(self) -> int:
        """Rows accepted but not yet committed."""
        return self._accepted - self._committed_ticket

    @property
    def fingerprint(self) -> str | None:
        return self.signer.fingerprint if self.signer else None

    def fault_text(self) -> str:
        """Why the newest rows are not in the journal (for a reply)."""
        for key in (WRITE_FAULT, SPILL_FAULT):
            if key in self._faults:
                code, params = self._faults[key]
                return params.get("error", code)
        return "the journal did not confirm the write in time"

    def _resolve(self) -> None:
        with self._lock:
            keep = []
            for ticket, fut in self._waiters:
                where = self._where(ticket)
                if where is None:
                    keep.append((ticket, fut))
                elif not fut.done():
                    fut.set_result(where)
            self._waiters = keep

    # -- opening: check, recover, or move the damage aside --------------------------------
    def _open_files(self) -> Recovered:
        head = read_json(head_path(self.path))
        archived = archived_segments(self.path)
        self._segment = (archived[-1][0] + 1) if archived else 1
        before = self._archived_tail(archived)
        problems: list[str] = []
        found: dict[str, Any] = {"first_bad": None, "good": before, "rows": 0,
                                 "segment_state": None, "first_ts": None}
        if self.path.exists():
            try:
                self._check_live(before, found, problems)
            except sqlite3.DatabaseError as exc:
                problems.append(f"the live segment cannot be read: {exc}")
        elif head and int(head.get("seq", 0) or 0) > before[0]:
            problems.append(f"the live segment {self.path.name} is missing")
        head_ok = self._check_head(head, found, problems)
        self._check_witness(found, problems, archived)
        if problems:
            return self._recover_from_damage(problems, head if head_ok else None, found)
        if not self.path.exists():
            self._new_segment("first" if not archived else "rotation", before, Recovered())
            return self._state.copy()
        self._conn = self._open_live()
        self._seq, self._prev = found["good"]
        self._segment_year = self._year(found["first_ts"]) if found["first_ts"] else None
        state = self._state_from(head if head_ok else None, found)
        self._state = state
        if head is None or "state" not in head or head_ok is False:
            self._head_dirty = True
        return state.copy()

    def _archived_tail(self, archived: list[tuple[int, Path]]) -> tuple[int, str]:
        """(seq, hash) of the last row of the newest closed segment."""
        if not archived:
            return (0, GENESIS)
        conn = connect(archived[-1][1], readonly=True)
        try:
            last = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        except sqlite3.DatabaseError:
            return (0, GENESIS)
        finally:
            conn.close()
        if not last:
            return (0, GENESIS)
        return (int(last[0]), last[1].decode() if isinstance(last[1], bytes) else last[1])

    def _check_live(self, before: tuple[int, str], found: dict[str, Any],
                    problems: list[str]) -> None:
        """Walk the live segment's chain (its size is bounded by rotation)."""
        conn = connect(self.path, readonly=True)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise JournalDamaged(f"written by a newer dabyl (schema {version})")
            tables = {text(r[0]) for r in
                      conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "events" not in tables:
                if tables:
                    problems.append("the live segment is not a journal")
                return
            expected_seq, prev = before[0] + 1, before[1]
            for seq, ts, kind, act, data, stored_prev, stored_hash in iter_raw(conn):
                stored_prev = stored_prev.decode() if isinstance(stored_prev, bytes) else stored_prev
                stored_hash = stored_hash.decode() if isinstance(stored_hash, bytes) else stored_hash
                reason = None
                if seq != expected_seq:
                    reason = f"row {expected_seq} is missing (the next row is {seq})"
                elif stored_prev != prev:
                    reason = f"row {seq} does not follow row {seq - 1}"
                elif row_hash(seq, ts, kind, act, data, stored_prev) != stored_hash:
                    reason = f"row {seq} was changed or damaged after it was written"
                else:
                    try:
                        (data.decode() if isinstance(data, bytes) else data)
                        (ts.decode() if isinstance(ts, bytes) else ts)
                    except UnicodeDecodeError:
                        reason = f"row {seq} is damaged"
                if reason:
                    found["first_bad"] = expected_seq if seq != expected_seq else seq
                    problems.append(reason)
                    return
                if found["first_ts"] is None:
                    found["first_ts"] = ts.decode() if isinstance(ts, bytes) else ts
                if kind in (b"segment", "segment"):
                    found["segment_state"] = (seq, to_row(seq, ts, kind, act, data).data.get("state"))
                prev = stored_hash
                expected_seq = seq + 1
                found["good"] = (seq, stored_hash)
                found["rows"] += 1
            if "seal" in tables:
                seal = conn.execute("SELECT seq, hash, ts, key, sig FROM seal WHERE id=1").fetchone()
                if seal:
                    found["seal"] = tuple(v.decode() if isinstance(v, bytes) else v for v in seal)
            integrity = conn.execute("PRAGMA quick_check").fetchone()[0]
            integrity = integrity.decode() if isinstance(integrity, bytes) else integrity
            if integrity != "ok":
                problems.append(f"the live segment's pages are damaged: {integrity}")
        finally:
            conn.close()

    def _check_head(self, head: dict[str, Any] | None, found: dict[str, Any],
                    problems: list[str]) -> bool | None:
        """Compare the head with the rows. True: a good signed head; None: an old,
        unsigned head; False: none usable."""
        last_seq, last_hash = found["good"]
        if head is None:
            if found["rows"] and not self._sealed(found, last_seq, last_hash):
                problems.append("the head record is missing")
            return False
        if "unreadable" in head:
            problems.append("the head record is unreadable")
            return False
        try:
            seq, digest_ = int(head["seq"]), str(head["hash"])
        except (KeyError, TypeError, ValueError):
            problems.append("the head record is unreadable")
            return False
        signed: bool | None = None
        if "sig" in head:
            signed = self._head_signature_ok(head)
            if not signed:
                problems.append("the head's signature does not match")
                return False
        if found["first_bad"] is not None:
            return signed
        if seq > last_seq:
            problems.append(f"rows {last_seq + 1}..{seq} are missing: the file was truncated "
                            "or its write-ahead log was lost")
        elif seq == last_seq and digest_ != last_hash:
            problems.append(f"row {seq} does not match the head")
        elif seq < last_seq and not (signed is None and not self.signer) \
                and not self._sealed(found, last_seq, last_hash):
            problems.append(f"rows {seq + 1}..{last_seq} after the head were not signed by this "
                            "controller")
        return signed

    def _head_signature_ok(self, head: dict[str, Any]) -> bool:
        if self.signer is None:
            return True  # nothing to check with; verify will
        state = head.get("state")
        payload = signing.message("head", int(head["seq"]), str(head["hash"]), str(head.get("ts")),
                                  digest(state) if isinstance(state, dict) else "")
        return signing.check(self.signer.public, str(head.get("sig", "")), payload)

    def _sealed(self, found: dict[str, Any], seq: int, digest_: str) -> bool:
        seal = found.get("seal")
        if not seal or self.signer is None:
            return False
        s_seq, s_hash, s_ts, _key, sig = seal
        return (int(s_seq) == seq and s_hash == digest_ and signing.check(
            self.signer.public, sig, signing.message("seal", seq, digest_, s_ts)))

    def _check_witness(self, found: dict[str, Any], problems: list[str],
                       archived: list[tuple[int, Path]]) -> None:
        if self.signer is None:
            return
        witness = self.signer.witness()
        if not witness:
            return
        try:
            w_seq, w_hash = int(witness["seq"]), str(witness["hash"])
        except (KeyError, TypeError, ValueError):
            return
        last_seq = found["good"][0]
        if found["first_bad"] is not None:
            return
        if w_seq > last_seq:
            problems.append(f"the journal ends at row {last_seq} but this controller signed row "
                            f"{w_seq}: it was rolled back or replaced by an older copy")
            return
        stored = _hash_at(self.path, archived, w_seq)
        if stored is not None and stored != w_hash:
            problems.append(f"row {w_seq} is not the row this controller signed: the journal "
                            "was replaced")

    def _state_from(self, head: dict[str, Any] | None, found: dict[str, Any]) -> Recovered:
        """The last good snapshot, brought up to the last good row."""
        good_seq = found["good"][0]
        if head is not None and isinstance(head.get("state"), dict) and int(head["seq"]) <= good_seq:
            state = Recovered.from_json(head["state"])
            start = int(head["seq"])
        elif found["segment_state"] is not None and isinstance(found["segment_state"][1], dict):
            state = Recovered.from_json(found["segment_state"][1])
            start = found["segment_state"][0] - 1
        else:
            # An older journal without snapshots: read it once (the next head has one).
            state = Recovered()
            start = 0
        if start < good_seq:
            for row in iter_rows(self.path, "seq > ? AND seq <= ?", (start, good_seq)):
                state.fold(row)
        return state

    def _head_state(self) -> Recovered | None:
        head = read_json(head_path(self.path))
        if head and isinstance(head.get("state"), dict) and self._head_signature_ok(head):
            return Recovered.from_json(head["state"])
        return None

    def _recover_from_damage(self, problems: list[str], head: dict[str, Any] | None,
                             found: dict[str, Any]) -> Recovered:
        good_seq, good_hash = found["good"]
        new = self.path.with_name(self.path.name + ".new")
        for stale in (new, new.with_name(new.name + "-wal"), new.with_name(new.name + "-shm")):
            stale.unlink(missing_ok=True)
        salvaged = 0
        if self.path.exists() and found["rows"]:
            salvaged = self._salvage(new, good_seq)
        # Evidence: moved aside, never written again.
        when = stamp()
        moved = []
        for file in (self.path, self.path.with_name(self.path.name + "-wal"),
                     self.path.with_name(self.path.name + "-shm"), head_path(self.path)):
            if file.exists():
                target = file.with_name(f"{file.name}.damaged-{when}")
                os.replace(file, target)
                private(target, 0o440)
                moved.append(target.name)
        fsync_dir(self.path.parent)
        if head is not None and isinstance(head.get("state"), dict):
            state = Recovered.from_json(head["state"])
            snapshot = f"the head (row {head['seq']})"
            if int(head["seq"]) < good_seq and new.exists():
                for row in iter_rows(new, "seq > ?", (int(head["seq"]),)):
                    state.fold(row)
        elif new.exists():
            found_state = found["segment_state"]
            if found_state and isinstance(found_state[1], dict):
                state = Recovered.from_json(found_state[1])
                rows = iter_rows(new, "seq >= ?", (found_state[0],))
            else:
                state, rows = Recovered(), iter_rows(new)
            for row in rows:
                state.fold(row)
            snapshot = f"the rows up to row {good_seq}"
        else:
            state = Recovered()
            snapshot = "nothing (no good snapshot)"
        lost_to = int(head["seq"]) if head is not None else None
        if salvaged:
            os.replace(new, self.path)
            self._conn = self._open_live()
            self._seq, self._prev = good_seq, good_hash
            self._state = state
            self._segment_year = self._year(found["first_ts"]) if found["first_ts"] else None
        else:
            self._new_segment("damage", (good_seq, good_hash), state)
        self.damage = {
            "problems": problems,
            "first_bad_row": found["first_bad"] if found["first_bad"] is not None else good_seq + 1,
            "last_good": {"seq": good_seq, "hash": good_hash},
            "lost": {"from": good_seq + 1, "to": lost_to} if lost_to and lost_to > good_seq else None,
            "moved": moved,
            "resumed_from": snapshot,
        }
        self.append("journal_damaged", **self.damage)
        self._fault(DAMAGE_FAULT, "journal_damaged", problem=problems[0],
                    row=self.damage["first_bad_row"], moved=", ".join(moved) or "—",
                    snapshot=snapshot)
        return state.copy()

    def _salvage(self, new: Path, good_seq: int) -> int:
        """Copy rows 1..good_seq, byte for byte, into a new file."""
        src = connect(self.path, readonly=True)
        dst = connect(new)
        count = 0
        try:
            dst.executescript(SCHEMA)
            dst.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            dst.execute("BEGIN")
            batch = []
            for row in iter_raw(src, "seq <= ?", (good_seq,)):
                batch.append(tuple(v.decode() if isinstance(v, bytes) else v for v in row))
                if len(batch) >= 2000:
                    dst.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
                    count += len(batch)
                    batch = []
            dst.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
            count += len(batch)
            dst.execute("COMMIT")
            dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            log.warning("salvage stopped: %s", exc)
            with contextlib.suppress(sqlite3.Error):
                dst.execute("ROLLBACK")
            count = 0
        finally:
            src.close()
            dst.close()
        if not count:
            for file in (new, new.with_name(new.name + "-wal"), new.with_name(new.name + "-shm")):
                file.unlink(missing_ok=True)
        return count

    def _open_live(self) -> sqlite3.Connection:
        conn = connect(self.path, busy=BUSY_SECONDS)
        conn.executescript(SCHEMA)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        for suffix in ("", "-wal", "-shm"):
            private(self.path.with_name(self.path.name + suffix))
        return conn

    def _new_segment(self, reason: str, follows: tuple[int, str], state: Recovered) -> None:
        """Start the live segment: its first row follows `follows` and carries the
        snapshot of what is open, so any segment is enough to resume from."""
        self._conn = self._open_live()
        self._seq, self._prev = follows
        self._state = state
        self._segment_year = None
        data = {"number": self._segment, "reason": reason,
                "follows": {"seq": follows[0], "hash": follows[1]}, "state": state.to_json()}
        ts = now_iso()
        payload = json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)
        seq = follows[0] + 1
        planned = Planned(0, seq, ts, "segment", None, payload, follows[1],
                          row_hash(seq, ts, "segment", None, payload, follows[1]))
        self._commit([planned])
        self._committed([planned])

    # -- spill replay ---------------------------------------------------------------------
    def _replay_spill(self, recovered: Recovered) -> Recovered:
        """Rows spilled before the last stop go back into the queue (once)."""
        if self.spill is None or not self.spill.records:
            return recovered
        have: set[tuple] = set()
        if self._conn is not None:
            for _seq, ts, kind, act, data, _p, _h in iter_raw(self._conn, "seq > ?",
                                                              (self.spill.base,)):
                have.add((ts, kind, act, data))
        out = recovered.copy()
        seq = self._seq
        for record in self.spill.records:
            identity = (record["ts"], record["kind"], record.get("activation"), record["data"])
            if identity in have:
                continue
            have.add(identity)
            with self._lock:
                self._accepted += 1
                self._queue.put((self._accepted, *identity))
            seq += 1
            out.fold(to_row(seq, *identity))
        return out

    # -- the worker -------------------------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.2
        retry_at: float | None = None
        stopping = False
        try:
            while True:
                timeout = self._wait_for(retry_at)
                items, stop = self._take(block=not self._planned or retry_at is not None,
                                         timeout=timeout)
                stopping = stopping or stop
                self._plan(items)
                if self._planned and (retry_at is None or items or stopping
                                      or time.monotonic() >= retry_at):
                    if self._write():
                        backoff, retry_at = 0.2, None
                    else:
                        retry_at = time.monotonic() + backoff
                        backoff = min(backoff * 2, 5.0)
                elif not self._planned:
                    self._maybe_checkpoint(timer=True)
                if self._head_dirty and self._conn is not None and not self._planned:
                    self._write_head()
                if stopping:
                    break
        finally:
            self.lost = sum(1 for p in self._planned if not p.spilled)
            if self.lost:
                log.error("%d journal rows could not be written anywhere", self.lost)
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.close()
                self._conn = None

    def _wait_for(self, retry_at: float | None) -> float | None:
        waits = []
        if retry_at is not None:
            waits.append(max(0.0, retry_at - time.monotonic()))
        if self._since_checkpoint:
            waits.append(max(0.0, self._checkpoint_at + self.checkpoint_seconds - time.monotonic()))
        return min(waits) if waits else None

    def _take(self, block: bool, timeout: float | None) -> tuple[list[tuple], bool]:
        items: list[tuple] = []
        try:
            item = self._queue.get(block=block, timeout=timeout) if block else self._queue.get_nowait()
        except queue.Empty:
            return items, False
        while True:
            if item is None:
                return items, True
            items.append(item)
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return items, False

    def _plan(self, items: list[tuple]) -> None:
        for ticket, ts, kind, activation, payload in items:
            seq, prev = (self._planned[-1].seq, self._planned[-1].hash) if self._planned \
                else (self._seq, self._prev)
            seq += 1
            self._planned.append(Planned(ticket, seq, ts, kind, activation, payload, prev,
                                         row_hash(seq, ts, kind, activation, payload, prev)))

    def _rechain(self, start: int = 0) -> None:
        """Number and chain planned rows again from `start` (after a checkpoint or a new
        segment came before them); whether they are in the spill file is kept."""
        for i in range(start, len(self._planned)):
            p = self._planned[i]
            seq, prev = (self._planned[i - 1].seq, self._planned[i - 1].hash) if i \
                else (self._seq, self._prev)
            p.seq, p.prev = seq + 1, prev
            p.hash = row_hash(p.seq, p.ts, p.kind, p.activation, p.payload, prev)

    def _write(self) -> bool:
        """Commit what is planned (a year's rows into that year's segment); on failure
        spill it. True when everything planned is committed."""
        try:
            if self._conn is None:
                self._conn = self._open_live()
            while self._planned:
                batch = self._rotate_if_due()
                batch = self._with_checkpoint(batch)
                self._commit(batch)
                self._committed(batch)
        except (sqlite3.Error, OSError) as exc:
            self._fault(WRITE_FAULT, "journal_write_failed", error=str(exc),
                        spill=str(spill_path(self.path)))
            self._spill_planned()
            if isinstance(exc, sqlite3.DatabaseError) and not isinstance(
                    exc, sqlite3.OperationalError):
                with contextlib.suppress(sqlite3.Error):
                    if self._conn is not None:
                        self._conn.close()
                self._conn = None
            return False
        self._clear(WRITE_FAULT)
        self._clear(SPILL_FAULT)
        if self.spill is not None and self.spill.records:
            try:
                self.spill.reset(self._seq)
            except OSError as exc:
                log.warning("spill file reset failed: %s", exc)
        return True

    def _rotate_if_due(self) -> list[Planned]:
        """The rows of the current segment's year; rotates first when the segment is full
        or the year has turned."""
        first_year = self._year(self._planned[0].ts)
        size = _size(self.path) + _size(self.path.with_name(self.path.name + "-wal"))
        if self._seq and (size >= self.segment_bytes
                          or (self._segment_year is not None and first_year != self._segment_year)):
            self._rotate("year" if first_year != self._segment_year else "size")
        if self._segment_year is None:
            self._segment_year = first_year
        batch = []
        for p in self._planned[:MAX_BATCH]:
            if self._year(p.ts) != self._segment_year:
                break
            batch.append(p)
        return batch

    def _with_checkpoint(self, batch: list[Planned]) -> list[Planned]:
        """A signed checkpoint row every N rows (the periodic one is added by the timer)."""
        if self.signer is None:
            return batch
        batch = batch[:max(1, self.checkpoint_rows - self._since_checkpoint)]
        if self._since_checkpoint + len(batch) < self.checkpoint_rows:
            return batch
        last = batch[-1]
        cp = self._checkpoint_row(last.seq, last.hash)
        self._planned.insert(len(batch), cp)
        self._rechain(len(batch) + 1)  # rows planned after this batch follow the checkpoint
        return batch + [cp]

    def _checkpoint_row(self, seq: int, digest_: str) -> Planned:
        assert self.signer is not None
        ts = now_iso()
        data = {"signs": {"seq": seq, "hash": digest_}, "key": self.signer.fingerprint,
                "sig": self.signer.sign(signing.message("checkpoint", seq, digest_, ts))}
        payload = json.dumps(data, sort_keys=True)
        return Planned(0, seq + 1, ts, "checkpoint", None, payload, digest_,
                       row_hash(seq + 1, ts, "checkpoint", None, payload, digest_))

    def _maybe_checkpoint(self, timer: bool) -> None:
        """At least one checkpoint a minute while rows are written."""
        if (self.signer is None or not self._since_checkpoint or self._conn is None
                or time.monotonic() - self._checkpoint_at < self.checkpoint_seconds):
            return
        cp = self._checkpoint_row(self._seq, self._prev)
        try:
            self._commit([cp])
        except (sqlite3.Error, OSError):
            self._checkpoint_at = time.monotonic()  # tried; the next rows try again
            return
        self._committed([cp])

    def _commit(self, batch: list[Planned]) -> None:
        conn = self._conn
        if conn is None:
            raise OSError("the journal is not open")
        last = batch[-1]
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("INSERT INTO events (seq, ts, kind, activation, data, prev, hash) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)", [p.tuple() for p in batch])
            if self.signer is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO seal (id, seq, hash, ts, key, sig) "
                    "VALUES (1, ?, ?, ?, ?, ?)",
                    (last.seq, last.hash, last.ts, self.signer.fingerprint,
                     self.signer.sign(signing.message("seal", last.seq, last.hash, last.ts))))
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    def _committed(self, batch: list[Planned]) -> None:
        """After a commit: nothing in `batch` is ever written again."""
        last = batch[-1]
        self._seq, self._prev = last.seq, last.hash
        for p in batch:
            self._state.fold(p.row())
            if p.kind == "checkpoint":
                self._since_checkpoint = 0
                self._checkpoint_at = time.monotonic()
            else:
                self._since_checkpoint += 1
        tickets = [p.ticket for p in batch if p.ticket]
        done = {id(p) for p in batch}
        self._planned = [p for p in self._planned if id(p) not in done]
        self._write_head()  # before anyone is told: a reply implies a current snapshot
        if tickets:
            with self._lock:
                self._committed_ticket = max(self._committed_ticket, max(tickets))
        self._resolve()

    def _write_head(self) -> None:
        state = self._state.to_json()
        ts = now_iso()
        head: dict[str, Any] = {"version": 2, "seq": self._seq, "hash": self._prev, "ts": ts,
                                "segment": self._segment, "state": state}
        if self.signer is not None:
            head["key"] = self.signer.fingerprint
            head["sig"] = self.signer.sign(signing.message("head", self._seq, self._prev, ts,
                                                           digest(state)))
        try:
            write_atomic(head_path(self.path), canonical(head))
        except OSError as exc:
            # The rows are committed; only the head lags. Retried, never re-committed.
            self._head_dirty = True
            self._fault(HEAD_FAULT, "journal_head_failed", path=str(head_path(self.path)),
                        error=str(exc))
            return
        self._head_dirty = False
        self._clear(HEAD_FAULT)
        if self.signer is not None:
            try:
                self.signer.remember(self._seq, self._prev, ts)
            except OSError as exc:
                log.warning("cannot note the last signed row beside the key: %s", exc)

    def _spill_planned(self) -> None:
        todo = [p for p in self._planned if not p.spilled]
        if not todo:
            return
        if self.spill is None:
            self._fault(SPILL_FAULT, "journal_spill_failed", path=str(spill_path(self.path)),
                        error="the spill file could not be opened")
            return
        records = [{"ts": p.ts, "kind": p.kind, "activation": p.activation, "data": p.payload}
                   for p in todo]
        try:
            self.spill.append(records)
        except OSError as exc:
            self._fault(SPILL_FAULT, "journal_spill_failed", path=str(self.spill.path),
                        error=str(exc))
            return
        for p in todo:
            p.spilled = True
        tickets = [p.ticket for p in todo if p.ticket]
        if tickets:
            with self._lock:
                self._spilled_ticket = max(self._spilled_ticket, max(tickets))
        self._resolve()

    def _rotate(self, reason: str) -> None:
        """Close the live segment (sealed by a checkpoint), keep it read-only under its
        number, and start the next one chained to it."""
        assert self._conn is not None
        if self.signer is not None and self._since_checkpoint:
            cp = self._checkpoint_row(self._seq, self._prev)
            self._commit([cp])
            self._committed([cp])
            self._rechain()
        busy = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if busy:
            return  # a reader holds the log; rotate at the next batch
        self._conn.close()
        self._conn = None
        target = archive_path(self.path, self._segment)
        os.replace(self.path, target)
        for suffix in ("-wal", "-shm"):
            self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
        private(target, 0o440)
        fsync_dir(self.path.parent)
        self._segment += 1
        self._new_segment(reason, (self._seq, self._prev), self._state)
        self._rechain()

    def _year(self, ts: str) -> int:
        try:
            return datetime.fromisoformat(ts).astimezone(self.tz).year
        except ValueError:
            return 0

    # -- faults ---------------------------------------------------------------------------
    def _fault(self, key: str, code: str, **params: Any) -> None:
        if self._faults.get(key) == (code, params):
            return  # an outage is reported once, not at every retry
        self._faults[key] = (code, params)
        log.warning("journal: %s %s", code, params)
        try:
            self._on_fault(key, code, params)
        except Exception:  # noqa: BLE001 - a listener must never stop the writer
            log.exception("journal fault listener failed")

    def _clear(self, key: str) -> None:
        if self._faults.pop(key, None) is None:
            return
        try:
            self._on_fault(key, None, {})
        except Exception:  # noqa: BLE001
            log.exception("journal fault listener failed")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _hash_at(path: Path, archived: list[tuple[int, Path]], seq: int) -> str | None:
    for file in [path] + [p for _, p in reversed(archived)]:
        if not file.exists():
            continue
        try:
            conn = connect(file, readonly=True)
            try:
                found = conn.execute("SELECT hash FROM events WHERE seq=?", (seq,)).fetchone()
            finally:
                conn.close()
        except sqlite3.DatabaseError:
            continue
        if found:
            return found[0].decode() if isinstance(found[0], bytes) else found[0]
    return None
