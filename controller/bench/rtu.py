"""Relays over Modbus RTU: the simulated board on one end of a pseudo-terminal pair."""

from __future__ import annotations

import asyncio
from pathlib import Path

from controller.bench.alarm import _relays_and_audio
from controller.bench.common import BenchContext, Figure

NAME = "rtu"


async def _rtu(ctx: BenchContext, rounds: int) -> list[float]:
    from drivers.simulator import PtyBridge, SimulatedBoard

    bridge = PtyBridge()
    device = ctx.base.devices[0]
    sim = SimulatedBoard(unit=device.unit, coils=device.channels, inputs=device.inputs,
                         serial_port=bridge.a_path, baudrate=9600)
    await sim.start()

    def to_serial(data: dict) -> None:
        data["devices"][0].update(transport="serial", port=bridge.b_path, baudrate=9600,
                                  simulate=False)

    try:
        path: Path = ctx.site("rtu", to_serial)
        return (await _relays_and_audio(path, rounds))["relays"]
    finally:
        await sim.stop()
        bridge.close()


def measure(ctx: BenchContext) -> list[Figure]:
    samples = asyncio.run(_rtu(ctx, max(20, ctx.rounds // 2)))
    return [Figure("relays_rtu", "trigger → all relays acknowledged (Modbus RTU, pty)",
                   samples, 40)]
