"""Speech engines behind one interface: Piper voices, espeak-ng, or tones only.

`choose_voice` picks, per language, the best engine that is really installed:
a Piper voice if its model file is present, otherwise espeak-ng through the
`espeakng-loader` wheel (always there, robotic but offline), otherwise nothing but
tones. The choice and the reason are reported, never raised.
"""

from __future__ import annotations

import ctypes
import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio.text import normalize

# The voices dabyl recommends, best first (see `dabyl voices`).
RECOMMENDED_PIPER = {
    "kk": ["kk_KZ-issai-high", "kk_KZ-iseke-x_low"],
    "ru": ["ru_RU-irina-medium", "ru_RU-denis-medium", "ru_RU-dmitri-medium", "ru_RU-ruslan-medium"],
}


class SpeechUnavailable(Exception):
    """The engine or the voice cannot be used on this machine."""


class SpeechEngine:
    """Turns normalised text into mono int16 samples."""

    kind = "none"

    def __init__(self, language: str) -> None:
        self.language = language

    @property
    def id(self) -> str:
        """Identifies engine and voice; part of every cache key."""
        raise NotImplementedError

    def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        raise NotImplementedError


class _Espeak:
    """The process-wide espeak-ng library (it keeps global state, so one lock)."""

    _instance: _Espeak | None = None
    _guard = threading.Lock()

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:
            raise SpeechUnavailable(f"espeakng-loader is not installed: {exc}") from None
        try:
            lib = ctypes.CDLL(espeakng_loader.get_library_path())
        except OSError as exc:
            raise SpeechUnavailable(f"libespeak-ng cannot be loaded: {exc}") from None
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        data = espeakng_loader.get_data_path().encode()
        audio_output_synchronous = 2
        self.rate = lib.espeak_Initialize(audio_output_synchronous, 0, data, 0)
        if self.rate <= 0:
            raise SpeechUnavailable("espeak-ng failed to initialise")
        self.lib = lib
        self.lock = threading.Lock()
        self._chunks: list[np.ndarray] = []
        callback_type = ctypes.CFUNCTYPE(
            ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
        )
        self._callback = callback_type(self._collect)  # keep a reference: C holds it
        lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, count, _events) -> int:
        if wav and count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    @classmethod
    def get(cls) -> _Espeak:
        with cls._guard:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def speak(self, voice: str, text: str, rate_wpm: int) -> np.ndarray:
        with self.lock:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise SpeechUnavailable(f"espeak-ng has no voice {voice!r}")
            espeak_rate = 1
            self.lib.espeak_SetParameter(espeak_rate, rate_wpm, 0)
            self._chunks = []
            data = text.encode()
            chars_utf8, end_pause = 1, 0x1000
            rc = self.lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, chars_utf8 | end_pause,
                                       None, None)
            if rc != 0:
                raise SpeechUnavailable(f"espeak-ng synthesis failed (code {rc})")
            chunks, self._chunks = self._chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


class EspeakEngine(SpeechEngine):
    kind = "espeak-ng"

    def __init__(self, language: str, voice: str | None = None, rate_wpm: int = 150) -> None:
        super().__init__(language)
        self.voice = voice or language
        self.rate_wpm = rate_wpm
        self._espeak = _Espeak.get()
        # Fail now, not at alarm time, if the voice is missing.
        self._espeak.speak(self.voice, "", self.rate_wpm)

    @property
    def id(self) -> str:
        return f"espeak-ng:{self.voice}:{self.rate_wpm}"

    def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        # espeak-ng honours U+0301 stress marks (за́мок / замо́к), so they stay.
        spoken = normalize(text, self.language, keep_stress=True)
        return self._espeak.speak(self.voice, spoken, self.rate_wpm), self._espeak.rate


class PiperEngine(SpeechEngine):
    kind = "piper"

    def __init__(self, language: str, model: Path, speaker: int | None = None) -> None:
        super().__init__(language)
        self.model = Path(model)
        self.speaker = speaker
        if not self.model.is_file():
            raise SpeechUnavailable(f"Piper voice {self.model} not found")
        try:
            from piper import PiperVoice, SynthesisConfig
        except ImportError as exc:
            raise SpeechUnavailable(f"piper-tts is not installed: {exc}") from None
        try:
            self._voice = PiperVoice.load(self.model)
        except Exception as exc:  # noqa: BLE001 - any load failure means "not usable"
            raise SpeechUnavailable(f"Piper voice {self.model.name} cannot be loaded: {exc}") from None
        if self.speaker is not None and not 0 <= self.speaker < self._voice.config.num_speakers:
            raise SpeechUnavailable(
                f"Piper voice {self.model.name} has no speaker {self.speaker} "
                f"({self._voice.config.num_speakers} speakers)"
            )
        # Loudness is matched by the renderer across languages, so Piper must not
        # rescale each sentence to full range on its own.
        self._config = SynthesisConfig(speaker_id=self.speaker, normalize_audio=False)
        self._lock = threading.Lock()

        self._digest = _content_digest(self.model, Path(f"{self.model}.json"))

    @property
    def id(self) -> str:
        # The voice's content, not its date: a voice copied to another machine (or
        # touched) keeps every rendered announcement.
        return f"piper:{self.model.name}:{self._digest}:{self.speaker}"

    def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        spoken = normalize(text, self.language, keep_stress=True)
        with self._lock:
            chunks = [c.audio_int16_array for c in self._voice.synthesize(spoken, self._config)]
        rate = self._voice.config.sample_rate
        if not chunks:
            return np.zeros(0, dtype=np.int16), rate
        return np.concatenate(chunks).astype(np.int16), rate


def _content_digest(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        if path.is_file():
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
    return digest.hexdigest()[:16]


@dataclass
class VoiceChoice:
    language: str
    engine: SpeechEngine | None
    notes: list[str]

    @property
    def description(self) -> str:
        return self.engine.id if self.engine else "tones only"


def choose_voice(language: str, spec: str, voices_dir: Path) -> VoiceChoice:
    """Resolve a config voice spec: auto | espeak[:voice] | piper:PATH[#speaker] | tones."""
    notes: list[str] = []
    spec = spec.strip()
    if spec == "tones":
        return VoiceChoice(language, None, ["configured for tones only"])
    candidates: list[tuple[str, str]] = []
    if spec == "auto":
        for name in RECOMMENDED_PIPER.get(language, []):
            candidates.append(("piper", str(voices_dir / f"{name}.onnx")))
        candidates.append(("espeak", language))
    elif spec.startswith("piper:"):
        candidates = [("piper", spec[len("piper:"):]), ("espeak", language)]
    elif spec.startswith("espeak"):
        candidates = [("espeak", spec.partition(":")[2] or language)]
    else:
        notes.append(f"unknown voice setting {spec!r}; using auto")
        return choose_voice(language, "auto", voices_dir)
    for kind, arg in candidates:
        try:
            if kind == "piper":
                path, _, speaker = arg.partition("#")
                model = Path(path)
                if not model.is_absolute():
                    model = voices_dir / model
                if spec == "auto" and not model.exists():
                    continue
                return VoiceChoice(
                    language, PiperEngine(language, model, int(speaker) if speaker else None), notes
                )
            engine = EspeakEngine(language, arg)
            if spec == "auto":
                notes.append(
                    f"no Piper voice for {language} in {voices_dir}; using espeak-ng "
                    f"(install: python -m piper.download_voices "
                    f"{RECOMMENDED_PIPER[language][0]} --data-dir {voices_dir})"
                )
            return VoiceChoice(language, engine, notes)
        except (SpeechUnavailable, ValueError) as exc:
            notes.append(str(exc))
    notes.append(f"no speech engine for {language}: announcements will be tones only")
    return VoiceChoice(language, None, notes)
