"""Devices as the engine sees them: the wish, each board's truth, supervision, inputs.

The engine says what every output should be (`apply`). One worker per board drives
the board there and keeps it there: the whole wish in the fewest frames its protocol
has; a failed or refused write retried at every poll until it lands; a board that
cannot report its relays (LCUS) given its whole wish again at every poll, since
nothing else would tell that it lost them.

A supervisor per board polls it. Where the board can report, its relay states are
kept beside the wish (`output_states`): a write is read back at once, a difference
is sent again, and a difference that outlasts a poll is a fault naming the outputs.
An outage (no reply, a garbled reply, a vanished port) is one fault in words, said
once; on return the whole wish is sent again and the fault clears itself.

Inputs are polled (or, on a serial port's modem lines, woken by the port) and
debounced. A panic input starts its scenario, even when it is found active at start
(a button pressed while the controller was down); a fault input (an amplifier's
fault contact, a UPS, a tamper switch) raises and clears a named fault; a supervised
input read through an analog module also tells an open or short-circuited loop.
Inputs reach the engine only once it has put the outputs to rest at start (`rest`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields
from typing import Any

from controller.config import Config, Device, PanicInput
from controller.errors import ConfigurationError
from controller.events import EventBus
from controller.faults import FaultBook
from controller.tasks import TaskSet
from drivers import DeviceSettings, RelayBoard, create_board
from drivers.errors import DeviceConfigError, DeviceError, DeviceRefused

INPUT_POLL = 0.05
LOST_AFTER_FAILURES = 2
MAX_BACKOFF = 2.0
PULSE = 1.0  # seconds a self-test pulse lasts at most (whole seconds for Eletechsup timers)
log = logging.getLogger("dabyl.devices")

FAULT_CODES = {"amplifier": "input_amplifier", "ups_on_battery": "input_ups_on_battery",
               "ups_battery_low": "input_ups_battery_low", "tamper": "input_tamper",
               "other": "input_fault"}
LOOP_FAULTS = {"open": "input_open", "short": "input_short", "unknown": "input_out_of_range"}
UNIT = {"en": "unit", "ru": "адрес", "kk": "мекенжай"}


def settings_for(device: Device) -> DeviceSettings:
    """What the driver needs, taken from the site config (drivers never see the config)."""
    return DeviceSettings(**{f.name: getattr(device, f.name) for f in fields(DeviceSettings)})


@dataclass
class InputState:
    config: PanicInput
    raw: str | None = None  # normal | active | open | short | unknown, as last read
    raw_since: float = 0.0
    state: str | None = None  # the same, debounced (None: not settled since start)
    active: bool = False
    value: int | None = None  # an analog module's reading


@dataclass(eq=False)
class BoardLink:
    config: Device
    board: RelayBoard
    names: dict[int, str] = field(default_factory=dict)  # channel → output name
    wanted: dict[int, bool] = field(default_factory=dict)
    owners: dict[int, list[str]] = field(default_factory=dict)
    acked: dict[int, bool] = field(default_factory=dict)  # what the board has confirmed
    reported: dict[int, bool] | None = None  # its last read-back (None: not known)
    online: bool | None = None
    failures: int = 0
    outage: str = ""
    outage_fault: tuple[str, dict] = ("", {})
    write_error: DeviceError | None = None
    mismatch: set[int] = field(default_factory=set)
    testing: set[int] = field(default_factory=set)  # pulsed by the self-test
    resend: bool = False  # send the whole wish, not only what changed
    verify: bool = False  # read back soon (a write just landed)
    begun: int = 0  # passes of the worker begun, the last one finished, and how it went
    finished: int = 0
    failed_pass: bool = False
    bug_logged: bool = False
    dirty: asyncio.Event = field(default_factory=asyncio.Event)
    poll_now: asyncio.Event = field(default_factory=asyncio.Event)
    inputs: list[InputState] = field(default_factory=list)
    input_period: float | None = None
    last_input_read: float = 0.0

    @property
    def pending(self) -> list[int]:
        """Channels the board has not confirmed as wished."""
        return [ch for ch, on in self.wanted.items() if self.acked.get(ch) != on]

    @property
    def in_sync(self) -> bool:
        return not self.pending


InputHandler = Callable[[PanicInput, bool, bool], Awaitable[None]]


class DeviceManager:
    def __init__(self, config: Config, bus: EventBus, faults: FaultBook) -> None:
        self.config = config
        self.bus = bus
        self.faults = faults
        self.links: dict[str, BoardLink] = {}
        self.simulators: dict[str, object] = {}
        self._tasks = TaskSet()
        self.on_input: InputHandler | None = None
        self.outputs = config.outputs
        self._progress = asyncio.Condition()  # notified whenever a board's state moves
        self._rested = asyncio.Event()  # outputs were put to rest once: inputs may act
        self.inputs_known = asyncio.Event()  # every input has been read and debounced once
        for i, device in enumerate(config.devices):
            try:
                board = create_board(settings_for(device))
            except DeviceConfigError as exc:
                for link in self.links.values():
                    link.board._release()
                raise ConfigurationError([f"{config.source}: devices[{i}] ({device.id}): "
                                          f"{exc.reason}"]) from None
            link = BoardLink(device, board)
            link.names = {o.channel: n for n, o in config.outputs.items() if o.device == device.id}
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

        analog = device.driver == "modbus-analog"
        sim = SimulatedBoard(
            unit=device.unit,
            coils=device.channels,
            inputs=0 if analog else device.inputs,
            registers=device.inputs if analog else 0,
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
        for cfg in self.config.inputs:
            if cfg.device == device.id and cfg.eol is not None:
                self.set_simulated_input(cfg, False)  # a supervised loop starts at rest

    async def stop(self) -> None:
        await self._tasks.cancel_all()
        for link in self.links.values():
            await link.board.close()
        for sim in self.simulators.values():
            await sim.stop()  # type: ignore[attr-defined]

    def _spawn(self, coro, name: str):
        return self._tasks.spawn(coro, name)

    async def _notify(self) -> None:
        async with self._progress:
            self._progress.notify_all()

    # -- outputs ------------------------------------------------------------------
    async def apply(self, desired: dict[str, bool], owners: dict[str, list[str]] | None = None,
                    timeout: float | None = None) -> bool:
        """Make outputs (by name) take these states; True when every board confirms.

        `owners` names, per output, the activations that want it on; every `output`
        event carries them as `wanted_by`. Returns False at once for a board that is
        offline, after one try for a board whose write fails (its worker goes on
        trying at every poll), and after `timeout` for a slower board.
        """
        touched: dict[BoardLink, int] = {}
        for name, on in desired.items():
            out = self.outputs[name]
            link = self.links[out.device]
            link.wanted[out.channel] = on
            link.owners[out.channel] = sorted((owners or {}).get(name, [])) if on else []
            touched[link] = link.begun
        for link in touched:
            link.dirty.set()

        def answered() -> bool:
            # In sync, or gone, or a write begun after this call failed. (A pass that
            # landed while the wish changed again is followed by another one.)
            return all(link.in_sync or link.online is False
                       or (link.finished > begun and link.failed_pass)
                       for link, begun in touched.items())

        try:
            async with asyncio.timeout(timeout), self._progress:
                await self._progress.wait_for(answered)
        except TimeoutError:
            return False
        return all(link.in_sync for link in touched)

    async def rest(self, timeout: float | None = None) -> bool:
        """Drive every configured output to its rest state (off)."""
        try:
            return await self.apply({name: False for name in self.outputs}, timeout=timeout)
        finally:
            self._rested.set()

    async def settled(self, names: list[str], timeout: float) -> list[str]:
        """Wait until each named output is acknowledged by its board as wished; return
        the names not confirmed within `timeout` seconds. (A board that cannot report,
        LCUS, confirms by taking the write.)"""
        def unconfirmed() -> list[str]:
            out = []
            for name in names:
                o = self.outputs[name]
                link = self.links[o.device]
                if link.acked.get(o.channel) != link.wanted.get(o.channel, False):
                    out.append(name)
            return out

        try:
            async with asyncio.timeout(timeout), self._progress:
                await self._progress.wait_for(lambda: not unconfirmed())
        except TimeoutError:
            pass
        return unconfirmed()

    async def _sync_worker(self, link: BoardLink) -> None:
        while True:
            await link.dirty.wait()
            link.dirty.clear()
            await asyncio.sleep(0)  # wishes made in the same moment go in one frame
            await self._write(link)

    async def _write(self, link: BoardLink) -> None:
        link.begun += 1
        begun = link.begun
        link.failed_pass = True  # until the write lands (or there is nothing to write)
        try:
            if link.online is False:
                return  # the supervisor finds it again, then everything is re-sent
            changed = list(link.wanted) if link.resend else link.pending
            if not changed:
                link.failed_pass = False
                return
            states = dict(link.wanted)
            started = time.perf_counter()
            try:
                await link.board.write_outputs(states, changed)
            except DeviceRefused as exc:
                await self._refused(link, exc, changed)
                return
            except Exception as exc:  # noqa: BLE001 - DeviceError, or a bug: never stop
                if link.online is not False and link.write_error is None:
                    self._publish_outputs(link, changed, states, ok=False, error=str(exc))
                await self._failed(link, exc)
                return
            link.failed_pass = False
            latency = round((time.perf_counter() - started) * 1000, 2)
            moved = [ch for ch in changed if link.acked.get(ch) != states[ch]]
            for ch in changed:
                link.acked[ch] = states[ch]
                if link.reported is not None:
                    link.reported[ch] = states[ch]  # the board took it; read back next
            link.resend = False
            link.verify = link.board.can_read_back
            link.poll_now.set()
            self._publish_outputs(link, moved, states, ok=True, latency_ms=latency)
            if link.write_error is not None:
                link.write_error = None
                self.faults.clear(f"writes:{link.config.id}", "the board takes writes again")
            if link.online is not True:
                await self._found(link)
        finally:
            link.finished = begun
            await self._notify()

    def _publish_outputs(self, link: BoardLink, channels: list[int], states: dict[int, bool],
                         **result: Any) -> None:
        at = time.monotonic()
        for ch in channels:
            self.bus.publish("output", output=self._output_name(link.config.id, ch),
                             device=link.config.id, channel=ch, on=states[ch],
                             wanted_by=link.owners.get(ch, []) if states[ch] else [],
                             live={"at_mono": at}, **result)

    async def _refused(self, link: BoardLink, exc: DeviceRefused, changed: list[int]) -> None:
        """The board answers but will not switch: a fault naming the outputs; the
        worker tries again at every poll."""
        first = link.write_error is None
        link.write_error = exc
        names = [link.names.get(ch, f"{link.config.id}:{ch}") for ch in sorted(link.pending)]
        if first:
            log.warning("%s", exc)
            states = dict(link.wanted)
            self._publish_outputs(link, changed, states, ok=False, error=str(exc))
        self.faults.raise_(f"writes:{link.config.id}", "outputs_refused",
                           **self._who(link), outputs=names, detail=exc.params.get("detail", ""))
        if link.online is not True:
            await self._found(link)

    def _output_name(self, device: str, channel: int) -> str:
        link = self.links.get(device)
        return link.names.get(channel, f"{device}:{channel}") if link else f"{device}:{channel}"

    # -- supervision ---------------------------------------------------------------
    async def _supervise(self, link: BoardLink) -> None:
        period = link.config.poll_period
        next_check = 0.0
        backoff = period
        while True:
            try:
                if link.inputs:
                    values = await link.board.read_inputs()
                    self._input_read(link)
                    await self._handle_inputs(link, values)
                now = time.monotonic()
                if now >= next_check or link.verify:
                    if now >= next_check:
                        next_check = now + period
                        regular = True
                    else:
                        regular = False
                    link.verify = False
                    await self._check(link, regular)
            except Exception as exc:  # noqa: BLE001 - supervision must never stop
                await self._failed(link, exc)
                await asyncio.sleep(min(backoff, MAX_BACKOFF))
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            backoff = period
            if link.online is not True:
                await self._found(link)
            if link.inputs:
                await link.board.wait_for_inputs(self._next_poll(link))
            else:
                link.poll_now.clear()
                if not link.verify:
                    wait = max(0.0, next_check - time.monotonic())
                    try:
                        async with asyncio.timeout(wait):
                            await link.poll_now.wait()
                    except TimeoutError:
                        pass

    def _input_read(self, link: BoardLink) -> None:
        now = time.monotonic()
        if link.last_input_read:
            interval = now - link.last_input_read
            link.input_period = interval if link.input_period is None else \
                0.9 * link.input_period + 0.1 * interval
        link.last_input_read = now

    async def _check(self, link: BoardLink, regular: bool) -> None:
        """One look at the board: its relays beside the wish where it can report,
        otherwise a link check. At a regular poll, what has not landed is sent again,
        and a board that cannot report gets its whole wish again."""
        board = link.board
        if board.can_read_back and link.names:
            self._compare(link, await board.read_outputs(), regular)
        elif not link.inputs:
            await board.heartbeat()
        if not regular:
            return
        if not board.can_read_back and link.names and link.wanted:
            link.resend = True
        if link.resend or link.pending:
            link.dirty.set()

    def _compare(self, link: BoardLink, states: list[bool], regular: bool) -> None:
        link.reported = {ch: states[ch] for ch in link.names if ch < len(states)}
        wrong: set[int] = set()  # the board reports otherwise than it confirmed
        still: set[int] = set()  # found wrong before; the write sent again has not landed
        for ch, on in link.wanted.items():
            if ch not in link.reported or ch in link.testing or link.reported[ch] == on:
                continue
            if link.acked.get(ch) == on:
                wrong.add(ch)
            elif ch in link.mismatch:
                still.add(ch)
        lasting = (wrong | still) & link.mismatch
        link.mismatch = wrong | still
        for ch in wrong:
            link.acked[ch] = link.reported[ch]  # the board's truth: the worker re-sends
        key = f"readback:{link.config.id}"
        if lasting:
            names = [link.names[ch] for ch in sorted(lasting)]
            self.faults.raise_(key, "outputs_mismatch", device=link.config.id, outputs=names)
        elif not link.mismatch:
            self.faults.clear(key, "outputs as wished again")
        if wrong and (regular or not lasting):
            link.dirty.set()  # a lasting difference is retried at the next poll

    def _who(self, link: BoardLink) -> dict[str, Any]:
        board = link.board
        where = board.where
        if board.addressed:
            base = where.rsplit(" unit ", 1)[0]
            where = {lang: (f"{base} {word} {board.settings.unit}" if lang == "en"
                            else f"{base}, {word} {board.settings.unit}")
                     for lang, word in UNIT.items()}
        return {"device": link.config.id, "driver": link.config.driver, "where": where}

    async def _failed(self, link: BoardLink, exc: BaseException) -> None:
        if isinstance(exc, DeviceError):
            code, params, message = exc.code, dict(exc.params), str(exc)
        else:  # a bug: logged once with its traceback, reported like a lost device
            if not link.bug_logged:
                log.exception("supervising %s", link.config.id, exc_info=exc)
                link.bug_logged = True
            code, params = "device_error", {"error": f"{type(exc).__name__}: {exc}"}
            message = f"{link.config.id}: internal error: {params['error']}"
        link.failures += 1
        if link.failures == 1:
            link.outage = message  # the first failure is the cause; later ones follow from it
            link.outage_fault = (code, params)
        if link.failures >= LOST_AFTER_FAILURES and link.online is not False:
            link.online = False
            message = link.outage
            code, params = link.outage_fault
            # Nothing is known about a board that went away: everything is re-sent.
            link.acked.clear()
            link.reported = None
            link.mismatch.clear()
            log.warning("%s", message)
            self.faults.raise_(f"device:{link.config.id}", code, **self._who(link), **params)
            self.bus.publish("device", device=link.config.id, online=False, error=message)
        await self._notify()

    async def _found(self, link: BoardLink) -> None:
        was_lost = link.online is False
        link.online = True
        link.failures = 0
        link.bug_logged = False
        link.outage = ""
        if was_lost:
            log.info("%s answers again", link.board.describe())
            self.faults.clear(f"device:{link.config.id}", "device answers again")
            self.bus.publish("device", device=link.config.id, online=True)
        if link.pending:
            link.dirty.set()
        await self._notify()

    # -- inputs ----------------------------------------------------------------------
    @staticmethod
    def _next_poll(link: BoardLink) -> float:
        """Poll at INPUT_POLL, but look again exactly when a debounce window closes."""
        delay = INPUT_POLL
        now = time.monotonic()
        for state in link.inputs:
            if state.raw is not None and state.raw != state.state:
                delay = min(delay, max(0.0, state.raw_since + state.config.debounce - now))
        return delay

    def _classify(self, link: BoardLink, state: InputState, value: Any) -> str:
        cfg = state.config
        if cfg.eol is not None:
            state.value = int(value)
            for name, (low, high) in cfg.eol.ranges().items():
                if low <= state.value <= high:
                    return name
            return "unknown"
        return "active" if bool(value) != (cfg.contact == "normally_closed") else "normal"

    async def _handle_inputs(self, link: BoardLink, values: list) -> None:
        now = time.monotonic()
        for state in link.inputs:
            cfg = state.config
            if cfg.channel >= len(values):
                continue
            raw = self._classify(link, state, values[cfg.channel])
            if raw != state.raw:
                state.raw, state.raw_since = raw, now
            if state.raw == state.state or now - state.raw_since < cfg.debounce:
                continue
            await self._settle_input(state, state.raw, at_start=state.state is None)

    async def _settle_input(self, state: InputState, new: str, at_start: bool) -> None:
        cfg = state.config
        state.state = new
        if at_start and all(s.state is not None for link in self.links.values()
                            for s in link.inputs):
            self.inputs_known.set()
        loop_key = f"input:{cfg.id}:loop"
        if new in LOOP_FAULTS:
            # The loop itself is broken: what the input means is unknown, so it keeps
            # its last meaning and the wiring is the fault.
            self.faults.raise_(loop_key, LOOP_FAULTS[new], input=cfg.id,
                               **({"value": state.value} if new == "unknown" else {}))
            self.bus.publish("input", input=cfg.id, active=state.active, state=new,
                             value=state.value)
            return
        self.faults.clear(loop_key, "the loop is whole again")
        active = new == "active"
        if active == state.active:
            return
        state.active = active
        self.bus.publish("input", input=cfg.id, active=active, state=new, at_start=at_start,
                         **({"value": state.value} if state.value is not None else {}))
        if cfg.kind == "fault":
            if active:
                self.faults.raise_(f"input:{cfg.id}", FAULT_CODES[cfg.fault], input=cfg.id)
            else:
                self.faults.clear(f"input:{cfg.id}", "the fault contact is at rest again")
            return
        if self.on_input is not None:
            # The engine acts on inputs once it has put the outputs to rest at start.
            await self._rested.wait()
            await self.on_input(cfg, active, at_start)

    # -- self-test ----------------------------------------------------------------------
    async def selftest(self, pulse: bool) -> list[dict]:
        """Check every output and input, channel by channel, without a sound.

        Outputs are read back where the device can report them, beside what the
        engine wants. With `pulse` (no alarm active), zone and amplifier relays, which
        make no sound with no audio on them, are also switched on and off and read
        back each way; boards with their own timers (Waveshare flash, Eletechsup timed
        on) end the pulse themselves should anything fail meanwhile. Sounders, locks
        and power are never pulsed.
        """
        results: list[dict] = []
        for link in self.links.values():
            board, dev = link.board, link.config.id
            outputs = [(n, o) for n, o in self.outputs.items() if o.device == dev]
            try:
                states = await board.read_outputs() if board.can_read_back and outputs else None
                if not board.can_read_back and not link.inputs:
                    await board.heartbeat()
            except DeviceError as exc:
                for name, out in outputs:
                    results.append(_result(dev, "output", name, out.channel, False, str(exc),
                                           wanted=link.wanted.get(out.channel, False)))
                for state in link.inputs:
                    results.append(_result(dev, "input", state.config.id, state.config.channel,
                                           False, str(exc)))
                continue
            for name, out in outputs:
                want = link.wanted.get(out.channel, False)
                reported = states[out.channel] if states is not None else None
                row = {"wanted": want, "reported": reported}
                if states is None:
                    results.append(_result(dev, "output", name, out.channel, True,
                                           "link answers; the device cannot report its relays",
                                           **row))
                elif reported != want:
                    results.append(_result(dev, "output", name, out.channel, False,
                                           f"reads {'on' if reported else 'off'}, "
                                           f"should be {'on' if want else 'off'}", **row))
                elif pulse and not want and out.kind in ("zone", "amplifier"):
                    ok, detail = await self._pulse_check(link, out.channel)
                    results.append(_result(dev, "output", name, out.channel, ok, detail, **row))
                else:
                    results.append(_result(dev, "output", name, out.channel, True,
                                           f"read back {'on' if want else 'off'}", **row))
            if link.inputs:
                results += await self._input_results(link)
        return results

    async def _input_results(self, link: BoardLink) -> list[dict]:
        dev = link.config.id
        try:
            values = await link.board.read_inputs()
        except DeviceError as exc:
            return [_result(dev, "input", s.config.id, s.config.channel, False, str(exc))
                    for s in link.inputs]
        results = []
        for state in link.inputs:
            cfg = state.config
            now = self._classify(link, InputState(cfg), values[cfg.channel])
            detail = {"normal": "at rest", "active": "active", "open": "loop open",
                      "short": "loop short-circuited", "unknown": "reading fits no state"}[now]
            if cfg.eol is not None:
                detail += f" (reads {values[cfg.channel]})"
            ok = now not in LOOP_FAULTS and not (cfg.kind == "fault" and now == "active")
            results.append(_result(dev, "input", cfg.id, cfg.channel, ok, detail))
        return results

    async def _pulse_check(self, link: BoardLink, channel: int) -> tuple[bool, str]:
        board = link.board
        link.testing.add(channel)
        try:
            ends_itself = await board.pulse_on(channel, PULSE)
            on = (await board.read_outputs())[channel]
            await board.set(channel, False)
            off = (await board.read_outputs())[channel]
        except DeviceError as exc:
            return False, f"pulse failed: {exc}"
        finally:
            link.testing.discard(channel)
        how = " (timed by the board)" if ends_itself else ""
        if on and not off:
            return True, f"pulsed on and off{how}, read back both"
        return False, f"pulsed: read back {'on' if on else 'off'} then {'on' if off else 'off'}"

    # -- simulator --------------------------------------------------------------------
    def simulator_for_input(self, input_id: str):
        for cfg in self.config.inputs:
            if cfg.id == input_id:
                return self.simulators.get(cfg.device), cfg
        return None, None

    def set_simulated_input(self, cfg: PanicInput, active: bool) -> None:
        """Press or release an input of a simulated board as its wiring would: a
        contact opens or closes, a supervised loop reads inside its active or normal
        range."""
        sim = self.simulators[cfg.device]
        if cfg.eol is not None:
            low, high = cfg.eol.active if active else cfg.eol.normal
            sim.set_register(cfg.channel, (low + high) // 2)  # type: ignore[attr-defined]
        else:
            sim.set_input(cfg.channel,  # type: ignore[attr-defined]
                          active == (cfg.contact == "normally_open"))

    # -- status -----------------------------------------------------------------------
    def status(self) -> list[dict]:
        out = []
        for link in self.links.values():
            board = link.board
            line = board.line
            out.append({
                "id": link.config.id,
                "driver": link.config.driver,
                "online": link.online,
                "simulated": link.config.id in self.simulators,
                "error": link.outage if link.online is False else "",
                "can_report": board.can_read_back,
                "write_error": str(link.write_error) if link.write_error else "",
                "line": line.stats() if line is not None else None,
                "input_period_ms": round(link.input_period * 1000, 1)
                if link.input_period is not None and link.inputs else None,
            })
        return out

    def at_rest(self) -> bool:
        """Every output is wished off and the boards have taken that state."""
        return all(not on for link in self.links.values() for on in link.wanted.values()) \
            and all(link.in_sync for link in self.links.values())

    def output_states(self) -> dict[str, dict]:
        """Per output: what the engine wants, what the board reports (None: it cannot
        report, or is offline), its device and kind."""
        out = {}
        for name, o in self.outputs.items():
            link = self.links[o.device]
            reported = None
            if link.online and link.board.can_read_back and link.reported is not None:
                reported = link.reported.get(o.channel)
            out[name] = {"wanted": link.wanted.get(o.channel, False), "reported": reported,
                         "device": o.device, "kind": o.kind}
        return out


def _result(device: str, kind: str, name: str, channel: int, ok: bool, detail: str,
            **extra: Any) -> dict:
    return {"device": device, "kind": kind, "name": name, "channel": channel, "ok": ok,
            "detail": detail, **extra}
