"""The console and the controller as an officer meets them: `dabyl run` in a terminal
(a pseudo-terminal here), the controller in its own process, signals, and the event
stream every console shares."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pty
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests.conftest import dabyl_env, make_site
from tests.test_cli import Serve, dabyl


class Terminal:
    """`dabyl run` on a pseudo-terminal of 80×24, read as the officer's screen is."""

    def __init__(self, config: Path) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        env = dict(dabyl_env(), TERM="xterm-256color")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "controller.cli", "--config", str(config), "run"],
            stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        self.output = b""

    def read_until(self, predicate, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.output.decode(errors="replace")):
            left = deadline - time.monotonic()
            assert left > 0, f"timed out; the terminal shows:\n{self.text()[-2000:]}"
            if select.select([self.master], [], [], left)[0]:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the console closed its terminal
                    chunk = b""
                if not chunk:
                    assert predicate(self.output.decode(errors="replace")), self.text()[-2000:]
                    return
                self.output += chunk

    def text(self) -> str:
        return self.output.decode(errors="replace")

    def type(self, data: str) -> None:
        os.write(self.master, data.encode())

    def wait(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            left = deadline - time.monotonic()
            assert left > 0, f"`dabyl run` did not end; it shows:\n{self.text()[-2000:]}"
            if select.select([self.master], [], [], min(left, 1.0))[0]:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:
                    pass
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        os.close(self.master)


def controller_pid(sock_path: Path) -> int:
    """The pid of the process listening on the control socket (from the socket itself)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(str(sock_path))
        creds = s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[0]


def wait_exit(pid: int, timeout: float = 30) -> None:
    """Wait until a process (not our child) has ended."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        assert select.select([fd], [], [], timeout)[0], f"process {pid} is still running"
    finally:
        os.close(fd)


def alive(pid: int) -> bool:
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    try:
        return not select.select([fd], [], [], 0)[0]
    finally:
        os.close(fd)


def socket_of(config: Path) -> Path:
    import tomllib

    return Path(tomllib.loads(config.read_text())["control"]["socket"])


@pytest.fixture
def site(tmp_path, audio_cache) -> Path:
    return make_site(tmp_path, audio_cache)


def started(terminal: Terminal, config: Path) -> int:
    """Wait until the console shows the site, then return the controller's pid."""
    terminal.read_until(lambda text: "F10" in text and socket_of(config).exists())
    return controller_pid(socket_of(config))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_dabyl_run_runs_the_controller_apart_and_a_signal_ends_both(site, sig):
    terminal = Terminal(site)
    try:
        pid = started(terminal, site)
        assert pid != terminal.proc.pid, "the controller runs in its own process"
        terminal.proc.send_signal(sig)
        assert terminal.wait() == 0
        wait_exit(pid)
        assert not socket_of(site).exists()
    finally:
        terminal.close()
    journal = dabyl(site, "journal", "verify")
    assert journal.returncode == 0, journal.stdout


def test_leaving_during_an_alarm_keeps_the_controller_and_says_how_to_return(site):
    terminal = Terminal(site)
    try:
        pid = started(terminal, site)
        act = dabyl(site, "trigger", "fire").stdout.strip()
        terminal.read_until(lambda text: "101" in text)
        terminal.type("q")
        terminal.read_until(lambda text: "dabyl tui" in text)
        terminal.type("\r")  # the default answer: leave, keep the controller running
        assert terminal.wait() == 0
        assert "dabyl tui" in terminal.text()
        assert alive(pid)
        status = json.loads(dabyl(site, "status", "--json").stdout)
        assert [a["id"] for a in status["activations"]] == [act]
        # A second console finds the same controller; ending it leaves the controller
        # alone (that console did not start it).
        again = Terminal(site)
        try:
            assert started(again, site) == pid
            again.proc.send_signal(signal.SIGTERM)
            assert again.wait() == 0
            assert alive(pid)
        finally:
            again.close()
        os.kill(pid, signal.SIGTERM)
        wait_exit(pid)
    finally:
        terminal.close()
        if alive(pid):
            os.kill(pid, signal.SIGTERM)


def test_a_console_attached_to_a_running_serve_never_stops_it(site):
    serve = Serve(site)
    terminal = Terminal(site)
    try:
        assert started(terminal, site) == serve.proc.pid
        terminal.proc.send_signal(signal.SIGTERM)
        assert terminal.wait() == 0
        assert serve.proc.poll() is None
        assert dabyl(site, "status").returncode == 0
    finally:
        terminal.close()
        assert serve.stop() == 0


# -- the event stream every console shares -------------------------------------------
async def test_events_are_encoded_once_for_all_clients(running):
    controller, events = running
    bus = controller.bus
    queues = [bus.subscribe(encoded=True) for _ in range(3)]
    bus.publish("warning", message="x")
    lines = [q.get_nowait() for q in queues]
    assert all(line is lines[0] for line in lines)
    assert json.loads(lines[0])["event"]["kind"] == "warning"


async def test_consoles_get_a_coalesced_status_instead_of_asking(running):
    from controller.client import AsyncClient

    controller, events = running
    client = AsyncClient(controller.server.path)
    await client.connect()
    try:
        await client.request("subscribe", status=True)
        first = await _next_status(client)
        assert first["status"]["mode"] in ("QUIESCENT", "FAULT")
        act = await controller.engine.trigger("fire", source="operator", origin="t")
        for i in range(200):  # a burst of events
            controller.bus.publish("warning", journal=False, message=f"burst {i}")
        statuses, seen_act = 0, False
        async with asyncio.timeout(10):
            while True:
                event = await client.events.get()
                if event["kind"] == "status":
                    statuses += 1
                    if [a["id"] for a in event["status"]["activations"]] == [act.id] \
                            and not seen_act:
                        seen_act = True
                        controller.bus.publish("warning", journal=False, message="end")
                elif event.get("message") == "end":
                    break
        assert seen_act
        assert statuses <= 3, f"{statuses} status events for a burst: not coalesced"
    finally:
        await client.close()


async def _next_status(client) -> dict:
    async with asyncio.timeout(10):
        while True:
            event = await client.events.get()
            if event["kind"] == "status":
                return event
