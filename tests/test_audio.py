"""Text normalisation, real espeak-ng speech, rendering and the WAV sink."""

from __future__ import annotations

import wave

import numpy as np
import pytest
from pydub import AudioSegment

from audio.render import Renderer, Request
from audio.text import normalize
from audio.tts import EspeakEngine, choose_voice


@pytest.mark.parametrize(
    "lang, text, expected",
    [
        ("ru", "Безопасное расстояние — 100 метров.", "Безопасное расстояние, сто метров."),
        ("ru", "Звоните 102 или 112.", "Звоните сто два или сто двенадцать."),
        ("ru", "1240 метров", "тысяча двести сорок метров"),
        ("kk", "Қауіпсіз қашықтық — 45 метр.", "Қауіпсіз қашықтық, қырық бес метр."),
        ("kk", "101 нөміріне", "жүз бір нөміріне"),
        ("kk", "1240 метр", "мың екі жүз қырық метр"),
        ("ru", "«102»", "сто два"),
        ("ru", "дом № 5", "дом номер пять"),
        ("ru", "за́мок", "замок"),
    ],
)
def test_normalize(lang, text, expected):
    assert normalize(text, lang) == expected


def test_stress_mark_kept_when_engine_honours_it():
    assert normalize("за́мок", "ru", keep_stress=True) == "за́мок"


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_espeak_speaks_kazakh_and_russian(lang):
    engine = EspeakEngine(lang)
    samples, rate = engine.synthesize("Назар аударыңыздар" if lang == "kk" else "Внимание")
    assert rate > 8000
    assert len(samples) > rate * 0.3
    assert np.abs(samples.astype(np.int32)).max() > 1000


def test_missing_voice_falls_back_with_a_note(tmp_path):
    choice = choose_voice("kk", "piper:/nonexistent/kk.onnx", tmp_path)
    assert choice.engine is not None and choice.engine.kind == "espeak-ng"
    assert any("not found" in note for note in choice.notes)


def test_render_is_content_addressed_and_languages_match_in_loudness(tmp_path):
    voices = {lang: choose_voice(lang, "espeak", tmp_path) for lang in ("kk", "ru")}
    renderer = Renderer(tmp_path / "cache", 22050, -3.0, 0.8, voices)
    request = Request((("kk", "Ғимараттан сабырмен шығыңыздар."), ("ru", "Спокойно покиньте здание.")),
                      "chime", "test")
    assert renderer.cached(request) is None
    first = renderer.render(request)
    assert renderer.cached(request) == first
    other = Request(request.texts, "evacuation", "test")
    assert renderer.key(other) != renderer.key(request)
    # Render each language alone: both land on the same RMS level.
    levels = []
    for lang, text in request.texts:
        ann = renderer.render(Request(((lang, text),), "none", lang))
        seg = AudioSegment(ann.samples().tobytes(), sample_width=2, frame_rate=22050, channels=1)
        levels.append(seg.dBFS)
    assert abs(levels[0] - levels[1]) < 1.0, levels
    with wave.open(str(first.path)) as wav:
        assert wav.getframerate() == 22050 and wav.getnchannels() == 1
