"""The spill file: where rows go when the journal cannot take them.

Its space is reserved when the journal opens, so a full disk still has room for it.
Each row is written with its own checksum and fsynced before the reply that needs it.
A new generation starts (a header rewrite) once the journal holds every spilled row;
a start replays the current generation, skipping rows the journal already has.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from controller.journal.store import FILE_MODE

SPILL_BYTES = 256 * 1024
HEADER = 64


def _crc(body: bytes) -> bytes:
    return hashlib.sha256(body).hexdigest()[:16].encode()


class SpillFull(OSError):
    """No room left in the spill file."""


class Spill:
    def __init__(self, path: Path, size: int = SPILL_BYTES) -> None:
        self.path = path
        self.size = size
        self.generation = 0
        self.base = 0  # the journal's newest row when this generation began
        self.records: list[dict[str, Any]] = []
        self._fd: int | None = None
        self._end = HEADER

    def open(self) -> None:
        """Open (creating and reserving its space) and read the current generation."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        self._fd = fd
        if os.fstat(fd).st_size < self.size:
            os.posix_fallocate(fd, 0, self.size)
            os.fsync(fd)
        self._read()

    def _read(self) -> None:
        assert self._fd is not None
        data = os.pread(self._fd, self.size, 0)
        header = data[:HEADER].rstrip(b"\0 \n")
        self.records = []
        self._end = HEADER
        try:
            head = json.loads(header) if header else {}
            self.generation = int(head.get("generation", 0))
            self.base = int(head.get("base", 0))
        except (ValueError, TypeError, AttributeError):
            self.generation, self.base = 0, 0
            return
        at = HEADER
        while at < len(data):
            end = data.find(b"\n", at)
            if end < 0 or data[at] == 0:
                break
            line = data[at:end]
            parts = line.split(b" ", 2)
            if len(parts) != 3 or parts[0] != str(self.generation).encode():
                break
            if _crc(parts[2]) != parts[1]:
                break  # torn: written when the process died, never acknowledged
            try:
                self.records.append(json.loads(parts[2]))
            except ValueError:
                break
            at = end + 1
        self._end = at

    def append(self, records: list[dict[str, Any]]) -> None:
        """Write and fsync; raises OSError (SpillFull when out of room)."""
        if self._fd is None:
            raise OSError("the spill file is not open")
        blob = b"".join(self._line(r) for r in records)
        if self._end + len(blob) > self.size:
            raise SpillFull(f"the spill file {self.path} is full")
        os.pwrite(self._fd, blob, self._end)
        os.fdatasync(self._fd)
        self._end += len(blob)
        self.records.extend(records)

    def _line(self, record: dict[str, Any]) -> bytes:
        body = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
        return str(self.generation).encode() + b" " + _crc(body) + b" " + body + b"\n"

    def reset(self, base: int) -> None:
        """Everything spilled is in the journal now: start a new, empty generation."""
        if self._fd is None:
            return
        self.generation += 1
        self.base = base
        header = json.dumps({"generation": self.generation, "base": base}).encode()
        os.pwrite(self._fd, header.ljust(HEADER - 1) + b"\n", 0)
        os.fdatasync(self._fd)
        self.records = []
        self._end = HEADER

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
