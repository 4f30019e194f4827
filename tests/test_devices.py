"""Devices as the engine sees them, through the real protocols: the wish beside what
each board reports, faults that name the outputs, recovery, and every input kind.

Each test runs a DeviceManager (with its journal and fault book) against devices
that speak the wire protocol: the pymodbus server, or byte-level emulators on
pseudo-terminals. Tests wait on events, never on sleeps.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import tomli_w

from controller.config import load_config
from controller.devices import DeviceManager
from controller.events import EventBus
from controller.faults import FaultBook
from controller.journal import Journal
from drivers.simulator import SimulatedBoard
from tests.conftest import Events


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
