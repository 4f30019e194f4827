"""The one driver interface: a relay board with outputs and, optionally, inputs.

The base class owns the rules every backend shares: a lock per board (one frame on
the wire at a time), a time limit on every exchange, and read-back where the device
can. A backend overrides only the private I/O hooks `_connect`, `_close`,
`_write_output`, `_read_outputs` and `_read_inputs`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from drivers.errors import DeviceConfigError, DeviceReplyError, DeviceUnavailable


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


class RelayBoard:
    """Base of all boards. Public methods raise only DeviceError subclasses."""

    #: The device can report its relay states, so writes can be verified.
    can_read_back = True

    def __init__(self, settings: DeviceSettings) -> None:
        self.settings = settings
        self._lock = asyncio.Lock()
        self.connected = False

    @property
    def id(self) -> str:
        return self.settings.id

    # -- public API ---------------------------------------------------------
    async def connect(self) -> None:
        async with self._lock:
            await self._guard(self._connect(), "connect")
            self.connected = True

    async def close(self) -> None:
        async with self._lock:
            self.connected = False
            try:
                async with asyncio.timeout(self.settings.timeout):
                    await self._close()
            except (TimeoutError, OSError):
                pass
        self._release()

    def _release(self) -> None:
        """The board is done for good (a shared bus may now be forgotten)."""

    async def set(self, channel: int, on: bool) -> None:
        self._check_channel(channel, self.settings.channels, "output")
        async with self._lock:
            await self._ensure_connected()
            await self._guard(self._write_output(channel, on), f"set output {channel}")

    async def read_outputs(self) -> list[bool]:
        if not self.can_read_back:
            raise DeviceConfigError(f"{self.id}: {self.settings.driver} cannot report its relays")
        async with self._lock:
            await self._ensure_connected()
            states = await self._guard(self._read_outputs(), "read outputs")
        if len(states) < self.settings.channels:
            raise DeviceReplyError(
                f"{self.id}: expected {self.settings.channels} output states, got {len(states)}"
            )
        return list(states[: self.settings.channels])

    async def heartbeat(self) -> None:
        """Prove the device is there: a read where it can, otherwise a link check."""
        async with self._lock:
            await self._ensure_connected()
            await self._guard(self._heartbeat(), "heartbeat")

    async def pulse(self, channel: int, seconds: float) -> None:
        """Switch an output on for a while (boards with timed commands do it themselves)."""
        await self.set(channel, True)
        try:
            await asyncio.sleep(seconds)
        finally:
            await self.set(channel, False)

    async def read_inputs(self) -> list[bool]:
        if self.settings.inputs == 0:
            return []
        async with self._lock:
            await self._ensure_connected()
            states = await self._guard(self._read_inputs(), "read inputs")
        if len(states) < self.settings.inputs:
            raise DeviceReplyError(
                f"{self.id}: expected {self.settings.inputs} input states, got {len(states)}"
            )
        return list(states[: self.settings.inputs])

    # -- shared rules ---------------------------------------------------------
    async def _ensure_connected(self) -> None:
        if not self.connected:
            await self._guard(self._connect(), "connect")
            self.connected = True

    async def _guard(self, awaitable, what: str):
        """One exchange with the time limit; every failure becomes a DeviceError."""
        try:
            async with asyncio.timeout(self.settings.timeout):
                return await awaitable
        except TimeoutError:
            self._stop_if_cancelled()
            await self._lose()
            raise DeviceUnavailable(
                f"{self.id}: no answer to {what} within {self.settings.timeout:g} s"
            ) from None
        except (DeviceReplyError, DeviceConfigError):
            raise
        except DeviceUnavailable:
            self._stop_if_cancelled()
            await self._lose()
            raise
        except (OSError, ConnectionError) as exc:
            self._stop_if_cancelled()
            await self._lose()
            raise DeviceUnavailable(f"{self.id}: {what} failed: {exc}") from None

    @staticmethod
    def _stop_if_cancelled() -> None:
        # Some protocol libraries turn a cancellation into an I/O error; a task that
        # is being cancelled must stop, not report a device fault.
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError

    async def _lose(self) -> None:
        self.connected = False
        await self._drop()

    async def _drop(self) -> None:
        try:
            async with asyncio.timeout(self.settings.timeout):
                await self._close()
        except (TimeoutError, OSError):
            pass

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

    async def _connect(self) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError

    async def _write_output(self, channel: int, on: bool) -> None:
        raise NotImplementedError

    async def _read_outputs(self) -> list[bool]:
        raise NotImplementedError

    async def _read_inputs(self) -> list[bool]:
        raise NotImplementedError
