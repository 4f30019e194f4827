"""One physical serial line, shared by every device on it (an RS-485 bus carries
several boards): one lock, one open port, and a gap between frames.

pyserial does the I/O in a worker thread, so a slow line never blocks the loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import serial

from drivers.errors import DeviceConfigError, DeviceUnavailable

# Decides when a reply is complete: returns how many bytes form the reply, or None
# to keep reading. Bytes before a reply (line noise) are the parser's business.
Complete = Callable[[bytes], int | None]


class SerialBus:
    _buses: dict[str, SerialBus] = {}

    def __init__(self, port: str, baudrate: int, parity: str, gap: float) -> None:
        self.port = port
        self.baudrate = baudrate
        self.parity = parity
        self.gap = gap
        self.lock = asyncio.Lock()
        self._serial: serial.SerialBase | None = None
        self._last = 0.0
        self.users = 0

    @classmethod
    def get(cls, port: str, baudrate: int, parity: str = "N", gap: float | None = None) -> SerialBus:
        """The bus of this port; devices on one port share it (and must agree on speed)."""
        bus = cls._buses.get(port)
        if bus is None:
            # At least 3.5 character times between frames (Modbus RTU's rule), 5 ms floor.
            gap = gap if gap is not None else max(0.005, 3.5 * 11 / baudrate)
            bus = cls._buses[port] = SerialBus(port, baudrate, parity, gap)
        elif bus.baudrate != baudrate or bus.parity != parity:
            raise DeviceConfigError(
                f"{port}: devices on one line must share its speed "
                f"({bus.baudrate} {bus.parity} vs {baudrate} {parity})"
            )
        bus.users += 1
        return bus

    def release(self) -> None:
        self.users -= 1
        if self.users <= 0:
            self.close()
            if SerialBus._buses.get(self.port) is self:
                del SerialBus._buses[self.port]

    @property
    def is_open(self) -> bool:
        return self._serial is not None and self._serial.is_open

    def _open_blocking(self) -> serial.SerialBase:
        if self._serial is None or not self._serial.is_open:
            try:
                self._serial = serial.serial_for_url(
                    self.port, baudrate=self.baudrate, parity=self.parity, bytesize=8,
                    stopbits=1, timeout=0.01, write_timeout=1.0,
                )
            except (serial.SerialException, OSError, ValueError) as exc:
                self._serial = None
                raise DeviceUnavailable(f"cannot open {self.port}: {exc}") from None
        return self._serial

    async def open(self) -> None:
        await asyncio.to_thread(self._open_blocking)

    def close(self) -> None:
        if self._serial is not None:
            try:
                self._serial.close()
            except (serial.SerialException, OSError):
                pass
            self._serial = None

    async def exchange(self, frame: bytes, complete: Complete | None, timeout: float) -> bytes:
        """Send a frame and read its reply (None: no reply is expected).

        The caller holds `lock` (the board's lock is the bus's lock)."""
        wait = self._last + self.gap - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            return await asyncio.to_thread(self._exchange_blocking, frame, complete, timeout)
        finally:
            self._last = time.monotonic()

    def _exchange_blocking(self, frame: bytes, complete: Complete | None, timeout: float) -> bytes:
        port = self._open_blocking()
        try:
            port.reset_input_buffer()
            port.write(frame)
            port.flush()
            if complete is None:
                return b""
            buffer = b""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                chunk = port.read(max(1, port.in_waiting))
                if chunk:
                    buffer += chunk
                    size = complete(buffer)
                    if size is not None:
                        return buffer[:size]
            raise DeviceUnavailable(
                f"{self.port}: no complete reply within {timeout:g} s"
                + (f" (got {buffer.hex(' ')})" if buffer else "")
            )
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise DeviceUnavailable(f"{self.port}: {exc}") from None

    def modem_lines(self) -> dict[str, bool]:
        port = self._open_blocking()
        try:
            return {"cts": port.cts, "dsr": port.dsr, "dcd": port.cd, "ri": port.ri}
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise DeviceUnavailable(f"{self.port}: cannot read modem lines: {exc}") from None

    def supply(self, on: bool) -> None:
        """Raise DTR and RTS: they power a button wired back to CTS/DSR/DCD/RI."""
        port = self._open_blocking()
        try:
            port.dtr = on
            port.rts = on
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise DeviceUnavailable(f"{self.port}: cannot set DTR/RTS: {exc}") from None

    def alive(self) -> None:
        """Raises if the port went away (a USB relay unplugged)."""
        port = self._open_blocking()
        try:
            _ = port.in_waiting
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise DeviceUnavailable(f"{self.port}: {exc}") from None
