"""Start and service: one controller per site, a start that cannot fail, the control
socket's defences, systemd's notify protocol, and the installer's commands. Every case
runs `dabyl` as a real process."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from tests.conftest import DEMO, dabyl_env, read_coils
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
