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
import tty
from collections.abc import Callable

from pymodbus.datastore import (
    ModbusDeviceContext,
    ModbusSequentialDataBlock,
    ModbusServerContext,
)
from pymodbus.server import ModbusSerialServer, ModbusTcpServer

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

COILS = 1  # Modbus function code families as used by the pymodbus datastore
DISCRETE_INPUTS = 2


class _WatchedBlock(ModbusSequentialDataBlock):
    def __init__(self, size: int, on_change: Callable[[], None]) -> None:
        super().__init__(0, [False] * (size + 1))
        self._on_change = on_change

    def setValues(self, address, values):  # noqa: N802 - pymodbus API
        super().setValues(address, values)
        self._on_change()


class SimulatedBoard:
    """A Modbus device with `coils` relays and `inputs` discrete inputs."""

    def __init__(
        self,
        *,
        unit: int = 1,
        coils: int = 16,
        inputs: int = 8,
        host: str = "127.0.0.1",
        port: int | None = None,
        serial_port: str | None = None,
        baudrate: int = 9600,
        coil_offset: int = 0,
        input_offset: int = 0,
    ) -> None:
        self.unit = unit
        self.coil_count = coils + coil_offset
        self.input_count = inputs + input_offset
        self.host = host
        self.port = port
        self.serial_port = serial_port
        self.baudrate = baudrate
        self.changed = asyncio.Event()
        self._coils = _WatchedBlock(self.coil_count, self.changed.set)
        self._inputs = ModbusSequentialDataBlock(0, [False] * (self.input_count + 1))
        self._device = ModbusDeviceContext(co=self._coils, di=self._inputs)
        self._context = ModbusServerContext(devices={unit: self._device}, single=False)
        self._server: ModbusTcpServer | ModbusSerialServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.serial_port:
            self._server = ModbusSerialServer(
                self._context, port=self.serial_port, baudrate=self.baudrate
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

    def inputs(self) -> list[bool]:
        return [bool(v) for v in self._device.getValues(DISCRETE_INPUTS, 0, self.input_count)]


class PtyBridge:
    """Two pseudo-terminals joined back to back, like a null-modem cable: a Modbus
    RTU server opens one end, dabyl the other."""

    def __init__(self) -> None:
        self.a_master, a_slave = os.openpty()
        self.b_master, b_slave = os.openpty()
        for fd in (self.a_master, a_slave, self.b_master, b_slave):
            tty.setraw(fd)
        self.a_path, self.b_path = os.ttyname(a_slave), os.ttyname(b_slave)
        self._slaves = (a_slave, b_slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        pair = {self.a_master: self.b_master, self.b_master: self.a_master}
        while not self._stop.is_set():
            ready, _, _ = select.select(list(pair), [], [], 0.05)
            for fd in ready:
                try:
                    os.write(pair[fd], os.read(fd, 4096))
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
