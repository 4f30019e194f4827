"""Every driver against a device speaking its real wire protocol.

One contract, written once, runs against every driver: Modbus TCP and RTU against
the pymodbus server, the serial boards against byte-level emulators on
pseudo-terminals. Then each driver's exact frames, and devices that misbehave.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers import DeviceSettings, create_board, known_drivers
from drivers.errors import (
    DeviceConfigError,
    DeviceError,
    DeviceReplyError,
    DeviceTimeout,
    DeviceUnavailable,
)
from drivers.serial_boards import lcus_frame, numato_mask, numato_reply
from drivers.simulator import PtyBridge, SimulatedBoard
from tests.emulators import (
    KmtronicEmulator,
    KmtronicRs485Emulator,
    LcusEmulator,
    NumatoEmulator,
    RtuEmulator,
    crc16,
    relays_become,
)


@dataclass
class Rig:
    board: Any
    device: Any
    relays: Any  # () -> list[bool], the device's own view
    cleanup: list


async def _modbus_tcp() -> Rig:
    sim = SimulatedBoard(coils=8, inputs=4)
    await sim.start()
    board = create_board(DeviceSettings(id="t", driver="modbus-coils", port=sim.port,
                                        channels=8, inputs=4, timeout=0.5))
    return Rig(board, sim, lambda: sim.coils(0, 8), [sim.stop])


async def _modbus_rtu() -> Rig:
    bridge = PtyBridge()
    sim = SimulatedBoard(coils=8, inputs=4, serial_port=bridge.a_path, baudrate=9600)
    await sim.start()
    board = create_board(DeviceSettings(id="r", driver="modbus-coils", transport="serial",
                                        port=bridge.b_path, baudrate=9600, channels=8, inputs=4,
                                        timeout=0.5))

    async def stop():
        await sim.stop()
        bridge.close()

    return Rig(board, sim, lambda: sim.coils(0, 8), [stop])


def _serial(driver: str, emulator_cls, channels: int = 8):
    async def make() -> Rig:
        emu = emulator_cls(channels)
        board = create_board(DeviceSettings(id=driver, driver=driver, transport="serial",
                                            port=emu.path, channels=channels, inputs=0,
                                            timeout=0.3))

        async def stop():
            emu.close()

        return Rig(board, emu, lambda: list(emu.relays), [stop])

    return make


RIGS = {
    "modbus-coils/tcp": _modbus_tcp,
    "modbus-coils/rtu": _modbus_rtu,
    "eletechsup": _serial("eletechsup", RtuEmulator),
    "lcus": _serial("lcus", LcusEmulator),
    "numato": _serial("numato", NumatoEmulator),
    "kmtronic": _serial("kmtronic", KmtronicEmulator),
}


@pytest.fixture(params=sorted(RIGS))
async def rig(request):
    made = await RIGS[request.param]()
    await made.board.connect()
    try:
        yield made
    finally:
        await made.board.close()
        for stop in made.cleanup:
            await stop()


async def _settle(rig: Rig, expected: list[bool]) -> None:
    """Devices without replies (LCUS, KMTronic writes) act when the bytes arrive."""
    async with asyncio.timeout(5):
        while rig.relays() != expected:
            changed = getattr(rig.device, "changed", None)
            if changed is None:
                raise AssertionError(f"{rig.relays()} != {expected}")
            changed.clear()
            if rig.relays() == expected:
                break
            await asyncio.to_thread(changed.wait, 1.0)


# -- the contract ----------------------------------------------------------------------

async def test_contract_switches_exactly_one_relay(rig):
    await rig.board.set(2, True)
    await _settle(rig, [False, False, True] + [False] * 5)
    await rig.board.set(7, True)
    await rig.board.set(2, False)
    await _settle(rig, [False] * 7 + [True])


async def test_contract_reads_back_what_the_device_has(rig):
    await rig.board.set(0, True)
    await rig.board.set(5, True)
    expected = [True, False, False, False, False, True, False, False]
    await _settle(rig, expected)
    if rig.board.can_read_back:
        assert await rig.board.read_outputs() == expected
    else:
        with pytest.raises(DeviceConfigError, match="cannot report"):
            await rig.board.read_outputs()


async def test_contract_rejects_a_channel_that_does_not_exist(rig):
    with pytest.raises(DeviceConfigError):
        await rig.board.set(8, True)
    await rig.board.set(1, True)
    await _settle(rig, [False, True] + [False] * 6)


async def test_contract_pulse_returns_to_off(rig):
    if rig.board.settings.driver == "eletechsup":
        pytest.skip("Eletechsup pulses with its own timer (tested by frame below)")
    await rig.board.pulse(3, 0.05)
    await _settle(rig, [False] * 8)
    assert any(rig.relays()) is False


async def test_contract_heartbeat(rig):
    await rig.board.heartbeat()


def test_unknown_driver_lists_the_known_ones():
    with pytest.raises(DeviceConfigError) as err:
        create_board(DeviceSettings(id="x", driver="relay9000"))
    for name in ("modbus-coils", "eletechsup", "lcus", "numato", "kmtronic", "serial-lines"):
        assert name in str(err.value)
    assert set(known_drivers()) >= {"modbus-coils", "simulator"}


# -- exact frames --------------------------------------------------------------------------

async def _serial_board(driver, emulator, timeout=0.3, **kw):
    # Polls may take the whole line here: these tests are about frames, not scheduling.
    board = create_board(DeviceSettings(id=driver, driver=driver, transport="serial",
                                        port=emulator.path, channels=len(emulator.relays),
                                        inputs=0, timeout=timeout, poll_share=1.0, **kw))
    await board.connect()
    return board


async def test_eletechsup_frames_are_byte_exact():
    emu = RtuEmulator(8)
    board = await _serial_board("eletechsup", emu)
    try:
        await board.set(0, True)
        await board.set(0, False)
        await board.read_outputs()
        assert await board.pulse_on(2, 10) is True, "the board ends the pulse itself"
        await board.cancel_timer(2)
        await board.all_off()
        assert [f.hex(" ") for f in emu.frames] == [
            "01 06 00 01 01 00 d9 9a",  # relay 1 on (the manufacturer's example frame)
            "01 06 00 01 02 00 d9 6a",  # relay 1 off
            "01 03 00 01 00 08 15 cc",  # read 8 relay states from register 1
            "01 06 00 03 06 0a " + crc16(bytes.fromhex("01060003060a")).hex(" "),  # on for 10 s
            "01 06 00 03 06 00 " + crc16(bytes.fromhex("010600030600")).hex(" "),  # cancel
            "01 06 00 00 08 00 8e 0a",  # all off
        ]
        assert emu.timers[2] == 0
    finally:
        await board.close()
        emu.close()


async def test_waveshare_flash_frame():
    emu = RtuEmulator(8)
    board = create_board(DeviceSettings(id="w", driver="waveshare", transport="serial",
                                        port=emu.path, channels=8, inputs=0, timeout=0.5))
    await board.connect()
    try:
        await board.flash(0, 0.7)
        await board.flash(3, 1.0, on=False)
        assert emu.frames[0].hex(" ") == "01 05 02 00 00 07 8d b0"
        assert emu.flashes == [(0x0200, 0, 7), (0x0400, 3, 10)]
    finally:
        await board.close()
        emu.close()


async def test_lcus_numato_kmtronic_frames():
    assert lcus_frame(0, True).hex(" ") == "a0 01 01 a2"
    assert lcus_frame(3, False).hex(" ") == "a0 04 00 a4"
    lcus, numato, km = LcusEmulator(4), NumatoEmulator(16), KmtronicEmulator(8)
    boards = [await _serial_board("lcus", lcus), await _serial_board("numato", numato),
              await _serial_board("kmtronic", km)]
    try:
        await boards[0].set(1, True)
        await boards[1].set(11, True)
        assert await boards[1].read_outputs() == [i == 11 for i in range(16)]
        await boards[2].set(2, True)
        assert (await boards[2].read_outputs())[2] is True
        await _settle(Rig(boards[0], lcus, lambda: list(lcus.relays), []), [False, True, False, False])
        assert lcus.frames == [bytes.fromhex("a00201a3")]
        assert numato.frames[:2] == [b"relay on B\r", b"relay readall\r"]
        assert km.frames[0] == bytes.fromhex("ff0301")
        assert km.frames[1] == bytes.fromhex("ff0900"), "one status request, eight answers"
    finally:
        for board in boards:
            await board.close()
        for emu in (lcus, numato, km):
            emu.close()


# -- devices that misbehave -----------------------------------------------------------------

@pytest.mark.parametrize("driver, emulator", [("numato", NumatoEmulator),
                                              ("kmtronic", KmtronicEmulator),
                                              ("eletechsup", RtuEmulator)])
async def test_silence_late_short_and_noise(driver, emulator):
    emu = emulator(8)
    board = await _serial_board(driver, emu)
    try:
        assert await board.read_outputs() == [False] * 8
        for mode, error in (("silent", DeviceTimeout), ("late", DeviceTimeout),
                            ("short", DeviceReplyError), ("garbage", DeviceReplyError)):
            emu.mode = mode
            emu.late_by = 0.6
            emu.replied.clear()
            with pytest.raises(error):
                await board.read_outputs()
            if mode == "late":  # its reply must not be taken for the next request's
                assert await asyncio.to_thread(emu.replied.wait, 5)
        emu.mode = "noise"
        try:
            states = await board.read_outputs()
            assert states == [False] * 8, "noise before a reply is skipped"
        except DeviceReplyError:
            pass  # or refused cleanly; never anything else
        emu.mode = "normal"
        await board.set(4, True)
        assert (await board.read_outputs())[4] is True, "the driver recovers"
    finally:
        await board.close()
        emu.close()


async def test_unplugged_usb_relay_is_unavailable_and_comes_back():
    emu = LcusEmulator(4)
    board = await _serial_board("lcus", emu)
    path = emu.path
    emu.close()
    with pytest.raises(DeviceUnavailable):
        await board.heartbeat()
    await board.close()
    assert path


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_numato_parser_never_crashes_on_garbage(reply):
    for command in ("relay readall", "relay on 3"):
        try:
            answer = numato_reply(command, reply)
            if command == "relay readall":
                numato_mask(answer, 8)
        except DeviceReplyError:
            pass


@settings(max_examples=25, deadline=None)
@given(st.binary(min_size=1, max_size=40))
async def test_kmtronic_never_crashes_on_random_replies(noise):
    emu = KmtronicEmulator(2)
    emu.handle = lambda frame: noise  # the device answers anything at all
    board = await _serial_board("kmtronic", emu, timeout=0.05)
    try:
        await board.read_outputs()
    except DeviceError:
        pass
    finally:
        await board.close()
        emu.close()


# -- a panic button on modem lines ---------------------------------------------------------

async def test_serial_lines_reads_a_button_through_the_modem_lines():
    # pyserial's loop:// joins RTS to CTS and DTR to DSR like a wired button loop.
    board = create_board(DeviceSettings(id="btn", driver="serial-lines", transport="serial",
                                        port="loop://", channels=0, inputs=4, timeout=0.5))
    await board.connect()
    try:
        cts, dsr, _dcd, _ri = await board.read_inputs()
        assert cts and dsr, "DTR and RTS are raised to supply the button"
        serial_port = board.line.serial_port()
        serial_port.rts = False  # the loop opens: a normally-closed button pressed
        cts, dsr, _dcd, _ri = await board.read_inputs()
        assert cts is False and dsr is True
    finally:
        await board.close()


def test_serial_lines_has_no_outputs():
    with pytest.raises(DeviceConfigError, match="no outputs"):
        create_board(DeviceSettings(id="b", driver="serial-lines", transport="serial",
                                    port="loop://", channels=2, inputs=4))


# -- KMTronic as the maker documents it (issue 14, case 4) ----------------------------------

async def test_kmtronic_eight_relay_board_reports_with_ff_09_00():
    km = KmtronicEmulator(8)
    board = await _serial_board("kmtronic", km)
    try:
        await board.set(2, True)
        await board.set(7, True)
        assert await board.read_outputs() == [i in (2, 7) for i in range(8)]
        assert km.frames[-1] == bytes.fromhex("ff0900"), "one status request for all relays"
    finally:
        await board.close()
        km.close()


async def test_kmtronic_two_relay_board_reports_relay_by_relay():
    km = KmtronicEmulator(2)
    board = await _serial_board("kmtronic", km)
    try:
        await board.set(1, True)
        assert await board.read_outputs() == [False, True]
        assert km.frames[-2:] == [bytes.fromhex("ff0103"), bytes.fromhex("ff0203")]
    finally:
        await board.close()
        km.close()


async def test_kmtronic_rs485_boards_share_a_line_by_address():
    km = KmtronicRs485Emulator(boards=2)
    one = create_board(DeviceSettings(id="k1", driver="kmtronic-rs485", transport="serial",
                                      port=km.path, unit=1, channels=8, inputs=0, timeout=0.3))
    two = create_board(DeviceSettings(id="k2", driver="kmtronic-rs485", transport="serial",
                                      port=km.path, unit=2, channels=8, inputs=0, timeout=0.3))
    await one.connect()
    await two.connect()
    try:
        await two.set(0, True)
        await one.set(7, True)
        await relays_become(km, [False] * 7 + [True] + [True] + [False] * 7)
        assert km.frames[:2] == [bytes.fromhex("ff0901"), bytes.fromhex("ff0801")]
        assert await two.read_outputs() == [True] + [False] * 7
        assert await one.read_outputs() == [False] * 7 + [True]
        assert km.frames[2:] == [bytes.fromhex("ffa200"), bytes.fromhex("ffa100")]
    finally:
        await one.close()
        await two.close()
        km.close()


async def test_numato_switches_a_whole_board_with_writeall():
    numato = NumatoEmulator(16)
    board = await _serial_board("numato", numato)
    try:
        await board.write_outputs({ch: ch in (0, 11, 15) for ch in range(16)})
        assert numato.frames == [b"relay writeall 8801\r"]
        assert numato.relays == [ch in (0, 11, 15) for ch in range(16)]
        await board.write_outputs({3: True}, changed=[3])  # part of a board: one by one
        assert numato.frames[-1] == b"relay on 3\r"
    finally:
        await board.close()
        numato.close()


def test_a_usb_board_is_alone_on_its_port():
    first = create_board(DeviceSettings(id="a", driver="kmtronic", transport="serial",
                                        port="loop://x", channels=8, inputs=0))
    try:
        with pytest.raises(DeviceConfigError, match="alone on its port"):
            create_board(DeviceSettings(id="b", driver="kmtronic", transport="serial",
                                        port="loop://x", channels=8, inputs=0))
    finally:
        first._release()
