"""Modbus boards over TCP or RTU, with exact frames and replies checked byte by byte.

dabyl is the Modbus master here, so it frames its own requests: it must keep the
3.5-character silence on a line it shares with other devices (drivers.serial_bus),
let relay writes go before polls, and say in words what a board did wrong. The
pymodbus server plays the device in the simulator and the tests, so every frame
below is checked against an independent implementation.

`modbus-coils`: relays as coils (FC01 read; FC15 writes a whole wished state in one
frame, FC05 a single coil), inputs as discrete inputs (FC02). Channel offsets make
Waveshare (coils 0-7), ADAM-6060 (DI 0-5, relays at coils 16-21), ioLogik E1200 and
ET-2200 maps a matter of configuration.

`waveshare`: modbus-coils plus Waveshare's flash commands (FC05 at 0x0200+n flash on,
0x0400+n flash off, value = time in 100 ms): a pulse the board ends by itself.

`eletechsup`: R4D3B16 / R4D8A08 / R413D08 class boards: FC06 to register 0x0001+n
with 0x0100 on, 0x0200 off, 0x0300 toggle, 0x0500 momentary, 0x06XX on for XX s
(0x0600 cancels a running timer); register 0x0000 takes 0x0700 all on, 0x0800 all
off; FC03 from register 0x0001 reads 1/0 per relay.

`modbus-analog`: an analog input module (4-20 mA / 0-10 V), read with FC04 (input
registers) or FC03 (holding registers): supervised inputs with end-of-line resistors.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import struct

from drivers.base import DeviceSettings, RelayBoard
from drivers.errors import (
    DeviceConfigError,
    DeviceRefused,
    DeviceReplyError,
    DeviceTimeout,
    DeviceUnavailable,
)
from drivers.serial_bus import SerialLine

WAVESHARE_FLASH_ON = 0x0200
WAVESHARE_FLASH_OFF = 0x0400

ELETECH_ON, ELETECH_OFF, ELETECH_TOGGLE, ELETECH_MOMENTARY = 0x0100, 0x0200, 0x0300, 0x0500
ELETECH_TIMED = 0x0600
ELETECH_ALL_ON, ELETECH_ALL_OFF = 0x0700, 0x0800

EXCEPTIONS = {
    1: "illegal function", 2: "illegal data address", 3: "illegal data value",
    4: "device failure", 5: "acknowledge", 6: "device busy", 8: "memory parity error",
    10: "gateway path unavailable", 11: "gateway target did not respond",
}


def crc16(data: bytes) -> bytes:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc.to_bytes(2, "little")


def find_rtu_reply(buffer: bytes, unit: int, fc: int, size: int) -> tuple[int, int] | None:
    """Where a valid reply (normal, `size` bytes, or exception, 5 bytes) from `unit` to
    function `fc` sits in what was received; line noise before it is skipped."""
    for start in range(len(buffer) - 1):
        if buffer[start] != unit:
            continue
        code = buffer[start + 1]
        length = size if code == fc else 5 if code == fc | 0x80 else 0
        end = start + length
        if length and end <= len(buffer) and crc16(buffer[start:end - 2]) == buffer[end - 2:end]:
            return start, end
    return None


class _RtuLink:
    """Modbus RTU through a shared serial line."""

    def __init__(self, settings: DeviceSettings) -> None:
        self.line = SerialLine.get(str(settings.port), settings.baudrate, settings.parity,
                                   settings.poll_share)
        self.timeout = settings.timeout

    async def open(self) -> None:
        await self.line.open()

    def close(self) -> None:
        """The line stays open for the other devices on it."""

    async def request(self, unit: int, pdu: bytes, reply_size: int) -> bytes:
        body = bytes([unit]) + pdu
        fc, size = pdu[0], reply_size + 3

        def complete(buffer: bytes) -> int | None:
            found = find_rtu_reply(buffer, unit, fc, size)
            return found[1] if found else None

        reply = await self.line.exchange(body + crc16(body), complete, self.timeout)
        start, end = find_rtu_reply(reply, unit, fc, size) or (0, len(reply))
        return reply[start + 1:end - 2]


class _TcpLink:
    """Modbus TCP: one connection per device, one request at a time."""

    def __init__(self, settings: DeviceSettings) -> None:
        if not isinstance(settings.port, int):
            raise DeviceConfigError("Modbus TCP needs a port number")
        self.host, self.port, self.timeout = settings.host, settings.port, settings.timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._ids = itertools.count(1)

    async def open(self) -> None:
        if self._writer is not None:
            return
        try:
            async with asyncio.timeout(self.timeout):
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        except TimeoutError:
            detail = f"no answer within {self.timeout:g} s"
            raise DeviceUnavailable("device_cannot_connect", f"cannot connect ({detail})",
                                    detail=detail) from None
        except OSError as exc:
            detail = (exc.strerror or str(exc)).lower()
            raise DeviceUnavailable("device_cannot_connect", f"cannot connect ({detail})",
                                    detail=detail) from None

    def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()

    async def request(self, unit: int, pdu: bytes, reply_size: int) -> bytes:
        await self.open()
        assert self._reader is not None and self._writer is not None
        tid = next(self._ids) & 0xFFFF
        try:
            self._writer.write(struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu)
            async with asyncio.timeout(self.timeout):
                await self._writer.drain()
                head = await self._reader.readexactly(7)
                rtid, proto, length, runit = struct.unpack(">HHHB", head)
                if (rtid, proto, runit) != (tid, 0, unit) or not 2 <= length <= 254:
                    more = await _some(self._reader)
                    raise DeviceReplyError(f"got {(head + more)[:24].hex(' ')}")
                return await self._reader.readexactly(length - 1)
        except TimeoutError:
            self.close()  # a late reply must not be taken for the next one
            raise DeviceTimeout(self.timeout) from None
        except asyncio.CancelledError:
            self.close()  # nor the reply to a request given up half way
            raise
        except asyncio.IncompleteReadError:
            self.close()
            raise DeviceUnavailable("device_connection_lost",
                                    "connection lost (closed by the device)",
                                    detail="closed by the device") from None
        except DeviceReplyError:
            self.close()
            raise
        except OSError as exc:
            self.close()
            detail = (exc.strerror or str(exc)).lower()
            raise DeviceUnavailable("device_connection_lost", f"connection lost ({detail})",
                                    detail=detail) from None


async def _some(reader: asyncio.StreamReader) -> bytes:
    """Whatever else already arrived (to show it), without waiting for more."""
    with contextlib.suppress(TimeoutError, OSError):
        async with asyncio.timeout(0.01):
            return await reader.read(64)
    return b""


class ModbusBoard(RelayBoard):
    """What every Modbus board shares: the link, requests and checked replies."""

    addressed = True

    def __init__(self, settings: DeviceSettings) -> None:
        super().__init__(settings)
        if settings.transport == "tcp":
            self._link: _RtuLink | _TcpLink = _TcpLink(settings)
        elif settings.transport == "serial":
            self._link = _RtuLink(settings)
        else:
            raise DeviceConfigError(f"unknown transport {settings.transport!r}")

    @property
    def line(self) -> SerialLine | None:
        return self._link.line if isinstance(self._link, _RtuLink) else None

    async def _connect(self) -> None:
        await self._link.open()

    async def _close(self) -> None:
        self._link.close()

    def _release(self) -> None:
        if isinstance(self._link, _RtuLink):
            self._link.line.release()

    async def _request(self, pdu: bytes, reply_size: int, what: str) -> bytes:
        reply = await self._link.request(self.settings.unit, pdu, reply_size)
        if reply[:1] == bytes([pdu[0] | 0x80]) and len(reply) == 2:
            code = reply[1]
            raise DeviceRefused(what, f"Modbus exception {code} ({EXCEPTIONS.get(code, 'unknown')})")
        if reply[:1] != pdu[:1] or len(reply) != reply_size:
            raise DeviceReplyError(f"function {reply[:1].hex() or 'none'}, "
                                   f"{len(reply)} bytes where {reply_size} were due")
        return reply

    async def _read_bits(self, fc: int, address: int, count: int, what: str) -> list[bool]:
        size = (count + 7) // 8
        reply = await self._request(struct.pack(">BHH", fc, address, count), 2 + size, what)
        if reply[1] != size:
            raise DeviceReplyError(f"byte count {reply[1]} where {size} was due")
        bits = int.from_bytes(reply[2:], "little")
        return [bool(bits >> i & 1) for i in range(count)]

    async def _read_registers(self, fc: int, address: int, count: int, what: str) -> list[int]:
        reply = await self._request(struct.pack(">BHH", fc, address, count), 2 + 2 * count, what)
        if reply[1] != 2 * count:
            raise DeviceReplyError(f"byte count {reply[1]} where {2 * count} was due")
        return list(struct.unpack(f">{count}H", reply[2:]))

    async def _echoed(self, pdu: bytes, what: str) -> None:
        """FC05 and FC06 answer with an echo of the request."""
        reply = await self._request(pdu, 5, what)
        if reply != pdu:
            raise DeviceReplyError(f"echo {reply.hex(' ')} of {pdu.hex(' ')}")


class ModbusCoils(ModbusBoard):
    can_read_back = True

    async def _write_outputs(self, states: dict[int, bool], changed: list[int]) -> None:
        # One frame per run of neighbouring coils (a board's relays are usually one run).
        runs: list[list[int]] = []
        for channel in sorted(states):
            if runs and channel == runs[-1][-1] + 1:
                runs[-1].append(channel)
            else:
                runs.append([channel])
        for run in runs:
            if not any(c in changed for c in run):
                continue
            first = self.settings.coil_offset + run[0]
            if len(run) == 1:
                value = 0xFF00 if states[run[0]] else 0x0000
                await self._echoed(struct.pack(">BHH", 5, first, value), f"switch coil {first}")
                continue
            bits = sum(1 << i for i, c in enumerate(run) if states[c])
            data = bits.to_bytes((len(run) + 7) // 8, "little")
            pdu = struct.pack(">BHHB", 15, first, len(run), len(data)) + data
            what = f"write coils {first}-{first + len(run) - 1}"
            reply = await self._request(pdu, 5, what)
            if reply != pdu[:5]:
                raise DeviceReplyError(f"echo {reply.hex(' ')} of {pdu[:5].hex(' ')}")

    async def _read_outputs(self) -> list[bool]:
        return await self._read_bits(1, self.settings.coil_offset, self.settings.channels,
                                     "read coils")

    async def _read_inputs(self) -> list[bool]:
        return await self._read_bits(2, self.settings.input_offset, self.settings.inputs,
                                     "read inputs")


class WaveshareRelay(ModbusCoils):
    """Waveshare Modbus RTU Relay: coils, plus flash commands the board times itself."""

    async def flash(self, channel: int, period: float, on: bool = True) -> None:
        """Flash on (relay on for `period`, then off) or off (the other way round);
        the board times it in 100 ms units."""
        self._check_channel(channel, self.settings.channels, "output")
        units = max(1, min(0x7FFF, round(period * 10)))
        address = (WAVESHARE_FLASH_ON if on else WAVESHARE_FLASH_OFF) + channel
        async with self._lock:
            await self._guard(self._echoed(struct.pack(">BHH", 5, address, units),
                                           f"flash relay {channel}"), "flash")

    async def pulse_on(self, channel: int, seconds: float) -> bool:
        await self.flash(channel, seconds)
        return True


class Eletechsup(ModbusBoard):
    can_read_back = True

    async def _command(self, register: int, value: int, what: str) -> None:
        await self._echoed(struct.pack(">BHH", 6, register, value), what)

    async def _write_outputs(self, states: dict[int, bool], changed: list[int]) -> None:
        values = set(states.values())
        if len(states) == self.settings.channels and len(values) == 1:
            # The whole board one way: one command switches every relay.
            on = values.pop()
            await self._command(0, ELETECH_ALL_ON if on else ELETECH_ALL_OFF,
                                f"switch all relays {'on' if on else 'off'}")
            return
        for channel in changed:
            await self._command(channel + 1, ELETECH_ON if states[channel] else ELETECH_OFF,
                                f"switch relay {channel + 1}")

    async def _read_outputs(self) -> list[bool]:
        values = await self._read_registers(3, 1, self.settings.channels, "read relay states")
        for value in values:
            if value not in (0, 1):
                raise DeviceReplyError(f"relay state {value:#06x} is neither 0 nor 1")
        return [bool(v) for v in values]

    async def _read_inputs(self) -> list[bool]:
        return []

    async def pulse_on(self, channel: int, seconds: float) -> bool:
        """The board's own timer: on for whole seconds (1-255), then off by itself."""
        self._check_channel(channel, self.settings.channels, "output")
        whole = max(1, min(255, round(seconds)))
        async with self._lock:
            await self._guard(self._command(channel + 1, ELETECH_TIMED | whole,
                                            f"time relay {channel + 1}"), "timed output")
        return True

    async def cancel_timer(self, channel: int) -> None:
        async with self._lock:
            await self._guard(self._command(channel + 1, ELETECH_TIMED,
                                            f"cancel the timer of relay {channel + 1}"), "cancel")

    async def all_off(self) -> None:
        async with self._lock:
            await self._guard(self._command(0, ELETECH_ALL_OFF, "switch all relays off"),
                              "all off")


class ModbusAnalog(ModbusBoard):
    """An analog input module: raw readings for supervised (end-of-line) inputs."""

    can_read_back = False
    analog_inputs = True

    def __init__(self, settings: DeviceSettings) -> None:
        super().__init__(settings)
        if settings.channels:
            raise DeviceConfigError("an analog input module has no outputs; set channels = 0")
        if settings.registers not in ("input", "holding"):
            raise DeviceConfigError("registers must be \"input\" (FC04) or \"holding\" (FC03)")

    async def _read_inputs(self) -> list[int]:
        fc = 4 if self.settings.registers == "input" else 3
        return await self._read_registers(fc, self.settings.input_offset, self.settings.inputs,
                                          "read analog inputs")

    async def _heartbeat(self) -> None:
        await self._read_inputs()
