"""Fault injection: the alarm goes on, the fault is shown, nothing is lost."""

from __future__ import annotations

import asyncio
import ctypes.util
import os
import sys
import tempfile
from pathlib import Path

import pytest

from controller.journal import read_rows, verify
from tests.conftest import coil_map, dabyl_env, make_site, read_coils, start_controller, wait_coils  # noqa: E501
from tests.test_cli import Serve, dabyl
from tests.test_journal import _fill, tiny_disk  # noqa: F401 - fixture
from tests.test_playback import Subscription


@pytest.mark.skipif(ctypes.util.find_library("portaudio") is None,
                    reason="PortAudio is not installed here (CI installs libportaudio2)")
def test_sound_card_failing_mid_announcement(tmp_path, audio_cache):
    """The sound output dies 20 kB into the first announcement (its reader exits):
    a fault is raised, and the announcements go on into WAV files."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".asoundrc").write_text(f"""
pcm.!default {{ type plug; slave.pcm "dying" }}
pcm.dying {{ type file; slave.pcm "null"; format "raw";
             file "|head -c 20000 > {tmp_path / 'heard.raw'}" }}
""")

    def sound_card(cfg):
        cfg["audio"]["output"] = "default"
        cfg["audio"]["wav_pace"] = 0

    config = make_site(tmp_path, audio_cache, change=sound_card, pauses=0.05)
    env = dict(dabyl_env(), HOME=str(home))
    serve = Serve(config, env=env)
    try:
        with Subscription(config) as events:
            act = dabyl(config, "trigger", "fire").stdout.strip()
            fault = events.wait_event("fault", key="audio:output")
            assert "sound output failed" in fault["message"]
            assert "WAV files" in fault["message"]
            events.wait_event("announcement_ended", activation=act)
            events.wait_event("announcement_started", activation=act)  # it goes on
        status = dabyl(config, "status", "--json").stdout
        assert '"mode": "ALARM"' in status and '"sink": "wav"' in status
    finally:
        serve.stop()
    heard = (tmp_path / "heard.raw").read_bytes()
    assert len(heard) == 20000 and any(heard), "the card did play until it failed"
    assert list((tmp_path / "wav").glob("*fire-*.wav")), "then the WAV sink took over"


async def test_journal_disk_full_during_an_alarm(tmp_path, audio_cache, tiny_disk):  # noqa: F811
    def journal_on_tiny_disk(cfg):
        cfg["control"]["journal"] = str(tiny_disk / "journal.sqlite")

    controller, events = await start_controller(
        make_site(tmp_path, audio_cache, change=journal_on_tiny_disk))
    try:
        _fill(tiny_disk)
        act = await controller.engine.trigger("fire", source="operator", origin="t")
        ch = coil_map(controller)
        sim = controller.devices.simulators["board1"]
        await wait_coils(sim, {ch["siren"]: True, ch["strobe"]: True})
        fault = await events.wait("fault", key="journal", timeout=15)
        assert "kept" in fault["message"]
        assert controller.engine.mode() == "ALARM"
        (tiny_disk / "filler").unlink()
        await events.wait("fault_cleared", key="journal", timeout=30)
        assert await asyncio.to_thread(controller.journal.flush, 10)
    finally:
        await controller.stop()
    rows = read_rows(tiny_disk / "journal.sqlite")
    assert any(r.kind == "triggered" and r.activation == act.id for r in rows)
    assert verify(tiny_disk / "journal.sqlite").ok


async def test_corrupted_journal_at_start(tmp_path, audio_cache):
    config = make_site(tmp_path, audio_cache)
    journal = tmp_path / "journal.sqlite"
    journal.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    before = journal.read_bytes()
    controller, events = await start_controller(config)
    try:
        assert "notice:journal:damaged" in controller.faults.active
        assert "damaged" in controller.faults.active["notice:journal:damaged"].message
        await controller.engine.trigger("shooting", source="operator", origin="t")
        ch = coil_map(controller)
        await wait_coils(controller.devices.simulators["board1"], {ch["strobe"]: True})
    finally:
        await controller.stop()
    moved = list(tmp_path.glob("journal.sqlite.damaged-*"))
    assert moved[0].read_bytes() == before, "a damaged journal is moved aside, never overwritten"
    result = dabyl(config, "journal", "verify")
    assert result.returncode == 1 and "damage" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_a_user_without_access_to_the_socket_cannot_trigger(audio_cache):
    site_dir = Path(tempfile.mkdtemp(prefix="dabyl-perm-"))
    os.chmod(site_dir, 0o755)
    config = make_site(site_dir, audio_cache)
    os.chmod(config, 0o644)
    serve = Serve(config)
    try:
        from controller.cli import main

        # The same command once as root: every module it needs is then loaded, since
        # the unprivileged child cannot read this Python's library directory.
        assert main(["--config", str(config), "trigger", "fire", "--drill"]) == 0
        assert main(["--config", str(config), "clear", "--all"]) == 0
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: an unprivileged user running `dabyl trigger fire`
            try:
                sys.stderr = os.fdopen(write_end, "w", buffering=1)
                os.setgid(65534)
                os.setuid(65534)
                code = main(["--config", str(config), "trigger", "fire"])
            except BaseException:  # noqa: BLE001 - report anything as a failure code
                code = 99
            sys.stderr.flush()
            os._exit(code)
        os.close(write_end)
        _, status = os.waitpid(pid, 0)
        message = os.read(read_end, 4096).decode()
        os.close(read_end)
        assert os.waitstatus_to_exitcode(status) == 3, message
        assert "permission denied" in message
        status = dabyl(config, "status", "--json").stdout
        assert '"activations": []' in status, "nothing was triggered"
        import tomllib

        port = tomllib.loads(config.read_text())["devices"][0]["port"]
        assert read_coils(port)[6] is False, "the siren never sounded"
    finally:
        serve.stop()
