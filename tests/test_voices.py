"""Piper voices (a tiny voice the tests build), voice choice, tones, cache misses."""

from __future__ import annotations

import numpy as np
import pytest

from audio.render import Renderer, Request
from audio.tones import signal
from audio.tts import PiperEngine, SpeechUnavailable, choose_voice
from tests.tiny_voice import build


@pytest.fixture(scope="module")
def voices(tmp_path_factory):
    d = tmp_path_factory.mktemp("voices")
    return {
        "kk": build(d / "kk_KZ-issai-high.onnx", "kk"),
        "ru": build(d / "ru_RU-irina-medium.onnx", "ru", speakers=3),
        "dir": d,
    }


def test_piper_single_speaker_voice_speaks(voices):
    engine = PiperEngine("kk", voices["kk"])
    samples, rate = engine.synthesize("Назар аударыңыздар! Ғимараттан шығыңыздар.")
    assert rate == 16000 and samples.dtype == np.int16
    assert len(samples) > 20 * 256, "one block of samples per phoneme id"
    assert np.abs(samples.astype(np.int32)).max() > 1000
    other, _ = engine.synthesize("Сабыр сақтаңыздар.")
    assert len(other) != len(samples), "the audio follows the text"


def test_piper_multi_speaker_voice_uses_the_speaker_id(voices):
    first = PiperEngine("ru", voices["ru"], speaker=0).synthesize("Внимание")[0]
    third = PiperEngine("ru", voices["ru"], speaker=2).synthesize("Внимание")[0]
    assert len(first) == len(third) and not np.array_equal(first, third)
    with pytest.raises(SpeechUnavailable, match="no speaker 5"):
        PiperEngine("ru", voices["ru"], speaker=5)
    engine = PiperEngine("ru", voices["ru"], speaker=2)
    assert engine.id.endswith(":2")


def test_piper_keeps_loudness_to_the_renderer(voices):
    engine = PiperEngine("kk", voices["kk"])
    assert engine._config.normalize_audio is False


def test_auto_prefers_an_installed_piper_voice_then_espeak(voices, tmp_path):
    chosen = choose_voice("kk", "auto", voices["dir"])
    assert chosen.engine.kind == "piper"
    fallback = choose_voice("kk", "auto", tmp_path)
    assert fallback.engine.kind == "espeak-ng"
    assert any("download_voices kk_KZ-issai-high" in note for note in fallback.notes)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    (tmp_path / "broken.onnx.json").write_text("{}")
    choice = choose_voice("ru", f"piper:{broken}", tmp_path)
    assert choice.engine.kind == "espeak-ng"
    assert any("cannot be loaded" in note for note in choice.notes)
    assert choose_voice("ru", "tones", tmp_path).engine is None


def test_piper_and_espeak_render_at_matched_loudness(voices, tmp_path):
    chosen = {"kk": choose_voice("kk", f"piper:{voices['kk']}", tmp_path),
              "ru": choose_voice("ru", "espeak", tmp_path)}
    renderer = Renderer(tmp_path, 22050, -3.0, 0.5, chosen)
    levels = []
    for lang, text in (("kk", "Ғимараттан шығыңыздар."), ("ru", "Покиньте здание.")):
        ann = renderer.render(Request(((lang, text),), "none", lang))
        s = ann.samples().astype(np.float64)
        levels.append(20 * np.log10(np.sqrt(np.mean(s ** 2)) / 32768))
        assert ann.voices[lang].startswith("piper" if lang == "kk" else "espeak")
    assert abs(levels[0] - levels[1]) < 1.0, levels


def test_evacuation_tone_is_temporal_three():
    rate = 8000
    wave = signal("evacuation", rate)
    frames = np.abs(wave).reshape(-1, rate // 10).max(axis=1) > 0.1  # 100 ms frames
    pattern = "".join("#" if f else "." for f in frames)
    # Three 0.5 s pulses, 0.5 s apart, then 1.5 s of silence (ISO 8201).
    assert pattern == "#####.....#####.....#####" + "." * 15, pattern


async def test_cache_miss_plays_the_tone_first_then_speech(running, tmp_path):
    controller, events = running
    request = Request((("kk", "Бұл сынақ хабарламасы."), ("ru", "Это проверочное сообщение.")),
                      "chime", "unrendered")
    assert controller.announcer.renderer.cached(request) is None
    from controller.announcer import Playback

    played = await controller.announcer.play(request, "act-x", ["hall"], "main", Playback())
    assert played.completed and played.first_frame is not None
    miss = await events.wait("cache_miss", activation="act-x")
    assert miss["label"] == "unrendered"
    index = (controller.config.path(controller.config.audio.wav_dir) / "index.csv").read_text()
    labels = [line.split(",")[3] for line in index.splitlines()[1:]]
    assert labels[-2:] == ["unrendered-tone", "unrendered"], "the tone goes out before speech"
    assert controller.announcer.renderer.cached(Request(request.texts, "none", "x")) is not None


async def test_zones_on_their_own_channels_of_a_multichannel_card(tmp_path, audio_cache):
    import csv
    import wave

    from tests.conftest import make_site, start_controller

    def two_channels(cfg):
        cfg["audio"]["channels"] = 2
        cfg["zones"]["office"]["audio_channel"] = 1

    controller, events = await start_controller(
        make_site(tmp_path, audio_cache, change=two_channels, pauses=0.05))
    try:
        act = await controller.engine.trigger("fire", source="operator", origin="t", drill=True)
        await events.wait("cleared", activation=act.id, timeout=30)
    finally:
        await controller.stop()
    rows = {r["label"]: r for r in csv.DictReader((tmp_path / "wav" / "index.csv").open())}
    assert rows["fire-public"]["channels"] == "0" and rows["fire-staff"]["channels"] == "1"
    assert rows["drill_preamble"]["channels"] == "0 1"
    with wave.open(str(tmp_path / "wav" / rows["fire-staff"]["file"])) as w:
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).reshape(-1, 2)
    assert not frames[:, 0].any() and frames[:, 1].any(), "staff speech only on the office channel"


def test_the_cache_key_follows_the_voice_content_not_its_date(voices, tmp_path):
    import os
    import shutil

    copy = tmp_path / voices["kk"].name
    shutil.copy(voices["kk"], copy)
    shutil.copy(f"{voices['kk']}.json", f"{copy}.json")
    os.utime(copy, (1_000_000, 1_000_000))  # carried on a stick: another date
    assert PiperEngine("kk", copy).id == PiperEngine("kk", voices["kk"]).id
    settings = f"{copy}.json"
    with open(settings) as fh:
        text = fh.read()
    with open(settings, "w") as fh:
        fh.write(text.replace('"length_scale": 1.0', '"length_scale": 1.1'))  # speaks slower
    assert PiperEngine("kk", copy).id != PiperEngine("kk", voices["kk"]).id
