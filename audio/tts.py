"""Speech engines behind one interface: Piper voices, espeak-ng, or tones only.

`choose_voice` picks, per language, the best engine that is really installed:
a Piper voice if its model file is present, otherwise espeak-ng through the
`espeakng-loader` wheel (always there, robotic but offline), otherwise nothing but
tones. The choice and the reason are reported, never raised.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio.text import STRESS, marked_stress, normalize, stress_index

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

    def phonemes(self, text: str) -> str:
        """The phonemes (IPA) the engine speaks for a text, as its own phonemiser gives them."""
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
        lib.espeak_TextToPhonemes.argtypes = [
            ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int,
        ]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        lib.espeak_SetPhonemeTrace.argtypes = [ctypes.c_int, ctypes.c_void_p]
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

    def speak(
        self, voice: str, text: str, rate_wpm: int, trace: bool = False
    ) -> tuple[np.ndarray, str]:
        """Samples, and (with `trace`) the IPA phonemes espeak-ng spoke, clause by clause."""
        with self.lock:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise SpeechUnavailable(f"espeak-ng has no voice {voice!r}")
            espeak_rate = 1
            self.lib.espeak_SetParameter(espeak_rate, rate_wpm, 0)
            self._chunks = []
            data = text.encode()
            chars_utf8, phoneme_input, end_pause = 1, 0x100, 0x1000
            flags = chars_utf8 | end_pause | (phoneme_input if "[[" in text else 0)
            stream = _MemoryStream() if trace else None
            if stream is not None:
                ipa = 2
                self.lib.espeak_SetPhonemeTrace(ipa, stream.file)
            try:
                rc = self.lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, flags, None, None)
            finally:
                phonemes = ""
                if stream is not None:
                    self.lib.espeak_SetPhonemeTrace(0, None)
                    phonemes = stream.close()
            if rc != 0:
                raise SpeechUnavailable(f"espeak-ng synthesis failed (code {rc})")
            chunks, self._chunks = self._chunks, []
        samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        return samples, phonemes

    def mnemonics(self, voice: str, word: str) -> str:
        """espeak-ng's own phoneme names for a word, as its phoneme input takes them."""
        with self.lock:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise SpeechUnavailable(f"espeak-ng has no voice {voice!r}")
            buffer = ctypes.create_string_buffer(word.encode())
            pointer = ctypes.c_void_p(ctypes.addressof(buffer))
            parts = []
            chars_utf8, names = 1, 0
            while pointer.value:
                out = self.lib.espeak_TextToPhonemes(ctypes.byref(pointer), chars_utf8, names)
                parts.append((out or b"").decode())
            return " ".join(parts).strip()


class _MemoryStream:
    """A C `FILE *` writing into memory, for espeak-ng's phoneme trace."""

    _libc = None

    def __init__(self) -> None:
        if _MemoryStream._libc is None:
            libc = ctypes.CDLL(ctypes.util.find_library("c"))
            libc.open_memstream.restype = ctypes.c_void_p
            libc.open_memstream.argtypes = [ctypes.POINTER(ctypes.c_char_p),
                                            ctypes.POINTER(ctypes.c_size_t)]
            libc.fclose.argtypes = [ctypes.c_void_p]
            libc.free.argtypes = [ctypes.c_void_p]
            _MemoryStream._libc = libc
        self._buffer = ctypes.c_char_p()
        self._size = ctypes.c_size_t()
        self.file = self._libc.open_memstream(ctypes.byref(self._buffer), ctypes.byref(self._size))
        if not self.file:
            raise SpeechUnavailable("cannot open a memory stream for the phoneme trace")

    def close(self) -> str:
        self._libc.fclose(self.file)
        text = ctypes.string_at(self._buffer, self._size.value).decode(errors="replace")
        self._libc.free(ctypes.cast(self._buffer, ctypes.c_void_p))
        return text


# espeak-ng ignores the U+0301 stress mark. A marked Russian word is handed to it in
# its phoneme input ([[...]]): its own transcription of the word with the stress moved
# to the marked vowel, the new stressed vowel given its full quality and the old one
# reduced. `EspeakEngine.stress_problems` checks from the phoneme trace that it worked.
_RU_VOWELS = "аеёиоуыэюя"
_RU_STRESSED = {"а": "A", "я": "A", "о": "o", "ё": "o", "е": "e", "э": "E", "и": "i",
                "ы": "y", "у": "u", "ю": "u"}
_MNEMONIC_TOKEN = re.compile(r"@-|[aAV@o8eEiIyuU](?:#)?|.", re.DOTALL)
_MARKED_WORD = re.compile(rf"[^\W\d_]*{STRESS}[^\W\d_{STRESS}]*")


def respell_stressed(word: str, mnemonic: str) -> str | None:
    """espeak-ng phoneme input for a Russian word carrying a U+0301 mark, or None."""
    target = marked_stress(word)
    plain = word.replace(STRESS, "").lower()
    letters = [c for c in plain if c in _RU_VOWELS]
    if target is None or " " in mnemonic:
        return None
    tokens = _MNEMONIC_TOKEN.findall(mnemonic)
    vowels: list[int] = []
    old: int | None = None
    stress_seen = False
    for i, token in enumerate(tokens):
        if token in ("'", ","):
            stress_seen = stress_seen or token == "'"
            continue
        if token != "@-" and token[0] in "aAV@o8eEiIyuU":
            if stress_seen and old is None:
                old = len(vowels)
            vowels.append(i)
    if len(vowels) != len(letters):
        return None
    out = list(tokens)
    if old is not None and old != target:
        letter = letters[old]
        if letter in "оа":
            out[vowels[old]] = "V" if old == target - 1 else "@"
        elif letter in "еяэ":
            out[vowels[old]] = "I"
    out[vowels[target]] = "'" + _RU_STRESSED[letters[target]]
    return "[[" + "".join(t for t in out if t not in ("'", ",")) + "]]"


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

    def spoken(self, text: str) -> str:
        """What espeak-ng is given: normalised, stress marks turned into phoneme input."""
        spoken = normalize(text, self.language, keep_stress=True)
        if self.language == "ru" and STRESS in spoken:
            def respell(match: re.Match[str]) -> str:
                word = match.group(0)
                mnemonic = self._espeak.mnemonics(self.voice, word.replace(STRESS, ""))
                return respell_stressed(word, mnemonic) or word
            spoken = _MARKED_WORD.sub(respell, spoken)
        return spoken.replace(STRESS, "")

    def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        samples, _ = self._espeak.speak(self.voice, self.spoken(text), self.rate_wpm)
        return samples, self._espeak.rate

    def phonemes(self, text: str) -> str:
        # Traced while really synthesising, with the same input and flags as an alarm.
        return self._espeak.speak(self.voice, self.spoken(text), self.rate_wpm, trace=True)[1]

    def stress_problems(self, text: str) -> list[str]:
        """Marked words espeak-ng would still stress elsewhere than the mark says."""
        problems = []
        for match in _MARKED_WORD.finditer(normalize(text, self.language, keep_stress=True)):
            word = match.group(0)
            heard = stress_index(self.phonemes(word).strip())
            if heard != marked_stress(word):
                problems.append(
                    f"espeak-ng stresses {word.replace(STRESS, '')!r} on vowel "
                    f"{'none' if heard is None else heard + 1}, not where the mark is; "
                    "rephrase the sentence")
        return problems


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

    def phonemes(self, text: str) -> str:
        # Piper's own phonemiser (its bundled espeak-ng honours U+0301 stress marks).
        spoken = normalize(text, self.language, keep_stress=True)
        with self._lock:
            sentences = self._voice.phonemize(spoken)
        return "\n".join("".join(s) for s in sentences)

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
