"""Real playback: `dabyl serve` plays a fire drill through PortAudio into an ALSA
`file` PCM, and the bytes that came out are checked (CI installs PortAudio)."""

from __future__ import annotations

import ctypes.util
import json
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import dabyl_env, make_site
from tests.test_cli import Serve

pytestmark = pytest.mark.skipif(
    ctypes.util.find_library("portaudio") is None,
    reason="PortAudio is not installed here (CI installs libportaudio2)",
)

ASOUNDRC = """
pcm.!default {{
    type plug
    slave.pcm "capture"
}}
pcm.capture {{
    type file
    slave.pcm "null"
    file "{out}"
    format "raw"
}}
"""


def _announcement(cache, label):
    for meta in cache.glob("*.json"):
        info = json.loads(meta.read_text())
        if info.get("label") == label:
            import wave

            with wave.open(str(meta.with_suffix(".wav"))) as w:
                return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16), info
    raise AssertionError(f"no rendered {label}")


def _find(haystack: np.ndarray, needle: np.ndarray, start: int = 0) -> int:
    first = np.flatnonzero(needle)[0]
    probe = needle[first:first + 2048].tobytes()
    at = haystack[start:].tobytes().find(probe)
    assert at >= 0 and at % 2 == 0, "announcement not found in what was played"
    return start + at // 2 - first


def _rms_db(x: np.ndarray) -> float:
    x = x.astype(np.float64)
    return 20 * np.log10(np.sqrt(np.mean(x ** 2)) / 32768)


def test_fire_drill_through_portaudio_into_an_alsa_file(tmp_path, audio_cache):
    home = tmp_path / "home"
    home.mkdir()
    out = tmp_path / "played.raw"
    (home / ".asoundrc").write_text(ASOUNDRC.format(out=out))

    def sound_card(cfg):
        cfg["audio"]["output"] = "default"

    config = make_site(tmp_path, audio_cache, change=sound_card, pauses=0.05)
    env = dict(dabyl_env(), HOME=str(home))
    serve = Serve(config, env=env)
    try:
        with Subscription(config) as events:
            trig = subprocess.run([sys.executable, "-m", "controller.cli", "--config",
                                   str(config), "trigger", "fire", "--drill"],
                                  capture_output=True, text=True, env=env, timeout=30)
            act = trig.stdout.strip()
            assert trig.returncode == 0, trig.stderr
            events.wait("cleared", act)
        status = subprocess.run([sys.executable, "-m", "controller.cli", "--config",
                                 str(config), "status", "--json"], capture_output=True,
                                text=True, env=env, timeout=30)
        assert '"sink": "sounddevice"' in status.stdout, "played through PortAudio, not WAV"
        assert "audio:output" not in status.stdout
    finally:
        serve.stop()
    played = np.frombuffer(out.read_bytes(), dtype=np.int16)
    preamble, _ = _announcement(audio_cache, "drill_preamble")
    public, info = _announcement(audio_cache, "fire-public")
    staff, _ = _announcement(audio_cache, "fire-staff")
    closing, _ = _announcement(audio_cache, "drill_closing")
    order = []
    at = 0
    for part in (preamble, public, staff, public, staff, closing):
        at = _find(played, part, at)
        order.append(at)
        at += len(part)
    assert order == sorted(order)
    # fire-public as played: the evacuation tone first (950 Hz), then Kazakh, pause, Russian.
    begin = order[1]
    heard = played[begin:begin + len(public)]
    tone = heard[: 22050 // 2].astype(np.float64)
    peak_hz = np.argmax(np.abs(np.fft.rfft(tone))) * 22050 / len(tone)
    assert abs(peak_hz - 950) < 20, peak_hz
    speech = heard[int(3.0 * 22050):]
    silent = np.abs(speech) < 2
    runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], silent.view(np.int8), [0]]))))
    edges = np.flatnonzero(np.diff(np.concatenate([[0], silent.view(np.int8), [0]])))
    longest = int(np.argmax(runs[::2]))
    gap_start, gap_end = edges[2 * longest], edges[2 * longest + 1]
    assert (gap_end - gap_start) / 22050 >= 0.7, "the pause between the languages"
    kk, ru = speech[:gap_start], speech[gap_end:]
    assert len(kk) > 22050 and len(ru) > 22050
    assert info["texts"][0][0] == "kk" and info["texts"][1][0] == "ru"
    assert abs(_rms_db(kk) - _rms_db(ru)) < 1.5, (_rms_db(kk), _rms_db(ru))


class Subscription:
    """The controller's event stream, opened before anything is triggered."""

    def __init__(self, config, timeout: float = 60) -> None:
        import tomllib

        self.path = tomllib.loads(config.read_text())["control"]["socket"]
        self.timeout = timeout

    def __enter__(self) -> Subscription:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)
        self.sock.sendall(b'{"op": "subscribe"}\n')
        self.buffer = b""
        return self

    def __exit__(self, *exc) -> None:
        self.sock.close()

    def wait(self, kind: str, activation: str) -> None:
        self.wait_event(kind, activation=activation)

    def wait_event(self, kind: str, **match) -> dict:
        while True:
            chunk = self.sock.recv(65536)
            assert chunk, "controller went away"
            self.buffer += chunk
            *lines, self.buffer = self.buffer.split(b"\n")
            for i, line in enumerate(lines):
                event = json.loads(line).get("event") or {}
                if event.get("kind") == kind and all(event.get(k) == v for k, v in match.items()):
                    # Keep what came after, for the next wait.
                    self.buffer = b"\n".join(lines[i + 1:] + [self.buffer])
                    return event
