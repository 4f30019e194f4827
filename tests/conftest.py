"""Shared test fixtures: a temporary copy of the demo site and a running controller.

Devices are real Modbus servers on loopback; audio is real espeak-ng speech into
the WAV sink. Tests wait on events with time limits, never on fixed sleeps.
"""

from __future__ import annotations

import asyncio
import copy
import os
import shutil
import socket
import struct
import subprocess
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

ROOT = Path(__file__).resolve().parent.parent
DEMO = tomllib.loads((ROOT / "config.toml").read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def audio_cache(tmp_path_factory) -> Path:
    """One pre-rendered cache for the whole run (rendering is done once)."""
    return tmp_path_factory.mktemp("audio-cache")


def make_site(
    directory: Path,
    cache: Path,
    *,
    pace: float = 0.0,
    change: Callable[[dict[str, Any]], None] | None = None,
    pauses: float | None = None,
) -> Path:
    """Write a config.toml for a private copy of the demo site; returns its path.

    `pauses` shortens the pause between repetitions in a private copy of the
    scenarios, so drills run through in a test's time.
    """
    cfg = copy.deepcopy(DEMO)
    cfg["scenarios"] = str(ROOT / "scenarios")
    if pauses is not None:
        target = directory / "scenarios"
        shutil.copytree(ROOT / "scenarios", target)
        for file in target.glob("[!_]*.toml"):
            data = tomllib.loads(file.read_text())
            data["repeat"]["pause"] = pauses
            file.write_text(tomli_w.dumps(data))
        cfg["scenarios"] = str(target)
    cfg["devices"][0]["port"] = free_port()
    cfg["control"] = {
        "socket": str(directory / "dabyl.sock"),
        "journal": str(directory / "journal.sqlite"),
    }
    cfg["audio"].update(
        {"output": "wav", "cache_dir": str(cache), "wav_dir": str(directory / "wav"),
         "wav_pace": pace}
    )
    # The demo's yearly fire drill stays (it never falls due during a test); the weekly
    # self-test is dropped so no test meets it.
    cfg["schedule"] = [e for e in cfg["schedule"] if e["action"] == "drill"]
    if change:
        change(cfg)
    path = directory / "config.toml"
    path.write_text(tomli_w.dumps(cfg))
    return path


@pytest.fixture
def site(tmp_path, audio_cache) -> Path:
    return make_site(tmp_path, audio_cache)


class Events:
    """Collects every event of a controller, and waits for the ones a test needs."""

    def __init__(self, bus) -> None:
        self.bus = bus
        self.queue = bus.subscribe()
        self.seen: list[dict[str, Any]] = []

    async def wait(self, kind: str, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
        def ok(event: dict[str, Any]) -> bool:
            return event["kind"] == kind and all(event.get(k) == v for k, v in match.items())

        for event in self.seen:
            if ok(event) and not event.get("_taken"):
                event["_taken"] = True
                return event
        async with asyncio.timeout(timeout):
            while True:
                event = await self.queue.get()
                self.seen.append(event)
                if ok(event):
                    event["_taken"] = True
                    return event

    def drain(self) -> list[dict[str, Any]]:
        while not self.queue.empty():
            self.seen.append(self.queue.get_nowait())
        return self.seen


async def start_controller(config_path: Path):
    from controller.runtime import Controller

    controller = Controller.from_path(config_path)
    events = Events(controller.bus)
    await controller.start()
    await asyncio.wait_for(controller.rendered.wait(), 120)
    return controller, events


@pytest.fixture
async def running(site):
    controller, events = await start_controller(site)
    try:
        yield controller, events
    finally:
        await controller.stop()


def read_coils(port: int, count: int = 16, unit: int = 1, start: int = 0) -> list[bool]:
    """An independent Modbus TCP master: one raw FC01 frame, parsed by hand."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(struct.pack(">HHHBBHH", 7, 0, 6, unit, 1, start, count))
        head = _recv(s, 9)
        tid, proto, length, uid, fc, nbytes = struct.unpack(">HHHBBB", head)
        assert (tid, proto, uid, fc) == (7, 0, unit, 1), head.hex()
        data = _recv(s, nbytes)
    bits = int.from_bytes(data, "little")
    return [bool((bits >> i) & 1) for i in range(count)]


def _recv(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("device closed the connection")
        buf += chunk
    return buf


def coil_map(controller) -> dict[str, int]:
    return {name: out.channel for name, out in controller.config.outputs.items()}


async def wait_coils(sim, expected: dict[int, bool], timeout: float = 5.0) -> list[bool]:
    """Wait until the device's coils match, each time the device reports a write;
    the check itself is made by an independent master over the wire."""
    async with asyncio.timeout(timeout):
        while True:
            sim.changed.clear()
            coils = await asyncio.to_thread(read_coils, sim.port)
            if all(coils[ch] == on for ch, on in expected.items()):
                return coils
            await sim.changed.wait()


def real_disk(directory: Path, size: str) -> Iterator[Path]:
    """A real filesystem of `size` (a tmpfs) under `directory`, so a full disk is a full
    disk; skips where it cannot be mounted (it needs root; CI runs as root)."""
    mount = directory / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    rc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                        capture_output=True)
    if rc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {rc.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def dabyl_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DABYL_CONFIG", None)
    return env
