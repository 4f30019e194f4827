"""Playback sinks: the sound card through sounddevice, or WAV files where there is none.

`play` runs in a worker thread, writes small blocks (20 ms) and checks its stop
flag between blocks, so silence, clear and preemption take effect within about
one block plus the device's own latency. A WAV sink is never silent about itself:
the caller raises a fault while it is in use.
"""

from __future__ import annotations

import csv
import threading
import time
import wave
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

BLOCK_SECONDS = 0.02


class AudioUnavailable(Exception):
    """The audio output cannot be opened or has failed."""


class Sink:
    name = "sink"

    channels = 1

    def play(
        self,
        samples: np.ndarray,
        rate: int,
        label: str,
        stop: threading.Event,
        started: Callable[[], None],
        on: list[int] | None = None,
    ) -> bool:
        """Play mono samples on output channels `on` (all when None) until done (True)
        or stopped (False). Raises AudioUnavailable."""
        raise NotImplementedError

    def frames(self, samples: np.ndarray, on: list[int] | None) -> np.ndarray:
        """Mono samples spread onto the sink's channels: silent where not `on`."""
        if self.channels == 1:
            return samples.reshape(-1, 1)
        out = np.zeros((len(samples), self.channels), dtype=np.int16)
        for ch in on if on is not None else range(self.channels):
            if 0 <= ch < self.channels:
                out[:, ch] = samples
        return out

    def close(self) -> None:
        pass


class SoundDeviceSink(Sink):
    name = "sounddevice"

    def __init__(self, device: str | int | None, rate: int, channels: int = 1) -> None:
        self.channels = channels
        try:
            import sounddevice as sd
        except OSError as exc:  # PortAudio library missing
            raise AudioUnavailable(f"PortAudio is not available: {exc}") from None
        self._sd = sd
        self.device = None if device in ("default", "", None) else device
        self.rate = rate
        try:
            sd.check_output_settings(device=self.device, samplerate=rate, channels=channels,
                                     dtype="int16")
        except Exception as exc:  # noqa: BLE001 - PortAudio raises many kinds
            raise AudioUnavailable(f"sound output {device!r} unusable: {exc}") from None
        self._stream = None
        self.description = str(device)

    def _open(self):
        if self._stream is None:
            try:
                self._stream = self._sd.OutputStream(
                    samplerate=self.rate, channels=self.channels, dtype="int16",
                    device=self.device, latency="low",
                )
                self._stream.start()
            except Exception as exc:  # noqa: BLE001
                self._stream = None
                raise AudioUnavailable(f"cannot open sound output: {exc}") from None
        return self._stream

    def play(self, samples, rate, label, stop, started, on=None) -> bool:
        if rate != self.rate:
            raise AudioUnavailable(f"announcement rate {rate} differs from output {self.rate}")
        stream = self._open()
        block = max(1, int(self.rate * BLOCK_SECONDS))
        frames = self.frames(samples, on)
        first = True
        try:
            for i in range(0, len(frames), block):
                if stop.is_set():
                    stream.abort()  # drop what is buffered: stop now, not later
                    stream.start()
                    return False
                stream.write(np.ascontiguousarray(frames[i:i + block]))
                if first:
                    started()
                    first = False
        except Exception as exc:  # noqa: BLE001
            self.close()
            raise AudioUnavailable(f"sound output failed: {exc}") from None
        if first:
            started()
        return True

    def close(self) -> None:
        if self._stream is not None:
            try:
                self._stream.abort()
                self._stream.close()
            except Exception:  # noqa: BLE001 - closing a broken stream
                pass
            self._stream = None


class WavSink(Sink):
    """Writes what would have been played, one file per announcement, with an index.

    `pace` 1.0 takes as long as a sound card would (so stop and preemption behave
    the same); 0 writes at once.
    """

    name = "wav"

    def __init__(self, directory: Path, pace: float = 1.0, channels: int = 1) -> None:
        self.channels = channels
        self.directory = directory
        self.pace = pace
        directory.mkdir(parents=True, exist_ok=True)
        self.index = directory / "index.csv"
        self.description = str(directory)

    def play(self, samples, rate, label, stop, started, on=None) -> bool:
        stamp = datetime.now(UTC)
        frames = self.frames(samples, on)
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in label)[:60]
        path = self.directory / f"{stamp:%Y%m%dT%H%M%S_%f}Z-{safe}.wav"
        block = max(1, int(rate * BLOCK_SECONDS))
        written = 0
        completed = True
        t0 = time.monotonic()
        try:
            with wave.open(str(path), "wb") as wav:
                wav.setnchannels(self.channels)
                wav.setsampwidth(2)
                wav.setframerate(rate)
                for i in range(0, max(len(frames), 1), block):
                    if stop.is_set():
                        completed = False
                        break
                    chunk = frames[i:i + block]
                    wav.writeframes(np.ascontiguousarray(chunk).astype(np.int16).tobytes())
                    if i == 0:
                        started()
                    written += len(chunk)
                    if self.pace > 0:
                        due = t0 + written / rate / self.pace
                        delay = due - time.monotonic()
                        if delay > 0 and stop.wait(delay):
                            completed = False
                            break
            ended = datetime.now(UTC)
            new = not self.index.exists()
            with self.index.open("a", newline="") as fh:
                w = csv.writer(fh)
                if new:
                    w.writerow(["start_utc", "end_utc", "file", "label", "seconds", "completed",
                                "channels"])
                w.writerow([stamp.isoformat(), ended.isoformat(), path.name, label,
                            round(written / rate, 3), completed,
                            " ".join(map(str, on if on is not None else range(self.channels)))])
        except OSError as exc:
            raise AudioUnavailable(f"cannot write {path}: {exc}") from None
        return completed


def open_sink(
    output: str | int, rate: int, wav_dir: Path, pace: float, channels: int = 1
) -> tuple[Sink, str | None]:
    """The configured sound output, or the WAV sink and the reason it is used."""
    if output == "wav":
        return (WavSink(wav_dir, pace, channels),
                f"audio goes to WAV files in {wav_dir} (configured)")
    try:
        return SoundDeviceSink(output, rate, channels), None
    except AudioUnavailable as exc:
        return (WavSink(wav_dir, pace, channels),
                f"no sound output ({exc}); announcements go to WAV files in {wav_dir}")
