"""Byte-level device emulators on pseudo-terminals.

Each emulator owns the master side of a pty; the driver opens the slave path like a
USB-serial adapter. Emulators record every frame they receive (so tests can check
frames byte by byte) and can misbehave on request: stay silent, answer late, send
line noise first, or cut a reply short.
"""

from __future__ import annotations

import os
import select
import threading
import tty


def crc16(data: bytes) -> bytes:
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc.to_bytes(2, "little")


class PtyDevice:
    def __init__(self, channels: int = 8) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.relays = [False] * channels
        self.frames: list[bytes] = []
        self.mode = "normal"  # normal | silent | late | noise | short
        self.late_by = 1.0
        self.changed = threading.Event()
        self._buffer = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass

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
        os.write(self.master, reply)

    # -- protocol hooks ------------------------------------------------------------
    def parse(self, buffer: bytes) -> tuple[bytes, bytes] | None:
        raise NotImplementedError

    def handle(self, frame: bytes) -> bytes | None:
        raise NotImplementedError


class LcusEmulator(PtyDevice):
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
    def parse(self, buffer):
        at = buffer.find(b"\r")
        if at < 0:
            return None
        return buffer[:at + 1], buffer[at + 1:]

    def handle(self, frame):
        command = frame.decode("ascii").strip()
        words = command.split()
        answer = ""
        if words[:1] == ["relay"] and len(words) == 3 and words[1] in ("on", "off"):
            index = int(words[2], 16) if words[2].isalpha() else int(words[2])
            self.relays[index] = words[1] == "on"
        elif words == ["relay", "readall"]:
            mask = sum(1 << i for i, on in enumerate(self.relays) if on)
            answer = f"{mask:0{max(2, len(self.relays) // 4)}X}\n\r"
        return f"{command}\n\r{answer}>".encode()


class KmtronicEmulator(PtyDevice):
    def parse(self, buffer):
        at = buffer.find(b"\xff")
        if at < 0 or len(buffer) < at + 3:
            return None
        return buffer[at:at + 3], buffer[at + 3:]

    def handle(self, frame):
        relay, command = frame[1], frame[2]
        if not 1 <= relay <= len(self.relays):
            return None
        if command in (0, 1):
            self.relays[relay - 1] = command == 1
            return None
        if command == 3:
            return bytes([0xFF, relay, int(self.relays[relay - 1])])
        return None


class RtuEmulator(PtyDevice):
    """A Modbus RTU board, byte by byte: Eletechsup registers, or coils with
    Waveshare's flash commands."""

    def __init__(self, channels: int = 8, unit: int = 1) -> None:
        self.unit = unit
        self.timers: dict[int, int] = {}
        self.flashes: list[tuple[int, int, int]] = []
        super().__init__(channels)

    def parse(self, buffer):
        # Every request dabyl sends (FC01/03/05/06) is 8 bytes long.
        while len(buffer) >= 8:
            frame = buffer[:8]
            if frame[0] == self.unit and crc16(frame[:6]) == frame[6:]:
                return frame, buffer[8:]
            buffer = buffer[1:]  # resynchronise on line noise
        return None

    def _reply(self, body: bytes) -> bytes:
        return body + crc16(body)

    def handle(self, frame):
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
        if fc == 3:
            regs = b"".join(int(self.relays[a - 1 + i]).to_bytes(2, "big") for i in range(v))
            return self._reply(bytes([self.unit, 3, len(regs)]) + regs)
        if fc == 5:
            if a >= 0x0400:
                self.flashes.append((0x0400, a - 0x0400, v))
            elif a >= 0x0200:
                self.flashes.append((0x0200, a - 0x0200, v))
            else:
                self.relays[a] = v == 0xFF00
            return frame
        if fc == 1:
            bits = sum(1 << i for i in range(v) if self.relays[a + i])
            data = bits.to_bytes((v + 7) // 8, "little")
            return self._reply(bytes([self.unit, 1, len(data)]) + data)
        return self._reply(bytes([self.unit, fc | 0x80, 1]))
