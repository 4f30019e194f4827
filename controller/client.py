"""A client of the control socket, for the CLI (blocking) and the UI (asyncio)."""

from __future__ import annotations

import asyncio
import errno
import itertools
import json
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from controller.errors import ConnectionFailed, OperationFailed, RequestInvalid, TimedOut

# A controller that is busy (its listen queue full, its connections at their cap) or
# just restarting refuses for a moment; the operator's command tries again for this long.
RETRY_FOR = 2.0
_REFUSED = (errno.ECONNREFUSED, errno.EAGAIN)


class _Busy(Exception):
    """The controller let this connection go before acting on it; ask again."""


def _check(reply: dict[str, Any]) -> dict[str, Any]:
    """The reply, or the controller's refusal as an error that keeps its message code
    (RequestInvalid when the request itself was wrong)."""
    if not reply.get("ok"):
        params = reply.get("params")
        kind = RequestInvalid if reply.get("invalid") is True else OperationFailed
        raise kind(reply.get("error", "the controller refused the request"),
                              code=reply.get("code"),
                              **(params if isinstance(params, dict) else {}))
    return reply


class Client:
    """Blocking, one request at a time."""

    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self.path = path
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buf = b""
        self._ids = itertools.count(1)

    def __enter__(self) -> Client:
        self._connect(time.monotonic() + RETRY_FOR)
        return self

    def _connect(self, deadline: float) -> None:
        delay = 0.01
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(str(self.path))
                break
            except FileNotFoundError:
                sock.close()
                raise ConnectionFailed(
                    f"no controller is running (no socket at {self.path}); start `dabyl serve`"
                ) from None
            except PermissionError:
                sock.close()
                raise ConnectionFailed(f"permission denied on {self.path}") from None
            except OSError as exc:
                sock.close()
                if exc.errno not in _REFUSED or time.monotonic() + delay > deadline:
                    raise ConnectionFailed(
                        f"cannot reach the controller at {self.path}: {exc}") from None
            time.sleep(delay)  # the controller is busy: give it a moment, then again
            delay = min(delay * 2, 0.2)
        self._sock = sock
        self._buf = b""

    def __exit__(self, *exc: object) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def request(self, op: str, **fields: Any) -> dict[str, Any]:
        deadline = time.monotonic() + RETRY_FOR
        while True:
            try:
                return self._request(op, fields)
            except _Busy:
                if time.monotonic() > deadline:
                    raise ConnectionFailed("the controller is too busy to answer") from None
                self.__exit__()
                self._connect(deadline)

    def _request(self, op: str, fields: dict[str, Any]) -> dict[str, Any]:
        assert self._sock is not None
        rid = next(self._ids)
        line = json.dumps({"id": rid, "op": op, **fields}, ensure_ascii=False) + "\n"
        try:
            self._sock.sendall(line.encode())
            while True:
                reply = self._read()
                if "event" in reply:
                    continue
                if reply.get("retry") is True:
                    raise _Busy
                if reply.get("id") in (rid, None):
                    return _check(reply)
        except TimeoutError:
            raise TimedOut(f"the controller did not answer {op!r} within {self.timeout:g} s",
                           code="no_answer", op=op) from None
        except OSError as exc:
            raise ConnectionFailed(f"lost the controller: {exc}") from None

    def _read(self) -> dict[str, Any]:
        assert self._sock is not None
        while b"\n" not in self._buf:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionFailed("the controller closed the connection")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def events(self):
        """Subscribe and yield events forever."""
        self.request("subscribe")
        assert self._sock is not None
        self._sock.settimeout(None)
        while True:
            reply = self._read()
            if "event" in reply:
                yield reply["event"]


class AsyncClient:
    """asyncio client: requests and an event stream on one connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader_task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        try:
            self._reader, self._writer = await asyncio.open_unix_connection(
                str(self.path), limit=16 * 1024 * 1024
            )
        except (FileNotFoundError, ConnectionRefusedError):
            raise ConnectionFailed(f"no controller is running at {self.path}") from None
        except OSError as exc:
            raise ConnectionFailed(f"cannot reach the controller at {self.path}: {exc}") from None
        self._reader_task = asyncio.ensure_future(self._read_loop())

    async def close(self) -> None:
        if self._reader_task is not None:
            self._reader_task.cancel()
            await asyncio.gather(self._reader_task, return_exceptions=True)
        if self._writer is not None:
            self._writer.close()

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while True:
                line = await self._reader.readline()
                if not line:
                    break
                msg = json.loads(line)
                if "event" in msg:
                    await self.events.put(msg["event"])
                    continue
                fut = self._pending.pop(msg.get("id"), None)
                if fut is not None and not fut.done():
                    fut.set_result(msg)
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionFailed("the controller closed the connection"))
            await self.events.put({"kind": "disconnected"})

    async def request(self, op: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        if self._writer is None or self._reader_task is None or self._reader_task.done():
            raise ConnectionFailed("the controller closed the connection")
        rid = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            self._writer.write((json.dumps({"id": rid, "op": op, **fields}) + "\n").encode())
            await self._writer.drain()
        except OSError as exc:
            self._pending.pop(rid, None)
            raise ConnectionFailed(f"lost the controller: {exc}") from None
        try:
            async with asyncio.timeout(timeout):
                return _check(await fut)
        except TimeoutError:
            raise TimedOut(code="no_answer", op=op) from None
        finally:
            self._pending.pop(rid, None)

    async def stream(self, status: bool = False) -> AsyncIterator[dict[str, Any]]:
        """Every event from now on; with `status`, also the coalesced status events a
        console draws from."""
        await self.request("subscribe", status=status)
        while True:
            yield await self.events.get()
