"""Playback sinks: the sound card through sounddevice, or WAV files where there is none.

A sink takes 20 ms blocks. The sound card gets the mixed block (every lane on its own
channels); the WAV sink keeps one file per announcement (what would have been played,
with an index of start and end times) and is never silent about itself: whoever uses
it raises a fault. Sinks run in the audio worker process (`audio.worker`), one thread
per output, so nothing the controller does can delay a block.
"""

from __future__ import annotations

import csv
import time
import wave
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

BLOCK_SECONDS = 0.02


class AudioUnavailable(Exception):
    """The audio output cannot be opened or has failed."""


@dataclass(eq=False)
class Track:
    """One announcement being played on some channels of an output."""

    id: str
    lane: str
    label: str
    samples: np.ndarray  # mono int16
    channels: list[int] | None = None  # None: every channel of the output
    pos: int = 0
    stopped: bool = False
    started_at: float | None = None
    wav: object | None = field(default=None, repr=False)  # the WAV sink's open file

    @property
    def finished(self) -> bool:
        return self.pos >= len(self.samples)


def spread(samples: np.ndarray, channels: int, on: list[int] | None) -> np.ndarray:
    """Mono samples spread onto `channels` output channels: silent where not `on`."""
    if channels == 1:
        return samples.reshape(-1, 1)
    out = np.zeros((len(samples), channels), dtype=np.int16)
    for ch in on if on is not None else range(channels):
        if 0 <= ch < channels:
            out[:, ch] = samples
    return out


class Sink:
    name = "sink"
    description = ""

    def __init__(self, rate: int, channels: int) -> None:
        self.rate = rate
        self.channels = channels

    def write(self, block: np.ndarray, parts: list[tuple[Track, np.ndarray]]) -> None:
        """Play one block: `block` is the mix (frames × channels, int16); `parts` are
        each track's own mono samples in it. Raises AudioUnavailable."""
        raise NotImplementedError

    def end(self, track: Track, completed: bool) -> None:
        """A track finished or was stopped."""

    def close(self) -> None:
        pass


class SoundDeviceSink(Sink):
    name = "sounddevice"

    def __init__(self, device: str | int | None, rate: int, channels: int = 1) -> None:
        super().__init__(rate, channels)
        try:
            import sounddevice as sd
        except OSError as exc:  # PortAudio library missing
            raise AudioUnavailable(f"PortAudio is not available: {exc}") from None
        self._sd = sd
        self.device = None if device in ("default", "", None) else device
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

    def write(self, block, parts) -> None:
        stream = self._open()
        try:
            stream.write(np.ascontiguousarray(block))
        except Exception as exc:  # noqa: BLE001
            self.close()
            raise AudioUnavailable(f"sound output failed: {exc}") from None

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

    `pace` 1.0 takes as long as a sound card would (so stop and preemption behave the
    same); 0 writes at once. The folder keeps at most `keep_mb` megabytes: the oldest
    files go first (their index rows stay, marked as rotated out).
    """

    name = "wav"

    def __init__(self, directory: Path, rate: int, channels: int = 1, pace: float = 1.0,
                 keep_mb: float = 200.0) -> None:
        super().__init__(rate, channels)
        self.directory = directory
        self.pace = pace
        self.keep_bytes = int(keep_mb * 1024 * 1024)
        self.index = directory / "index.csv"
        self.description = str(directory)
        self._due = 0.0
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AudioUnavailable(f"cannot use {directory}: {exc}") from None

    def write(self, block, parts) -> None:
        for track, mono in parts:
            try:
                if track.wav is None:
                    self._open(track)
                assert track.wav is not None
                track.wav[0].writeframes(spread(mono, self.channels, track.channels).tobytes())
                track.wav[2] += len(mono)
            except (OSError, wave.Error, EOFError) as exc:
                self._drop(track, partial=True)
                raise AudioUnavailable(f"cannot write {self.directory}: {exc}") from None
        if self.pace > 0:
            # Take as long as a sound card would, measured from the first block.
            now = time.monotonic()
            self._due = max(self._due, now) + len(block) / self.rate / self.pace
            delay = self._due - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def _open(self, track: Track) -> None:
        stamp = datetime.now(UTC)
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in track.label)[:60]
        path = self.directory / f"{stamp:%Y%m%dT%H%M%S_%f}Z-{safe}.wav"
        wav = wave.open(str(path), "wb")
        wav.setnchannels(self.channels)
        wav.setsampwidth(2)
        wav.setframerate(self.rate)
        track.wav = [wav, path, 0, stamp]

    def _drop(self, track: Track, partial: bool = False) -> None:
        """Close the track's file; a partial one (the disk is full) is removed, so it
        does not keep the space the next announcement needs."""
        if track.wav is not None:
            try:
                track.wav[0].close()
            except (OSError, wave.Error):
                pass
            if partial:
                track.wav[1].unlink(missing_ok=True)
            track.wav = None

    def end(self, track: Track, completed: bool) -> None:
        if track.wav is None:
            return
        wav, path, frames, stamp = track.wav
        self._drop(track)
        try:
            new = not self.index.exists()
            with self.index.open("a", newline="") as fh:
                w = csv.writer(fh)
                if new:
                    w.writerow(["start_utc", "end_utc", "file", "label", "seconds", "completed",
                                "channels", "lane"])
                on = track.channels if track.channels is not None else range(self.channels)
                w.writerow([stamp.isoformat(), datetime.now(UTC).isoformat(), path.name,
                            track.label, round(frames / self.rate, 3), completed,
                            " ".join(map(str, on)), track.lane])
            self._rotate()
        except OSError as exc:
            raise AudioUnavailable(f"cannot write {self.index}: {exc}") from None

    def _rotate(self) -> None:
        files = sorted(self.directory.glob("*.wav"))
        sizes = [(f, f.stat().st_size) for f in files]
        total = sum(size for _, size in sizes)
        for f, size in sizes:
            if total <= self.keep_bytes:
                break
            f.unlink(missing_ok=True)
            total -= size


def open_sink(output: str | int, rate: int, channels: int, wav_dir: Path, pace: float,
              keep_mb: float) -> tuple[Sink, str | None]:
    """The configured sound output, or the WAV sink and the reason it is used."""
    if output == "wav":
        return (WavSink(wav_dir, rate, channels, pace, keep_mb),
                f"audio goes to WAV files in {wav_dir} (configured)")
    try:
        return SoundDeviceSink(output, rate, channels), None
    except AudioUnavailable as exc:
        return (WavSink(wav_dir, rate, channels, pace, keep_mb),
                f"no sound output ({exc}); announcements go to WAV files in {wav_dir}")
