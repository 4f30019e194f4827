"""What every bench suite shares: figures, the bench site, a probe on the event bus."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.config import Config


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]

    return {
        "n": len(ordered),
        "p50": round(pick(0.50), 2),
        "p95": round(pick(0.95), 2),
        "p99": round(pick(0.99), 2),
        "max": round(ordered[-1], 2),
    }


@dataclass
class Figure:
    """One measured quantity over many rounds, with what it is judged against.

    `target` applies to the p95 (or, with `target_is_max`, to every sample: idle
    figures are single readings with an upper bound). `limit` is the physical limit of
    the same work (wire time of the frames at the configured baud, say), printed beside
    the figure so the reader sees how close to it dabyl comes.
    """

    name: str
    label: str
    samples: list[float]
    target: float
    unit: str = "ms"
    limit: float | None = None
    limit_note: str = ""
    standard: str = ""
    standard_allows: float | None = None
    target_is_max: bool = False

    def as_dict(self) -> dict[str, Any]:
        stats = percentiles(self.samples) if self.samples else {
            "n": 0, "p50": float("nan"), "p95": float("nan"), "p99": float("nan"),
            "max": float("nan")}
        judged = stats["max"] if self.target_is_max else stats["p95"]
        out: dict[str, Any] = {
            "label": self.label, "unit": self.unit, **stats, "target": self.target,
            "target_text": (f"< {self.target:g} {self.unit}" if self.target_is_max
                            else f"p95 ≤ {self.target:g} {self.unit}"),
            "within_target": bool(self.samples) and judged <= self.target,
        }
        if self.limit is not None:
            out["limit"] = round(self.limit, 2)
            out["limit_note"] = self.limit_note
        if self.standard_allows:
            out["standard"] = self.standard
            out["standard_allows"] = self.standard_allows
            out["margin_vs_standard"] = round(self.standard_allows / max(stats["p95"], 0.01), 1)
        return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class BenchContext:
    base: Config
    work: Path
    rounds: int
    idle_seconds: float
    notes: list[str] = field(default_factory=list)

    def site(self, name: str, change: Callable[[dict[str, Any]], None] | None = None) -> Path:
        """A private copy of the site in its own folder (WAV sink paced like a sound
        card, no schedule, the simulated board on a free port); `change` edits the
        config dict before it is written."""
        import tomli_w

        directory = self.work / name
        directory.mkdir(parents=True)
        base = self.base
        data = tomllib.loads(base.source.read_text())
        data["scenarios"] = str(base.scenarios_dir)
        for device in data.get("devices", []):
            if device.get("simulate"):
                device.update(transport="tcp", host="127.0.0.1", port=free_port())
        data["control"] = {"socket": str(directory / "dabyl.sock"),
                           "journal": str(directory / "journal.sqlite")}
        data.setdefault("audio", {}).update(
            output="wav", wav_dir=str(directory / "wav"), wav_pace=1.0,
            cache_dir=str(base.path(base.audio.cache_dir)),
        )
        data["schedule"] = []
        if change is not None:
            change(data)
        path = directory / "config.toml"
        path.write_text(tomli_w.dumps(data))
        return path


class Probe:
    """Subscribes to the bus; waits for events in any order (it keeps what it skips)."""

    def __init__(self, controller) -> None:
        self.queue = controller.bus.subscribe()
        self.kept: list[dict[str, Any]] = []

    async def wait(self, kind: str, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
        def fits(event: dict[str, Any]) -> bool:
            return event["kind"] == kind and all(event.get(k) == v for k, v in match.items())

        for event in self.kept:
            if fits(event):
                self.kept.remove(event)
                return event
        async with asyncio.timeout(timeout):
            while True:
                event = await self.queue.get()
                if fits(event):
                    return event
                self.kept.append(event)

    def drain(self) -> None:
        self.kept.clear()
        while not self.queue.empty():
            self.queue.get_nowait()


@contextlib.asynccontextmanager
async def running(config_path: Path):
    """A controller on a bench site, with a probe on its bus and a warm cache."""
    from controller.runtime import Controller

    controller = Controller.from_path(config_path)
    probe = Probe(controller)
    await controller.start()
    await controller.rendered.wait()
    try:
        yield controller, probe
    finally:
        await controller.stop()


async def at_rest(controller, timeout: float = 30.0) -> None:
    """Wait until nothing is open, nothing plays and every output is at rest, so the
    next round starts from rest and not from the previous round's all-clear."""
    engine = controller.engine
    if not engine.activations and engine.busy():
        engine.silence(None, "bench")  # the previous round's all-clear: as an operator would
    async with asyncio.timeout(timeout):
        while True:
            if not engine.activations and not engine.busy() and controller.devices.at_rest():
                return
            await asyncio.sleep(0.01)


async def fire_from_rest(controller, probe) -> tuple[Any, float, float]:
    """One round from rest: a fire triggered; the activation, and in ms from the call
    until every relay is acknowledged and until its first frame reaches the sink."""
    await at_rest(controller)
    probe.drain()
    t0 = time.monotonic()
    act = await controller.engine.trigger("fire", source="operator", origin="bench")
    applied = await probe.wait("outputs_applied", ok=True)
    first = await probe.wait("first_audio", activation=act.id)
    # first_audio counts from when the activation should be heard (its trigger here).
    return (act, (applied["at_mono"] - t0) * 1000,
            (act.audible_mono - t0) * 1000 + first["latency_ms"])
