"""`dabyl journal verify`: the chain, the signatures, the head, and what was recorded.

Every segment is read in order as one chain. A row must follow the one before (its
number and the previous row's hash) and hash to what it says. Each signed checkpoint
must match the row it signs; the seal of each segment and the head must match the
newest row, signed. A row is trusted only up to the last good signature: an edit made
with the chain recomputed shows up as a checkpoint, seal or head that no longer matches,
and the first row after the last good signature is named. Damage the controller found
and recorded at a start (`journal_damaged`) is reported too: rows lost are lost.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from controller.journal import signing
from controller.journal.state import digest
from controller.journal.store import (
    GENESIS,
    connect,
    damaged_files,
    head_path,
    iter_raw,
    public_key_path,
    read_json,
    row_hash,
    segment_files,
    text,
)


@dataclass
class Verdict:
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    first_bad: int | None = None
    first: int | None = None
    last: int | None = None
    signed_to: int = 0
    keys: dict[str, str] = field(default_factory=dict)  # fingerprint → how it was used
    head: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def fail(self, problem: str, row: int | None = None) -> None:
        self.ok = False
        self.problems.append(problem)
        if row is not None and (self.first_bad is None or row < self.first_bad):
            self.first_bad = row

    @property
    def count(self) -> int:
        return 0 if self.first is None or self.last is None else self.last - self.first + 1

    def summary(self) -> str:
        rows = f"rows {self.first}..{self.last}" if self.first is not None else "no rows"
        if self.ok:
            keys = ", ".join(self.keys) or "no key"
            return f"verified, signed by {keys}, {rows}"
        where = f"first bad row: {self.first_bad}" if self.first_bad is not None else rows
        return f"NOT VERIFIED ({where}): {self.problems[0]}"


def verify(path: Path, public_keys: list[Ed25519PublicKey] | None = None,
           anchor: tuple[int, str] | None = None,
           witness: dict[str, Any] | None = None) -> Verdict:
    """Check every segment of the journal at `path`.

    `public_keys`: the keys whose signatures count (the site key, or a key an inspector
    brought); without any, the key stored beside the journal is used and said so.
    `anchor`: a (seq, hash) printed earlier that the journal must still contain.
    `witness`: the last row the site key signed (kept beside the private key).
    """
    v = Verdict()
    files = segment_files(path)
    if public_keys is None:
        stored = public_key_path(path)
        if stored.exists():
            try:
                public_keys = [signing.load_public(stored)]
            except signing.KeyError_ as exc:
                v.fail(str(exc))
                return v
            v.notes.append(f"checked with the public key stored beside the journal "
                           f"({signing.fingerprint(public_keys[0])}); compare it with the "
                           "fingerprint on your paper records, or pass --public-key")
    keys = {signing.fingerprint(k): k for k in (public_keys or [])}
    if not files:
        v.fail(f"{path}: no journal here")
        return v
    prev_seq, prev_hash = 0, GENESIS
    last_signed_seq = 0  # the newest row covered by a good signature so far
    hashes_for: dict[int, str] = {}
    wanted = {s for s in ((anchor[0] if anchor else None),
                          (int(witness["seq"]) if witness else None)) if s is not None}
    damage_rows: list[tuple[int, dict[str, Any]]] = []
    stop = False
    for file in files:
        if stop:
            break
        try:
            conn = connect(file, readonly=True)
            integrity = text(conn.execute("PRAGMA quick_check").fetchone()[0])
            if integrity != "ok":
                v.fail(f"{file.name}: damaged pages ({integrity})", prev_seq + 1)
            rows = iter_raw(conn)
            for seq, ts, kind, act, data, stored_prev, stored_hash in rows:
                stored_prev, stored_hash = text(stored_prev), text(stored_hash)
                if v.first is None:
                    v.first = seq
                    if seq == 1 and stored_prev != GENESIS:
                        v.fail(f"row 1 does not start the chain ({file.name})", 1)
                        stop = True
                        break
                    prev_seq, prev_hash = seq - 1, stored_prev if seq != 1 else GENESIS
                if seq != prev_seq + 1:
                    v.fail(f"row {prev_seq + 1} is missing (the next row in {file.name} is {seq})",
                           prev_seq + 1)
                    stop = True
                    break
                if stored_prev != prev_hash:
                    v.fail(f"row {seq} does not follow row {seq - 1} (chain broken, {file.name})",
                           seq)
                    stop = True
                    break
                if row_hash(seq, ts, kind, act, data, stored_prev) != stored_hash:
                    v.fail(f"row {seq}: contents were changed or damaged after it was written ({file.name})",
                           seq)
                    stop = True
                    break
                kind_s = text(kind)
                if kind_s == "checkpoint":
                    good = _checkpoint(v, keys, seq, text(ts) or "", text(data) or "",
                                       prev_seq, prev_hash)
                    if good:
                        last_signed_seq = prev_seq
                    elif good is False:
                        v.fail(f"rows {last_signed_seq + 1}..{prev_seq} do not match the signature "
                               f"of checkpoint row {seq}: changed after they were signed",
                               last_signed_seq + 1)
                        stop = True
                        break
                elif kind_s == "journal_damaged":
                    try:
                        damage_rows.append((seq, json.loads(text(data) or "{}")))
                    except ValueError:
                        damage_rows.append((seq, {}))
                if seq in wanted:
                    hashes_for[seq] = stored_hash
                prev_seq, prev_hash = seq, stored_hash
                v.last = seq
            if not stop:
                seal = _seal(conn)
                if seal is not None and seal["seq"] > prev_seq:
                    v.fail(f"the seal of {file.name} names row {seal['seq']} but it ends at row "
                           f"{prev_seq}: rows {prev_seq + 1}..{seal['seq']} were cut off",
                           prev_seq + 1)
                    stop = True
                elif seal is not None:
                    result = _check_sealish(v, keys, "seal", seal, conn, file.name)
                    if result is False:
                        v.fail(f"the seal of {file.name} (row {seal['seq']}) does not match: rows "
                               f"{last_signed_seq + 1}.. were changed after they were signed",
                               last_signed_seq + 1)
                        stop = True
                    elif result and int(seal["seq"]) > last_signed_seq:
                        last_signed_seq = int(seal["seq"])
            conn.close()
        except sqlite3.DatabaseError as exc:
            v.fail(f"{file.name} cannot be read: {exc}", prev_seq + 1)
            stop = True
    _check_head(v, keys, path, prev_seq, prev_hash, last_signed_seq, stop)
    if not stop and v.last is not None and v.ok:
        signed_to = max(last_signed_seq, v.signed_to)
        if signed_to < v.last:
            v.fail(f"rows {signed_to + 1}..{v.last} are not covered by any signature",
                   signed_to + 1)
    for seq, damage in damage_rows:
        lost = damage.get("lost") or {}
        what = "; ".join(damage.get("problems") or ["damage"])
        lost_text = (f"rows {lost.get('from')}..{lost.get('to')} were lost; "
                     if lost.get("to") else "")
        v.fail(f"damage recorded at row {seq}: {what}; {lost_text}first bad row "
               f"{damage.get('first_bad_row')}; the damaged files were kept as "
               f"{', '.join(damage.get('moved') or []) or '—'}")
    for file in damaged_files(path):
        v.notes.append(f"evidence kept: {file.name}")
    if anchor is not None:
        seq, wanted_hash = anchor
        found = hashes_for.get(seq)
        if found is None:
            v.fail(f"anchor row {seq} is not in the journal", seq)
        elif not found.startswith(wanted_hash.lower()) or len(wanted_hash) < 16:
            v.fail(f"row {seq} is not the row anchored on paper (hash {found[:16]}…, anchor "
                   f"{wanted_hash[:16]}…): history up to it was changed", seq)
        else:
            v.notes.append(f"anchor row {seq} matches: the history up to it is the anchored one")
    if witness is not None and not stop:
        w_seq, w_hash = int(witness["seq"]), str(witness["hash"])
        if v.last is None or w_seq > v.last:
            v.fail(f"the site key signed row {w_seq}, but the journal ends at row {v.last}: it "
                   "was rolled back or replaced by an older copy", (v.last or 0) + 1)
        elif hashes_for.get(w_seq) != w_hash and not damage_rows:
            v.fail(f"row {w_seq} is not the row the site key signed: the journal was replaced",
                   w_seq)
    v.signed_to = max(v.signed_to, last_signed_seq)
    return v


def _checkpoint(v: Verdict, keys: dict[str, Ed25519PublicKey], seq: int, ts: str, data: str,
                prev_seq: int, prev_hash: str) -> bool | None:
    try:
        body = json.loads(data)
        signs = body["signs"]
        fp, sig = str(body["key"]), str(body["sig"])
        s_seq, s_hash = int(signs["seq"]), str(signs["hash"])
    except (ValueError, KeyError, TypeError):
        return False
    if (s_seq, s_hash) != (prev_seq, prev_hash):
        return False
    key = keys.get(fp)
    if key is None:
        v.fail(f"checkpoint row {seq} is signed by key {fp}, not by "
               f"{', '.join(keys) or 'the key given'}", seq)
        return None
    if not signing.check(key, sig, signing.message("checkpoint", s_seq, s_hash, ts)):
        return False
    v.keys.setdefault(fp, "checkpoints")
    return True


def _seal(conn: sqlite3.Connection) -> dict[str, Any] | None:
    try:
        row = conn.execute("SELECT seq, hash, ts, key, sig FROM seal WHERE id=1").fetchone()
    except sqlite3.OperationalError:
        return None  # an older segment written before seals
    if row is None:
        return None
    seq, digest_, ts, key, sig = (text(x) if not isinstance(x, int) else x for x in row)
    return {"seq": int(seq), "hash": digest_, "ts": ts, "key": key, "sig": sig}


def _check_sealish(v: Verdict, keys: dict[str, Ed25519PublicKey], purpose: str,
                   seal: dict[str, Any], conn: sqlite3.Connection, name: str) -> bool | None:
    row = conn.execute("SELECT hash FROM events WHERE seq=?", (seal["seq"],)).fetchone()
    if row is None or text(row[0]) != seal["hash"]:
        return False
    key = keys.get(str(seal["key"]))
    if key is None:
        v.fail(f"the seal of {name} is signed by key {seal['key']}, not by "
               f"{', '.join(keys) or 'the key given'}", seal["seq"])
        return None
    ok = signing.check(key, str(seal["sig"]), signing.message(purpose, seal["seq"], seal["hash"],
                                                              str(seal["ts"])))
    if ok:
        v.keys.setdefault(str(seal["key"]), "seal")
    return ok


def _check_head(v: Verdict, keys: dict[str, Ed25519PublicKey], path: Path, last_seq: int,
                last_hash: str, signed_to: int, stopped: bool) -> None:
    head = read_json(head_path(path))
    v.head = head
    if head is None:
        if v.last is not None:
            v.fail("the head record is missing: nothing shows where the journal ends",
                   (v.last or 0) + 1)
        return
    try:
        seq, digest_, ts = int(head["seq"]), str(head["hash"]), str(head.get("ts", ""))
    except (KeyError, TypeError, ValueError):
        v.fail("the head record is unreadable")
        return
    if "sig" not in head:
        v.fail("the head record is not signed")
        return
    key = keys.get(str(head.get("key")))
    if key is None:
        v.fail(f"the head is signed by key {head.get('key')}, not by "
               f"{', '.join(keys) or 'the key given'}")
        return
    state = head.get("state")
    if not signing.check(key, str(head["sig"]), signing.message(
            "head", seq, digest_, ts, digest(state) if isinstance(state, dict) else "")):
        v.fail("the head's signature does not match it: the head was forged", min(seq, last_seq) + 1
               if not stopped else None)
        return
    if stopped:
        return
    if seq > last_seq:
        v.fail(f"the head names row {seq} but the journal ends at row {last_seq}: rows "
               f"{last_seq + 1}..{seq} were cut off or their write-ahead log was lost", last_seq + 1)
    elif seq < last_seq:
        v.fail(f"the head names row {seq} but the journal goes on to row {last_seq}: rows "
               f"{seq + 1}..{last_seq} are not covered by the head", seq + 1)
    elif digest_ != last_hash:
        v.fail(f"row {seq} is not the row the head names", seq)
    else:
        v.signed_to = max(v.signed_to, seq, signed_to)
        v.keys.setdefault(str(head["key"]), "head")
