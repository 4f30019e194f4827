"""One physical serial line, shared by every device on it (an RS-485 pair carries
several boards), and the scheduler that keeps it honest:

- one frame on the line at a time, whoever sends it;
- urgent exchanges (relay writes: an alarm waits for them) go before polls;
- between any two frames, in either direction, the line stays silent for 3.5
  character times (1.75 ms above 19200 baud, as the Modbus RTU spec sets), so a
  device on the line never sees two frames run together;
- polls (reads) may take at most `poll_share` of the line's time; what they take is
  measured and reported.

The port is used by one worker thread of its own (pyserial blocks), never by the
shared default executor, so a slow line never delays anything else. Any OS error
closes the port; the next exchange opens it again, so an unplugged and replugged
USB adapter comes back by itself (its owner backs off between tries).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import heapq
import itertools
import os
import termios
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import serial

from drivers.base import URGENT
from drivers.errors import (
    DeviceConfigError,
    DeviceError,
    DeviceReplyError,
    DeviceTimeout,
    DeviceUnavailable,
    PortVanished,
)

# Decides when a reply is complete: returns how many bytes form the reply, or None
# to keep reading. Bytes before a reply (line noise) are the parser's business.
Complete = Callable[[bytes], int | None]

# Errors that mean the port itself is gone (USB adapter unplugged, hung up).
_GONE = {errno.EIO, errno.ENODEV, errno.ENXIO, errno.ENOENT, errno.EBADF}
SHARE_WINDOW = 10.0  # seconds over which the polls' share of the line is measured


def silence(baudrate: int, parity: str = "N") -> float:
    """The 3.5-character silence between frames (fixed 1.75 ms above 19200 baud)."""
    if baudrate > 19200:
        return 0.00175
    return 3.5 * char_time(baudrate, parity)


def char_time(baudrate: int, parity: str = "N") -> float:
    """Seconds one character takes on the wire: start, 8 data bits, parity, stop."""
    return (10 if parity == "N" else 11) / baudrate


def _errno(exc: BaseException) -> int | None:
    """The OS error number behind an error (pyserial wraps OSError, termios does not
    subclass it)."""
    while exc is not None:
        code = getattr(exc, "errno", None)
        if code is None and exc.args and isinstance(exc.args[0], int):
            code = exc.args[0]
        if code is not None:
            return code
        exc = exc.__cause__ or exc.__context__
    return None


class _Turns:
    """Whose frame goes next: urgent exchanges first, then polls, each in order."""

    def __init__(self) -> None:
        self._busy = False
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @contextlib.asynccontextmanager
    async def turn(self, urgent: bool):
        if self._busy or self._waiting:
            future = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiting, (0 if urgent else 1, next(self._order), future))
            try:
                await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    self._next()  # the turn came and goes to the next in line
                raise
        else:
            self._busy = True
        try:
            yield
        finally:
            self._next()

    def _next(self) -> None:
        while self._waiting:
            _, _, future = heapq.heappop(self._waiting)
            if not future.done():
                future.set_result(None)
                return
        self._busy = False


class SerialLine:
    _lines: dict[str, SerialLine] = {}

    def __init__(self, port: str, baudrate: int, parity: str, poll_share: float) -> None:
        self.port = port
        self.baudrate = baudrate
        self.parity = parity
        self.char = char_time(baudrate, parity)
        self.gap = silence(baudrate, parity)
        self.poll_share = poll_share
        self.users = 0
        self._serial: serial.SerialBase | None = None
        self._quiet_since = 0.0  # when the line last fell silent (monotonic)
        self._turns = _Turns()
        self._executor: ThreadPoolExecutor | None = None
        self._polls_not_before = 0.0
        self._poll_busy: deque[tuple[float, float]] = deque()  # (end, seconds busy)
        self._started = time.monotonic()
        self._requests = 0

    @classmethod
    def get(cls, port: str, baudrate: int, parity: str = "N",
            poll_share: float = 0.25) -> SerialLine:
        """The line of this port; devices on one port share it (and must agree on speed)."""
        line = cls._lines.get(port)
        if line is None:
            line = cls._lines[port] = SerialLine(port, baudrate, parity, poll_share)
        elif line.baudrate != baudrate or line.parity != parity:
            raise DeviceConfigError(
                f"{port}: devices on one line must share its speed "
                f"({line.baudrate} {line.parity} vs {baudrate} {parity})"
            )
        line.poll_share = min(line.poll_share, poll_share)
        line.users += 1
        return line

    def release(self) -> None:
        self.users -= 1
        if self.users <= 0:
            self._run_close()
            if self._executor is not None:
                self._executor.shutdown(wait=False)
                self._executor = None
            if SerialLine._lines.get(self.port) is self:
                del SerialLine._lines[self.port]

    # -- what the line reports ---------------------------------------------------
    @property
    def busy(self) -> bool:
        """A frame is on the line or waiting for its turn (or for the poll budget)."""
        return self._requests > 0


    def stats(self) -> dict:
        """The polls' measured share of the line, beside the share they may take."""
        now = time.monotonic()
        while self._poll_busy and self._poll_busy[0][0] < now - SHARE_WINDOW:
            self._poll_busy.popleft()
        window = min(SHARE_WINDOW, max(now - self._started, 1e-3))
        used = sum(busy for _, busy in self._poll_busy) / window
        return {"port": self.port, "baudrate": self.baudrate, "parity": self.parity,
                "gap_ms": round(self.gap * 1000, 2), "poll_share": self.poll_share,
                "poll_share_used": round(min(used, 1.0), 3)}

    # -- exchanges ---------------------------------------------------------------
    async def run(self, work: Callable, *args, urgent: bool | None = None):
        """Run `work(port, *args)` in the line's thread, in turn. Polls wait until
        the line's poll budget allows them; urgent exchanges never wait for it."""
        urgent = URGENT.get() if urgent is None else urgent
        self._requests += 1
        try:
            return await self._run(work, args, urgent)
        finally:
            self._requests -= 1

    async def _run(self, work: Callable, args: tuple, urgent: bool):
        loop = asyncio.get_running_loop()
        while True:
            if not urgent:
                # A poll waits out the line's poll budget (checked again in turn).
                await asyncio.sleep(max(0.0, self._polls_not_before - time.monotonic()))
            async with self._turns.turn(urgent):
                if not urgent and self._polls_not_before > time.monotonic():
                    continue  # another poll took the budget meanwhile
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"line {self.port}")
                started = time.monotonic()
                try:
                    return await loop.run_in_executor(self._executor, self._in_thread, work, args)
                finally:
                    if not urgent:
                        ended = time.monotonic()
                        busy = ended - started
                        self._poll_busy.append((ended, busy))
                        self._polls_not_before = started + busy / self.poll_share

    async def exchange(self, frame: bytes, complete: Complete | None, timeout: float) -> bytes:
        """Send a frame and read its reply (`complete` None: no reply is expected)."""
        return await self.run(self._exchange, frame, complete, timeout)

    async def open(self) -> None:
        await self.run(lambda port: None, urgent=False)

    def _in_thread(self, work: Callable, args: tuple):
        try:
            port = self._open()
            return work(port, *args)
        except DeviceError:
            raise
        except (serial.SerialException, OSError, termios.error) as exc:
            # Whatever the OS says, the port is closed and opened again next time.
            self._run_close()
            if _errno(exc) in _GONE or "disconnected" in str(exc) or not os.path.exists(self.port):
                raise PortVanished() from None
            raise DeviceUnavailable("device_port_failed", f"port failed ({exc})",
                                    detail=str(exc)) from None

    def _open(self) -> serial.SerialBase:
        if self._serial is None or not self._serial.is_open:
            try:
                self._serial = serial.serial_for_url(
                    self.port, baudrate=self.baudrate, parity=self.parity, bytesize=8,
                    stopbits=1, timeout=0.01, write_timeout=1.0,
                )
            except (serial.SerialException, OSError, ValueError) as exc:
                self._serial = None
                if not self.port.startswith(("loop:", "socket:", "rfc2217:")) and \
                        not os.path.exists(self.port):
                    raise DeviceUnavailable("device_no_port", "no such port (not plugged in?)") \
                        from None
                raise DeviceUnavailable("device_cannot_open", f"cannot open the port ({exc})",
                                        detail=str(exc)) from None
            self._quiet_since = time.monotonic()
        return self._serial

    def _run_close(self) -> None:
        if self._serial is not None:
            with contextlib.suppress(serial.SerialException, OSError, termios.error):
                self._serial.close()
            self._serial = None

    def _exchange(self, port: serial.SerialBase, frame: bytes, complete: Complete | None,
                  timeout: float) -> bytes:
        wait = self._quiet_since + self.gap - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        port.reset_input_buffer()
        sent = time.monotonic()
        port.write(frame)
        port.flush()
        # The frame leaves the wire when its last stop bit does, whatever the OS says.
        on_wire_until = sent + len(frame) * self.char
        if complete is None:
            self._quiet_since = max(time.monotonic(), on_wire_until)
            return b""
        buffer = b""
        deadline = on_wire_until + timeout
        try:
            while time.monotonic() < deadline:
                chunk = port.read(max(1, port.in_waiting))
                if chunk:
                    buffer += chunk
                    size = complete(buffer)
                    if size is not None:
                        return buffer[:size]
        finally:
            self._quiet_since = max(time.monotonic(), on_wire_until)
        if buffer:
            raise DeviceReplyError(f"got {buffer[:24].hex(' ')}"
                                   + (" …" if len(buffer) > 24 else ""))
        raise DeviceTimeout(timeout)

    # -- work that sends no frame (modem lines, a port check) -----------------------
    async def check(self, work: Callable):
        """Run `work(port)` in the line's thread, outside the frame schedule: it puts
        nothing on the wire."""
        loop = asyncio.get_running_loop()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"line {self.port}")
        return await loop.run_in_executor(self._executor, self._in_thread, work, ())

    def serial_port(self) -> serial.SerialBase | None:
        return self._serial

    def alive(self, port: serial.SerialBase) -> None:
        """Raises if the port went away (a USB relay unplugged)."""
        _ = port.in_waiting
