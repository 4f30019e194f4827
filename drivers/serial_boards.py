"""Relay boards spoken to with raw serial frames: LCUS, Numato and KMTronic, and a
panic button on a serial port's modem lines.

Frames (SPEC §6):
- lcus      `A0 ch state sum`, ch from 1, sum = low byte of the first three; no reply,
            no reliable read-back.
- numato    ASCII `relay on N\\r`, `relay off N\\r`, `relay readall\\r` (hex mask);
            the device echoes the command and ends every reply with `\\n\\r>`.
- kmtronic  `FF nn 01` on, `FF nn 00` off, `FF nn 03` asks relay nn's state, which
            comes back as `FF nn ss`; nn from 1.
- serial-lines  inputs on CTS, DSR, DCD and RI; DTR and RTS are raised to power them.
"""

from __future__ import annotations

import asyncio
import re

from drivers.base import DeviceSettings, RelayBoard
from drivers.errors import DeviceConfigError, DeviceReplyError
from drivers.serial_bus import SerialBus


class SerialBoard(RelayBoard):
    def __init__(self, settings: DeviceSettings) -> None:
        super().__init__(settings)
        if settings.transport != "serial":
            raise DeviceConfigError(f"{settings.id}: driver {settings.driver} needs transport = \"serial\"")
        self.bus = SerialBus.get(str(settings.port), settings.baudrate, settings.parity)
        self._lock = self.bus.lock  # one frame on the line at a time, across devices

    async def _connect(self) -> None:
        await self.bus.open()

    async def _close(self) -> None:
        self.bus.close()

    def _release(self) -> None:
        self.bus.release()

    async def _heartbeat(self) -> None:
        await asyncio.to_thread(self.bus.alive)


# -- LCUS ---------------------------------------------------------------------------

def lcus_frame(channel: int, on: bool) -> bytes:
    head = bytes([0xA0, channel + 1, 1 if on else 0])
    return head + bytes([sum(head) & 0xFF])


class LcusBoard(SerialBoard):
    can_read_back = False

    async def _write_output(self, channel: int, on: bool) -> None:
        await self.bus.exchange(lcus_frame(channel, on), None, self.settings.timeout)


# -- Numato ---------------------------------------------------------------------------

PROMPT = b"\n\r>"


def numato_index(channel: int) -> str:
    return str(channel) if channel < 10 else chr(ord("A") + channel - 10)


def numato_complete(buffer: bytes) -> int | None:
    end = buffer.find(PROMPT)
    return end + len(PROMPT) if end >= 0 else None


def numato_reply(command: str, reply: bytes) -> str:
    """Check the echo and return what the device said between echo and prompt."""
    try:
        text = reply.decode("ascii")
    except UnicodeDecodeError:
        raise DeviceReplyError(f"reply is not ASCII: {reply[:40]!r}") from None
    if not text.endswith(PROMPT.decode()):
        raise DeviceReplyError(f"reply does not end with the prompt: {text[-20:]!r}")
    body = text[: -len(PROMPT)]
    # Noise may precede the echo; the echo itself must be there.
    at = body.rfind(command)
    if at < 0:
        raise DeviceReplyError(f"the device did not echo {command!r}: {body[-60:]!r}")
    return body[at + len(command):].strip("\r\n")


def numato_mask(answer: str, channels: int) -> list[bool]:
    if not re.fullmatch(r"[0-9A-Fa-f]{2,16}", answer):
        raise DeviceReplyError(f"readall answer is not a hex mask: {answer!r}")
    mask = int(answer, 16)
    return [bool(mask >> ch & 1) for ch in range(channels)]


class NumatoBoard(SerialBoard):
    can_read_back = True

    async def _command(self, command: str) -> str:
        reply = await self.bus.exchange(f"{command}\r".encode(), numato_complete,
                                        self.settings.timeout)
        return numato_reply(command, reply)

    async def _write_output(self, channel: int, on: bool) -> None:
        await self._command(f"relay {'on' if on else 'off'} {numato_index(channel)}")

    async def _read_outputs(self) -> list[bool]:
        return numato_mask(await self._command("relay readall"), self.settings.channels)


# -- KMTronic ---------------------------------------------------------------------------

def kmtronic_complete(prefix: bytes):
    def complete(buffer: bytes) -> int | None:
        at = buffer.find(prefix)
        if at >= 0 and len(buffer) >= at + 3:
            return at + 3
        return None

    return complete


class KmtronicBoard(SerialBoard):
    can_read_back = True

    async def _write_output(self, channel: int, on: bool) -> None:
        frame = bytes([0xFF, channel + 1, 0x01 if on else 0x00])
        await self.bus.exchange(frame, None, self.settings.timeout)

    async def _read_outputs(self) -> list[bool]:
        states = []
        for channel in range(self.settings.channels):
            prefix = bytes([0xFF, channel + 1])
            reply = await self.bus.exchange(prefix + b"\x03", kmtronic_complete(prefix),
                                            self.settings.timeout)
            state = reply[-1]
            if state not in (0, 1):
                raise DeviceReplyError(f"{self.id}: relay {channel + 1} state byte {state:#04x}")
            states.append(bool(state))
        return states


# -- serial-lines ---------------------------------------------------------------------------

MODEM_LINES = ("cts", "dsr", "dcd", "ri")


class SerialLinesInput(SerialBoard):
    """A panic button between DTR/RTS (raised as supply) and CTS, DSR, DCD or RI.

    Inputs 0..3 are CTS, DSR, DCD, RI. It has no outputs.
    """

    can_read_back = False

    def __init__(self, settings: DeviceSettings) -> None:
        super().__init__(settings)
        if settings.channels:
            raise DeviceConfigError(f"{settings.id}: serial-lines has no outputs; set channels = 0")
        if settings.inputs > len(MODEM_LINES):
            raise DeviceConfigError(f"{settings.id}: serial-lines has 4 inputs (CTS, DSR, DCD, RI)")

    async def _connect(self) -> None:
        await self.bus.open()
        await asyncio.to_thread(self.bus.supply, True)

    async def _read_inputs(self) -> list[bool]:
        lines = await asyncio.to_thread(self.bus.modem_lines)
        return [lines[name] for name in MODEM_LINES]

    async def _read_outputs(self) -> list[bool]:
        return []
