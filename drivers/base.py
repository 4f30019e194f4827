"""The one driver interface: a relay board with outputs and, optionally, inputs.

The base class owns the rules every backend shares: one exchange at a time per
board, every failure turned into a DeviceError that names the board, read-back where
the device can, and the bulk path: a board applies a whole wished state in the
fewest frames its protocol has (`write_outputs`). A backend overrides only private
hooks: `_connect`, `_close`, `_write_outputs` (or just `_write_output`, one channel,
where its protocol has nothing better), `_read_outputs`, `_read_inputs`.

Writes are urgent (an alarm waits for them); reads are polls. A serial line lets
urgent exchanges go first (see drivers.serial_bus); the flag travels in a context
variable so the hooks need not pass it along.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from drivers.errors import DeviceConfigError, DeviceError, DeviceReplyError, DeviceUnavailable

#: True while a board writes its outputs: the exchange goes before any poll.
URGENT: contextvars.ContextVar[bool] = contextvars.ContextVar("urgent", default=False)


@dataclass(frozen=True)
class DeviceSettings:
    """What a driver needs to know about its device (built from the site config)."""

    id: str
    driver: str
    transport: str = "tcp"
    host: str = "127.0.0.1"
    port: int | str = 502
    baudrate: int = 9600
    parity: str = "N"
    unit: int = 1
    timeout: float = 0.5
    coil_offset: int = 0
    input_offset: int = 0
    channels: int = 8
    inputs: int = 8
    #: The largest share of a serial line's time that polls (reads) may take.
    poll_share: float = 0.25
    #: Analog modules: read input registers (FC04) or holding registers (FC03).
    registers: str = "input"


class RelayBoard:
    """Base of all boards. Public methods raise only DeviceError subclasses."""

    #: The device can report its relay states, so writes can be verified.
    can_read_back = True
    #: Its inputs are analog readings (integers), not contacts.
    analog_inputs = False
    #: It has a bus address (`unit`) worth naming in messages.
    addressed = False

    def __init__(self, settings: DeviceSettings) -> None:
        self.settings = settings
        # One exchange at a time on a network link. A board on a serial line needs no
        # lock of its own: the line takes its frames in turn, urgent ones first, and a
        # board lock would make a relay write wait behind its own board's poll.
        self._lock: contextlib.AbstractAsyncContextManager = (
            asyncio.Lock() if settings.transport == "tcp" else contextlib.nullcontext())

    @property
    def id(self) -> str:
        return self.settings.id

    @property
    def where(self) -> str:
        """The link and address, as an installer finds them: "/dev/ttyUSB0 unit 2"."""
        s = self.settings
        link = f"{s.host}:{s.port}" if s.transport == "tcp" else str(s.port)
        return f"{link} unit {s.unit}" if self.addressed else link

    def describe(self) -> str:
        return f"{self.id} ({self.settings.driver}, {self.where})"

    @property
    def line(self):
        """The shared serial line this board is on (None for network devices)."""
        return None

    # -- public API ---------------------------------------------------------
    async def connect(self) -> None:
        async with self._lock:
            await self._guard(self._connect(), "connect")

    async def close(self) -> None:
        async with self._lock:
            with contextlib.suppress(DeviceError, OSError):
                await self._close()
        self._release()

    def _release(self) -> None:
        """The board is done for good (a shared line may now be forgotten)."""

    async def write_outputs(self, states: Mapping[int, bool],
                            changed: Collection[int] | None = None) -> None:
        """Apply a wished state. `states` holds every channel the caller cares about;
        `changed` the ones the board is not known to have (None: all of them). A
        protocol with a bulk command sends the whole state in one frame; a
        per-channel protocol sends only the changed channels."""
        for channel in states:
            self._check_channel(channel, self.settings.channels, "output")
        changed = list(states) if changed is None else [c for c in changed if c in states]
        if not changed:
            return
        token = URGENT.set(True)
        try:
            async with self._lock:
                await self._guard(self._write_outputs(dict(states), changed), "write outputs")
        finally:
            URGENT.reset(token)

    async def set(self, channel: int, on: bool) -> None:
        await self.write_outputs({channel: on})

    async def read_outputs(self) -> list[bool]:
        if not self.can_read_back:
            raise DeviceConfigError(f"{self.settings.driver} cannot report its relays")
        async with self._lock:
            states = await self._guard(self._read_outputs(), "read outputs")
        if len(states) < self.settings.channels:
            raise self._named(DeviceReplyError(
                f"{len(states)} output states where {self.settings.channels} were due"))
        return list(states[: self.settings.channels])

    async def read_inputs(self) -> list:
        """Contacts (booleans) or, for analog modules, raw readings (integers)."""
        if self.settings.inputs == 0:
            return []
        async with self._lock:
            states = await self._guard(self._read_inputs(), "read inputs")
        if len(states) < self.settings.inputs:
            raise self._named(DeviceReplyError(
                f"{len(states)} input states where {self.settings.inputs} were due"))
        return list(states[: self.settings.inputs])

    async def heartbeat(self) -> None:
        """Prove the device is there: a read where it can, otherwise a link check."""
        async with self._lock:
            await self._guard(self._heartbeat(), "heartbeat")

    async def wait_for_inputs(self, timeout: float) -> None:
        """Return when the inputs may have changed, at the latest after `timeout`.
        Boards that learn of changes (modem-line interrupts) return early."""
        await asyncio.sleep(timeout)

    async def pulse_on(self, channel: int, seconds: float) -> bool:
        """Switch an output on for a while; True when the board ends the pulse by
        itself (its own timer), so it ends even if the link or the controller fails
        meanwhile. Otherwise the caller switches it off."""
        await self.set(channel, True)
        return False

    async def pulse(self, channel: int, seconds: float) -> None:
        """Switch an output on for `seconds`, then off."""
        ends_itself = await self.pulse_on(channel, seconds)
        try:
            await asyncio.sleep(seconds)
        finally:
            if not ends_itself:
                await self.set(channel, False)

    # -- shared rules ---------------------------------------------------------
    async def _guard(self, awaitable, what: str):
        """One exchange; every failure becomes a DeviceError naming this board."""
        try:
            return await awaitable
        except DeviceError as exc:
            raise self._named(exc) from None
        except OSError as exc:
            self._stop_if_cancelled()
            with contextlib.suppress(DeviceError, OSError):
                await self._close()
            detail = (exc.strerror or str(exc)).lower()
            raise self._named(DeviceUnavailable("device_connection_lost",
                                                f"connection lost ({detail})",
                                                detail=detail)) from None

    def _named(self, exc: DeviceError) -> DeviceError:
        exc.who = self.describe()
        return exc

    @staticmethod
    def _stop_if_cancelled() -> None:
        # A task that is being cancelled must stop, not report a device fault.
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError

    @staticmethod
    def _check_channel(channel: int, count: int, what: str) -> None:
        if not 0 <= channel < count:
            raise DeviceConfigError(f"{what} channel {channel} out of range 0..{count - 1}")

    # -- backend hooks ----------------------------------------------------------
    async def _heartbeat(self) -> None:
        if self.settings.inputs:
            await self._read_inputs()
        else:
            await self._read_outputs()

    async def _write_outputs(self, states: dict[int, bool], changed: list[int]) -> None:
        for channel in changed:
            await self._write_output(channel, states[channel])

    async def _connect(self) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError

    async def _write_output(self, channel: int, on: bool) -> None:
        raise NotImplementedError

    async def _read_outputs(self) -> list[bool]:
        raise NotImplementedError

    async def _read_inputs(self) -> list:
        raise NotImplementedError
