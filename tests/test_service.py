"""Start and service: one controller per site, a start that cannot fail, the control
socket's defences, systemd's notify protocol, and the installer's commands. Every case
runs `dabyl` as a real process."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import DEMO, ROOT, dabyl_env, make_site, read_coils
from tests.test_cli import Serve, _port, dabyl

CHANNELS = {name: out["channel"] for name, out in DEMO["outputs"].items()}


class CoilSampler:
    """Reads the board's coils every few milliseconds from an independent master."""

    def __init__(self, port: int, period: float = 0.003) -> None:
        self.port = port
        self.period = period
        self.samples: list[list[bool]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.samples.append(read_coils(self.port))

    def __enter__(self) -> CoilSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


class ExternalBoard:
    """The site's simulated board in a process of its own, as real hardware would be;
    `config` is a copy of the site that talks to it."""

    def __init__(self, site: Path) -> None:
        import tomllib

        import tomli_w

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "controller.cli", "--config", str(site), "simulate"],
            stdout=subprocess.PIPE, text=True, env=dabyl_env())
        assert self.proc.stdout is not None
        assert "simulating" in self.proc.stdout.readline()
        data = tomllib.loads(site.read_text())
        data["devices"][0]["simulate"] = False
        self.config = site.with_name("controller.toml")
        self.config.write_text(tomli_w.dumps(data))

    def __enter__(self) -> ExternalBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _rows(config: Path, kind: str) -> int:
    db = sqlite3.connect(f"file:{config.parent / 'journal.sqlite'}?mode=ro", uri=True)
    try:
        return db.execute("SELECT count(*) FROM events WHERE kind = ?", (kind,)).fetchone()[0]
    finally:
        db.close()


# -- issue 10, case 6: one controller per site ------------------------------------------

def test_a_second_controller_changes_nothing_and_names_the_first(site):
    with ExternalBoard(site) as board:
        _second_controller(board.config)


def _second_controller(site: Path) -> None:
    first = Serve(site)
    try:
        act = dabyl(site, "trigger", "fire").stdout.strip()
        assert act.startswith("fire-")
        port = _port(site)
        coils = read_coils(port)
        assert coils[CHANNELS["siren"]] and coils[CHANNELS["strobe"]]
        with CoilSampler(port) as sampler:
            second = subprocess.run(
                [sys.executable, "-m", "controller.cli", "--config", str(site), "serve"],
                capture_output=True, text=True, timeout=60, env=dabyl_env())
        assert len(sampler.samples) > 20, "the coils were sampled while the second one ran"
        off = [s for s in sampler.samples if not (s[CHANNELS["siren"]] and s[CHANNELS["strobe"]])]
        assert not off, f"the live siren or strobe went off in {len(off)} samples"
        assert second.returncode == 1, second.stderr
        assert second.stderr == (f"dabyl: another controller is running for this site, "
                                 f"pid {first.proc.pid}\n")
        assert _rows(site, "controller_started") == 1
        assert _rows(site, "resumed") == 0
        status = dabyl(site, "status", "--json")
        assert status.returncode == 0 and act in status.stdout
    finally:
        first.stop()


# -- issue 12, case 6: the control socket ---------------------------------------------

# Another user's program: the system's Python, which user nobody may run (this test's
# interpreter may live under /root), started by subprocess as nobody (no fork from a
# threaded test process).
NOBODY_PYTHON = Path("/usr/bin/python3")
PING = """
import socket, sys, select
def ping(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(path)
        s.sendall(b'{"op": "ping"}\\n')
        return b'"pong"' in s.recv(4096)
    except OSError:
        return False
    finally:
        s.close()
"""
ONCE = PING + "sys.exit(0 if ping(sys.argv[1]) else 1)"
# Knock until stdin closes; an answer means the door was open.
SPIN = PING + """
while not select.select([sys.stdin], [], [], 0)[0]:
    if ping(sys.argv[1]):
        sys.exit(1)
sys.exit(0)
"""


def _as_nobody(script: str, sock: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([str(NOBODY_PYTHON), "-c", script, str(sock)], user=65534,
                            group=65534, extra_groups=[], cwd="/", **kwargs)


def _ping(path: Path) -> bool:
    """True when a control connection at `path` answered a ping."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(str(path))
        s.sendall(b'{"op": "ping"}\n')
        return b'"pong"' in s.recv(4096)
    except OSError:
        return False
    finally:
        s.close()


AS_ANOTHER_USER = pytest.mark.skipif(
    os.geteuid() != 0 or not NOBODY_PYTHON.exists(),
    reason="needs root and the system's Python to act as another user")


@AS_ANOTHER_USER
def test_under_umask_000_no_other_user_ever_reaches_the_socket(audio_cache):
    base = Path(tempfile.mkdtemp(prefix="dabyl-umask-"))
    os.chmod(base, 0o755)  # a site folder others may look into
    sock = base / "run" / "dabyl.sock"  # a new directory: dabyl makes it

    def change(cfg):
        cfg["control"]["socket"] = str(sock)

    config = make_site(base, audio_cache, change=change)
    os.chmod(config, 0o644)
    spinner = _as_nobody(SPIN, sock, stdin=subprocess.PIPE)
    serve = Serve(config, umask=0)
    try:
        assert _ping(sock), "the controller answers its own operators"
        assert spinner.stdin is not None
        spinner.stdin.close()
        assert spinner.wait(30) == 0, "another user got an answer while the controller started"
        assert stat.S_IMODE(sock.parent.stat().st_mode) & 0o007 == 0, \
            oct(sock.parent.stat().st_mode)
        assert stat.S_IMODE(sock.stat().st_mode) & 0o007 == 0
        assert _as_nobody(ONCE, sock).wait(30) == 1, "another user gets no answer"
        for name in ("journal.sqlite", "journal.sqlite-wal", "journal.sqlite.head"):
            path = base / name
            if path.exists():
                assert stat.S_IMODE(path.stat().st_mode) & 0o037 == 0, \
                    f"{name}: {oct(path.stat().st_mode)}"
        assert (base / "journal.sqlite").exists()
    finally:
        if spinner.poll() is None:
            spinner.kill()
        serve.stop()
        shutil.rmtree(base, ignore_errors=True)


@AS_ANOTHER_USER
def test_the_operators_group_reaches_the_socket(audio_cache, tmp_path):
    import grp

    group = grp.getgrgid(65534).gr_name  # nogroup: nobody's own group, made the operators'
    base = Path(tempfile.mkdtemp(prefix="dabyl-group-"))
    os.chmod(base, 0o755)

    def change(cfg):
        cfg["control"].update(socket=str(base / "run" / "dabyl.sock"), group=group)

    config = make_site(base, audio_cache, change=change)
    serve = Serve(config)
    try:
        sock = base / "run" / "dabyl.sock"
        assert sock.stat().st_gid == 65534 and sock.parent.stat().st_gid == 65534
        assert _as_nobody(ONCE, sock).wait(30) == 0, "a member of the group is answered"
    finally:
        serve.stop()
        shutil.rmtree(base, ignore_errors=True)


async def test_a_connection_storm_never_locks_the_operator_out(tmp_path, audio_cache):
    def change(cfg):
        cfg["control"].update(max_clients=32, line_timeout=0.5)

    config = make_site(tmp_path, audio_cache, change=change)
    serve = await asyncio.to_thread(Serve, config)
    sock = str(tmp_path / "dabyl.sock")
    storm: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        async def half_sent() -> None:
            reader, writer = await asyncio.open_unix_connection(sock)
            storm.append((reader, writer))
            writer.write(b'{"op": "trigger", "scenario": "fi')  # and never the rest
            await writer.drain()

        async def operator(*args: str) -> subprocess.CompletedProcess:
            return await asyncio.to_thread(dabyl, config, *args)

        storming = asyncio.gather(*(half_sent() for _ in range(400)), return_exceptions=True)
        commands = await asyncio.gather(
            *(operator("status") for _ in range(8)), operator("trigger", "fire", "--drill"))
        await storming
        for result in commands:
            assert result.returncode == 0, result.stderr
        # Every half-sent line is given up on: the connection is closed, not held.
        async with asyncio.timeout(20):
            for reader, _ in storm:
                try:
                    while await reader.read(4096):
                        pass
                except ConnectionError:
                    pass
        assert len(storm) > 300
        assert (await operator("status")).returncode == 0
    finally:
        for _, writer in storm:
            writer.close()
        await asyncio.to_thread(serve.stop)


BAD_REQUESTS = {
    "deep nesting": (b'{"op": "ping", "id": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",
                     "nest"),
    "5000-digit id": (b'{"op": "ping", "id": ' + b"7" * 5000 + b"}", "number"),
    "lone surrogate": (b'{"op": "trigger", "scenario": "fire", "id": "\\ud800"}', "id"),
    "string for a boolean": (b'{"op": "trigger", "scenario": "fire", "drill": "yes"}',
                             "drill"),
    "number for a boolean": (b'{"op": "trigger", "scenario": "fire", "drill": 1}', "drill"),
    "impossible date": (b'{"op": "briefing", "person": "A", "by": "B", "date": "2026-02-31"}',
                        "date"),
    "NUL in a name": (b'{"op": "briefing", "person": "A\\u0000B", "by": "C"}', "person"),
    "escape in remarks": (b'{"op": "briefing", "person": "A", "by": "B\\u001b[2J"}', "by"),
    "NaN": (b'{"op": "press", "input": "panic_office", "hold": NaN}', "NaN"),
    "huge float": (b'{"op": "press", "input": "panic_office", "hold": 1e999}', "hold"),
    "line over the size limit": (b'{"op": "ping", "id": "' + b"x" * 70_000 + b'"}', "longer"),
}


async def test_malformed_requests_get_one_line_and_keep_the_connection(running):
    controller, events = running
    reader, writer = await asyncio.open_unix_connection(str(controller.server.path),
                                                        limit=1 << 24)
    try:
        for name, (line, word) in BAD_REQUESTS.items():
            writer.write(line + b"\n")
            writer.write(b'{"op": "ping", "id": "after"}\n')
            await writer.drain()
            async with asyncio.timeout(10):
                reply = json.loads(await reader.readline())
                after = json.loads(await reader.readline())
            assert reply["ok"] is False, (name, reply)
            assert "internal error" not in reply["error"] and "\n" not in reply["error"]
            assert word.lower() in reply["error"].lower(), (name, reply)
            assert after == {"id": "after", "ok": True, "pong": True}, (name, after)
        assert not controller.engine.activations, "nothing was triggered"
        assert controller.journal.flush(5)
        kinds = [e["kind"] for e in events.drain()]
        assert "briefing" not in kinds and "triggered" not in kinds and "simulated_press" not in kinds
    finally:
        writer.close()


# -- issue 12, case 5: a start that cannot fail ----------------------------------------

def _serial_pair(cfg):
    for i, speed in enumerate((9600, 19200)):
        cfg["devices"].append({"id": f"rtu{i}", "driver": "modbus-coils", "transport": "serial",
                               "port": "/dev/ttyUSB7", "baudrate": speed, "unit": i + 2})


def _loop(site_dir: Path) -> None:
    scenarios = site_dir / "scenarios"
    (scenarios / "loop.toml").symlink_to(scenarios / "loop.toml")


# name -> (change to the config dict, what to do to the site folder, a word of the problem)
START_BREAKERS = {
    "socket path too long": (lambda c, d: c["control"].update(socket=str(d / ("s" * 120))),
                             "at most 107"),
    "socket path is a directory": (lambda c, d: c["control"].update(socket=str(d / "wav")),
                                   "not a socket"),
    "wav_dir is a file": (lambda c, d: c["audio"].update(wav_dir=str(d / "config.toml")),
                          "audio.wav_dir"),
    "cache_dir is a file": (lambda c, d: c["audio"].update(cache_dir=str(d / "config.toml")),
                            "audio.cache_dir"),
    "one serial line, two speeds": (lambda c, d: _serial_pair(c), "share"),
    "lcus over TCP": (lambda c, d: c["devices"].append(
        {"id": "usb1", "driver": "lcus", "transport": "tcp", "port": 5020, "channels": 4,
         "inputs": 0}), "serial"),
    "unknown driver": (lambda c, d: c["devices"][0].update(driver="relay9000"),
                       "unknown driver"),
    "host with NUL": (lambda c, d: c["devices"][0].update(host="127.0.0.1\x00evil"), "host"),
    "simulated host that cannot resolve": (
        lambda c, d: c["devices"][0].update(host="no-such-board.invalid"), "resolve"),
    "symlink loop in scenarios": (lambda c, d: _loop(d), "loop.toml"),
    "cron weekday 8": (lambda c, d: c["schedule"][0].update(cron="0 11 * * 8"), "weekday"),
    "cron weekday 9": (lambda c, d: c["schedule"][0].update(cron="0 11 * * 1-9"), "weekday"),
    "cron weekday ٣": (lambda c, d: c["schedule"][0].update(cron="0 11 * * ٣"), "cron"),
    "socket in a directory every user may write": (
        lambda c, d: c["control"].update(socket="/tmp/dabyl-test.sock"), "every user"),
    "socket names the journal": (
        lambda c, d: c["control"].update(socket=str(d / "journal.sqlite")), "not a socket"),
    "socket names the config": (
        lambda c, d: c["control"].update(socket=str(d / "config.toml")), "not a socket"),
    "socket names a scenario": (
        lambda c, d: c["control"].update(socket=str(d / "scenarios" / "fire.toml")),
        "not a socket"),
}


def _broken_site(tmp_path: Path, audio_cache: Path, name: str) -> Path:
    change, _ = START_BREAKERS[name]
    directory = tmp_path / name.replace(" ", "_")
    directory.mkdir()
    (directory / "wav").mkdir()
    shutil.copytree(ROOT / "scenarios", directory / "scenarios")
    sqlite3.connect(directory / "journal.sqlite").close()  # an existing (empty) journal

    def edit(cfg):
        cfg["scenarios"] = str(directory / "scenarios")
        change(cfg, directory)

    return make_site(directory, audio_cache, change=edit)


def test_check_refuses_every_config_that_would_stop_serve(tmp_path, audio_cache):
    """Each of these passed `check` and then stopped `serve` with "internal error" after
    it had touched the journal and the outputs. Now `check` names the problem, and
    `serve` refuses with the same line before it touches anything."""
    from controller.cli import main

    sites = {name: _broken_site(tmp_path, audio_cache, name) for name in START_BREAKERS}
    before = {name: {p.name: p.read_bytes() for p in site.parent.iterdir() if p.is_file()}
              for name, site in sites.items()}
    serves = {name: subprocess.Popen(
        [sys.executable, "-m", "controller.cli", "--config", str(site), "serve"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=dabyl_env())
        for name, site in sites.items()}
    failures = []
    for name, site in sites.items():
        _, word = START_BREAKERS[name]
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["--config", str(site), "check"])
        if code != 2 or word.lower() not in err.getvalue().lower() or "internal" in err.getvalue():
            failures.append(f"check, {name}: exit {code}: {err.getvalue().strip()}")
    for name, proc in serves.items():
        try:
            _, stderr = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            failures.append(f"serve, {name}: started anyway")
            continue
        _, word = START_BREAKERS[name]
        if proc.returncode != 2 or word.lower() not in stderr.lower() or "internal" in stderr:
            failures.append(f"serve, {name}: exit {proc.returncode}: {stderr.strip()}")
        after = {p.name: p.read_bytes() for p in sites[name].parent.iterdir() if p.is_file()}
        if after != before[name]:
            failures.append(f"serve, {name}: changed the site folder")
    assert not failures, "\n".join(failures)


class EventStream:
    """A subscribed control connection; waits for one event, with a time limit."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(str(path))
        self.sock.sendall(b'{"op": "subscribe"}\n')
        self.file = self.sock.makefile("rb")
        # Subscribed before anything the test does next can publish an event.
        while not json.loads(self.file.readline()).get("subscribed"):
            pass

    def wait(self, kind: str, **match) -> dict:
        while True:
            message = json.loads(self.file.readline())
            event = message.get("event", {})
            if event.get("kind") == kind and all(event.get(k) == v for k, v in match.items()):
                return event

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def _status(config: Path) -> dict:
    result = dabyl(config, "status", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_bad_edit_never_stops_the_next_start(tmp_path, audio_cache):
    """A typo in one scenario on a running system, then a restart: the open fire alarm
    is resumed on the last good copy, with a fault naming the problem; edits are
    checked as they happen; `dabyl reload` applies a good one and keeps the alarm."""
    config = make_site(tmp_path, audio_cache, pauses=0.2)
    scenarios = tmp_path / "scenarios"
    serve = Serve(config)
    try:
        act = dabyl(config, "trigger", "fire").stdout.strip()
        events = EventStream(tmp_path / "dabyl.sock")
        good = (scenarios / "shooting.toml").read_text()
        (scenarios / "shooting.toml").write_text(good.replace("priority", "priority = = ", 1))
        fault = events.wait("fault", key="config")
        assert fault["code"] == "config_invalid" and "shooting.toml" in fault["message"]
        events.close()
        refused = dabyl(config, "reload")
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1
        assert "shooting.toml" in refused.stderr
    finally:
        serve.stop()
    serve = Serve(config)  # the broken file is still there
    try:
        status = _status(config)
        assert [a["id"] for a in status["activations"]] == [act]
        assert status["activations"][0]["resumed"] is True
        fault = next(f for f in status["faults"] if f["key"] == "config")
        assert fault["code"] == "config_fallback" and "shooting.toml" in fault["message"]
        assert read_coils(_port(config))[CHANNELS["siren"]], "the alarm sounds again"
        (scenarios / "shooting.toml").write_text(good)
        reloaded = dabyl(config, "reload")
        assert reloaded.returncode == 0, reloaded.stderr
        assert "1 open activation(s) go on" in reloaded.stdout
        status = _status(config)
        assert not [f for f in status["faults"] if f["key"] == "config"]
        assert [a["id"] for a in status["activations"]] == [act]
        assert dabyl(config, "clear", act).returncode == 0
    finally:
        serve.stop()


# -- issue 17: a real service ------------------------------------------------------------

def test_systemd_hears_ready_when_the_site_can_broadcast_then_the_watchdog(site, tmp_path):
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(60)
    env = dict(dabyl_env(), NOTIFY_SOCKET=str(tmp_path / "notify"), WATCHDOG_USEC="400000")
    serve = Serve(site, env=env)
    try:
        messages: list[str] = []
        while "READY=1" not in messages:
            messages += notify.recv(4096).decode().split("\n")
        status = _status(site)
        assert not any(v["wanted"] if isinstance(v, dict) else v
                       for v in status["outputs"].values()), "outputs at rest when ready"
        pings = 0
        while pings < 3:  # 200 ms apart: three of them come well within the time limit
            pings += notify.recv(4096).decode().split("\n").count("WATCHDOG=1")
        serve.proc.send_signal(signal.SIGTERM)
        while "STOPPING=1" not in messages:
            messages += notify.recv(4096).decode().split("\n")
        assert serve.proc.wait(30) == 0
    finally:
        serve.stop()
        notify.close()


def test_the_shipped_unit_passes_systemd_analyze(tmp_path, site):
    unit_dir = tmp_path / "units"
    result = dabyl(site, "service", "install", "--unit-dir", str(unit_dir),
                   "--config", "/etc/dabyl/config.toml")
    assert result.returncode == 0, result.stderr
    unit = (unit_dir / "dabyl.service").read_text()
    for line in ("Type=notify", "WatchdogSec=10", "User=dabyl",
                 "SupplementaryGroups=dialout audio dabyl-operators",
                 "StateDirectory=dabyl", "RuntimeDirectory=dabyl", "UMask=0027",
                 "serve --config /etc/dabyl/config.toml"):
        assert line in unit, line
    assert "useradd" in result.stdout and "systemctl enable --now dabyl" in result.stdout
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here")
    check = subprocess.run([analyze, "verify", str(unit_dir / "dabyl.service")],
                           capture_output=True, text=True, timeout=60)
    problems = [line for line in (check.stdout + check.stderr).splitlines()
                if "dabyl.service" in line]
    assert check.returncode == 0 and not problems, check.stdout + check.stderr


def test_init_makes_a_site_that_check_passes_at_once(tmp_path):
    target = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "controller.cli", "init", str(target)],
                            capture_output=True, text=True, env=dabyl_env(), timeout=60)
    assert result.returncode == 0, result.stderr
    config = target / "config.toml"
    text = config.read_text()
    from drivers import known_drivers

    for driver in known_drivers():
        if driver != "simulator":
            assert f'driver = "{driver}"' in text, driver
    assert sorted(p.name for p in (target / "scenarios").glob("*.toml")) == \
        sorted(p.name for p in (ROOT / "scenarios").glob("*.toml"))
    check = dabyl(config, "check")
    assert check.returncode == 0, check.stdout + check.stderr
    again = subprocess.run([sys.executable, "-m", "controller.cli", "init", str(target)],
                           capture_output=True, text=True, env=dabyl_env(), timeout=60)
    assert again.returncode == 1 and "never overwrites" in again.stderr
    service = tmp_path / "etc"
    subprocess.run([sys.executable, "-m", "controller.cli", "init", str(service), "--service"],
                   check=True, capture_output=True, env=dabyl_env(), timeout=60)
    text = (service / "config.toml").read_text()
    assert 'journal = "/var/lib/dabyl/journal.sqlite"' in text
    assert 'socket = "/run/dabyl/dabyl.sock"' in text and 'group = "dabyl-operators"' in text


def test_backup_of_a_running_site_verifies(site, tmp_path):
    serve = Serve(site)
    try:
        act = dabyl(site, "trigger", "fire", "--drill").stdout.strip()
        assert dabyl(site, "clear", act).returncode == 0
        out = tmp_path / "backup"
        result = dabyl(site, "backup", str(out))  # while the controller writes
        assert result.returncode == 0, result.stderr
    finally:
        serve.stop()
    verify = dabyl(site, "journal", "verify", str(out / "journal.sqlite"))
    assert verify.returncode == 0 and "verified" in verify.stdout, verify.stdout
    assert (out / "config.toml").read_bytes() == site.read_bytes()
    assert (out / "scenarios" / "fire.toml").exists()
    copy = sqlite3.connect(out / "journal.sqlite")
    assert copy.execute("SELECT count(*) FROM events WHERE activation = ?",
                        (act,)).fetchone()[0] > 2
    copy.close()


# -- voices for offline sites ----------------------------------------------------------

class VoiceServer:
    """A local voices catalog: Piper's voices.json format, files in its folder layout."""

    def __init__(self, root: Path) -> None:
        import functools
        import http.server

        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
        handler.log_message = lambda *a: None  # type: ignore[attr-defined]
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/voices.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _catalog(root: Path, name: str, model: Path, corrupt: bool = False) -> None:
    import hashlib

    family, rest = name.split("_", 1)
    region, voice, quality = rest.split("-", 2)
    folder = root / family / f"{family}_{region}" / voice / quality
    folder.mkdir(parents=True)
    files = {}
    for suffix in (".onnx", ".onnx.json"):
        data = Path(f"{model}{suffix[5:]}").read_bytes()
        (folder / f"{name}{suffix}").write_bytes(data + (b"x" if corrupt else b""))
        files[f"{family}/{family}_{region}/{voice}/{quality}/{name}{suffix}"] = {
            "size_bytes": len(data), "md5_digest": hashlib.md5(data).hexdigest()}
    catalog = {name: {
        "key": name, "name": voice, "quality": quality, "num_speakers": 1,
        "speaker_id_map": {}, "aliases": [], "files": files,
        "language": {"code": f"{family}_{region}", "family": family, "region": region,
                     "name_native": "Қазақша", "name_english": "Kazakh",
                     "country_english": "Kazakhstan"}}}
    (root / "voices.json").write_text(json.dumps(catalog))


def test_a_voice_from_the_catalog_and_from_a_stick(tmp_path, audio_cache):
    from tests.tiny_voice import build

    made = tmp_path / "made"
    made.mkdir()
    kk = build(made / "kk_KZ-issai-high.onnx", "kk")

    def quick(cfg):  # one short scenario keeps the render after install short
        cfg["site"]["languages"] = ["kk"]
        cfg["audio"]["cache_dir"] = str(tmp_path / "site" / "cache")

    (tmp_path / "site").mkdir()
    config = make_site(tmp_path / "site", audio_cache, change=quick)
    bad_root, good_root = tmp_path / "bad", tmp_path / "good"
    _catalog(bad_root, "kk_KZ-issai-high", kk, corrupt=True)
    _catalog(good_root, "kk_KZ-issai-high", kk)
    bad, good = VoiceServer(bad_root), VoiceServer(good_root)
    try:
        refused = dabyl(config, "voices", "install", "kk_KZ-issai-high", "--catalog", bad.url)
        assert refused.returncode == 1 and "nothing installed" in refused.stderr
        assert not list((tmp_path / "site" / "voices").glob("*.onnx")), "nothing half-installed"
        result = dabyl(config, "voices", "install", "kk_KZ-issai-high", "--catalog", good.url,
                       "--no-render")
        assert result.returncode == 0, result.stderr
    finally:
        bad.close()
        good.close()
    listing = dabyl(config, "voices")
    assert "kk: piper:kk_KZ-issai-high.onnx" in listing.stdout, listing.stdout
    stick = tmp_path / "stick"
    stick.mkdir()
    build(stick / "kk_KZ-iseke-x_low.onnx", "kk")
    (stick / "broken.onnx").write_bytes(b"not a voice")
    (stick / "broken.onnx.json").write_text("{}")
    refused = dabyl(config, "voices", "install", "--from", str(stick))
    assert refused.returncode == 1 and "broken.onnx" in refused.stderr
    (stick / "broken.onnx").unlink()
    installed = dabyl(config, "voices", "install", "--from", str(stick), timeout=300)
    assert installed.returncode == 0, installed.stderr
    assert "kk_KZ-iseke-x_low.onnx (it loads and speaks)" in installed.stdout
    assert "rendered" in installed.stdout


# -- clock trust -------------------------------------------------------------------------

FAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


@pytest.mark.skipif(not FAKETIME.exists(), reason="libfaketime (Debian: faketime) is missing")
def test_a_jump_of_the_clock_is_journaled(site, tmp_path):
    """One process's clock is moved (libfaketime), never the machine's."""
    offset = tmp_path / "faketime"
    offset.write_text("+0\n")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(120)
    env = dict(dabyl_env(), LD_PRELOAD=str(FAKETIME), FAKETIME_TIMESTAMP_FILE=str(offset),
               FAKETIME_NO_CACHE="1", FAKETIME_DONT_FAKE_MONOTONIC="1",
               NOTIFY_SOCKET=str(tmp_path / "notify"))
    with (tmp_path / "serve.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "controller.cli", "--config", str(site), "serve"],
            stdout=log, stderr=log, env=env)
    try:
        while b"READY=1" not in notify.recv(4096):
            pass
        events = EventStream(tmp_path / "dabyl.sock")
        offset.write_text("+3600\n")  # an hour forward, as a hand-set clock might
        jump = events.wait("clock_jump")
        assert 3590 <= jump["delta_s"] <= 3610
        events.close()
    finally:
        proc.terminate()
        proc.wait(30)
        notify.close()
    assert _rows(site, "clock_jump") == 1
    # The rows' own monotonic clock (seconds since boot) did not jump with the wall clock:
    # an inspector sees the true time between the start and the jump.
    db = sqlite3.connect(f"file:{site.parent / 'journal.sqlite'}?mode=ro", uri=True)
    try:
        rows = {kind: (ts, json.loads(data)) for kind, ts, data in db.execute(
            "SELECT kind, ts, data FROM events WHERE kind IN ('controller_started', "
            "'clock_jump') ORDER BY seq")}
    finally:
        db.close()
    (start_ts, start), (jump_ts, jump) = rows["controller_started"], rows["clock_jump"]
    assert start["boot_id"] and 0 <= jump["mono"] - start["mono"] < 600
    wall = (datetime.fromisoformat(jump_ts) - datetime.fromisoformat(start_ts)).total_seconds()
    assert wall > 3000, "the wall clock jumped an hour between the two rows"


def test_an_unsynchronised_clock_is_a_fault_where_the_kernel_tells(tmp_path, audio_cache):
    from controller.clock import synchronised

    def strict(cfg):
        cfg["site"]["clock_sync"] = True

    config = make_site(tmp_path, audio_cache, change=strict)
    serve = Serve(config)
    try:
        state = synchronised()
        faults = {f["key"]: f for f in _status(config)["faults"]}
        if state is None:
            pytest.skip("this system cannot tell whether its clock is synchronised")
        assert ("clock" in faults) == (not state), faults
    finally:
        serve.stop()
