"""The control API: JSON lines over a Unix socket (mode 0660).

Every request is one JSON object per line with an `op`; every reply is one line
`{"ok": true, ...}` or `{"ok": false, "error": "..."}` echoing the request's `id`; an
error a console may show also carries its message `code` and `params`
(controller/messages.py), and `"invalid": true` when the request itself was wrong
(malformed, or naming a scenario, input, choice or field that does not exist) rather
than refused in the state of the moment. A client that sends `{"op": "subscribe"}` then receives every
event as `{"event": {...}}`; with `"status": true` also the coalesced `status` events. Garbage gets an error reply and changes nothing; the operator
named in the journal is the peer's uid, read from the socket itself.

The socket is bound in a directory others cannot enter (dabyl makes it 0750 when it
makes it) and given its mode and group before it listens, so nobody connects through
a moment of loose permissions. Requests are checked strictly before any part of the
controller sees them: real booleans and dates, no control characters, bounded nesting,
size and numbers. A connection may not hold a half-sent line for long, and when the
connections reach their cap the oldest idle one makes room: a storm of clients that
say nothing never locks an operator out.
"""

from __future__ import annotations

import asyncio
import grp
import json
import logging
import math
import os
import pwd
import re
import socket
import stat
import struct
import time
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from controller.errors import OperationFailed, RequestInvalid

MAX_LINE = 64 * 1024
MAX_DEPTH = 6  # {"answers": {"k": "v"}} is three; nothing needs more than six
MAX_INT = 2**53  # what every JSON reader keeps exact
# Sent to a connection let go unanswered: nothing it sent was acted on, so it may retry.
BUSY_REPLY = b'{"ok": false, "error": "too many connections", "retry": true}\n'
log = logging.getLogger("dabyl.api")
# Requests that were well formed and named what exists, refused only because of the
# state of the moment (the alarm was cleared meanwhile): "refused", not "invalid".
REFUSED_NOW = frozenset({"no_open_activation", "not_held", "no_active_fault", "not_in_journal",
                         "not_a_drill", "input_not_simulated", "drill_recorded",
                         "real_alarm_open"})
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _plain_text(value: str) -> str:
    """Free text goes into the journal and the inspector's documents: no control
    characters (line breaks and tabs allowed) and no lone surrogates."""
    if _CONTROL.search(value):
        raise ValueError("control characters are not allowed")
    return value


def _real_date(value: str) -> str:
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError
        date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value[:40]} is not a date (YYYY-MM-DD)") from None
    return value


Text = Annotated[str, AfterValidator(_plain_text)]
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]
ActId = Annotated[Text, Field(min_length=1, max_length=100)]
RequestId = int | Annotated[Text, Field(max_length=100)] | None


class _Op(BaseModel):
    # Strict: "yes" is not a boolean and "5" is not a number.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    id: RequestId = None


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
    zones: list[Name] | None = Field(default=None, max_length=64)
    parameters: dict[Name, Name] = Field(default_factory=dict, max_length=16)


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
    answers: dict[Name, Annotated[Text, Field(max_length=4000)]] = Field(max_length=64)


class ThreatLevel(_Op):
    op: Literal["threat_level"]
    level: Literal["normal", "raised"]


class DrillRecord(_Op):
    op: Literal["drill_record"]
    activation: ActId
    participants: int = Field(ge=0, le=100000)
    remarks: Annotated[Text, Field(max_length=2000)] = ""
    # A drill is recorded once; a second record must say it is a correction.
    correct: bool = False


class Briefing(_Op):
    op: Literal["briefing"]
    person: Annotated[Text, Field(min_length=1, max_length=200)]
    position: Annotated[Text, Field(max_length=200)] = ""
    kind: Literal["planned", "unplanned"] = "planned"
    by: Annotated[Text, Field(min_length=1, max_length=200)]
    date: Annotated[str, AfterValidator(_real_date)] | None = None


class Reload(_Op):
    op: Literal["reload"]


class Selftest(_Op):
    op: Literal["selftest"]


class Scenarios(_Op):
    op: Literal["scenarios"]


class JournalQuery(_Op):
    """One page: the newest activations (before the row `before`), or one activation's
    timeline (after the row `after`); the reply says where the next page starts."""

    op: Literal["journal"]
    activation: ActId | None = None
    drill: bool | None = None
    limit: int = Field(default=200, ge=1, le=500)
    before: int | None = Field(default=None, ge=1)
    after: int | None = Field(default=None, ge=0)


class Ack(_Op):
    op: Literal["ack"]
    fault: Annotated[Text, Field(min_length=1, max_length=200)]


RequestModel = Annotated[
    Ping | Status | Subscribe | Trigger | Silence | Clear | Confirm | Press | Tick | Form | Ack
    | Scenarios | JournalQuery | Selftest | ThreatLevel | DrillRecord | Briefing | Reload,
    Field(discriminator="op"),
]
_adapter: TypeAdapter[Any] = TypeAdapter(RequestModel)
OPS = ("ping", "status", "subscribe", "trigger", "silence", "clear", "confirm", "decline",
       "press", "tick", "form", "ack", "scenarios", "journal", "selftest", "threat_level", "drill_record",
       "briefing", "reload")


def _reject_constant(name: str) -> Any:
    raise RequestInvalid(f"request holds {name}, which is not a number")


def _check_shape(value: Any, depth: int = 1) -> None:
    """Nesting and numbers a request may hold, before any model sees it."""
    if depth > MAX_DEPTH:
        raise RequestInvalid(f"request nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        for item in value.values():
            _check_shape(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_shape(item, depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise RequestInvalid("request holds a number out of range")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        raise RequestInvalid("request holds a number out of range")


def parse_request(line: bytes) -> Any:
    """Validate one request line or raise RequestInvalid with one clear reason."""
    if len(line) > MAX_LINE:
        raise RequestInvalid(f"request longer than {MAX_LINE} bytes")
    try:
        data = json.loads(line, parse_constant=_reject_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestInvalid(f"request is not valid JSON: {exc}") from None
    except RecursionError:
        raise RequestInvalid(f"request nests deeper than {MAX_DEPTH} levels") from None
    except ValueError:  # an integer of thousands of digits
        raise RequestInvalid("request holds a number out of range") from None
    if not isinstance(data, dict):
        raise RequestInvalid("request must be a JSON object")
    _check_shape(data)
    op = data.get("op")
    if not isinstance(op, str) or op not in OPS:
        shown = op if not isinstance(op, str) else _CONTROL.sub("?", op)[:40]
        raise RequestInvalid(f"unknown op {shown!r} (known: {', '.join(OPS)})")
    try:
        return _adapter.validate_python(data)
    except ValidationError as exc:
        raise RequestInvalid(_CONTROL.sub("?", _in_words(exc.errors()))) from None


# The names pydantic gives the branches of a union (`int`, `function-after[...]`) and
# dictionary keys (`[key]`) in an error's location: not fields an operator knows.
_BRANCH = re.compile(r"^(int|str|float|bool|none|[a-z-]*\[.*\])$")


def _in_words(errors: list[Any]) -> str:
    """The first problem of a request, as `field: what is wrong`, in plain words (the
    validator's own sentences name types and patterns, not the operator's mistake)."""
    first = errors[0]
    where = [str(p) for p in first["loc"][1:] if not _BRANCH.match(str(p))]
    field = ".".join(where) or "request"
    if len(first["loc"]) - 1 > len(where) and first["type"] != "string_pattern_mismatch":
        # A union (a number or text): say every kind of value it takes.
        said = [_problem(e) for e in errors
                if [str(p) for p in e["loc"][1:] if not _BRANCH.match(str(p))] == where]
        kinds = [w.removeprefix("expected ") for w in said if w.startswith("expected ")]
        if len(kinds) == len(said) and len(set(kinds)) > 1:
            return f"{field}: expected {' or '.join(dict.fromkeys(kinds))}"
    return f"{field}: {_problem(first)}"


_EXPECTED = {
    "missing": "missing", "extra_forbidden": "unknown key",
    "bool_type": "expected true or false", "bool_parsing": "expected true or false",
    "int_type": "expected a whole number", "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number", "float_type": "expected a number",
    "float_parsing": "expected a number", "string_type": "expected text",
    "list_type": "expected a list", "dict_type": "expected an object",
    "model_type": "expected an object", "model_attributes_type": "expected an object",
}


def _problem(error: Any) -> str:
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    shown = repr(value)[:40] if isinstance(value, str) else str(value)[:40]
    if kind in _EXPECTED:
        return _EXPECTED[kind]
    if kind == "value_error":
        return str(ctx.get("error", "not accepted"))
    if kind in ("too_short", "string_too_short"):
        least = ctx.get("min_length", 1)
        if least == 1:
            return "must not be empty"
        return f"at least {least} {'characters' if isinstance(value, str) else 'items'}"
    if kind in ("too_long", "string_too_long"):
        most = ctx.get("max_length")
        return f"at most {most} {'characters' if isinstance(value, str) else 'items'}"
    if kind == "string_pattern_mismatch":
        if ctx.get("pattern") == NAME_PATTERN:
            return f"{shown} is not a name (small Latin letters, digits and _)"
        return f"{shown} is not in the expected form"
    for bound, words in (("ge", "at least"), ("gt", "more than"), ("le", "at most"),
                         ("lt", "less than")):
        if bound in ctx:
            limit = ctx[bound]
            return f"must be {words} {limit:g}, not {shown}" if isinstance(limit, float) \
                else f"must be {words} {limit}, not {shown}"
    if kind == "literal_error":
        choices = ", ".join(re.findall(r"'([^']*)'", str(ctx.get("expected", ""))))
        return f"{shown} is not one of {choices}"
    return "not accepted here"


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


class _Connection:
    """One client: what the cap needs to know to pick a connection to let go."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.subscribed = False
        self.busy = False  # a request is being handled
        self.last_active = time.monotonic()

    @property
    def idle(self) -> bool:
        return not self.subscribed and not self.busy


def prepare_socket_dir(path: Path, group: str | None) -> None:
    """Make (or check) the socket's directory: new ones are 0750 whatever the umask,
    and given to the operators' group; a directory every user may write to is refused."""
    directory = path.parent
    if not directory.exists():
        directory.mkdir(parents=True, mode=0o750, exist_ok=True)
        os.chmod(directory, 0o750)  # mkdir's mode is cut by the umask; 0750 is meant
        if group is not None:
            os.chown(directory, -1, grp.getgrnam(group).gr_gid)
        return
    info = directory.stat()
    if info.st_mode & (stat.S_IWOTH | stat.S_ISVTX):
        raise OperationFailed(f"{directory}: every user may write there; "
                              "give the control socket a directory of its own")
    if group is not None and info.st_uid == os.geteuid():
        gid = grp.getgrnam(group).gr_gid
        if info.st_gid != gid:
            os.chown(directory, -1, gid)
        os.chmod(directory, stat.S_IMODE(info.st_mode) | stat.S_IXGRP)


class ControlServer:
    def __init__(self, controller: Any, path: Path, *, group: str | None = None,
                 max_clients: int = 64, line_timeout: float = 5.0) -> None:
        self.controller = controller
        self.path = path
        self.group = group
        self.max_clients = max_clients
        self.line_timeout = line_timeout
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.Task[None]] = set()
        self._connections: dict[asyncio.StreamWriter, _Connection] = {}

    async def start(self) -> None:
        prepare_socket_dir(self.path, self.group)
        if self.path.is_symlink() or self.path.exists():
            if not stat.S_ISSOCK(self.path.lstat().st_mode):
                raise OperationFailed(f"{self.path} is not a socket; it is left alone")
            if await _socket_alive(self.path):
                raise OperationFailed(f"another controller is already listening on {self.path}")
            self.path.unlink()
        # Bound, given its mode and group, and only then listening: until listen()
        # nobody can connect, so no client ever meets loose permissions.
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(self.path))
            os.chmod(self.path, 0o660)
            if self.group is not None:
                os.chown(self.path, -1, grp.getgrnam(self.group).gr_gid)
            self._server = await asyncio.start_unix_server(self._serve, sock=sock,
                                                           limit=MAX_LINE, backlog=256)
        except BaseException:
            sock.close()
            raise

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            # Hang up on clients so their handlers end by themselves.
            for writer in list(self._connections):
                writer.close()
            if self._clients:
                await asyncio.wait(list(self._clients), timeout=2)
            for task in list(self._clients):
                task.cancel()
            await self._server.wait_closed()
            self._server = None
        try:
            if stat.S_ISSOCK(self.path.lstat().st_mode):
                self.path.unlink()
        except FileNotFoundError:
            pass

    def _make_room(self) -> bool:
        """At the cap, the connection idle the longest makes room; False if none is idle."""
        if len(self._connections) < self.max_clients:
            return True
        idle = [c for c in self._connections.values() if c.idle]
        if not idle:
            return False
        oldest = min(idle, key=lambda c: c.last_active)
        # Nothing of an idle connection's is under way: it may simply ask again.
        oldest.writer.write(BUSY_REPLY)
        oldest.writer.close()
        del self._connections[oldest.writer]
        return True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if not self._make_room():
            writer.write(BUSY_REPLY)
            writer.close()
            return
        self._clients.add(task)
        conn = self._connections[writer] = _Connection(writer)
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
            async for line in _lines(reader, self.line_timeout, send):
                if not line.strip():
                    continue
                conn.busy, conn.last_active = True, time.monotonic()
                request_id = None
                try:
                    request = parse_request(line)
                    request_id = request.id
                    if isinstance(request, Subscribe):
                        if events is None:
                            events = self.controller.bus.subscribe(encoded=True,
                                                                   status=request.status)
                            forward = asyncio.ensure_future(_forward(events, send))
                            conn.subscribed = True
                        reply: dict[str, Any] = {"subscribed": True}
                    else:
                        reply = await self.controller.handle(request, operator)
                    await send({"id": request_id, "ok": True, **reply})
                except OperationFailed as exc:
                    invalid = isinstance(exc, RequestInvalid) and exc.code not in REFUSED_NOW
                    await send({"id": request_id, "ok": False, "error": str(exc),
                                **exc.coded(), **({"invalid": True} if invalid else {})})
                except (ConnectionError, asyncio.CancelledError):
                    raise
                except Exception as exc:  # noqa: BLE001 - a bug must not hang up on an operator
                    log.exception("request failed")
                    await send({"id": request_id, "ok": False,
                                "error": f"internal error: {type(exc).__name__}: {exc}"})
                finally:
                    conn.busy, conn.last_active = False, time.monotonic()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if events is not None:
                self.controller.bus.unsubscribe(events)
            if forward is not None:
                forward.cancel()
                await asyncio.wait([forward], timeout=1)
            writer.close()
            self._connections.pop(writer, None)
            self._clients.discard(task)


async def _lines(reader: asyncio.StreamReader, line_timeout: float, send):
    """Request lines, each at most MAX_LINE bytes. A line once begun must end within
    `line_timeout`: a client that sends half a line and waits is let go."""
    buffer = b""
    while True:
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield line
        if len(buffer) > MAX_LINE:
            await send({"ok": False, "error": f"request longer than {MAX_LINE} bytes"})
            rest = await _skip_line(reader, line_timeout)
            if rest is None:
                return
            buffer = rest
            continue
        try:
            if buffer:
                async with asyncio.timeout(line_timeout):
                    chunk = await reader.read(MAX_LINE)
            else:
                chunk = await reader.read(MAX_LINE)
        except TimeoutError:
            await send({"ok": False,
                        "error": f"request not finished within {line_timeout:g} s"})
            return
        if not chunk:
            if buffer.strip():
                await send({"ok": False, "error": "request ends without a newline"})
            return
        buffer += chunk


async def _skip_line(reader: asyncio.StreamReader, line_timeout: float) -> bytes | None:
    """Drop the rest of an overlong line; what follows it, or None at the end."""
    while True:
        try:
            async with asyncio.timeout(line_timeout):
                chunk = await reader.read(MAX_LINE)
        except TimeoutError:
            return None
        if not chunk:
            return None
        if b"\n" in chunk:
            return chunk.split(b"\n", 1)[1]


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


async def _socket_alive(path: Path) -> bool:
    try:
        async with asyncio.timeout(1.0):
            _reader, writer = await asyncio.open_unix_connection(str(path))
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True
