"""Start-up as systemd sees it: `dabyl serve` from exec to READY=1 (outputs at rest,
announcements rendered), over the real notify protocol; and how long the operator's
command waits for a reply while a storm of idle connections holds the socket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from controller.bench.common import BenchContext, Figure

NAME = "service"


def _start_to_ready(config: Path, notify_path: Path) -> tuple[float, subprocess.Popen]:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.settimeout(120)
    env = dict(os.environ, NOTIFY_SOCKET=str(notify_path))
    env.pop("DABYL_CONFIG", None)
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "controller.cli", "--config", str(config),
                             "serve"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)
    try:
        while b"READY=1" not in notify.recv(4096):
            pass
    finally:
        notify.close()
        notify_path.unlink(missing_ok=True)
    return (time.monotonic() - started) * 1000, proc


def _status_under_storm(sock: Path, idle: int) -> float:
    from controller.client import Client

    held = []
    for _ in range(idle):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(str(sock))
            s.sendall(b'{"op": "stat')  # half a line, and nothing more
        except OSError:
            s.close()
            continue
        held.append(s)
    try:
        started = time.monotonic()
        with Client(sock) as client:
            client.request("status")
        return (time.monotonic() - started) * 1000
    finally:
        for s in held:
            s.close()


def measure(ctx: BenchContext) -> list[Figure]:
    config = ctx.site("service")
    ready, storm = [], []
    rounds = max(3, min(ctx.rounds // 20, 10))
    for i in range(rounds):
        took, proc = _start_to_ready(config, config.with_name(f"notify-{i}"))
        ready.append(took)
        try:
            storm.append(_status_under_storm(config.with_name("dabyl.sock"), 200))
        finally:
            proc.terminate()
            proc.wait(30)
    return [
        Figure("start_to_ready", "`dabyl serve` exec → READY=1 (at rest, rendered)", ready,
               2000, standard="IEC 60849 (broadcast within 10 s of power-on)",
               standard_allows=10000),
        Figure("status_under_storm", "`status` reply with 200 half-sent connections held",
               storm, 500),
    ]
