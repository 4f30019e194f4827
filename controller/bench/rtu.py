"""Relays over Modbus RTU at wire speed: simulated boards (pymodbus servers) behind a
pseudo-terminal that delivers every byte at 9600-baud wire time and keeps frames from
running together, as an RS-485 line does.

Each figure sits beside its physical limit: the wire time of the same frames from a
quiet line (one FC15 per board, 10 bytes out and 8 back, and the 3.5-character
silence between one board's reply and the next board's request). The simulated
boards answer within a millisecond; a board that waits the full 3.5 characters before
answering, as a strict reading of the spec has it, adds 3.65 ms per exchange.
Every round starts from rest. The line's log is checked after each suite: a frame
sent without the silence would have been lost on a real shared line.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from controller.bench.common import BenchContext, Figure, at_rest, running

NAME = "rtu"
BAUD = 9600
CHAR = 10 / BAUD  # 8N1: start, 8 data bits, stop
FC15_FRAMES = (10 + 8) * CHAR * 1000  # ms on the wire: an 8-coil FC15 and its reply
SILENCE = 3.5 * CHAR * 1000


def wire_limit(boards: int) -> float:
    return boards * FC15_FRAMES + (boards - 1) * SILENCE


def _rtu_site(data: dict[str, Any], port: str, boards: int) -> None:
    """The demo's outputs on `boards` eight-relay RTU boards on one line, every zone
    public so one announcement routes them all; no inputs on the line."""
    data["devices"] = [
        {"id": f"rtu{u}", "driver": "modbus-coils", "transport": "serial", "port": port,
         "baudrate": BAUD, "unit": u, "channels": 8, "inputs": 0, "poll_period": 1.0,
         "timeout": 0.5}
        for u in range(1, boards + 1)
    ]
    head = [("strobe", "visual"), ("siren", "sounder"), ("power_cut", "power"),
            ("amp_power", "amplifier")]
    if boards == 1:
        zones = {z: [f"zone_{z}"] for z in ("hall", "lobby", "yard", "office")}
    else:  # every other relay of the line selects a loudspeaker line of some zone
        head += [(f"amp_{i}", "amplifier") for i in range(2, 5)]
        rest = [f"speakers_{i}" for i in range(8 * boards - len(head))]
        zones = {z: rest[i::4] for i, z in enumerate(("hall", "lobby", "yard", "office"))}
    names = [n for n, _ in head] + [o for outs in zones.values() for o in outs]
    kinds = dict(head)
    data["outputs"] = {
        name: {"device": f"rtu{1 + i // 8}", "channel": i % 8, "kind": kinds.get(name, "zone")}
        for i, name in enumerate(names)
    }
    data["zones"] = {z: {"outputs": outs, "title": data["zones"].get(z, {}).get("title", z)}
                     for z, outs in zones.items()}
    data["inputs"] = []
    data["drill"] = {"suppress_outputs": ["siren", "power_cut"]}


@contextlib.asynccontextmanager
async def _line(boards: int):
    from drivers.simulator import PtyBridge, SimulatedBoard

    bridge = PtyBridge(baudrate=BAUD, strict_gap=True)
    others = [SimulatedBoard(unit=u, coils=8, inputs=0) for u in range(2, boards + 1)]
    first = SimulatedBoard(unit=1, coils=8, inputs=0, serial_port=bridge.a_path,
                           baudrate=BAUD, also=others)
    await first.start()
    try:
        yield bridge, [first, *others]
    finally:
        await first.stop()
        bridge.close()


async def _quiet(controller) -> None:
    """From rest means a quiet line too: the read-back that follows the last round's
    all-clear is over (it would otherwise delay this round's first frame)."""
    links = list(controller.devices.links.values())
    lines = {link.board.line for link in links if link.board.line is not None}
    async with asyncio.timeout(30):
        while True:
            if not any(link.verify or link.dirty.is_set() for link in links) and \
                    not any(line.busy for line in lines):
                return
            await asyncio.sleep(0.002)


async def _all_on(probe, names: set[str], timeout: float = 10.0) -> float:
    """When the last of these outputs was acknowledged on by its board."""
    left, last = set(names), 0.0
    while left:
        event = await probe.wait("output", timeout=timeout, ok=True, on=True)
        if event["output"] in left:
            left.discard(event["output"])
            last = event["at_mono"]
    return last


async def _relays(ctx: BenchContext, boards: int, rounds: int
                  ) -> tuple[list[float], list[float], list[str]]:
    """Trigger → every relay acknowledged; and → the first frame, which goes out only
    once the zone and amplifier relays are acknowledged (into switched-on speakers)."""
    samples: list[float] = []
    sound: list[float] = []
    async with _line(boards) as (bridge, _sims):
        path = ctx.site(f"rtu{boards}", lambda d: _rtu_site(d, bridge.b_path, boards))
        async with running(path) as (controller, probe):
            names = set(controller.config.outputs)
            for _ in range(rounds):
                await at_rest(controller)
                await _quiet(controller)
                probe.drain()
                t0 = time.monotonic()
                act = await controller.engine.trigger("fire", source="operator", origin="bench")
                samples.append((await _all_on(probe, names) - t0) * 1000)
                first = await probe.wait("first_audio", activation=act.id, timeout=10)
                if not first["relays_confirmed"]:
                    raise RuntimeError("sound started before its zone relays were on")
                sound.append((first["at_mono"] - t0) * 1000)
                controller.engine.clear(act.id, "bench")
            await at_rest(controller)
    return samples, sound, _line_notes(bridge, f"{boards} board{'s' if boards > 1 else ''}")


async def _refusing(ctx: BenchContext, rounds: int) -> tuple[list[float], list[float]]:
    """A board that answers reads but refuses writes (Modbus exception 2): trigger →
    fault; then accepting again → every output as wished."""
    to_fault: list[float] = []
    to_restored: list[float] = []
    async with _line(1) as (bridge, (sim,)):
        path = ctx.site("refusing", lambda d: _rtu_site(d, bridge.b_path, 1))
        async with running(path) as (controller, probe):
            names = list(controller.config.outputs)
            for _ in range(rounds):
                await at_rest(controller)
                await _quiet(controller)
                probe.drain()
                sim.refuse_writes = 2
                t0 = time.monotonic()
                act = await controller.engine.trigger("fire", source="operator", origin="bench")
                await probe.wait("fault", key="writes:rtu1", timeout=10)
                to_fault.append((time.monotonic() - t0) * 1000)
                sim.refuse_writes = None
                t1 = time.monotonic()
                left = await controller.devices.settled(names, 10)
                if left or sim.coils(0, 8) != [True] * 8:
                    raise RuntimeError(f"outputs not restored: {left}")
                to_restored.append((time.monotonic() - t1) * 1000)
                controller.engine.clear(act.id, "bench")
            await at_rest(controller)
    return to_fault, to_restored


def _line_notes(bridge, what: str) -> list[str]:
    sent = [f for f in bridge.frames if f.sender == "dabyl"]
    gaps = [f.gap for f in sent if f.gap != float("inf")]
    shortest = f"{min(gaps) * 1000:.2f} ms" if gaps else "none"
    return [f"RTU line, {what}: {len(sent)} frames sent, {len(bridge.dropped)} lost for a "
            f"short silence; shortest silence before a frame {shortest} "
            f"(3.5 characters at {BAUD} baud: {3.5 * CHAR * 1000:.2f} ms)"]


def measure(ctx: BenchContext) -> list[Figure]:
    rounds = max(10, ctx.rounds // 2)
    one, sound_one, notes_one = asyncio.run(_relays(ctx, 1, rounds))
    four, sound_four, notes_four = asyncio.run(_relays(ctx, 4, rounds))
    to_fault, to_restored = asyncio.run(_refusing(ctx, min(5, ctx.rounds)))
    ctx.notes += notes_one + notes_four
    limit_note = "wire time at 9600 baud of one FC15 and its reply per board, with the silences between boards"
    return [
        Figure("relays_rtu", "trigger → all relays acknowledged, one 8-relay RTU board",
               one, 40, limit=wire_limit(1), limit_note=limit_note),
        Figure("relays_rtu_4", "trigger → all relays acknowledged, 4 × 8 relays on one line",
               four, 130, limit=wire_limit(4), limit_note=limit_note),
        Figure("first_frame_confirmed_rtu",
               "trigger → first frame into acknowledged zones, one RTU board", sound_one, 150),
        Figure("first_frame_confirmed_rtu_4",
               "trigger → first frame into acknowledged zones, 4 boards on a line", sound_four,
               150),
        Figure("writes_refused_to_fault", "board refuses writes → fault raised (RTU)",
               to_fault, 3000, standard="EN 54-16: fault within 100 s",
               standard_allows=100000),
        Figure("accepting_to_restored", "board accepts writes again → outputs as wished (RTU)",
               to_restored, 2000),
    ]
