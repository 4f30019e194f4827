"""`dabyl bench`: latency and footprint of the controller, measured on this machine.

It runs the controller on a temporary copy of the demo site (simulated boards over
Modbus TCP, and over RTU on a pseudo-terminal pair) and measures, over many
activations: trigger → every relay acknowledged; trigger → first audio block handed
to the output (warm cache); panic input change → activation started; clear → outputs
at rest and audio stopped; device lost → fault raised. It measures the naive way, too
(synthesising the speech when the alarm fires), and the idle CPU and memory of
`dabyl serve` and `dabyl run`. Every figure is printed beside its target and the
standard it answers to.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

from audio.render import Request
from controller.config import Config, load_config

TARGETS = {
    # name: (target ms, what the standard allows in ms, standard)
    "relays_tcp": (30, None, ""),
    "relays_rtu": (30, None, ""),
    "first_audio": (150, 3000, "EN 54-16: voice alarm within 3 s"),
    "panic_to_activation": (100, None, ""),
    "clear_to_rest": (100, None, "audio stops within 100 ms (SPEC §7)"),
    "device_lost_to_fault": (10000, 100000, "EN 54-16: fault within 100 s"),
}


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


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_site(base: Config, directory: Path, *, serial_port: str | None = None) -> Path:
    import tomli_w

    data = tomllib.loads(base.source.read_text())
    data["scenarios"] = str(base.scenarios_dir)
    device = data["devices"][0]
    if serial_port:
        device.update(transport="serial", port=serial_port, baudrate=9600, simulate=False)
    else:
        device.update(transport="tcp", host="127.0.0.1", port=_free_port(), simulate=True)
    data["control"] = {"socket": str(directory / "dabyl.sock"),
                       "journal": str(directory / "journal.sqlite")}
    data.setdefault("audio", {}).update(
        output="wav", wav_dir=str(directory / "wav"), wav_pace=1.0,
        cache_dir=str(base.path(base.audio.cache_dir)),
    )
    data["schedule"] = []
    path = directory / "config.toml"
    path.write_text(tomli_w.dumps(data))
    return path


class _Probe:
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
async def _running(config_path: Path):
    """A controller on the bench site, with a probe on its bus and a warm cache."""
    from controller.runtime import Controller

    controller = Controller.from_path(config_path)
    probe = _Probe(controller)
    await controller.start()
    await controller.rendered.wait()
    try:
        yield controller, probe
    finally:
        await controller.stop()


async def _relays_and_audio(config_path: Path, rounds: int, audio: bool) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"relays": [], "first_audio": [], "clear_to_rest": []}
    async with _running(config_path) as (controller, probe):
        engine = controller.engine
        for _ in range(rounds):
            probe.drain()
            t0 = time.monotonic()
            act = await engine.trigger("fire", source="operator", origin="bench")
            applied = await probe.wait("outputs_applied", ok=True)
            out["relays"].append((applied["at_mono"] - t0) * 1000)
            if audio:
                first = await probe.wait("first_audio", activation=act.id)
                out["first_audio"].append((act.trigger_mono - t0) * 1000 + first["latency_ms"])
            probe.drain()
            t1 = time.monotonic()
            engine.clear(act.id, "bench")
            rest = await probe.wait("outputs_applied", ok=True)
            stopped = rest["at_mono"]
            if audio:
                ended = await probe.wait("announcement_ended", activation=act.id)
                stopped = max(stopped, ended["at_mono"])
            out["clear_to_rest"].append((stopped - t1) * 1000)
    return out


async def _panic(config_path: Path, rounds: int) -> list[float]:
    samples = []
    async with _running(config_path) as (controller, probe):
        sim, cfg = controller.devices.simulator_for_input("panic_office")
        for _ in range(rounds):
            probe.drain()
            t0 = time.monotonic()
            sim.set_input(cfg.channel, cfg.contact == "normally_open")
            event = await probe.wait("triggered", source="input")
            act = controller.engine.activations[event["activation"]]
            samples.append((act.trigger_mono - t0) * 1000)
            sim.set_input(cfg.channel, cfg.contact != "normally_open")
            await probe.wait("input", input=cfg.id, active=False)
            controller.engine.clear(act.id, "bench")
    return samples


async def _device_lost(config_path: Path, rounds: int) -> list[float]:
    samples = []
    async with _running(config_path) as (controller, probe):
        device = controller.config.devices[0].id
        sim = controller.devices.simulators[device]
        for _ in range(rounds):
            probe.drain()
            t0 = time.monotonic()
            await sim.stop()
            await probe.wait("fault", key=f"device:{device}", timeout=30)
            samples.append((time.monotonic() - t0) * 1000)
            await sim.start()
            await probe.wait("fault_cleared", key=f"device:{device}", timeout=30)
    return samples


def _naive(config: Config, rounds: int) -> list[float]:
    """What a general home-automation setup does: synthesise when the alarm fires."""
    from audio.render import Renderer
    from controller.announcer import site_voices
    from controller.scenarios import load_library

    library = load_library(config.scenarios_dir, config)
    fire = library.get("fire")
    texts = tuple((lang, fire.text("public", lang, {})) for lang in config.site.languages)
    samples = []
    voices = site_voices(config)
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as cache:
            renderer = Renderer(Path(cache), config.audio.sample_rate, config.audio.level_db,
                                config.audio.pause, voices)
            t0 = time.monotonic()
            renderer.render(Request(texts, fire.attention.signal, "naive"))
            samples.append((time.monotonic() - t0) * 1000)
    return samples


def _external_device(config_path: Path) -> tuple[Path, subprocess.Popen]:
    """Run the site's simulated board in its own process (as hardware would be) and
    return a controller config that talks to it."""
    import tomli_w

    sim = subprocess.Popen([sys.executable, "-m", "controller.cli", "--config", str(config_path),
                            "simulate"], stdout=subprocess.PIPE, text=True)
    assert sim.stdout is not None
    sim.stdout.readline()  # "simulating …": it listens
    data = tomllib.loads(config_path.read_text())
    data["devices"][0]["simulate"] = False
    path = config_path.with_name("controller.toml")
    path.write_text(tomli_w.dumps(data))
    return path, sim


def _idle(config_path: Path, command: str, seconds: float,
          external: bool = True) -> dict[str, float]:
    """CPU share of one core and resident memory of an idle controller process.

    With `external` the device runs in another process, as real hardware would, so
    only the controller's own work is counted."""
    import pty

    sim = None
    if external:
        config_path, sim = _external_device(config_path)
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="80", LINES="24")
    argv = [sys.executable, "-m", "controller.cli", "--config", str(config_path), command]
    master = None
    if command == "run":
        master, slave = pty.openpty()
        proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                start_new_session=True)
        os.close(slave)
    else:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=env)
    try:
        sock = Path(tomllib.loads(config_path.read_text())["control"]["socket"])
        deadline = time.monotonic() + 60
        while not sock.exists() and time.monotonic() < deadline:
            _drain_pty(master)
            time.sleep(0.1)
        # Let start-up work (pre-rendering, first polls) finish before measuring idle.
        _settle(master, min(5.0, 2 * seconds))
        ticks = os.sysconf("SC_CLK_TCK")
        cpu0, t0 = _cpu(proc.pid), time.monotonic()
        _settle(master, seconds)
        cpu1, t1 = _cpu(proc.pid), time.monotonic()
        rss = _rss_mb(proc.pid)
        return {"cpu_percent": round((cpu1 - cpu0) / ticks / (t1 - t0) * 100, 2),
                "rss_mb": round(rss, 1)}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if master is not None:
            os.close(master)
        if sim is not None:
            sim.terminate()
            sim.wait(10)


def _drain_pty(master: int | None) -> None:
    if master is None:
        return
    import select

    while select.select([master], [], [], 0)[0]:
        try:
            if not os.read(master, 65536):
                return
        except OSError:
            return


def _settle(master: int | None, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        _drain_pty(master)
        time.sleep(0.05)


def _cpu(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


async def _rtu(base: Config, directory: Path, rounds: int) -> list[float]:
    from drivers.simulator import PtyBridge, SimulatedBoard

    bridge = PtyBridge()
    device = base.devices[0]
    sim = SimulatedBoard(unit=device.unit, coils=device.channels, inputs=device.inputs,
                         serial_port=bridge.a_path, baudrate=9600)
    await sim.start()
    try:
        path = _write_site(base, directory, serial_port=bridge.b_path)
        results = await _relays_and_audio(path, rounds, audio=False)
        return results["relays"]
    finally:
        await sim.stop()
        bridge.close()


def run(config_path: Path | None, rounds: int, idle_seconds: float) -> dict[str, Any]:
    base = load_config(config_path)
    report: dict[str, Any] = {"machine": machine(), "rounds": rounds, "figures": {}}
    work = Path(tempfile.mkdtemp(prefix="dabyl-bench-"))
    try:
        def site(name: str) -> Path:
            d = work / name
            d.mkdir()
            return _write_site(base, d)

        figures = report["figures"]
        tcp = asyncio.run(_relays_and_audio(site("tcp"), rounds, audio=True))
        figures["relays_tcp"] = percentiles(tcp["relays"])
        figures["first_audio"] = percentiles(tcp["first_audio"])
        figures["clear_to_rest"] = percentiles(tcp["clear_to_rest"])
        rtu_dir = work / "rtu"
        rtu_dir.mkdir()
        figures["relays_rtu"] = percentiles(asyncio.run(_rtu(base, rtu_dir, max(20, rounds // 2))))
        figures["panic_to_activation"] = percentiles(asyncio.run(_panic(site("panic"), rounds)))
        figures["device_lost_to_fault"] = percentiles(
            asyncio.run(_device_lost(site("lost"), min(5, rounds))))
        naive = percentiles(_naive(base, min(5, rounds)))
        report["naive_first_audio"] = naive
        report["naive_ratio"] = round(naive["p50"] / max(figures["first_audio"]["p50"], 0.01), 1)
        report["idle"] = {
            "serve": _idle(site("idle-serve"), "serve", idle_seconds),
            "run": _idle(site("idle-run"), "run", idle_seconds),
        }
        # For comparison: the demo as shipped, the simulated board inside the process.
        report["idle_demo_in_process"] = {
            "serve": _idle(site("idle-demo-serve"), "serve", idle_seconds, external=False),
            "run": _idle(site("idle-demo-run"), "run", idle_seconds, external=False),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for name, fig in report["figures"].items():
        target, allowed, standard = TARGETS[name]
        fig["target_ms"] = target
        fig["within_target"] = fig["p95"] <= target
        if allowed:
            fig["standard_ms"] = allowed
            fig["standard"] = standard
            fig["margin_vs_standard"] = round(allowed / max(fig["p95"], 0.01), 1)
    idle = report["idle"]
    report["idle_within_target"] = all(
        v["cpu_percent"] < 2.0 and v["rss_mb"] < 150 for v in idle.values())
    return report


LABELS = {
    "relays_tcp": "trigger → all relays acknowledged (Modbus TCP)",
    "relays_rtu": "trigger → all relays acknowledged (Modbus RTU, pty)",
    "first_audio": "trigger → first audio block to the output (warm cache)",
    "panic_to_activation": "panic input change → activation started",
    "clear_to_rest": "clear → outputs at rest and audio stopped",
    "device_lost_to_fault": "device lost → fault raised",
}


def format_report(report: dict[str, Any]) -> str:
    lines = [f"dabyl bench on {report['machine']}", ""]
    lines.append(f"{'measure':<56} {'n':>4} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}  target")
    for name, fig in report["figures"].items():
        verdict = "ok" if fig["within_target"] else "OVER"
        extra = ""
        if "standard" in fig:
            extra = f"; {fig['standard']}: {fig['margin_vs_standard']}× margin"
        lines.append(
            f"{LABELS[name]:<56} {fig['n']:>4} {fig['p50']:>8.2f} {fig['p95']:>8.2f} "
            f"{fig['p99']:>8.2f} {fig['max']:>8.2f}  p95 ≤ {fig['target_ms']} ms {verdict}{extra}"
        )
    naive = report["naive_first_audio"]
    lines += ["", f"naive (synthesise at alarm time) first audio: p50 {naive['p50']:.0f} ms, "
              f"p95 {naive['p95']:.0f} ms — dabyl is {report['naive_ratio']}× faster (p50)"]
    for name, idle in report["idle"].items():
        demo = report["idle_demo_in_process"][name]
        lines.append(f"idle `dabyl {name}` (device in its own process): {idle['cpu_percent']:.2f} % "
                     f"of one core, RSS {idle['rss_mb']:.0f} MB (target < 2 %, < 150 MB); "
                     f"demo with the simulator inside: {demo['cpu_percent']:.2f} %, "
                     f"{demo['rss_mb']:.0f} MB")
    return "\n".join(lines)
