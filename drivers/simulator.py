"""dabyl's simulated relay + input board: a real Modbus server (pymodbus).

It listens on TCP loopback (or on a serial port such as one end of a
pseudo-terminal, speaking RTU), so the demo and the tests drive the real client
code. Its inputs can be pressed; watchers learn of every coil write.
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
import threading
import time
import tty
from collections.abc import Sequence
from dataclasses import dataclass

from pymodbus.constants import ExcCodes
from pymodbus.datastore import (
    ModbusDeviceContext,
    ModbusSequentialDataBlock,
    ModbusServerContext,
)
from pymodbus.server import ModbusSerialServer, ModbusTcpServer

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

COILS = 1  # Modbus function code families as used by the pymodbus datastore
DISCRETE_INPUTS = 2
HOLDING_REGISTERS = 3
INPUT_REGISTERS = 4


class _WatchedBlock(ModbusSequentialDataBlock):
    """Coils that tell a watcher of every write, and refuse writes on request (a board
    whose relay driver failed answers with a Modbus exception)."""

    def __init__(self, size: int, board: SimulatedBoard) -> None:
        super().__init__(0, [False] * (size + 1))
        self._board = board

    def setValues(self, address, values):  # noqa: N802 - pymodbus API
        if self._board.refuse_writes:
            return ExcCodes(self._board.refuse_writes)
        values = values if isinstance(values, list) else [values]
        # A stuck relay: the board takes the write and the relay stays as it was.
        # (pymodbus stores coil n at address n + 1.)
        kept = [self.values[address + i - self.address] if address + i - 1 in self._board.stuck
                else v for i, v in enumerate(values)]
        result = super().setValues(address, kept)
        self._board.changed.set()
        return result


class SimulatedBoard:
    """A Modbus device with `coils` relays, `inputs` discrete inputs and `registers`
    analog inputs (the same values as input registers, FC04, and holding registers,
    FC03, as analog modules offer either).

    `also` are more simulated boards (other unit ids) on the same serial line: one
    server answers for all of them, as several slaves share one RS-485 pair.
    `refuse_writes`, when set to a Modbus exception code (2: illegal address, 4:
    device failure), makes the board answer every write with that exception while
    reads go on working. Coils in `stuck` take writes and do not move (a welded relay).
    """

    def __init__(
        self,
        *,
        unit: int = 1,
        coils: int = 16,
        inputs: int = 8,
        registers: int = 0,
        host: str = "127.0.0.1",
        port: int | None = None,
        serial_port: str | None = None,
        baudrate: int = 9600,
        coil_offset: int = 0,
        input_offset: int = 0,
        also: Sequence[SimulatedBoard] = (),
    ) -> None:
        self.unit = unit
        self.coil_count = coils + coil_offset
        self.input_count = inputs + input_offset
        self.register_count = registers + input_offset
        self.host = host
        self.port = port
        self.serial_port = serial_port
        self.baudrate = baudrate
        self.refuse_writes: int | None = None
        self.stuck: set[int] = set()  # coils whose relay no longer moves
        self.changed = asyncio.Event()
        self._coils = _WatchedBlock(self.coil_count, self)
        self._inputs = ModbusSequentialDataBlock(0, [False] * (self.input_count + 1))
        analog = [0] * (self.register_count + 1)
        self._device = ModbusDeviceContext(
            co=self._coils, di=self._inputs,
            ir=ModbusSequentialDataBlock(0, list(analog)),
            hr=ModbusSequentialDataBlock(0, list(analog)))
        devices = {unit: self._device, **{b.unit: b._device for b in also}}
        self._context = ModbusServerContext(devices=devices, single=False)
        self._server: ModbusTcpServer | ModbusSerialServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.serial_port:
            # On a shared line a device never answers for another unit.
            self._server = ModbusSerialServer(
                self._context, port=self.serial_port, baudrate=self.baudrate,
                ignore_missing_devices=True,
            )
        else:
            self._server = ModbusTcpServer(
                self._context, address=(self.host, self.port or 0)
            )
        self._task = asyncio.create_task(self._server.serve_forever(), name="simulator")
        # serve_forever binds first; wait until the listener exists.
        for _ in range(200):
            if self._task.done():
                self._task.result()  # re-raise the bind error (port in use)
            if self._server.transport is not None:
                break
            await asyncio.sleep(0.005)
        else:
            raise OSError("simulated board did not start listening")
        if not self.serial_port and not self.port:
            self.port = self._server.transport.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()
            self._server = None
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                pass
            self._task = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def coils(self, offset: int = 0, count: int | None = None) -> list[bool]:
        count = self.coil_count - offset if count is None else count
        return [bool(v) for v in self._device.getValues(COILS, offset, count)]

    def set_input(self, channel: int, active: bool) -> None:
        self._device.setValues(DISCRETE_INPUTS, channel, [active])

    def set_register(self, channel: int, value: int) -> None:
        """An analog input's reading (as FC04 and FC03 report it)."""
        self._device.setValues(INPUT_REGISTERS, channel, [value])
        self._device.setValues(HOLDING_REGISTERS, channel, [value])

    def inputs(self) -> list[bool]:
        return [bool(v) for v in self._device.getValues(DISCRETE_INPUTS, 0, self.input_count)]


@dataclass
class WireFrame:
    """Bytes that crossed the wire back to back (less than 1.5 character times apart)."""

    sender: str  # "dabyl" or "device"
    data: bytes
    start: float
    end: float
    gap: float  # silence on the line before it, in seconds
    dropped: bool = False


def char_time(baudrate: int, parity: str = "N") -> float:
    """Seconds one character occupies the wire: start bit, 8 data bits, parity, stop."""
    return (10 if parity == "N" else 11) / baudrate


class PtyBridge:
    """Two pseudo-terminals joined back to back, like a cable: a device or a Modbus
    RTU server opens one end (`a_path`), dabyl the other (`b_path`).

    With `baudrate` the bridge is a wire: each byte takes its character time, and the
    bytes of both ends share one line, as on half-duplex RS-485; every byte reaches
    the other end when its stop bit would. The frames on the wire are logged in
    `frames`. With `strict_gap` the line behaves as a device on a shared bus sees it:
    a frame from dabyl that starts less than 3.5 character times after the line was
    last busy runs into the previous one, so it is lost (`dropped`).
    """

    def __init__(self, baudrate: int | None = None, parity: str = "N",
                 strict_gap: bool = False) -> None:
        self.a_master, a_slave = os.openpty()
        self.b_master, b_slave = os.openpty()
        for fd in (self.a_master, a_slave, self.b_master, b_slave):
            tty.setraw(fd)
        self.a_path, self.b_path = os.ttyname(a_slave), os.ttyname(b_slave)
        self._slaves = (a_slave, b_slave)
        self.char = char_time(baudrate, parity) if baudrate else 0.0
        self.strict_gap = strict_gap
        self.frames: list[WireFrame] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run if baudrate else self._pass,
                                        daemon=True, name="pty bridge")
        self._thread.start()

    @property
    def dropped(self) -> list[WireFrame]:
        return [f for f in self.frames if f.dropped]

    def _pass(self) -> None:
        pair = {self.a_master: self.b_master, self.b_master: self.a_master}
        while not self._stop.is_set():
            ready, _, _ = select.select(list(pair), [], [], 0.05)
            for fd in ready:
                try:
                    os.write(pair[fd], os.read(fd, 4096))
                except OSError:
                    return

    def _run(self) -> None:
        pair = {self.a_master: self.b_master, self.b_master: self.a_master}
        sender = {self.b_master: "dabyl", self.a_master: "device"}
        on_wire: list[tuple[float, int, bytes, WireFrame]] = []  # (end, to, byte, frame)
        wire_free = 0.0
        last: WireFrame | None = None
        while not self._stop.is_set():
            now = time.monotonic()
            timeout = max(0.0, on_wire[0][0] - now) if on_wire else 0.05
            ready, _, _ = select.select(list(pair), [], [], timeout)
            now = time.monotonic()
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    return
                for byte in data:
                    start = max(now, wire_free)
                    wire_free = start + self.char
                    who = sender[fd]
                    if last is None or last.sender != who or start - last.end >= 1.5 * self.char:
                        gap = start - last.end if last is not None else float("inf")
                        last = WireFrame(who, b"", start, start, gap,
                                         dropped=(self.strict_gap and who == "dabyl"
                                                  and gap < 3.5 * self.char))
                        self.frames.append(last)
                    last.data += bytes([byte])
                    last.end = wire_free
                    on_wire.append((wire_free, pair[fd], bytes([byte]), last))
            while on_wire and on_wire[0][0] <= now:
                _, to, byte, frame = on_wire.pop(0)
                if frame.dropped:
                    continue
                try:
                    os.write(to, byte)
                except OSError:
                    return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for fd in (self.a_master, self.b_master, *self._slaves):
            try:
                os.close(fd)
            except OSError:
                pass
