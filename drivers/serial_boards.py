"""Relay boards spoken to with raw serial frames: LCUS, Numato and KMTronic, and a
panic button on a serial port's modem lines.

Frames, as the makers document them:
- lcus      `A0 ch state sum`, ch from 1 (channel 0 is relay 1), sum = low byte of
            the first three; no reply, no read-back; no frame for several relays.
- numato    ASCII `relay on N\\r`, `relay off N\\r` (N = 0-9, then A, B, ...),
            `relay readall\\r` (hex mask), `relay writeall XX\\r` (the same mask, all
            relays in one command, on the 8-channel and larger modules); the device
            echoes the command and ends every reply with `\\n\\r>`.
- kmtronic  USB boards: `FF nn 01` on, `FF nn 00` off, nn from 1 (channel 0 is relay
            1). The one- and two-relay boards answer `FF nn 03` with `FF nn ss`; the
            four- and eight-relay boards answer `FF 09 00` with one byte per relay.
- kmtronic-rs485  up to 31 boards of eight relays on one line: relay r of board b
            (`unit`) is `FF ((b-1)*8+r) 01|00`; `FF (A0+b) 00` asks board b, which
            answers `FF (A0+b)` and eight state bytes.
- serial-lines  inputs on CTS, DSR, DCD and RI; DTR and RTS are raised to power them.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import re
import struct
import termios
import threading

from drivers.base import DeviceSettings, RelayBoard
from drivers.errors import DeviceConfigError, DeviceReplyError
from drivers.serial_bus import SerialLine

log = logging.getLogger("dabyl.drivers")


class SerialBoard(RelayBoard):
    #: Several such devices may share one port (an RS-485 line); a USB board is alone.
    shares_its_port = False

    def __init__(self, settings: DeviceSettings) -> None:
        super().__init__(settings)
        if settings.transport != "serial":
            raise DeviceConfigError(f"driver {settings.driver} needs transport = \"serial\"")
        self._line = SerialLine.get(str(settings.port), settings.baudrate, settings.parity,
                                    settings.poll_share)
        if self._line.users > 1 and not self.shares_its_port:
            self._line.release()
            raise DeviceConfigError(
                f"{settings.port}: a {settings.driver} board is alone on its port")

    @property
    def line(self) -> SerialLine:
        return self._line

    async def _exchange(self, frame: bytes, complete=None) -> bytes:
        return await self._line.exchange(frame, complete, self.settings.timeout)

    async def _connect(self) -> None:
        await self._line.open()

    async def _close(self) -> None:
        """The line stays open for the other devices on it; a failing port closes itself."""

    def _release(self) -> None:
        self._line.release()

    async def _heartbeat(self) -> None:
        await self._line.check(self._line.alive)


# -- LCUS ---------------------------------------------------------------------------

def lcus_frame(channel: int, on: bool) -> bytes:
    head = bytes([0xA0, channel + 1, 1 if on else 0])
    return head + bytes([sum(head) & 0xFF])


class LcusBoard(SerialBoard):
    can_read_back = False

    async def _write_output(self, channel: int, on: bool) -> None:
        await self._exchange(lcus_frame(channel, on))


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
        raise DeviceReplyError(f"not ASCII: {reply[:40]!r}") from None
    if not text.endswith(PROMPT.decode()):
        raise DeviceReplyError(f"no prompt at the end: {text[-20:]!r}")
    body = text[: -len(PROMPT)]
    # Noise may precede the echo; the echo itself must be there.
    at = body.rfind(command)
    if at < 0:
        raise DeviceReplyError(f"no echo of {command!r}: {body[-60:]!r}")
    return body[at + len(command):].strip("\r\n")


def numato_mask(answer: str, channels: int) -> list[bool]:
    if not re.fullmatch(r"[0-9A-Fa-f]{2,16}", answer):
        raise DeviceReplyError(f"readall answer is not a hex mask: {answer!r}")
    mask = int(answer, 16)
    return [bool(mask >> ch & 1) for ch in range(channels)]


class NumatoBoard(SerialBoard):
    can_read_back = True

    async def _command(self, command: str) -> str:
        reply = await self._exchange(f"{command}\r".encode(), numato_complete)
        return numato_reply(command, reply)

    async def _write_outputs(self, states: dict[int, bool], changed: list[int]) -> None:
        channels = self.settings.channels
        if channels >= 8 and len(states) == channels:
            mask = sum(1 << ch for ch, on in states.items() if on)
            await self._command(f"relay writeall {mask:0{channels // 4}x}")
            return
        await super()._write_outputs(states, changed)

    async def _write_output(self, channel: int, on: bool) -> None:
        await self._command(f"relay {'on' if on else 'off'} {numato_index(channel)}")

    async def _read_outputs(self) -> list[bool]:
        return numato_mask(await self._command("relay readall"), self.settings.channels)


# -- KMTronic ---------------------------------------------------------------------------

def after_prefix(prefix: bytes, count: int):
    """A reply is `prefix` and then `count` more bytes (noise before it is skipped)."""
    def complete(buffer: bytes) -> int | None:
        at = buffer.find(prefix)
        if at >= 0 and len(buffer) >= at + len(prefix) + count:
            return at + len(prefix) + count
        return None

    return complete


def relay_states(data: bytes) -> list[bool]:
    for value in data:
        if value not in (0, 1):
            raise DeviceReplyError(f"relay state byte {value:#04x}")
    return [bool(v) for v in data]


class KmtronicBoard(SerialBoard):
    """KMTronic USB relay boards (1, 2, 4 or 8 relays)."""

    can_read_back = True

    def __init__(self, settings: DeviceSettings) -> None:
        super().__init__(settings)
        if settings.channels not in (1, 2, 4, 8):
            self._line.release()
            raise DeviceConfigError("KMTronic USB boards have 1, 2, 4 or 8 relays")

    def _relay(self, channel: int) -> int:
        return channel + 1

    async def _write_output(self, channel: int, on: bool) -> None:
        await self._exchange(bytes([0xFF, self._relay(channel), 0x01 if on else 0x00]))

    async def _read_outputs(self) -> list[bool]:
        count = self.settings.channels
        if count >= 4:
            reply = await self._exchange(b"\xff\x09\x00", lambda b: count if len(b) >= count else None)
            return relay_states(reply[-count:])
        states = []
        for channel in range(count):
            prefix = bytes([0xFF, channel + 1])
            reply = await self._exchange(prefix + b"\x03", after_prefix(prefix, 1))
            states += relay_states(reply[-1:])
        return states


class KmtronicRs485Board(KmtronicBoard):
    """KMTronic RS-485 boards: eight relays each, addressed by `unit` (1-31)."""

    shares_its_port = True
    addressed = True

    def __init__(self, settings: DeviceSettings) -> None:
        if not 1 <= settings.unit <= 31:
            raise DeviceConfigError("a KMTronic RS-485 board's unit is 1..31")
        if settings.channels > 8:
            raise DeviceConfigError("a KMTronic RS-485 board has 8 relays")
        super().__init__(settings)

    def _relay(self, channel: int) -> int:
        return (self.settings.unit - 1) * 8 + channel + 1

    async def _read_outputs(self) -> list[bool]:
        prefix = bytes([0xFF, 0xA0 + self.settings.unit])
        reply = await self._exchange(prefix + b"\x00", after_prefix(prefix, 8))
        return relay_states(reply[-8:])


# -- serial-lines ---------------------------------------------------------------------------

MODEM_LINES = ("cts", "dsr", "dcd", "ri")
MODEM_POLL = 0.005  # where the port gives no modem-line interrupts
_MODEM_MASK = termios.TIOCM_CTS | termios.TIOCM_DSR | termios.TIOCM_CD | termios.TIOCM_RI
_NO_MIWAIT = {errno.ENOTTY, errno.EINVAL, errno.ENOSYS, 515}  # 515: ENOIOCTLCMD


def modem_lines(port) -> list[bool]:
    fd = _fileno(port)
    if fd is None:
        return [port.cts, port.dsr, port.cd, port.ri]
    bits = struct.unpack("I", fcntl.ioctl(fd, termios.TIOCMGET, struct.pack("I", 0)))[0]
    return [bool(bits & flag) for flag in (termios.TIOCM_CTS, termios.TIOCM_DSR,
                                           termios.TIOCM_CD, termios.TIOCM_RI)]


def _fileno(port) -> int | None:
    try:
        return port.fileno()
    except (AttributeError, OSError, ValueError, NotImplementedError):
        return None


class SerialLinesInput(SerialBoard):
    """A panic button between DTR/RTS (raised as supply) and CTS, DSR, DCD or RI.

    Inputs 0..3 are CTS, DSR, DCD, RI. It has no outputs. A watcher thread waits for a
    modem-line interrupt (TIOCMIWAIT) where the port driver has one; elsewhere (a
    pseudo-terminal, pyserial's loop://, some USB adapters) it looks at the lines every
    5 ms, which costs no traffic on any wire.
    """

    can_read_back = False

    def __init__(self, settings: DeviceSettings) -> None:
        if settings.channels:
            raise DeviceConfigError("serial-lines has no outputs; set channels = 0")
        if settings.inputs > len(MODEM_LINES):
            raise DeviceConfigError("serial-lines has 4 inputs (CTS, DSR, DCD, RI)")
        super().__init__(settings)
        self.watch = ""  # "interrupt" or "poll", once the watcher runs
        self._supplied_port = None
        self._changed = asyncio.Event()
        self._watcher: threading.Thread | None = None
        self._stop = threading.Event()

    async def _connect(self) -> None:
        await self._line.check(self._supplied)

    def _supplied(self, port):
        """DTR and RTS up on this port (again after every reopen) before reading."""
        if port is not self._supplied_port:
            port.dtr = True
            port.rts = True
            self._supplied_port = port
        return port

    async def _read_inputs(self) -> list[bool]:
        return await self._line.check(lambda port: modem_lines(self._supplied(port)))

    async def _read_outputs(self) -> list[bool]:
        return []

    async def _heartbeat(self) -> None:
        await self._read_inputs()

    async def wait_for_inputs(self, timeout: float) -> None:
        port = self._line.serial_port()
        if port is not None and (self._watcher is None or not self._watcher.is_alive()):
            self._start_watcher(port)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._changed.wait()
        self._changed.clear()

    def _start_watcher(self, port) -> None:
        loop = asyncio.get_running_loop()
        self._stop = threading.Event()

        def changed() -> None:
            loop.call_soon_threadsafe(self._changed.set)

        # A daemon thread: TIOCMIWAIT cannot be interrupted, and must never hold up exit.
        self._watcher = threading.Thread(target=self._watch, args=(port, changed, self._stop),
                                         daemon=True, name=f"modem lines {self.settings.port}")
        self._watcher.start()

    def _watch(self, port, changed, stop: threading.Event) -> None:
        fd = _fileno(port)
        try:
            if fd is not None:
                self.watch = "interrupt"
                while not stop.is_set():
                    try:
                        fcntl.ioctl(fd, termios.TIOCMIWAIT, _MODEM_MASK)
                    except OSError as exc:
                        if exc.errno not in _NO_MIWAIT:
                            raise
                        break
                    changed()
            self.watch = "poll"
            log.info("%s: no modem-line interrupts on this port; the lines are looked at "
                     "every %g ms", self.describe(), MODEM_POLL * 1000)
            last = modem_lines(port)
            while not stop.wait(MODEM_POLL):
                now = modem_lines(port)
                if now != last:
                    last = now
                    changed()
        except (OSError, ValueError, AttributeError, termios.error):
            changed()  # the port went away: the next read says so

    async def _close(self) -> None:
        self._stop.set()

    def _release(self) -> None:
        self._stop.set()
        super()._release()
