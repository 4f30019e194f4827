"""Modbus boards over TCP or RTU (pymodbus).

`modbus-coils`: relays as coils (FC01 read, FC05 write), inputs as discrete inputs
(FC02). Channel offsets make Waveshare (coils 0-7), ADAM-6060 (DI 0-5, relays at
coils 16-21), ioLogik E1200 and ET-2200 maps a matter of configuration. Waveshare's
flash commands (FC05 at 0x0200+n on, 0x0400+n off, value = time in 100 ms) drive a
strobe or a timed pulse in the board itself.

`eletechsup`: R4D3B16 / R4D8A08 / R413D08 class boards: FC06 to register 0x0001+n
with 0x0100 on, 0x0200 off, 0x0300 toggle, 0x0500 momentary, 0x06XX on for XX s
(0x0600 cancels a running timer); register 0x0000 takes 0x0700 all on, 0x0800 all
off; FC03 from register 0x0001 reads 1/0 per relay.

Several RTU devices on one serial line share one client and one lock.
"""

from __future__ import annotations

import asyncio
import logging

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu.bit_message import WriteSingleCoilRequest

from drivers.base import DeviceSettings, RelayBoard
from drivers.errors import DeviceConfigError, DeviceReplyError, DeviceUnavailable

# pymodbus logs every failed exchange with a traceback; dabyl reports faults itself.
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

WAVESHARE_FLASH_ON = 0x0200
WAVESHARE_FLASH_OFF = 0x0400

ELETECH_ON, ELETECH_OFF, ELETECH_TOGGLE, ELETECH_MOMENTARY = 0x0100, 0x0200, 0x0300, 0x0500
ELETECH_TIMED = 0x0600
ELETECH_ALL_ON, ELETECH_ALL_OFF = 0x0700, 0x0800


class _RtuLine:
    """One RS-485 line: one pymodbus client and one lock for all its devices."""

    lines: dict[str, _RtuLine] = {}

    def __init__(self, settings: DeviceSettings) -> None:
        self.port = str(settings.port)
        self.baudrate = settings.baudrate
        self.parity = settings.parity
        self.timeout = settings.timeout
        self.lock = asyncio.Lock()
        self.client: AsyncModbusSerialClient | None = None
        self.users = 0

    @classmethod
    def get(cls, settings: DeviceSettings) -> _RtuLine:
        line = cls.lines.get(str(settings.port))
        if line is None:
            line = cls.lines[str(settings.port)] = _RtuLine(settings)
        elif (line.baudrate, line.parity) != (settings.baudrate, settings.parity):
            raise DeviceConfigError(f"{settings.port}: devices on one line must share its speed")
        line.users += 1
        return line

    def release(self) -> None:
        self.users -= 1
        if self.users <= 0 and _RtuLine.lines.get(self.port) is self:
            del _RtuLine.lines[self.port]


class _FlashRequest(WriteSingleCoilRequest):
    """FC05 with a raw value: Waveshare reads it as the flash time in 100 ms units."""

    def __init__(self, address: int, value: int, dev_id: int) -> None:
        super().__init__(address=address, bits=[True], dev_id=dev_id)
        self.raw_value = value

    def encode(self) -> bytes:
        return self.address.to_bytes(2, "big") + self.raw_value.to_bytes(2, "big")


class ModbusBoard(RelayBoard):
    """Shared client handling for every Modbus board."""

    def __init__(self, settings: DeviceSettings) -> None:
        super().__init__(settings)
        self._client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None
        self._line: _RtuLine | None = None
        if settings.transport == "serial":
            self._line = _RtuLine.get(settings)
            self._lock = self._line.lock

    def _make_client(self):
        s = self.settings
        if s.transport == "tcp":
            if not isinstance(s.port, int):
                raise DeviceConfigError(f"{s.id}: TCP needs a port number")
            return AsyncModbusTcpClient(s.host, port=s.port, timeout=s.timeout, retries=0,
                                        reconnect_delay=0)
        if s.transport == "serial":
            # pymodbus defaults to 19200 baud; the boards ship at 9600, so always pass it.
            return AsyncModbusSerialClient(str(s.port), baudrate=s.baudrate, parity=s.parity,
                                           bytesize=8, stopbits=1, timeout=s.timeout, retries=0,
                                           reconnect_delay=0)
        raise DeviceConfigError(f"{s.id}: unknown transport {s.transport!r}")

    async def _connect(self) -> None:
        if self._line is not None and self._line.client is not None and self._line.client.connected:
            self._client = self._line.client
            return
        await self._close()
        client = self._make_client()
        try:
            ok = await client.connect()
        except (ModbusException, OSError) as exc:
            raise DeviceUnavailable(f"{self.id}: cannot connect: {exc}") from None
        if not ok:
            s = self.settings
            where = f"{s.host}:{s.port}" if s.transport == "tcp" else str(s.port)
            raise DeviceUnavailable(f"{self.id}: cannot connect to {where}")
        self._client = client
        if self._line is not None:
            self._line.client = client

    async def _close(self) -> None:
        client, self._client = self._client, None
        if self._line is not None:
            client = client or self._line.client
            self._line.client = None
        if client is not None:
            client.close()

    def _release(self) -> None:
        if self._line is not None:
            self._line.release()

    async def _call(self, method: str, *args, **kwargs):
        """One request by pymodbus method name; pymodbus errors become DeviceErrors."""
        if self._client is None:
            raise DeviceUnavailable(f"{self.id}: not connected")
        call = getattr(self._client, method)
        return await self._checked(
            lambda: call(*args, device_id=self.settings.unit, **kwargs), method)

    async def _checked(self, request, what: str):
        """Send (pymodbus may raise before or while awaiting) and check the reply."""
        try:
            reply = await request()
        except (ConnectionException, ModbusIOException) as exc:
            raise DeviceUnavailable(f"{self.id}: {exc}") from None
        except ModbusException as exc:
            raise DeviceReplyError(f"{self.id}: {exc}") from None
        if reply.isError():
            raise DeviceReplyError(f"{self.id}: device refused {what}: {reply}")
        return reply


class ModbusCoils(ModbusBoard):
    can_read_back = True

    async def _write_output(self, channel: int, on: bool) -> None:
        address = self.settings.coil_offset + channel
        reply = await self._call("write_coil", address, on)
        if reply.bits and bool(reply.bits[0]) != on:
            raise DeviceReplyError(f"{self.id}: echo of coil {address} does not match")

    async def _read_outputs(self) -> list[bool]:
        reply = await self._call("read_coils", self.settings.coil_offset, count=self.settings.channels)
        return [bool(b) for b in reply.bits]

    async def _read_inputs(self) -> list[bool]:
        reply = await self._call("read_discrete_inputs", self.settings.input_offset,
                                 count=self.settings.inputs)
        return [bool(b) for b in reply.bits]

    async def flash(self, channel: int, period: float, on: bool = True) -> None:
        """Waveshare flash: the board switches the relay for `period` by itself."""
        self._check_channel(channel, self.settings.channels, "output")
        units = max(1, min(0x7FFF, round(period * 10)))
        base = WAVESHARE_FLASH_ON if on else WAVESHARE_FLASH_OFF
        request = _FlashRequest(base + channel, units, self.settings.unit)
        async with self._lock:
            await self._ensure_connected()
            await self._guard(self._execute(request), f"flash output {channel}")

    async def _execute(self, request) -> None:
        if self._client is None:
            raise DeviceUnavailable(f"{self.id}: not connected")
        client = self._client
        await self._checked(lambda: client.execute(False, request), "the flash command")


class Eletechsup(ModbusBoard):
    can_read_back = True

    async def _write_output(self, channel: int, on: bool) -> None:
        await self._call("write_register", channel + 1, ELETECH_ON if on else ELETECH_OFF)

    async def _read_outputs(self) -> list[bool]:
        reply = await self._call("read_holding_registers", 1, count=self.settings.channels)
        for value in reply.registers:
            if value not in (0, 1):
                raise DeviceReplyError(f"{self.id}: relay state {value:#06x} is neither 0 nor 1")
        return [bool(v) for v in reply.registers]

    async def _read_inputs(self) -> list[bool]:
        return []

    async def pulse(self, channel: int, seconds: float) -> None:
        """The board's own timer: on for whole seconds (1-255), then off by itself."""
        self._check_channel(channel, self.settings.channels, "output")
        whole = max(1, min(255, round(seconds)))
        async with self._lock:
            await self._ensure_connected()
            await self._guard(self._call("write_register", channel + 1, ELETECH_TIMED | whole),
                              f"timed output {channel}")

    async def cancel_timer(self, channel: int) -> None:
        async with self._lock:
            await self._ensure_connected()
            await self._guard(self._call("write_register", channel + 1, ELETECH_TIMED),
                              f"cancel timer {channel}")

    async def all_off(self) -> None:
        async with self._lock:
            await self._ensure_connected()
            await self._guard(self._call("write_register", 0, ELETECH_ALL_OFF), "all off")
