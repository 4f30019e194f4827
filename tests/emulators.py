"""Byte-level device emulators on pseudo-terminals, written from the makers' notes.

Each emulator owns the master side of a pty; the driver opens the slave path like a
USB-serial adapter. With `link`, the driver opens a symlink to it, as udev's
/dev/serial/by-id names are, so the emulator can be unplugged (the port vanishes,
the driver's open port fails with EIO) and plugged in again under the same name.

Emulators record every frame they receive (so tests can check frames byte by byte)
and can misbehave on request: stay silent, answer late, send line noise first, cut a
reply short, or lose their relay states as a board does on a power dip.
"""

from __future__ import annotations

import os
import select
import threading
import tty
from pathlib import Path


def crc16(data: bytes) -> bytes:
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc.to_bytes(2, "little")


class PtyDevice:
    def __init__(self, channels: int = 8, link: Path | None = None) -> None:
        self.relays = [False] * channels
        self.frames: list[bytes] = []
        self.mode = "normal"  # normal | silent | late | noise | short | garbage
        self.late_by = 1.0
        self.changed = threading.Event()
        self.replied = threading.Event()  # set after each reply is written
        self.link = link
        self._plug()

    def _plug(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)
        self.tty = os.ttyname(self.slave)
        if self.link is not None:
            fresh = self.link.with_name(self.link.name + ".new")
            os.symlink(self.tty, fresh)
            os.replace(fresh, self.link)
        self.path = str(self.link or self.tty)
        self._buffer = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def unplug(self) -> None:
        """The USB cable is pulled: the port and its name go away."""
        self._stop.set()
        self._thread.join(2)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.link is not None:
            self.link.unlink(missing_ok=True)

    def replug(self) -> None:
        """Plugged in again: a new port under the same name, relays as the board
        starts (off)."""
        self.relays = [False] * len(self.relays)
        self._plug()

    def lose_relays(self) -> None:
        """A power dip on the board: every relay drops while the USB port stays."""
        self.relays = [False] * len(self.relays)

    def close(self) -> None:
        self.unplug()

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            self._buffer += data
            while True:
                parsed = self.parse(self._buffer)
                if parsed is None:
                    break
                frame, self._buffer = parsed
                self.frames.append(frame)
                reply = self.handle(frame)
                self.changed.set()
                if reply:
                    self._send(reply)

    def _send(self, reply: bytes) -> None:
        if self.mode == "silent":
            return
        if self.mode == "late":
            self._stop.wait(self.late_by)  # a device that answers late
        if self.mode == "noise":
            reply = b"\x00\xfe\x13garbage" + reply
        if self.mode == "short":
            reply = reply[: max(1, len(reply) // 2)]
        if self.mode == "garbage":  # a reply of the right size that is no frame at all
            reply = bytes((0x5A + 7 * i) & 0xFF for i in range(len(reply)))
        try:
            os.write(self.master, reply)
        except OSError:
            pass
        self.replied.set()

    # -- protocol hooks ------------------------------------------------------------
    def parse(self, buffer: bytes) -> tuple[bytes, bytes] | None:
        raise NotImplementedError

    def handle(self, frame: bytes) -> bytes | None:
        raise NotImplementedError


class LcusEmulator(PtyDevice):
    """`A0 ch state sum`, ch from 1; the board never answers."""

    def parse(self, buffer):
        at = buffer.find(b"\xa0")
        if at < 0 or len(buffer) < at + 4:
            return None
        return buffer[at:at + 4], buffer[at + 4:]

    def handle(self, frame):
        if (frame[0] + frame[1] + frame[2]) & 0xFF == frame[3] and 1 <= frame[1] <= len(self.relays):
            self.relays[frame[1] - 1] = frame[2] == 1
        return None


class NumatoEmulator(PtyDevice):
    """ASCII commands echoed back, replies ended by `\\n\\r>`; relays 10 and up are
    letters; `relay writeall` takes the same hex mask `relay readall` gives."""

    def _width(self) -> int:
        return max(2, len(self.relays) // 4)

    def parse(self, buffer):
        at = buffer.find(b"\r")
        if at < 0:
            return None
        return buffer[:at + 1], buffer[at + 1:]

    def handle(self, frame):
        command = frame.decode("ascii", "replace").strip()
        words = command.split()
        answer = ""
        if words[:1] == ["relay"] and len(words) == 3 and words[1] in ("on", "off"):
            index = int(words[2], 16) if words[2].isalpha() else int(words[2])
            self.relays[index] = words[1] == "on"
        elif words == ["relay", "readall"]:
            mask = sum(1 << i for i, on in enumerate(self.relays) if on)
            answer = f"{mask:0{self._width()}X}\n\r"
        elif words[:2] == ["relay", "writeall"] and len(words) == 3 and len(words[2]) == self._width():
            mask = int(words[2], 16)
            self.relays = [bool(mask >> i & 1) for i in range(len(self.relays))]
        return f"{command}\n\r{answer}>".encode()


class KmtronicEmulator(PtyDevice):
    """KMTronic USB boards: `FF nn 01` on, `FF nn 00` off (nn from 1). The one- and
    two-relay boards answer `FF nn 03` with `FF nn ss`; the four- and eight-relay
    boards answer only `FF 09 00`, with one byte per relay."""

    def parse(self, buffer):
        at = buffer.find(b"\xff")
        if at < 0 or len(buffer) < at + 3:
            return None
        return buffer[at:at + 3], buffer[at + 3:]

    def handle(self, frame):
        relay, command = frame[1], frame[2]
        if len(self.relays) >= 4 and frame == b"\xff\x09\x00":
            return bytes(int(on) for on in self.relays)
        if not 1 <= relay <= len(self.relays):
            return None
        if command in (0, 1):
            self.relays[relay - 1] = command == 1
            return None
        if command == 3 and len(self.relays) <= 2:
            return bytes([0xFF, relay, int(self.relays[relay - 1])])
        return None


class KmtronicRs485Emulator(PtyDevice):
    """KMTronic RS-485 boards sharing one line, eight relays each: relay r of board b
    is `FF ((b-1)*8+r) 01|00`; `FF (A0+b) 00` asks board b, which answers
    `FF (A0+b)` and one byte per relay. `relays` holds every board's relays in turn."""

    def __init__(self, boards: int = 2, link: Path | None = None) -> None:
        super().__init__(8 * boards, link)

    def parse(self, buffer):
        at = buffer.find(b"\xff")
        if at < 0 or len(buffer) < at + 3:
            return None
        return buffer[at:at + 3], buffer[at + 3:]

    def handle(self, frame):
        nn, command = frame[1], frame[2]
        boards = len(self.relays) // 8
        if 0xA1 <= nn < 0xA1 + boards and command == 0:
            board = nn - 0xA0
            return bytes([0xFF, nn]) + bytes(int(on) for on in self.relays[(board - 1) * 8:board * 8])
        if 1 <= nn <= len(self.relays) and command in (0, 1):
            self.relays[nn - 1] = command == 1
        return None


class RtuEmulator(PtyDevice):
    """A Modbus RTU board, byte by byte: coils (FC01/05/15, with Waveshare's flash
    commands at 0x0200+n and 0x0400+n), discrete inputs (FC02), registers (FC03/04)
    and Eletechsup's FC06 relay commands. It answers only its own unit."""

    def __init__(self, channels: int = 8, unit: int = 1, link: Path | None = None) -> None:
        self.unit = unit
        self.timers: dict[int, int] = {}
        self.flashes: list[tuple[int, int, int]] = []
        self.inputs = [False] * 8
        self.registers = [0] * 8
        super().__init__(channels, link)

    def parse(self, buffer):
        while len(buffer) >= 8:
            size = 8
            if buffer[1] in (15, 16) and len(buffer) >= 7:
                size = 9 + buffer[6]
            if len(buffer) < size:
                return None
            frame = buffer[:size]
            if crc16(frame[:-2]) == frame[-2:]:
                return frame, buffer[size:]
            buffer = buffer[1:]  # resynchronise on line noise
        return None

    def _reply(self, body: bytes) -> bytes:
        return body + crc16(body)

    def handle(self, frame):
        if frame[0] != self.unit:
            return None  # another board's frame on the shared line
        fc = frame[1]
        a = int.from_bytes(frame[2:4], "big")
        v = int.from_bytes(frame[4:6], "big")
        if fc == 6:  # Eletechsup register commands
            command, arg = v >> 8, v & 0xFF
            if a == 0 and v in (0x0700, 0x0800):
                self.relays = [v == 0x0700] * len(self.relays)
            elif 1 <= a <= len(self.relays):
                ch = a - 1
                if command == 1:
                    self.relays[ch] = True
                elif command == 2:
                    self.relays[ch] = False
                elif command == 3:
                    self.relays[ch] = not self.relays[ch]
                elif command == 6:
                    self.relays[ch] = arg > 0
                    self.timers[ch] = arg
            return frame  # FC06 answers with an echo
        if fc == 3 and 1 <= a and a - 1 + v <= len(self.relays):  # Eletechsup relay states
            regs = b"".join(int(self.relays[a - 1 + i]).to_bytes(2, "big") for i in range(v))
            return self._reply(bytes([self.unit, 3, len(regs)]) + regs)
        if fc == 4 and a + v <= len(self.registers):
            regs = b"".join(self.registers[a + i].to_bytes(2, "big") for i in range(v))
            return self._reply(bytes([self.unit, 4, len(regs)]) + regs)
        if fc == 5:
            # Flash on switches the relay on (flash off: off) for v x 100 ms; the
            # board's own timer ending it is not emulated.
            if a >= 0x0400:
                self.flashes.append((0x0400, a - 0x0400, v))
                self.relays[a - 0x0400] = False
            elif a >= 0x0200:
                self.flashes.append((0x0200, a - 0x0200, v))
                self.relays[a - 0x0200] = True
            elif a < len(self.relays):
                self.relays[a] = v == 0xFF00
            else:
                return self._reply(bytes([self.unit, 0x85, 2]))
            return frame
        if fc == 15 and a + v <= len(self.relays):
            bits = int.from_bytes(frame[7:7 + frame[6]], "little")
            for i in range(v):
                self.relays[a + i] = bool(bits >> i & 1)
            return self._reply(frame[:6])
        if fc in (1, 2):
            source = self.relays if fc == 1 else self.inputs
            if a + v > len(source):
                return self._reply(bytes([self.unit, fc | 0x80, 2]))
            bits = sum(1 << i for i in range(v) if source[a + i])
            data = bits.to_bytes((v + 7) // 8, "little")
            return self._reply(bytes([self.unit, fc, len(data)]) + data)
        return self._reply(bytes([self.unit, fc | 0x80, 1]))


async def relays_become(emulator: PtyDevice, expected: list[bool], timeout: float = 5.0) -> None:
    """Wait until the emulated board's relays are as expected, woken by each frame it
    receives (devices without replies act when the bytes arrive)."""
    import asyncio

    async with asyncio.timeout(timeout):
        while list(emulator.relays) != expected:
            emulator.changed.clear()
            if list(emulator.relays) == expected:
                break
            await asyncio.to_thread(emulator.changed.wait, 0.5)
