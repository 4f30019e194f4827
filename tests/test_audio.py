"""Text normalisation, real espeak-ng speech, rendering and the WAV sink."""

from __future__ import annotations

import csv
import threading
import wave

import numpy as np
import pytest
from pydub import AudioSegment

from audio.playback import WavSink
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


def test_wav_sink_writes_what_was_played_and_stops_on_request(tmp_path):
    sink = WavSink(tmp_path, pace=0)
    started = threading.Event()
    samples = (np.sin(np.arange(22050) / 5) * 8000).astype(np.int16)
    assert sink.play(samples, 22050, "fire-public", threading.Event(), started.set)
    assert started.is_set()
    stop = threading.Event()
    stop.set()
    assert not sink.play(samples, 22050, "stopped", stop, lambda: None)
    rows = list(csv.DictReader((tmp_path / "index.csv").open()))
    assert [r["label"] for r in rows] == ["fire-public", "stopped"]
    assert rows[0]["completed"] == "True" and rows[1]["completed"] == "False"
    with wave.open(str(tmp_path / rows[0]["file"])) as wav:
        assert wav.getnframes() == 22050
