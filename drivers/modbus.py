"""`modbus-coils`: relays as coils (FC01 read, FC05 write), inputs as discrete inputs
(FC02), over Modbus TCP or RTU.

Channel offsets make the same driver fit Waveshare (coils 0-7), ADAM-6060 (DI 0-5,
relays at coils 16-21), ioLogik E1200 and ET-2200 maps by configuration alone.
"""

from __future__ import annotations

import logging

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from drivers.base import DeviceSettings, RelayBoard
from drivers.errors import DeviceConfigError, DeviceReplyError, DeviceUnavailable

# pymodbus logs every failed exchange with a traceback; dabyl reports faults itself.
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


class ModbusCoils(RelayBoard):
    can_read_back = True

    def __init__(self, settings: DeviceSettings) -> None:
        super().__init__(settings)
        self._client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None

    def _make_client(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        s = self.settings
        if s.transport == "tcp":
            if not isinstance(s.port, int):
                raise DeviceConfigError(f"{s.id}: TCP needs a port number")
            return AsyncModbusTcpClient(
                s.host, port=s.port, timeout=s.timeout, retries=0, reconnect_delay=0
            )
        if s.transport == "serial":
            # pymodbus defaults to 19200 baud; the boards ship at 9600, so always pass it.
            return AsyncModbusSerialClient(
                str(s.port),
                baudrate=s.baudrate,
                parity=s.parity,
                bytesize=8,
                stopbits=1,
                timeout=s.timeout,
                retries=0,
                reconnect_delay=0,
            )
        raise DeviceConfigError(f"{s.id}: unknown transport {s.transport!r}")

    async def _connect(self) -> None:
        await self._close()
        self._client = self._make_client()
        try:
            ok = await self._client.connect()
        except (ModbusException, OSError) as exc:
            raise DeviceUnavailable(f"{self.id}: cannot connect: {exc}") from None
        if not ok:
            where = (
                f"{self.settings.host}:{self.settings.port}"
                if self.settings.transport == "tcp"
                else str(self.settings.port)
            )
            raise DeviceUnavailable(f"{self.id}: cannot connect to {where}")

    async def _close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            client.close()

    async def _call(self, method: str, *args, **kwargs):
        if self._client is None:
            raise DeviceUnavailable(f"{self.id}: not connected")
        try:
            reply = await getattr(self._client, method)(
                *args, device_id=self.settings.unit, **kwargs
            )
        except (ConnectionException, ModbusIOException) as exc:
            raise DeviceUnavailable(f"{self.id}: {exc}") from None
        except ModbusException as exc:
            raise DeviceReplyError(f"{self.id}: {exc}") from None
        if reply.isError():
            raise DeviceReplyError(f"{self.id}: device refused {method}: {reply}")
        return reply

    async def _write_output(self, channel: int, on: bool) -> None:
        address = self.settings.coil_offset + channel
        reply = await self._call("write_coil", address, on)
        if reply.bits and bool(reply.bits[0]) != on:
            raise DeviceReplyError(f"{self.id}: echo of coil {address} does not match")

    async def _read_outputs(self) -> list[bool]:
        reply = await self._call(
            "read_coils", self.settings.coil_offset, count=self.settings.channels
        )
        return [bool(b) for b in reply.bits]

    async def _read_inputs(self) -> list[bool]:
        reply = await self._call(
            "read_discrete_inputs", self.settings.input_offset, count=self.settings.inputs
        )
        return [bool(b) for b in reply.bits]
