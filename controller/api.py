"""The control API: JSON lines over a Unix socket (mode 0660).

Every request is one JSON object per line with an `op`; every reply is one line
`{"ok": true, ...}` or `{"ok": false, "error": "..."}` echoing the request's `id`; an
error a console may show also carries its message `code` and `params`
(controller/messages.py). A client that sends `{"op": "subscribe"}` then receives every
event as `{"event": {...}}`; with `"status": true` also the coalesced `status` events. Garbage gets an error reply and changes nothing; the operator
named in the journal is the peer's uid, read from the socket itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pwd
import socket
import struct
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from controller.errors import OperationFailed, RequestInvalid

MAX_LINE = 64 * 1024
log = logging.getLogger("dabyl.api")
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
ActId = Annotated[str, Field(min_length=1, max_length=100)]


class _Op(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: int | str | None = None


class Ping(_Op):
    op: Literal["ping"]


class Status(_Op):
    op: Literal["status"]


class Subscribe(_Op):
    op: Literal["subscribe"]
    # Consoles ask for the coalesced status events too (controller/events.py).
    status: bool = False


class Trigger(_Op):
    op: Literal["trigger"]
    scenario: Name
    drill: bool = False
    zones: list[Name] | None = None
    parameters: dict[Name, Name] = Field(default_factory=dict)


class Silence(_Op):
    op: Literal["silence"]
    activation: ActId | None = None


class Clear(_Op):
    op: Literal["clear"]
    activation: ActId | None = None
    all: bool = False


class Confirm(_Op):
    op: Literal["confirm", "decline"]
    activation: ActId


class Press(_Op):
    op: Literal["press"]
    input: Name
    hold: float = Field(default=0.3, ge=0.05, le=10)


class Tick(_Op):
    op: Literal["tick"]
    activation: ActId
    role: Literal["leader", "staff"]
    item: int = Field(ge=0, le=1000)
    done: bool = True


class Form(_Op):
    op: Literal["form"]
    activation: ActId
    answers: dict[Name, Annotated[str, Field(max_length=4000)]]


class ThreatLevel(_Op):
    op: Literal["threat_level"]
    level: Literal["normal", "raised"]


class DrillRecord(_Op):
    op: Literal["drill_record"]
    activation: ActId
    participants: int = Field(ge=0, le=100000)
    remarks: Annotated[str, Field(max_length=2000)] = ""


class Briefing(_Op):
    op: Literal["briefing"]
    person: Annotated[str, Field(min_length=1, max_length=200)]
    position: Annotated[str, Field(max_length=200)] = ""
    kind: Literal["planned", "unplanned"] = "planned"
    by: Annotated[str, Field(min_length=1, max_length=200)]
    date: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None


class Selftest(_Op):
    op: Literal["selftest"]


class Scenarios(_Op):
    op: Literal["scenarios"]


class JournalQuery(_Op):
    op: Literal["journal"]
    activation: ActId | None = None
    drill: bool | None = None
    limit: int = Field(default=200, ge=1, le=5000)


class Ack(_Op):
    op: Literal["ack"]
    fault: Annotated[str, Field(min_length=1, max_length=200)]


RequestModel = Annotated[
    Ping | Status | Subscribe | Trigger | Silence | Clear | Confirm | Press | Tick | Form | Ack
    | Scenarios | JournalQuery | Selftest | ThreatLevel | DrillRecord | Briefing,
    Field(discriminator="op"),
]
_adapter: TypeAdapter[Any] = TypeAdapter(RequestModel)
OPS = ("ping", "status", "subscribe", "trigger", "silence", "clear", "confirm", "decline",
       "press", "tick", "form", "ack", "scenarios", "journal", "selftest", "threat_level", "drill_record",
       "briefing")


def parse_request(line: bytes) -> Any:
    """Validate one request line or raise RequestInvalid with one clear reason."""
    try:
        data = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestInvalid(f"request is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RequestInvalid("request must be a JSON object")
    op = data.get("op")
    if not isinstance(op, str) or op not in OPS:
        raise RequestInvalid(f"unknown op {op!r} (known: {', '.join(OPS)})")
    try:
        return _adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "request"
        msg = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        raise RequestInvalid(f"{where}: {msg}") from None


def peer_operator(sock: socket.socket | None) -> str:
    if sock is None:
        return "unknown"
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
    except OSError:
        return "unknown"
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


class ControlServer:
    def __init__(self, controller: Any, path: Path) -> None:
        self.controller = controller
        self.path = path
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() or self.path.is_symlink():
            if await _socket_alive(self.path):
                raise OperationFailed(f"another controller is already listening on {self.path}")
            self.path.unlink()
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path),
                                                       limit=MAX_LINE)
        os.chmod(self.path, 0o660)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            # Hang up on clients so their handlers end by themselves.
            for writer in list(self._writers):
                writer.close()
            if self._clients:
                await asyncio.wait(list(self._clients), timeout=2)
            for task in list(self._clients):
                task.cancel()
            await self._server.wait_closed()
            self._server = None
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        self._writers.add(writer)
        operator = peer_operator(writer.get_extra_info("socket"))
        events: asyncio.Queue[bytes] | None = None
        forward: asyncio.Task[None] | None = None
        lock = asyncio.Lock()

        async def send(obj: dict[str, Any] | bytes) -> None:
            # Events arrive encoded once for every client; replies are encoded here.
            if not isinstance(obj, bytes):
                obj = (json.dumps(obj, ensure_ascii=False, default=str) + "\n").encode()
            async with lock:
                writer.write(obj)
                await writer.drain()

        try:
            while True:
                try:
                    line = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError as exc:
                    if exc.partial.strip():
                        await send({"ok": False, "error": "request ends without a newline"})
                    break
                except asyncio.LimitOverrunError:
                    await send({"ok": False, "error": f"request longer than {MAX_LINE} bytes"})
                    await _discard_line(reader)
                    continue
                if not line.strip():
                    continue
                request_id = None
                try:
                    request = parse_request(line)
                    request_id = request.id
                    if isinstance(request, Subscribe):
                        if events is None:
                            events = self.controller.bus.subscribe(encoded=True,
                                                                   status=request.status)
                            forward = asyncio.ensure_future(_forward(events, send))
                        reply: dict[str, Any] = {"subscribed": True}
                    else:
                        reply = await self.controller.handle(request, operator)
                    await send({"id": request_id, "ok": True, **reply})
                except OperationFailed as exc:
                    await send({"id": request_id, "ok": False, "error": str(exc),
                                **exc.coded()})
                except (ConnectionError, asyncio.CancelledError):
                    raise
                except Exception as exc:  # noqa: BLE001 - a bug must not hang up on an operator
                    log.exception("request failed")
                    await send({"id": request_id, "ok": False,
                                "error": f"internal error: {type(exc).__name__}: {exc}"})
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if events is not None:
                self.controller.bus.unsubscribe(events)
            if forward is not None:
                forward.cancel()
                await asyncio.wait([forward], timeout=1)
            writer.close()
            self._writers.discard(writer)
            self._clients.discard(task)


async def _forward(events: asyncio.Queue[bytes], send) -> None:
    while True:
        lines = [await events.get()]
        # A burst (a trigger moves many relays) goes out in one write, not one per event.
        while not events.empty():
            lines.append(events.get_nowait())
        try:
            await send(b"".join(lines))
        except ConnectionError:
            return


async def _discard_line(reader: asyncio.StreamReader) -> None:
    while True:
        try:
            await reader.readuntil(b"\n")
            return
        except asyncio.LimitOverrunError as exc:
            await reader.readexactly(exc.consumed)
        except asyncio.IncompleteReadError:
            return


async def _socket_alive(path: Path) -> bool:
    try:
        async with asyncio.timeout(1.0):
            _reader, writer = await asyncio.open_unix_connection(str(path))
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True
