"""Idle footprint: CPU share of one core and resident memory of `dabyl serve` and
`dabyl run` (the console and the controller it starts, together), with the relay
board in its own process as hardware would be, and the demo as shipped (the simulated
board inside the controller's process)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from controller.bench.common import BenchContext, Figure

NAME = "idle"


def _external_device(config_path: Path) -> tuple[Path, subprocess.Popen]:
    """Run the site's simulated board in its own process and return a controller
    config that talks to it."""
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


def idle(config_path: Path, command: str, seconds: float,
         external: bool = True) -> dict[str, float]:
    """CPU share of one core and resident memory of an idle controller process."""
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
        # `dabyl run` is the console and the controller it starts: both are counted.
        ticks = os.sysconf("SC_CLK_TCK")
        pids = _tree(proc.pid)
        cpu0, t0 = sum(_cpu(p) for p in pids), time.monotonic()
        _settle(master, seconds)
        cpu1, t1 = sum(_cpu(p) for p in pids), time.monotonic()
        return {"cpu_percent": round((cpu1 - cpu0) / ticks / (t1 - t0) * 100, 2),
                "rss_mb": round(sum(_rss_mb(p) for p in pids), 1),
                "pss_mb": round(sum(_pss_mb(p) for p in pids), 1), "processes": len(pids)}
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


def _tree(pid: int) -> list[int]:
    """A process and its descendants."""
    pids, i = [pid], 0
    while i < len(pids):
        try:
            for task in Path(f"/proc/{pids[i]}/task").iterdir():
                pids += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
        i += 1
    return pids


def _cpu(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _pss_mb(pid: int) -> float:
    """Proportional set size: a page shared by n processes (the interpreter, numpy, the
    C libraries) counts 1/n in each, so a sum over processes counts it once."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(ctx: BenchContext) -> list[Figure]:
    figures = []
    for command in ("serve", "run"):
        ext = idle(ctx.site(f"idle-{command}"), command, ctx.idle_seconds)
        demo = idle(ctx.site(f"idle-demo-{command}"), command, ctx.idle_seconds,
                    external=False)
        figures += [
            Figure(f"idle_{command}_cpu", f"idle `dabyl {command}`: CPU (device in its own process)",
                   [ext["cpu_percent"]], 2.0, unit="%", target_is_max=True),
            Figure(f"idle_{command}_rss",
                   f"idle `dabyl {command}`: memory of its {ext['processes']} processes "
                   "(PSS: shared pages once)",
                   [ext["pss_mb"]], 150, unit="MB", target_is_max=True),
        ]
        ctx.notes.append(f"idle `dabyl {command}`: RSS summed over its {ext['processes']} "
                         f"processes (shared libraries counted in each): {ext['rss_mb']:.0f} MB")
        ctx.notes.append(f"the demo as shipped (simulated board inside `dabyl {command}`): "
                         f"{demo['cpu_percent']:.2f} % of one core, {demo['pss_mb']:.0f} MB PSS, "
                         f"{demo['rss_mb']:.0f} MB RSS summed")
    return figures
