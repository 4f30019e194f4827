"""Rendering announcements: attention signal, Kazakh, pause, Russian, one WAV each.

Every announcement is stored in a content-addressed cache: the file name is the
hash of everything that shapes the sound (texts, engines and voices, signal, rate,
level, pause). Rendering happens before an alarm (`dabyl render`, and at start for
whatever is missing), so an alarm only reads a file.
"""

from __future__ import annotations

import hashlib
import json
import warnings
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio.tones import signal as make_signal
from audio.tts import VoiceChoice

# pydub looks for ffmpeg at import; dabyl only handles raw PCM and WAV, never needs it.
warnings.filterwarnings("ignore", message="Couldn't find ffmpeg", category=RuntimeWarning)
from pydub import AudioSegment  # noqa: E402

FORMAT_VERSION = 1
# Speech and signals are matched to this RMS level before the site's level is applied.
REFERENCE_DBFS = -20.0


@dataclass(frozen=True)
class Announcement:
    key: str
    path: Path
    rate: int
    duration: float
    voices: dict[str, str]

    def samples(self) -> np.ndarray:
        with wave.open(str(self.path), "rb") as wav:
            frames = wav.readframes(wav.getnframes())
        return np.frombuffer(frames, dtype=np.int16)


@dataclass(frozen=True)
class Request:
    """What to say: texts per language (in speaking order) and the signal before them."""

    texts: tuple[tuple[str, str], ...]
    signal: str = "none"
    label: str = ""


def _segment(samples: np.ndarray, rate: int) -> AudioSegment:
    return AudioSegment(samples.astype(np.int16).tobytes(), sample_width=2, frame_rate=rate,
                        channels=1)


def _level(segment: AudioSegment, target_dbfs: float) -> AudioSegment:
    if len(segment) == 0 or segment.rms == 0:
        return segment
    return segment.apply_gain(target_dbfs - segment.dBFS)


class Renderer:
    def __init__(
        self,
        cache_dir: Path,
        rate: int,
        level_db: float,
        pause: float,
        voices: dict[str, VoiceChoice],
    ) -> None:
        self.cache_dir = cache_dir
        self.rate = rate
        self.level_db = level_db
        self.pause = pause
        self.voices = voices
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # reported when an announcement cannot be stored; speech still plays

    @property
    def target_dbfs(self) -> float:
        return REFERENCE_DBFS + self.level_db

    def voice_ids(self, request: Request) -> dict[str, str]:
        return {lang: self.voices[lang].description for lang, _ in request.texts}

    def key(self, request: Request) -> str:
        material = json.dumps(
            [
                FORMAT_VERSION,
                self.rate,
                self.level_db,
                self.pause,
                request.signal,
                [(lang, self.voice_ids(request)[lang], text) for lang, text in request.texts],
            ],
            ensure_ascii=False,
        )
        return hashlib.sha256(material.encode()).hexdigest()[:32]

    def cached(self, request: Request) -> Announcement | None:
        key = self.key(request)
        path = self.cache_dir / f"{key}.wav"
        meta = self.cache_dir / f"{key}.json"
        if not path.exists() or not meta.exists():
            return None
        try:
            info = json.loads(meta.read_text())
            return Announcement(key, path, self.rate, info["duration"], info["voices"])
        except (ValueError, KeyError, OSError):
            return None

    def signal(self, name: str) -> np.ndarray:
        """A level-matched attention signal at the output rate (instant, never cached)."""
        if name == "none":
            return np.zeros(0, dtype=np.int16)
        wave_ = make_signal(name, self.rate)
        seg = _segment((wave_ * 32767 * 0.5).astype(np.int16), self.rate)
        seg = _level(seg, self.target_dbfs)
        return np.frombuffer(seg.raw_data, dtype=np.int16)

    def compose(self, request: Request) -> np.ndarray:
        """The announcement's samples, synthesised now, in memory (nothing is written)."""
        parts: list[AudioSegment] = []
        if request.signal != "none":
            parts.append(_segment(self.signal(request.signal), self.rate))
        gap = AudioSegment.silent(duration=int(self.pause * 1000), frame_rate=self.rate)
        for i, (lang, text) in enumerate(request.texts):
            engine = self.voices[lang].engine
            if engine is None:
                continue
            samples, rate = engine.synthesize(text)
            speech = _segment(samples, rate).set_frame_rate(self.rate)
            speech = _level(speech, self.target_dbfs)
            if i:
                parts.append(gap)
            parts.append(speech)
        if not parts:
            parts.append(_segment(self.signal("chime"), self.rate))
        whole = sum(parts[1:], parts[0])
        whole = whole.set_frame_rate(self.rate).set_channels(1).set_sample_width(2)
        return np.frombuffer(whole.raw_data, dtype=np.int16)

    def store(self, request: Request, samples: np.ndarray) -> Announcement:
        """Put composed samples into the cache (the folder is made again if it went
        away). Raises OSError when the cache cannot be written."""
        key = self.key(request)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        path = self.cache_dir / f"{key}.wav"
        tmp = path.with_suffix(".tmp")
        with wave.open(str(tmp), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(self.rate)
            wav.writeframes(np.ascontiguousarray(samples, dtype=np.int16).tobytes())
        tmp.replace(path)
        duration = len(samples) / self.rate
        voices = self.voice_ids(request)
        meta = {"duration": duration, "voices": voices, "label": request.label,
                "texts": request.texts, "signal": request.signal}
        (self.cache_dir / f"{key}.json").write_text(json.dumps(meta, ensure_ascii=False))
        return Announcement(key, path, self.rate, duration, voices)

    def render(self, request: Request) -> Announcement:
        hit = self.cached(request)
        if hit is not None:
            return hit
        return self.store(request, self.compose(request))
