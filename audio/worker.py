"""The audio worker: a process of its own that puts announcements on the sound outputs.

The controller starts it (`python -m audio.worker`) and talks to it over stdin and
stdout in frames (`audio.wire`). Playback lives here, not in the controller, so that
nothing the controller does (journal queries, many consoles, the garbage collector)
can delay a block, and so that a sound driver that hangs or crashes takes only this
process down: the controller sees frames stop, kills it and starts a new one.

One thread per output writes 20 ms blocks. Lanes that share an output (a multichannel
card) are mixed in that thread, each on its own channels. If the sound card fails, the
output falls back to WAV files and says so; if the WAV folder fails too, the tracks
end with the error and the output tries again on the next track.

Commands (controller → worker):
  {"op": "setup", "outputs": [{"name", "device", "rate", "channels", "wav_dir",
                               "wav_pace", "wav_keep_mb"}], "lanes": {lane: output}}
  {"op": "play", "track", "lane", "label", "channels", "path"?}  + samples as payload
  {"op": "stop", "track"}
  {"op": "ping"}
Reports (worker → controller):
  {"ev": "sink", "output", "sink", "description", "fault"}  whenever the sink changes
  {"ev": "started", "track", "at"}      the first block of a track went to the sink
  {"ev": "done", "track", "completed", "error", "at"}
  {"ev": "frames", "lane", "at"}        blocks are flowing (at most every 100 ms a lane)
  {"ev": "pong"}
Times are `time.monotonic()`, which is one clock for every process on the machine.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

from audio.playback import BLOCK_SECONDS, AudioUnavailable, Sink, Track, WavSink, open_sink, spread
from audio.wire import WireError, encode, read_frame

HEARTBEAT = 0.1
RETRY_SINK = 1.0
RETRY_CARD = 30.0


class Link:
    """Reports to the controller; writes from any thread, one frame at a time."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.lock = threading.Lock()

    def send(self, **header: Any) -> None:
        data = encode(header)
        with self.lock:
            try:
                self.stream.write(data)
                self.stream.flush()
            except (OSError, ValueError):
                os._exit(0)  # the controller is gone: nothing to play for


class Output(threading.Thread):
    def __init__(self, spec: dict[str, Any], link: Link) -> None:
        super().__init__(name=f"output-{spec['name']}", daemon=True)
        self.spec = spec
        self.link = link
        self.rate = int(spec["rate"])
        self.channels = int(spec["channels"])
        self.cond = threading.Condition()
        self.tracks: list[Track] = []
        self.sink: Sink | None = None
        self.on_card = False
        self.retry_at = 0.0
        self.card_tried = 0.0
        self.beats: dict[str, float] = {}

    # -- from the command thread --------------------------------------------------
    def add(self, track: Track) -> None:
        with self.cond:
            self.tracks.append(track)
            self.cond.notify()

    def stop(self, track_id: str) -> bool:
        with self.cond:
            for track in self.tracks:
                if track.id == track_id:
                    track.stopped = True
                    self.cond.notify()
                    return True
        return False

    # -- the output thread -----------------------------------------------------------
    def _open(self) -> Sink | None:
        """The sound card if it works, else WAV files (with a fault), else nothing
        for a second."""
        now = time.monotonic()
        if self.sink is not None:
            return self.sink
        if now < self.retry_at:
            return None
        spec = self.spec
        self.card_tried = now
        try:
            sink, reason = open_sink(spec["device"], self.rate, self.channels,
                                     Path(spec["wav_dir"]), float(spec["wav_pace"]),
                                     float(spec["wav_keep_mb"]))
        except AudioUnavailable as exc:
            self.retry_at = now + RETRY_SINK
            self._report(None, str(exc))
            return None
        self.sink = sink
        self.on_card = reason is None
        self._report(sink, reason)
        return sink

    def _report(self, sink: Sink | None, fault: str | None) -> None:
        self.link.send(ev="sink", output=self.spec["name"], sink=sink.name if sink else None,
                       description=sink.description if sink else None, fault=fault)

    def _fail_sink(self, exc: AudioUnavailable) -> None:
        """The sink failed: from the card to WAV files; from WAV files to nothing."""
        sink, self.sink = self.sink, None
        if sink is not None:
            sink.close()
        if isinstance(sink, WavSink) or self.spec["device"] == "wav":
            self.retry_at = time.monotonic() + RETRY_SINK
            self._report(None, str(exc))
            with self.cond:
                live = [t for t in self.tracks if not t.stopped]
            for track in live:
                self._finish(track, False, f"sink: {exc}")
            return
        wav_dir = Path(self.spec["wav_dir"])
        try:
            self.sink = WavSink(wav_dir, self.rate, self.channels, float(self.spec["wav_pace"]),
                                float(self.spec["wav_keep_mb"]))
            self.on_card = False
            self._report(self.sink, f"{exc}; announcements go to WAV files in {wav_dir}")
        except AudioUnavailable as second:
            self.retry_at = time.monotonic() + RETRY_SINK
            self._report(None, f"{exc}; {second}")

    def _finish(self, track: Track, completed: bool, error: str | None = None) -> None:
        with self.cond:
            if track in self.tracks:
                self.tracks.remove(track)
        if self.sink is not None:
            try:
                self.sink.end(track, completed)
            except AudioUnavailable as exc:
                self._fail_sink(exc)
        self.link.send(ev="done", track=track.id, completed=completed, error=error,
                       at=time.monotonic())

    def run(self) -> None:
        block = max(1, int(self.rate * BLOCK_SECONDS))
        self._open()  # say at once what plays: the card, or WAV files and why
        while True:
            with self.cond:
                idle = not self.tracks
                while not self.tracks:
                    self.cond.wait()
                tracks = list(self.tracks)
            for track in tracks:
                if track.stopped:
                    self._finish(track, False)
            live = [t for t in tracks if not t.stopped]
            if not live:
                continue
            if idle and self.sink is not None and not self.on_card \
                    and self.spec["device"] != "wav" \
                    and time.monotonic() - self.card_tried > RETRY_CARD:
                # On WAV files because the card failed: try the card again, between
                # announcements only.
                self.sink.close()
                self.sink = None
            sink = self._open()
            if sink is None:
                for track in live:
                    self._finish(track, False, "sink: no sound output works")
                with self.cond:
                    self.cond.wait(RETRY_SINK)
                continue
            parts = []
            length = 0
            for track in live:
                chunk = track.samples[track.pos:track.pos + block]
                parts.append((track, chunk))
                length = max(length, len(chunk))
            mix = np.zeros((length, self.channels), dtype=np.int32)
            for track, chunk in parts:
                mix[:len(chunk)] += spread(chunk, self.channels, track.channels)
            mixed = np.clip(mix, -32768, 32767).astype(np.int16)
            try:
                sink.write(mixed, parts)
            except AudioUnavailable as exc:
                self._fail_sink(exc)
                continue
            now = time.monotonic()
            for track, chunk in parts:
                track.pos += len(chunk)
                if track.started_at is None:
                    track.started_at = now
                    self.link.send(ev="started", track=track.id, at=now)
                if now - self.beats.get(track.lane, 0.0) >= HEARTBEAT:
                    self.beats[track.lane] = now
                    self.link.send(ev="frames", lane=track.lane, at=now)
                if track.finished:
                    self._finish(track, True)


def _samples(command: dict[str, Any], payload: bytes) -> np.ndarray:
    path = command.get("path")
    if not path:
        return np.frombuffer(payload, dtype=np.int16)
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
            raise wave.Error("not 16-bit mono")
        frames = wav.readframes(wav.getnframes())
    samples = np.frombuffer(frames, dtype=np.int16)
    if not len(samples):
        raise wave.Error("no samples")
    return samples


def serve(stdin, stdout) -> None:
    link = Link(stdout)
    outputs: dict[str, Output] = {}
    lanes: dict[str, str] = {}
    while True:
        try:
            frame = read_frame(stdin)
        except WireError:
            return
        if frame is None:
            return
        command, payload = frame
        try:
            _handle(command, payload, link, outputs, lanes)
        except Exception as exc:  # noqa: BLE001 - one bad command never ends the worker
            print(f"audio worker: {command.get('op')!r} failed: {type(exc).__name__}: {exc}",
                  file=sys.stderr, flush=True)
            if command.get("op") == "play":
                link.send(ev="done", track=str(command.get("track")), completed=False,
                          error=f"{type(exc).__name__}: {exc}", at=time.monotonic())


def _handle(command: dict[str, Any], payload: bytes, link: Link, outputs: dict[str, Output],
            lanes: dict[str, str]) -> None:
    op = command.get("op")
    if op == "setup":
        for spec in command["outputs"]:
            output = Output(spec, link)
            outputs[spec["name"]] = output
            output.start()
        lanes.update(command["lanes"])
    elif op == "play":
        _play(command, payload, link, outputs.get(lanes.get(command.get("lane", ""), "")))
    elif op == "stop":
        for output in outputs.values():
            if output.stop(str(command.get("track"))):
                break
    elif op == "ping":
        link.send(ev="pong", at=time.monotonic())


def _play(command: dict[str, Any], payload: bytes, link: Link, output: Output | None) -> None:
    track_id = str(command["track"])
    if output is None:
        link.send(ev="done", track=track_id, completed=False,
                  error=f"no output for lane {command.get('lane')!r}", at=time.monotonic())
        return
    try:
        samples = _samples(command, payload)
    except Exception as exc:  # noqa: BLE001 - a damaged file (wave raises even
        # RuntimeError) is unreadable, never a reason for the worker to end
        link.send(ev="done", track=track_id, completed=False,
                  error=f"unreadable: {type(exc).__name__}: {exc}", at=time.monotonic())
        return
    output.add(Track(track_id, command["lane"], str(command.get("label", "")), samples,
                     command.get("channels")))


def main() -> None:
    # Ctrl+C in a terminal reaches the whole foreground group, this worker too; the
    # controller decides when the sound stops (it closes our stdin), never the key.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
