"""Never silent without a visible fault (issue 10, case 1): whatever breaks while an
announcement is rendered or played, the alarm goes on being heard, or a fault says it
is not, and the next alarm is heard again once the cause is gone."""

from __future__ import annotations

import ctypes.util
import os
import shutil
import signal
import subprocess
import sys

import pytest

from tests.conftest import dabyl_env, make_site, real_disk, start_controller
from tests.test_journal import _fill


@pytest.fixture
def small_disk(tmp_path):
    """A real 8 MiB filesystem (room for a few announcements), so a full disk is a full
    disk (needs root)."""
    yield from real_disk(tmp_path, "8m")


def _private_cache(tmp_path, audio_cache):
    """A copy of the rendered cache this test may damage."""
    cache = tmp_path / "cache"
    shutil.copytree(audio_cache, cache)
    return cache


def _site(tmp_path, cache):
    """The demo site, rendering into (and playing from) a private cache."""
    return make_site(tmp_path, cache)


async def _heard(controller, events, scenario: str, **kwargs):
    """Trigger and wait until its first announcement has been played to the end."""
    act = await controller.engine.trigger(scenario, source="operator", origin="t", **kwargs)
    await events.wait("first_audio", activation=act.id, timeout=30)
    ended = await events.wait("announcement_ended", activation=act.id, timeout=60)
    return act, ended


async def test_a_removed_cache_is_rendered_again_and_every_alarm_is_heard(tmp_path,
                                                                          audio_cache):
    cache = _private_cache(tmp_path, audio_cache)
    controller, events = await start_controller(_site(tmp_path, cache))
    try:
        shutil.rmtree(cache)
        fire, ended = await _heard(controller, events, "fire")
        assert ended["completed"], ended
        await events.wait("cache_miss", activation=fire.id)
        controller.engine.clear(fire.id, "t")
        shooting, ended = await _heard(controller, events, "shooting")
        assert ended["completed"], "the next alarm is heard too"
    finally:
        await controller.stop()


async def test_an_unwritable_cache_still_speaks_and_says_so(tmp_path, audio_cache):
    cache = _private_cache(tmp_path, audio_cache)
    controller, events = await start_controller(_site(tmp_path, cache))
    try:
        shutil.rmtree(cache)
        cache.write_text("not a folder")  # the cache cannot be made again
        fire, ended = await _heard(controller, events, "collapse")
        assert ended["completed"], "speech synthesised in memory"
        fault = await events.wait("fault", key="audio:cache", timeout=30)
        assert fault["code"] == "cache_unwritable"
        labels = [e["label"] for e in events.seen if e["kind"] == "announcement_ended"
                  and e.get("activation") == fire.id]
        assert labels[:1] == ["collapse-public"]
    finally:
        await controller.stop()


async def test_a_corrupt_cached_announcement_is_reported_and_spoken_anyway(tmp_path,
                                                                           audio_cache):
    cache = _private_cache(tmp_path, audio_cache)
    controller, events = await start_controller(_site(tmp_path, cache))
    try:
        request = controller.announcer.scenario_request(
            controller.library.get("explosion"), "public", {})
        path = controller.announcer.renderer.cached(request).path
        path.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
        act, ended = await _heard(controller, events, "explosion")
        fault = await events.wait("fault", key="audio:cache", timeout=30)
        assert fault["code"] == "cache_unreadable" and "explosion-public" in fault["message"]
        ended = await events.wait("announcement_ended", activation=act.id, label="explosion-public",
                                  completed=True, timeout=60)
        assert controller.announcer.renderer.cached(request) is not None
        controller.engine.clear(act.id, "t")
        act, ended = await _heard(controller, events, "explosion")
        assert ended["completed"], "mended: the next alarm plays from the cache again"
    finally:
        await controller.stop()


async def test_a_full_disk_under_the_wav_sink_is_a_fault_and_sound_comes_back(
        tmp_path, audio_cache, small_disk):
    def wav_on_small_disk(cfg):
        cfg["audio"]["wav_dir"] = str(small_disk / "wav")

    controller, events = await start_controller(make_site(tmp_path, audio_cache,
                                                          change=wav_on_small_disk))
    try:
        _fill(small_disk)
        fire = await controller.engine.trigger("fire", source="operator", origin="t")
        fault = await events.wait("fault", key="audio:output", timeout=30,
                                  **{"code": "audio_output"})
        while "cannot" not in fault["message"]:
            fault = await events.wait("fault", key="audio:output", timeout=30)
        assert controller.engine.mode() == "ALARM"
        (small_disk / "filler").unlink()
        await events.wait("announcement_ended", activation=fire.id, completed=True, timeout=60)
    finally:
        await controller.stop()


async def test_a_killed_audio_worker_is_a_fault_and_the_alarm_goes_on(tmp_path, audio_cache):
    controller, events = await start_controller(make_site(tmp_path, audio_cache, pace=1.0))
    try:
        fire = await controller.engine.trigger("fire", source="operator", origin="t")
        await events.wait("first_audio", activation=fire.id, timeout=30)
        os.kill(controller.announcer.player.pid, signal.SIGKILL)
        fault = await events.wait("fault", key="audio:worker", timeout=10)
        assert fault["code"] == "audio_worker_exited" and fault["params"]["status"] == -9
        again = await events.wait("announcement_started", activation=fire.id, timeout=10)
        assert again["label"] == "fire-public", "the interrupted announcement starts again"
        await events.wait("fault_cleared", key="audio:worker", timeout=10)
        # Healed in a second, and still on the consoles until someone has seen it.
        notice = controller.faults.active["notice:audio:worker"]
        assert notice.code == "audio_worker_exited"
        assert "-9" in notice.as_dict()["text"]["kk"]
        controller.faults.acknowledge("notice:audio:worker", "duty officer")
        assert "notice:audio:worker" not in controller.faults.active
    finally:
        await controller.stop()


@pytest.mark.skipif(ctypes.util.find_library("portaudio") is None,
                    reason="PortAudio is not installed here (CI installs libportaudio2)")
async def test_a_sound_card_that_stops_taking_frames_is_a_fault_within_seconds(
        tmp_path, audio_cache, monkeypatch):
    """The card's driver blocks (its reader stops after a second of sound): frames stop
    flowing; the watchdog names the activation and restarts the player."""
    home = tmp_path / "home"
    home.mkdir()
    stuck = tmp_path / "stuck"
    # Takes about a second of sound, then reads no more (the writer blocks), and goes
    # away only when the writer closes the pipe.
    stuck.write_text(f"""#!{sys.executable}
import select, sys
sys.stdin.buffer.read(44100)
poll = select.poll()
poll.register(0, select.POLLHUP)
poll.poll()
""")
    stuck.chmod(0o755)
    (home / ".asoundrc").write_text(f"""
pcm.!default {{ type plug; slave.pcm "stuck" }}
pcm.stuck {{ type file; slave.pcm "null"; format "raw"; file "|{stuck}" }}
""")
    monkeypatch.setenv("HOME", str(home))

    def sound_card(cfg):
        cfg["audio"]["output"] = "default"

    controller, events = await start_controller(make_site(tmp_path, audio_cache,
                                                          change=sound_card))
    try:
        assert controller.announcer.status()["sink"] == "sounddevice"
        fire = await controller.engine.trigger("fire", source="operator", origin="t")
        await events.wait("announcement_started", activation=fire.id, timeout=30)
        await events.wait("first_audio", activation=fire.id, timeout=30)
        fault = await events.wait("fault", key="audio:stalled:main", timeout=30)
        assert fault["code"] == "audio_stalled" and fault["params"]["activation"] == fire.id
        await events.wait("fault", key="audio:worker", timeout=10)
        await events.wait("fault_cleared", key="audio:worker", timeout=10)  # sound again
        assert controller.announcer.player.starts >= 2, "the player was restarted"
    finally:
        await controller.stop()


def test_ctrl_c_in_the_terminal_ends_serve_and_its_audio_worker_in_words(tmp_path, audio_cache):
    """Ctrl+C reaches every process of the terminal's foreground group: the audio worker
    too. It is the controller's to stop; nobody sees a traceback."""
    site = make_site(tmp_path, audio_cache)
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller.cli", "--config", str(site), "serve"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=dabyl_env(),
        start_new_session=True)
    try:
        assert proc.stderr is not None
        said = b""
        while b"controller running" not in said:
            line = proc.stderr.readline()
            assert line, f"serve ended: {said.decode()}"
            said += line
        os.killpg(proc.pid, signal.SIGINT)
        rest = proc.communicate(timeout=30)[1]
        text = (said + rest).decode()
        assert proc.returncode == 0, text
        assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
