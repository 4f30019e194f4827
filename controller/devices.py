"""Devices as the engine sees them: desired output states, supervision, panic inputs.

The engine says what every output should be (`apply`); one sync worker per board
drives the board there and keeps it there. Boards work concurrently and a failing
board never holds up the others. A supervisor per board polls it (heartbeat and
read-back), raises a fault when it is lost and, when it returns, restores the
outputs to what the engine wants. Panic inputs are polled, debounced and reported.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields

from controller.config import Config, Device, PanicInput
from controller.events import EventBus
from controller.faults import FaultBook
from controller.tasks import TaskSet
from drivers import DeviceSettings, RelayBoard, create_board
from drivers.errors import DeviceError

INPUT_POLL = 0.05
log = logging.getLogger("dabyl.devices")
LOST_AFTER_FAILURES = 2


def settings_for(device: Device) -> DeviceSettings:
    """What the driver needs, taken from the site config (drivers never see the config)."""
    return DeviceSettings(**{f.name: getattr(device, f.name) for f in fields(DeviceSettings)})


@dataclass
class InputState:
    config: PanicInput
    raw: bool | None = None
    raw_since: float = 0.0
    active: bool = False
    stuck: bool = False


@dataclass
class BoardLink:
    config: Device
    board: RelayBoard
    desired: dict[int, bool] = field(default_factory=dict)
    owners: dict[int, list[str]] = field(default_factory=dict)
    commanded: dict[int, bool] = field(default_factory=dict)
    online: bool | None = None
    failures: int = 0
    last_error: str = ""
    dirty: asyncio.Event = field(default_factory=asyncio.Event)
    synced: asyncio.Condition = field(default_factory=asyncio.Condition)
    generation: int = 0
    inputs: list[InputState] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        return all(self.commanded.get(ch) == on for ch, on in self.desired.items())


InputHandler = Callable[[PanicInput, bool], Awaitable[None]]


class DeviceManager:
    def __init__(self, config: Config, bus: EventBus, faults: FaultBook) -> None:
        self.config = config
        self.bus = bus
        self.faults = faults
        self.links: dict[str, BoardLink] = {}
        self.simulators: dict[str, object] = {}
        self._tasks = TaskSet()
        self.on_input: InputHandler | None = None
        self._progress = asyncio.Condition()  # notified whenever a board's state moves
        self.outputs = config.outputs
        for device in config.devices:
            board = create_board(settings_for(device))
            link = BoardLink(device, board)
            link.inputs = [InputState(i) for i in config.inputs if i.device == device.id]
            self.links[device.id] = link

    # -- life cycle -------------------------------------------------------------
    async def start(self) -> None:
        for device in self.config.devices:
            if device.simulate or device.driver == "simulator":
                await self._start_simulator(device)
        for link in self.links.values():
            self._spawn(self._sync_worker(link), f"sync-{link.config.id}")
            self._spawn(self._supervise(link), f"supervise-{link.config.id}")

    async def _start_simulator(self, device: Device) -> None:
        from drivers.simulator import SimulatedBoard

        sim = SimulatedBoard(
            unit=device.unit,
            coils=device.channels,
            inputs=device.inputs,
            host=device.host,
            port=device.port if device.transport == "tcp" else None,  # type: ignore[arg-type]
            serial_port=str(device.port) if device.transport == "serial" else None,
            baudrate=device.baudrate,
            coil_offset=device.coil_offset,
            input_offset=device.input_offset,
        )
        try:
            await sim.start()
        except OSError as exc:
            self.faults.raise_(f"simulator:{device.id}", "simulator_failed", device=device.id,
                               error=str(exc))
            return
        self.simulators[device.id] = sim

    async def stop(self) -> None:
        await self._tasks.cancel_all()
        for link in self.links.values():
            await link.board.close()
        for sim in self.simulators.values():
            await sim.stop()  # type: ignore[attr-defined]

    def _spawn(self, coro, name: str):
        return self._tasks.spawn(coro, name)

    # -- outputs ------------------------------------------------------------------
    async def apply(self, desired: dict[str, bool], owners: dict[str, list[str]] | None = None,
                    timeout: float | None = None) -> bool:
        """Make outputs (by name) take these states; True when all boards confirm.

        `owners` names, per output, the activations that want it on; every `output`
        event carries them as `wanted_by`. With a timeout, returns False when a board
        is slower; its worker goes on.
        """
        touched: dict[str, BoardLink] = {}
        for name, on in desired.items():
            out = self.outputs[name]
            link = self.links[out.device]
            link.desired[out.channel] = on
            link.owners[out.channel] = sorted((owners or {}).get(name, [])) if on else []
            touched[out.device] = link
        for link in touched.values():
            link.dirty.set()
        waits = [self._wait_synced(link) for link in touched.values()]
        if not waits:
            return True
        try:
            async with asyncio.timeout(timeout):
                results = await asyncio.gather(*waits)
        except TimeoutError:
            return False
        return all(results)

    async def _wait_synced(self, link: BoardLink) -> bool:
        async with link.synced:
            generation = link.generation
            while not link.in_sync and link.online is not False:
                await link.synced.wait()
                if link.generation != generation and link.online is False:
                    break
            return link.in_sync

    async def _notify(self, link: BoardLink) -> None:
        async with link.synced:
            link.generation += 1
            link.synced.notify_all()
        async with self._progress:
            self._progress.notify_all()

    async def _sync_worker(self, link: BoardLink) -> None:
        while True:
            await link.dirty.wait()
            link.dirty.clear()
            for channel, on in list(link.desired.items()):
                if link.commanded.get(channel) == on:
                    continue
                event = {"output": self._output_name(link.config.id, channel),
                         "device": link.config.id, "channel": channel, "on": on,
                         "wanted_by": link.owners.get(channel, [])}
                started = time.perf_counter()
                try:
                    await link.board.set(channel, on)
                except Exception as exc:  # noqa: BLE001 - DeviceError, or a bug: never stop
                    self.bus.publish("output", **event, ok=False, error=str(exc))
                    await self._lost(link, str(exc))
                    break
                link.commanded[channel] = on
                self.bus.publish("output", **event, ok=True,
                                 latency_ms=round((time.perf_counter() - started) * 1000, 2))
                if link.online is not True:
                    await self._found(link)
            await self._notify(link)

    async def settled(self, names: list[str], timeout: float) -> list[str]:
        """Wait until each named output is acknowledged by its board as wished; return
        the names not confirmed within `timeout` seconds."""
        def unconfirmed() -> list[str]:
            out = []
            for name in names:
                o = self.outputs[name]
                link = self.links[o.device]
                if link.commanded.get(o.channel) != link.desired.get(o.channel, False):
                    out.append(name)
            return out

        try:
            async with asyncio.timeout(timeout), self._progress:
                await self._progress.wait_for(lambda: not unconfirmed())
        except TimeoutError:
            pass
        return unconfirmed()

    def _output_name(self, device: str, channel: int) -> str:
        for name, out in self.outputs.items():
            if out.device == device and out.channel == channel:
                return name
        return f"{device}:{channel}"

    async def rest(self, timeout: float | None = None) -> bool:
        """Drive every configured output to its rest state (off)."""
        return await self.apply({name: False for name in self.outputs}, timeout=timeout)

    # -- supervision ---------------------------------------------------------------
    async def _supervise(self, link: BoardLink) -> None:
        period = link.config.poll_period
        last_readback = 0.0
        backoff = period
        while True:
            now = time.monotonic()
            try:
                if link.inputs:
                    states = await link.board.read_inputs()
                    await self._handle_inputs(link, states)
                if not link.inputs or now - last_readback >= period:
                    last_readback = now
                    if link.board.can_read_back and link.config.channels:
                        await self._check_readback(link)
                    elif not link.inputs:
                        await link.board.heartbeat()
            except Exception as exc:  # noqa: BLE001 - supervision must never stop
                if isinstance(exc, DeviceError):
                    reason = str(exc)
                else:  # a bug: logged with its traceback, reported like a lost device
                    log.exception("supervising %s", link.config.id)
                    reason = f"{type(exc).__name__}: {exc}"
                await self._lost(link, reason)
                await asyncio.sleep(min(backoff, 2.0))
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = period
            if link.online is not True:
                await self._found(link)
            await asyncio.sleep(self._next_poll(link) if link.inputs else period)

    @staticmethod
    def _next_poll(link: BoardLink) -> float:
        """Poll at INPUT_POLL, but look again exactly when a debounce window closes."""
        delay = INPUT_POLL
        now = time.monotonic()
        for state in link.inputs:
            if state.raw is not None and state.raw != state.active:
                delay = min(delay, max(0.0, state.raw_since + state.config.debounce - now))
        return delay

    async def _check_readback(self, link: BoardLink) -> None:
        states = await link.board.read_outputs()
        wrong = [
            ch for ch, on in link.commanded.items() if ch < len(states) and states[ch] != on
        ]
        key = f"readback:{link.config.id}"
        if wrong:
            names = [self._output_name(link.config.id, ch) for ch in wrong]
            self.faults.raise_(key, "outputs_mismatch", device=link.config.id, outputs=names)
            for ch in wrong:
                link.commanded.pop(ch, None)
            link.dirty.set()
        else:
            self.faults.clear(key)

    async def _lost(self, link: BoardLink, error: str) -> None:
        link.failures += 1
        link.last_error = error
        if link.failures >= LOST_AFTER_FAILURES and link.online is not False:
            link.online = False
            # Nothing is known about a board that went away: resend everything on return.
            link.commanded.clear()
            self.faults.raise_(f"device:{link.config.id}", "device_lost", device=link.config.id,
                               error=error)
            self.bus.publish("device", device=link.config.id, online=False, error=error)
            await self._notify(link)

    async def _found(self, link: BoardLink) -> None:
        was_lost = link.online is False
        link.online = True
        link.failures = 0
        if was_lost:
            self.faults.clear(f"device:{link.config.id}", "device answers again")
            self.bus.publish("device", device=link.config.id, online=True)
        if not link.in_sync:
            link.dirty.set()

    # -- inputs ----------------------------------------------------------------------
    async def _handle_inputs(self, link: BoardLink, states: list[bool]) -> None:
        now = time.monotonic()
        for state in link.inputs:
            cfg = state.config
            if cfg.channel >= len(states):
                continue
            raw = states[cfg.channel]
            if cfg.contact == "normally_closed":
                raw = not raw
            if state.raw is None:
                # First reading: an input already active at start is a fault, not an alarm.
                state.raw, state.raw_since = raw, now
                state.active = raw
                if raw:
                    state.stuck = True
                    self.faults.raise_(f"input:{cfg.id}", "input_stuck", input=cfg.id)
                continue
            if raw != state.raw:
                state.raw, state.raw_since = raw, now
            if state.raw == state.active or now - state.raw_since < cfg.debounce:
                continue
            state.active = state.raw
            if state.stuck:
                if not state.active:
                    state.stuck = False
                    self.faults.clear(f"input:{cfg.id}", "input returned to rest")
                continue
            self.bus.publish("input", input=cfg.id, active=state.active)
            if self.on_input is not None:
                await self.on_input(cfg, state.active)

    # -- self-test ----------------------------------------------------------------------
    async def selftest(self, pulse: bool) -> list[dict]:
        """Check every output and input, channel by channel, without a sound.

        Outputs are read back where the device can report them. With `pulse` (no alarm
        active), zone and amplifier relays, which make no sound with no audio on them,
        are also switched on and off and read back each way. Sounders, locks and power
        are never pulsed.
        """
        results: list[dict] = []
        for link in self.links.values():
            board, dev = link.board, link.config.id
            outputs = [(n, o) for n, o in self.outputs.items() if o.device == dev]
            try:
                states = await board.read_outputs() if board.can_read_back and outputs else None
                if not board.can_read_back:
                    await board.heartbeat()
            except DeviceError as exc:
                for name, out in outputs:
                    results.append(_result(dev, "output", name, out.channel, False, str(exc)))
                for state in link.inputs:
                    results.append(_result(dev, "input", state.config.id, state.config.channel,
                                           False, str(exc)))
                continue
            for name, out in outputs:
                want = link.desired.get(out.channel, False)
                if states is None:
                    results.append(_result(dev, "output", name, out.channel, True,
                                           "link answers; the device cannot report its relays"))
                    continue
                if states[out.channel] != want:
                    results.append(_result(dev, "output", name, out.channel, False,
                                           f"reads {'on' if states[out.channel] else 'off'}, "
                                           f"should be {'on' if want else 'off'}"))
                    continue
                if pulse and not want and out.kind in ("zone", "amplifier"):
                    ok, detail = await self._pulse_check(board, out.channel)
                    results.append(_result(dev, "output", name, out.channel, ok, detail))
                else:
                    results.append(_result(dev, "output", name, out.channel, True,
                                           f"read back {'on' if want else 'off'}"))
            if link.inputs:
                try:
                    raw = await board.read_inputs()
                except DeviceError as exc:
                    raw = None
                    error = str(exc)
                for state in link.inputs:
                    cfg = state.config
                    if raw is None:
                        results.append(_result(dev, "input", cfg.id, cfg.channel, False, error))
                        continue
                    active = raw[cfg.channel] != (cfg.contact == "normally_closed")
                    results.append(_result(dev, "input", cfg.id, cfg.channel, not state.stuck,
                                           "active" if active else "at rest"))
        return results

    async def _pulse_check(self, board: RelayBoard, channel: int) -> tuple[bool, str]:
        try:
            await board.set(channel, True)
            on = (await board.read_outputs())[channel]
            await board.set(channel, False)
            off = (await board.read_outputs())[channel]
        except DeviceError as exc:
            return False, f"pulse failed: {exc}"
        if on and not off:
            return True, "pulsed on and off, read back both"
        return False, f"pulsed: read back {'on' if on else 'off'} then {'on' if off else 'off'}"

    # -- simulator --------------------------------------------------------------------
    def simulator_for_input(self, input_id: str):
        for cfg in self.config.inputs:
            if cfg.id == input_id:
                return self.simulators.get(cfg.device), cfg
        return None, None

    def status(self) -> list[dict]:
        return [
            {
                "id": link.config.id,
                "driver": link.config.driver,
                "online": link.online,
                "simulated": link.config.id in self.simulators,
                "error": link.last_error if link.online is False else "",
            }
            for link in self.links.values()
        ]

    def at_rest(self) -> bool:
        """Every output is wished off and the boards have taken that state."""
        return all(not on for link in self.links.values() for on in link.desired.values()) \
            and all(link.in_sync for link in self.links.values())

    def output_states(self) -> dict[str, dict]:
        """Per output: what the engine wants, what the board reports (None: it cannot
        report, or is offline), its device and kind."""
        out = {}
        for name, o in self.outputs.items():
            link = self.links[o.device]
            reported = link.commanded.get(o.channel) if link.online else None
            out[name] = {"wanted": link.desired.get(o.channel, False),
                         "reported": reported if link.board.can_read_back else None,
                         "device": o.device, "kind": o.kind}
        return out


def _result(device: str, kind: str, name: str, channel: int, ok: bool, detail: str) -> dict:
    return {"device": device, "kind": kind, "name": name, "channel": channel, "ok": ok,
            "detail": detail}
