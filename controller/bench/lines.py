"""A panic button on a serial port's modem lines: press → activation started.

Where the port driver has modem-line interrupts (TIOCMIWAIT: most USB-serial chips
and 16550 UARTs), dabyl wakes on the change itself. Pseudo-terminals have no modem
lines, and the only UART on a build machine is usually its console, so the bench uses
pyserial's loop:// port (RTS wired to CTS in software), which has no interrupts:
what it measures is the fallback dabyl uses on such ports, the lines looked at every
5 ms. The button is normally closed, its debounce 10 ms (contacts bounce for well
under 10 ms); each round starts from rest.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from controller.bench.common import BenchContext, Figure, at_rest, running

NAME = "serial_lines"
DEBOUNCE = 0.01


def _button(data: dict[str, Any]) -> None:
    data["devices"].append({"id": "button_port", "driver": "serial-lines",
                            "transport": "serial", "port": "loop://", "channels": 0,
                            "inputs": 4, "poll_period": 1.0})
    data["inputs"].append({"id": "panic_door", "device": "button_port", "channel": 0,
                           "contact": "normally_closed", "debounce": DEBOUNCE,
                           "scenario": "armed_attack", "latching": True})


async def _presses(ctx: BenchContext, rounds: int) -> tuple[list[float], str]:
    samples = []
    async with running(ctx.site("serial_lines", _button)) as (controller, probe):
        devices = controller.devices
        await asyncio.wait_for(devices.inputs_known.wait(), 10)
        board = devices.links["button_port"].board
        for _ in range(rounds):
            await at_rest(controller)
            probe.drain()
            port = board.line.serial_port()
            t0 = time.monotonic()
            port.rts = False  # the button pressed: the loop opens, CTS drops
            event = await probe.wait("triggered", source="input", origin="panic_door")
            samples.append((controller.engine.activations[event["activation"]].trigger_mono
                            - t0) * 1000)
            port.rts = True
            await probe.wait("input", input="panic_door", active=False)
            controller.engine.clear(event["activation"], "bench")
        watch = board.watch
    return samples, watch


def measure(ctx: BenchContext) -> list[Figure]:
    samples, watch = asyncio.run(_presses(ctx, max(10, ctx.rounds // 2)))
    how = ("modem-line interrupts" if watch == "interrupt"
           else "no modem-line interrupts here: lines looked at every 5 ms")
    ctx.notes.append(f"serial-lines panic button: {how}; debounce {DEBOUNCE * 1000:g} ms, "
                     "which is the floor of this figure")
    return [Figure("panic_serial_lines",
                   f"panic on serial modem lines → activation started ({watch or 'poll'})",
                   samples, 20)]
