"""Devices as the engine sees them, through the real protocols: the wish beside what
each board reports, faults that name the outputs, recovery, and every input kind.

Each test runs a DeviceManager (with its journal and fault book) against devices
that speak the wire protocol: the pymodbus server, or byte-level emulators on
pseudo-terminals. Tests wait on events, never on sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from controller.config import load_config
from controller.devices import DeviceManager
from controller.events import EventBus
from controller.faults import FaultBook
from controller.journal import Journal
from drivers.simulator import PtyBridge, SimulatedBoard
from tests.conftest import Events
from tests.emulators import (
    KmtronicEmulator,
    KmtronicRs485Emulator,
    LcusEmulator,
    NumatoEmulator,
    RtuEmulator,
    relays_become,
)


def site(tmp: Path, devices: list[dict], outputs: dict[str, dict],
         inputs: list[dict] | None = None) -> Path:
    """A minimal site: these devices, outputs and inputs, one zone."""
    first = next(iter(outputs)) if outputs else None
    data: dict[str, Any] = {
        "site": {"name": "test"},
        "devices": devices,
        "outputs": outputs,
        "zones": {"hall": {"outputs": [first]}} if first else {},
        "inputs": inputs or [],
        "control": {"journal": str(tmp / "journal.sqlite"), "socket": str(tmp / "s.sock")},
    }
    path = tmp / "config.toml"
    path.write_text(tomli_w.dumps(data))
    return path


@contextlib.asynccontextmanager
async def manager(config_path: Path, on_input=None):
    config = load_config(config_path)
    journal = Journal(config.path(config.control.journal))
    journal.open()
    bus = EventBus(journal)
    faults = FaultBook(bus)
    devices = DeviceManager(config, bus, faults)
    events = Events(bus)
    if on_input is not None:
        devices.on_input = on_input
    await devices.start()
    try:
        yield devices, events, faults
    finally:
        await devices.stop()
        journal.close()


def tcp_device(sim: SimulatedBoard, **kw: Any) -> dict[str, Any]:
    return {"id": "board1", "driver": "modbus-coils", "port": sim.port, "channels": 8,
            "inputs": 0, "poll_period": 0.2, "timeout": 0.3, **kw}


EIGHT = {f"out{i}": {"device": "board1", "channel": i, "kind": "zone"} for i in range(8)}


# -- the interface other areas use ------------------------------------------------------

async def test_apply_names_its_owners_and_settled_confirms(tmp_path):
    sim = SimulatedBoard(coils=8, inputs=0)
    await sim.start()
    try:
        async with manager(site(tmp_path, [tcp_device(sim)], EIGHT)) as (devices, events, _):
            assert await devices.rest(timeout=3.0)  # as the engine does at start
            assert await devices.settled(["out0"], 2.0) == []
            wish = {name: name in ("out1", "out2") for name in EIGHT}
            ok = await devices.apply(wish, owners={"out1": ["fire-1", "drill-2"], "out2": []})
            assert ok
            event = await events.wait("output", output="out1", on=True)
            assert event["wanted_by"] == ["drill-2", "fire-1"]
            assert (await events.wait("output", output="out2", on=True))["wanted_by"] == []
            assert await devices.settled(["out1", "out2", "out3"], 2.0) == []
            assert sim.coils(0, 8) == [False, True, True] + [False] * 5
            states = devices.output_states()
            assert states["out1"] == {"wanted": True, "reported": True, "device": "board1",
                                      "kind": "zone"}
            await sim.stop()
            devices_wish = dict(wish, out3=True)
            assert await devices.apply(devices_wish, timeout=3.0) is False
            # A board that is gone confirms nothing, not even what it had before.
            assert await devices.settled(["out1", "out3"], 0.5) == ["out1", "out3"]
    finally:
        await sim.stop()


def serial_device(driver: str, port: str, **kw: Any) -> dict[str, Any]:
    return {"id": "board1", "driver": driver, "transport": "serial", "port": port,
            "baudrate": 9600, "channels": 8, "inputs": 0, "poll_period": 0.2,
            "timeout": 0.3, **kw}


@contextlib.asynccontextmanager
async def rtu_line(units=(1,), *, strict_gap=False, inputs=0):
    """Simulated Modbus RTU boards (one per unit) behind a wire-timed 9600-baud line."""
    bridge = PtyBridge(baudrate=9600, strict_gap=strict_gap)
    others = [SimulatedBoard(unit=u, coils=8, inputs=inputs) for u in units[1:]]
    server = SimulatedBoard(unit=units[0], coils=8, inputs=inputs, serial_port=bridge.a_path,
                            also=others)
    boards = [server, *others]
    await server.start()
    try:
        yield bridge, boards
    finally:
        await server.stop()
        bridge.close()


def requests(bridge: PtyBridge, *codes: int) -> list[bytes]:
    return [f.data for f in bridge.frames if f.sender == "dabyl" and f.data[1:2]
            and f.data[1] in codes]


# -- issue 14, case 1: one frame per board --------------------------------------------------

async def test_a_whole_wish_goes_to_a_modbus_board_in_one_frame(tmp_path):
    async with rtu_line() as (bridge, (sim,)):
        cfg = site(tmp_path, [serial_device("modbus-coils", bridge.b_path, poll_period=30)],
                   EIGHT)
        async with manager(cfg) as (devices, events, _):
            assert await devices.rest(timeout=5)
            before = len(requests(bridge, 5, 15))
            assert await devices.apply({name: True for name in EIGHT}, timeout=5)
            writes = requests(bridge, 5, 15)[before:]
            assert [w[:7].hex(" ") for w in writes] == ["01 0f 00 00 00 08 01"], writes
            assert writes[0][7] == 0xFF
            assert sim.coils(0, 8) == [True] * 8


# -- issue 14, case 2: the 3.5-character silence -----------------------------------------------

async def test_frames_keep_the_silence_a_shared_line_needs(tmp_path):
    async with rtu_line((1, 2), strict_gap=True, inputs=4) as (bridge, (one, two)):
        board = serial_device("modbus-coils", bridge.b_path, inputs=4, poll_period=0.3)
        outputs = {**EIGHT, **{f"two{i}": {"device": "board2", "channel": i} for i in range(8)}}
        cfg = site(tmp_path, [board, dict(board, id="board2", unit=2)], outputs)
        async with manager(cfg) as (devices, events, _):
            for on in (True, False, True):
                await devices.apply({name: on for name in outputs}, timeout=5)
                assert await devices.settled(list(outputs), 5) == []
                assert one.coils(0, 8) == [on] * 8 and two.coils(0, 8) == [on] * 8
        char = 10 / 9600
        assert not bridge.dropped, f"{len(bridge.dropped)} frames lost on the line"
        sent = [f for f in bridge.frames if f.sender == "dabyl"]
        assert min(f.gap for f in sent) >= 3.5 * char


# -- issue 14, case 3: unplug and replug ------------------------------------------------------

REPLUG = {
    "lcus": LcusEmulator,
    "numato": NumatoEmulator,
    "kmtronic": KmtronicEmulator,
    "kmtronic-rs485": lambda channels, link: KmtronicRs485Emulator(boards=1, link=link),
    "eletechsup": RtuEmulator,
    "modbus-coils": RtuEmulator,
    "waveshare": RtuEmulator,
}


@pytest.mark.parametrize("driver", sorted(REPLUG))
async def test_a_serial_board_comes_back_after_unplug_and_replug(tmp_path, driver, caplog):
    emu = REPLUG[driver](8, link=tmp_path / "ttyUSB0")
    try:
        cfg = site(tmp_path, [serial_device(driver, emu.path)], EIGHT)
        async with manager(cfg) as (devices, events, faults):
            assert await devices.rest(timeout=5)
            wish = {name: name in ("out1", "out6") for name in EIGHT}
            await devices.apply(wish, timeout=5)
            await relays_become(emu, [i in (1, 6) for i in range(8)])
            emu.unplug()
            await events.wait("fault", key="device:board1", timeout=10)
            emu.replug()
            await events.wait("fault_cleared", key="device:board1", timeout=10)
            await relays_become(emu, [i in (1, 6) for i in range(8)])
    finally:
        emu.close()
    assert not any(r.exc_info for r in caplog.records), "no traceback in the log"


# -- issue 14, case 5: errors in words ------------------------------------------------------------

@pytest.mark.parametrize("mode, words", [("silent", "no reply within 0.3 s"),
                                         ("garbage", "answered an invalid frame")])
async def test_a_modbus_fault_says_what_is_wrong(tmp_path, mode, words, caplog):
    emu = RtuEmulator(8, unit=2)
    emu.mode = mode
    try:
        cfg = site(tmp_path, [serial_device("modbus-coils", emu.path, unit=2)], EIGHT)
        async with manager(cfg) as (devices, events, faults):
            fault = await events.wait("fault", key="device:board1", timeout=10)
    finally:
        emu.close()
    assert fault["message"].startswith(
        f"board1 (modbus-coils, {emu.path} unit 2): {words}"), fault["message"]
    assert not any(r.exc_info for r in caplog.records), "no traceback in the log"


async def test_a_vanished_port_is_called_so(tmp_path, caplog):
    emu = KmtronicEmulator(8, link=tmp_path / "ttyUSB7")
    try:
        cfg = site(tmp_path, [serial_device("kmtronic", emu.path)], EIGHT)
        async with manager(cfg) as (devices, events, faults):
            assert await devices.rest(timeout=5)
            emu.unplug()
            fault = await events.wait("fault", key="device:board1", timeout=10)
            assert fault["message"] == f"board1 (kmtronic, {emu.path}): port vanished (unplugged?)"
            ru = faults.list()[0]["text"]["ru"]
            assert "board1" in ru and "отключ" in ru
    finally:
        emu.close()
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len([m for m in messages if "port vanished" in m]) == 1, "said once per outage"
    assert not any(r.exc_info for r in caplog.records)


async def test_garbage_over_tcp_is_an_invalid_frame_and_no_traceback(tmp_path, caplog):
    async def answer_garbage(reader, writer):
        while await reader.read(256):
            writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(answer_garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        cfg = site(tmp_path, [{"id": "board1", "driver": "modbus-coils", "port": port,
                               "channels": 8, "inputs": 0, "poll_period": 0.2,
                               "timeout": 0.3}], EIGHT)
        async with manager(cfg) as (devices, events, faults):
            fault = await events.wait("fault", key="device:board1", timeout=10)
    finally:
        server.close()
    assert fault["message"].startswith(
        f"board1 (modbus-coils, 127.0.0.1:{port} unit 1): answered an invalid frame")
    assert not any(r.exc_info for r in caplog.records), "no traceback in the log"


# -- issue 10, case 2: a board that answers reads but refuses writes ----------------------------

@pytest.mark.parametrize("exception", [2, 4])
async def test_refused_writes_are_a_fault_and_the_outputs_come_back(tmp_path, exception):
    sim = SimulatedBoard(coils=8, inputs=0)
    await sim.start()
    try:
        async with manager(site(tmp_path, [tcp_device(sim)], EIGHT)) as (devices, events, _):
            assert await devices.rest(timeout=3)
            sim.refuse_writes = exception
            await devices.apply({name: name in ("out2", "out5") for name in EIGHT}, timeout=3)
            fault = await events.wait("fault", key="writes:board1", timeout=3)
            assert "out2" in fault["message"] and "out5" in fault["message"]
            states = devices.output_states()
            assert states["out2"]["wanted"] is True and states["out2"]["reported"] is False
            sim.refuse_writes = None
            await events.wait("fault_cleared", key="writes:board1", timeout=3)
            assert sim.coils(0, 8) == [i in (2, 5) for i in range(8)]
            assert devices.output_states()["out2"]["reported"] is True
    finally:
        await sim.stop()


# -- issue 10, case 3: an LCUS that loses its relays ------------------------------------------------

async def test_a_board_that_cannot_report_gets_its_wish_again(tmp_path):
    emu = LcusEmulator(4)
    try:
        outputs = {f"out{i}": {"device": "board1", "channel": i} for i in range(4)}
        cfg = site(tmp_path, [serial_device("lcus", emu.path, channels=4)], outputs)
        async with manager(cfg) as (devices, events, _):
            assert await devices.rest(timeout=3)
            await devices.apply({"out0": True, "out1": False, "out2": True, "out3": False})
            await relays_become(emu, [True, False, True, False])
            assert devices.output_states()["out0"]["reported"] is None, "LCUS cannot report"
            emu.lose_relays()
            await relays_become(emu, [True, False, True, False])
    finally:
        emu.close()


# -- issue 14, case 7: the boards' own commands, used where they fit ----------------------------

async def test_an_eletechsup_board_switches_all_relays_in_one_command(tmp_path):
    emu = RtuEmulator(8)
    try:
        cfg = site(tmp_path, [serial_device("eletechsup", emu.path, poll_period=30)], EIGHT)
        async with manager(cfg) as (devices, events, _):
            assert await devices.rest(timeout=5)
            assert emu.frames[-1].hex(" ") == "01 06 00 00 08 00 8e 0a", "all off"
            count = len(emu.frames)
            assert await devices.apply({name: True for name in EIGHT}, timeout=5)
            writes = [f[:6].hex(" ") for f in emu.frames[count:] if f[1] == 6]
            assert writes == ["01 06 00 00 07 00"]
            assert emu.relays == [True] * 8
    finally:
        emu.close()


@pytest.mark.parametrize("driver", ["waveshare", "eletechsup"])
async def test_selftest_pulses_end_by_themselves_where_the_board_can(tmp_path, driver):
    emu = RtuEmulator(8)
    try:
        cfg = site(tmp_path, [serial_device(driver, emu.path, poll_period=30)], EIGHT)
        async with manager(cfg) as (devices, events, _):
            assert await devices.rest(timeout=5)
            results = await devices.selftest(pulse=True)
            assert all(r["ok"] for r in results), [r["detail"] for r in results]
            if driver == "waveshare":  # flash-on: FC05 at 0x0200+n, time in 100 ms
                assert [(base, ch) for base, ch, _ in emu.flashes] == [(0x0200, i) for i in range(8)]
            else:  # timed on: FC06 0x06XX to the relay's register
                assert sorted(emu.timers) == list(range(8))
            assert emu.relays == [False] * 8
    finally:
        emu.close()


# -- issue 10, case 5: a panic button pressed while the controller was down ---------------------

async def test_a_latching_input_active_at_start_triggers_its_scenario(tmp_path, audio_cache):
    from tests.conftest import make_site, start_controller

    board = SimulatedBoard(coils=16, inputs=8)
    await board.start()
    board.set_input(0, True)  # panic_office, pressed while the controller was down

    def external(cfg):
        cfg["devices"][0].update(simulate=False, port=board.port)

    controller, events = await start_controller(make_site(tmp_path, audio_cache, change=external))
    try:
        event = await events.wait("triggered", source="input", timeout=10)
        assert event["origin"] == "panic_office" and event["scenario"] == "armed_attack"
        assert event["note"] == "active at start"
        assert not [f for f in controller.faults.active if f.startswith("input:")]
    finally:
        await controller.stop()
        await board.stop()


# -- inputs of every kind ----------------------------------------------------------------

class Pressed:
    """What the engine would be told: (input, active, at_start) per call."""

    def __init__(self) -> None:
        self.calls: asyncio.Queue[tuple[str, bool, bool]] = asyncio.Queue()

    async def __call__(self, cfg, active: bool, at_start: bool) -> None:
        await self.calls.put((cfg.id, active, at_start))

    async def next(self) -> tuple[str, bool, bool]:
        return await asyncio.wait_for(self.calls.get(), 5)


async def test_fault_inputs_raise_and_clear_a_named_fault(tmp_path):
    sim = SimulatedBoard(coils=8, inputs=4)
    await sim.start()
    inputs = [
        {"id": "amp_fault", "device": "board1", "channel": 0, "kind": "fault",
         "fault": "amplifier", "debounce": 0.02},
        {"id": "ups", "device": "board1", "channel": 1, "kind": "fault",
         "fault": "ups_on_battery", "contact": "normally_closed", "debounce": 0.02},
        {"id": "tamper", "device": "board1", "channel": 2, "kind": "fault", "fault": "tamper"},
    ]
    pressed = Pressed()
    sim.set_input(1, True)  # the UPS relay is closed while mains is there
    try:
        cfg = site(tmp_path, [tcp_device(sim, inputs=4)], EIGHT, inputs)
        async with manager(cfg, on_input=pressed) as (devices, events, faults):
            assert await devices.rest(timeout=3)
            await asyncio.wait_for(devices.inputs_known.wait(), 5)
            sim.set_input(0, True)
            fault = await events.wait("fault", key="input:amp_fault")
            assert fault["code"] == "input_amplifier"
            ru = faults.list()[0]["text"]["ru"]
            assert "усилител" in ru and "amp_fault" in ru
            sim.set_input(1, False)  # mains lost: the contact opens
            assert (await events.wait("fault", key="input:ups"))["code"] == "input_ups_on_battery"
            sim.set_input(0, False)
            await events.wait("fault_cleared", key="input:amp_fault")
            sim.set_input(2, True)
            assert (await events.wait("fault", key="input:tamper"))["code"] == "input_tamper"
            assert "input:ups" in faults.active
        assert pressed.calls.empty(), "a fault input starts no scenario"
    finally:
        await sim.stop()


@pytest.mark.parametrize("registers", ["input", "holding"])
async def test_a_supervised_input_tells_active_open_and_short(tmp_path, registers):
    sim = SimulatedBoard(coils=0, inputs=0, registers=2)
    await sim.start()
    sim.set_register(0, 5000)  # normal: the end-of-line resistor alone
    eol = {"short": [0, 999], "active": [1000, 3999], "normal": [4000, 7999],
           "open": [8000, 65535]}
    inputs = [{"id": "panic_hall", "device": "analog", "channel": 0, "scenario": "armed_attack",
               "eol": eol, "debounce": 0.02}]
    analog = {"id": "analog", "driver": "modbus-analog", "port": sim.port, "channels": 0,
              "inputs": 2, "registers": registers, "poll_period": 0.2, "timeout": 0.3}
    relays = SimulatedBoard(coils=8, inputs=0)
    await relays.start()
    pressed = Pressed()
    try:
        cfg = site(tmp_path, [tcp_device(relays), analog], EIGHT, inputs)
        async with manager(cfg, on_input=pressed) as (devices, events, faults):
            await devices.rest(timeout=3)
            await asyncio.wait_for(devices.inputs_known.wait(), 5)
            sim.set_register(0, 2000)  # the button closes its resistor across the loop
            assert await pressed.next() == ("panic_hall", True, False)
            sim.set_register(0, 5000)
            assert await pressed.next() == ("panic_hall", False, False)
            sim.set_register(0, 65000)  # wire cut
            fault = await events.wait("fault", key="input:panic_hall:loop")
            assert fault["code"] == "input_open"
            assert "обрыв" in faults.list()[0]["text"]["ru"]
            sim.set_register(0, 10)  # wires shorted
            assert (await events.wait("fault", key="input:panic_hall:loop"))["code"] == "input_short"
            sim.set_register(0, 5000)
            await events.wait("fault_cleared", key="input:panic_hall:loop")
            results = {r["name"]: r for r in await devices.selftest(pulse=False)}
            assert results["panic_hall"]["ok"] and "reads 5000" in results["panic_hall"]["detail"]
        assert pressed.calls.empty(), "an open or short loop is a fault, not an alarm"
    finally:
        await sim.stop()
        await relays.stop()


async def test_a_panic_button_on_modem_lines_wakes_the_controller(tmp_path):
    # pyserial's loop:// joins RTS to CTS: a normally-closed button between them.
    button = {"id": "board1", "driver": "serial-lines", "transport": "serial", "port": "loop://",
              "channels": 0, "inputs": 4, "poll_period": 1.0}
    inputs = [{"id": "panic_door", "device": "board1", "channel": 0, "contact": "normally_closed",
               "scenario": "armed_attack", "debounce": 0.01}]
    pressed = Pressed()
    cfg = site(tmp_path, [button, {"id": "relays", "driver": "lcus", "transport": "serial",
                                   "port": "loop://relays", "channels": 1, "inputs": 0}],
               {"lamp": {"device": "relays", "channel": 0}}, inputs)
    async with manager(cfg, on_input=pressed) as (devices, events, faults):
        await devices.rest(timeout=3)
        await asyncio.wait_for(devices.inputs_known.wait(), 5)
        board = devices.links["board1"].board
        port = board.line.serial_port()
        port.rts = False  # pressed: the loop opens
        assert await pressed.next() == ("panic_door", True, False)
        port.rts = True
        assert await pressed.next() == ("panic_door", False, False)
        assert board.watch == "poll", "loop:// has no modem-line interrupts"


EOL = {"short": [0, 999], "active": [1000, 3999], "normal": [4000, 7999], "open": [8000, 65535]}
ANALOG = {"id": "analog", "driver": "modbus-analog", "port": 1502, "channels": 0, "inputs": 2}
RELAYS = {"id": "board1", "driver": "modbus-coils", "port": 1503, "channels": 8, "inputs": 2}


@pytest.mark.parametrize("inputs, says", [
    ([{"id": "a", "device": "board1", "channel": 0, "kind": "fault", "scenario": "fire"}],
     "inputs[0].scenario: a fault input raises a fault, it starts no scenario"),
    ([{"id": "a", "device": "board1", "channel": 0}],
     "inputs[0].scenario: a panic input needs a scenario"),
    ([{"id": "a", "device": "board1", "channel": 0, "scenario": "fire", "eol": EOL}],
     "inputs[0].eol: only inputs on a modbus-analog device are supervised"),
    ([{"id": "a", "device": "analog", "channel": 0, "scenario": "fire"}],
     "inputs[0].eol: an input on an analog module needs its eol ranges"),
    ([{"id": "a", "device": "analog", "channel": 0, "scenario": "fire",
       "eol": dict(EOL, active=[900, 3999])}],
     "inputs[0].eol: short and active overlap"),
    ([{"id": "a", "device": "analog", "channel": 0, "scenario": "fire",
       "eol": dict(EOL, open=[9000, 8000])}],
     "inputs[0].eol.open: Value error, give the range as [lowest, highest]"),
])
def test_input_kinds_are_checked_in_the_config(tmp_path, inputs, says):
    from controller.errors import ConfigurationError

    path = site(tmp_path, [RELAYS, ANALOG], EIGHT, inputs)
    with pytest.raises(ConfigurationError) as err:
        load_config(path)
    assert says in str(err.value), str(err.value)


async def test_polls_keep_to_their_share_of_the_line(tmp_path):
    async with rtu_line(inputs=4) as (bridge, (sim,)):
        board = serial_device("modbus-coils", bridge.b_path, inputs=4, poll_share=0.1)
        inputs = [{"id": "panic", "device": "board1", "channel": 0, "scenario": "fire"}]
        async with manager(site(tmp_path, [board], EIGHT, inputs)) as (devices, events, _):
            await devices.rest(timeout=5)
            await asyncio.wait_for(devices.inputs_known.wait(), 5)
            sim.set_input(0, True)
            await events.wait("input", input="panic", active=True, timeout=5)
            sim.set_input(0, False)
            await events.wait("input", input="panic", active=False, timeout=5)
            line = devices.status()[0]["line"]
        assert line["poll_share"] == 0.1 and 0 < line["poll_share_used"] <= 1
        polls = [i for i, f in enumerate(bridge.frames) if f.sender == "dabyl" and f.data[1] == 2]
        assert len(polls) >= 3
        for a, b in zip(polls, polls[1:], strict=False):
            exchange = bridge.frames[a + 1].end - bridge.frames[a].start  # request and reply
            spacing = bridge.frames[b].start - bridge.frames[a].start
            assert spacing >= 0.9 * exchange / 0.1, (spacing, exchange)


async def test_a_simulated_supervised_input_can_be_pressed(tmp_path):
    from tests.conftest import free_port

    analog = dict(ANALOG, port=free_port(), simulate=True)
    relays = dict(RELAYS, port=free_port(), simulate=True, inputs=0)
    inputs = [{"id": "panic_hall", "device": "analog", "channel": 1, "scenario": "fire",
               "eol": EOL, "debounce": 0.01}]
    pressed = Pressed()
    async with manager(site(tmp_path, [relays, analog], EIGHT, inputs), on_input=pressed) as (
            devices, events, faults):
        cfg = devices.config.inputs[0]
        await devices.rest(timeout=3)
        await asyncio.wait_for(devices.inputs_known.wait(), 5)
        devices.set_simulated_input(cfg, True)
        assert await pressed.next() == ("panic_hall", True, False)
        assert not [e for e in events.drain() if e["kind"] == "fault"], "the loop started whole"


async def test_a_relay_that_does_not_move_is_a_fault_naming_its_output(tmp_path):
    sim = SimulatedBoard(coils=8, inputs=0)
    await sim.start()
    try:
        async with manager(site(tmp_path, [tcp_device(sim)], EIGHT)) as (devices, events, _):
            assert await devices.rest(timeout=3)
            sim.stuck = {3}
            await devices.apply({name: name in ("out3", "out4") for name in EIGHT})
            fault = await events.wait("fault", key="readback:board1", timeout=3)
            assert fault["params"]["outputs"] == ["out3"], "the relay that did not move"
            assert devices.output_states()["out3"] == {
                "wanted": True, "reported": False, "device": "board1", "kind": "zone"}
            sim.stuck = set()
            await events.wait("fault_cleared", key="readback:board1", timeout=3)
            assert sim.coils(0, 8) == [i in (3, 4) for i in range(8)]
    finally:
        await sim.stop()


async def test_a_board_that_loses_its_relays_gets_them_back_at_the_next_poll(tmp_path):
    sim = SimulatedBoard(coils=8, inputs=0)
    await sim.start()
    try:
        async with manager(site(tmp_path, [tcp_device(sim)], EIGHT)) as (devices, events, _):
            assert await devices.rest(timeout=3)
            await devices.apply({name: name in ("out1", "out6") for name in EIGHT})
            for event in events.drain():
                event["_taken"] = True
            sim._device.setValues(1, 0, [False] * 8)  # a power dip on the board
            await events.wait("output", output="out1", on=True, ok=True, timeout=3)
            await events.wait("output", output="out6", on=True, ok=True, timeout=3)
            assert sim.coils(0, 8) == [i in (1, 6) for i in range(8)]
            assert "readback:board1" not in devices.faults.active, "once is no fault"
    finally:
        await sim.stop()


def test_a_device_setting_no_driver_can_work_with_is_one_config_line(tmp_path):
    from controller.errors import ConfigurationError

    usb = {"driver": "kmtronic", "transport": "serial", "port": "/dev/ttyUSB4", "inputs": 0}
    path = site(tmp_path, [dict(usb, id="board1"), dict(usb, id="board2", unit=2)], EIGHT)
    config = load_config(path)
    journal = Journal(tmp_path / "j.sqlite")
    journal.open()
    try:
        with pytest.raises(ConfigurationError) as err:
            DeviceManager(config, EventBus(journal), FaultBook(EventBus(journal)))
    finally:
        journal.close()
    assert err.value.problems == [
        f"{path}: devices[1] (board2): /dev/ttyUSB4: a kmtronic board is alone on its port"]
