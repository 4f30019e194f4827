"""What a crowd hears: how long, how soon, with which stress, and what is never said.

Durations come from real espeak-ng renderings in the session's shared audio cache (the
fallback voice at its configured rate); phonemes come from each engine's own
phonemiser: espeak-ng's trace while it really synthesises, and Piper's espeak-based
phonemiser through a Piper voice.
"""

from __future__ import annotations

import csv
import re
import shutil
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from num2words import num2words

from audio.text import (
    imperatives,
    marked_stress,
    normalize,
    speech_problems,
    stress_index,
    words,
)
from audio.tts import EspeakEngine, PiperEngine
from controller.config import load_config
from controller.errors import ConfigurationError
from controller.scenarios import load_library
from controller.timing import markdown, measure, offline_announcer
from tests.conftest import ROOT, make_site, start_controller
from tests.test_cli import dabyl
from tests.tiny_voice import build

CONFIG = load_config(ROOT / "config.toml")
LIBRARY = load_library(CONFIG.scenarios_dir, CONFIG)


# -- length and timing, from the rendered cache -------------------------------------------

@pytest.fixture(scope="session")
def announcer(tmp_path_factory, audio_cache):
    site = make_site(tmp_path_factory.mktemp("timing-site"), audio_cache)
    config = load_config(site)
    announcer = offline_announcer(config, load_library(config.scenarios_dir, config))
    announcer.prerender()
    return announcer


@pytest.fixture(scope="session")
def timings(announcer):
    return measure(announcer)


def test_the_fallback_voice_is_measured(announcer):
    assert {v.description for v in announcer.voices.values()} == {
        "espeak-ng:kk:150", "espeak-ng:ru:150"}


def test_every_public_cycle_is_at_most_35_seconds(timings):
    public = [t for t in timings if t.audience == "public"]
    assert {t.label.split()[0] for t in public} == {
        "suspicious_object", "armed_attack", "shooting", "explosion", "terrorist_attack",
        "fire", "collapse"}
    too_long = [(t.label, t.choices, round(t.cycle, 1)) for t in public if t.cycle > 35.0]
    assert not too_long


def test_the_first_instruction_ends_within_8_seconds_of_each_language(timings):
    late = [(t.label, lang, first) for t in timings if t.audience in ("public", "staff")
            for lang, first in t.first.items() if first is None or first > 8.0]
    assert not late


def test_staff_messages_take_at_most_20_seconds_per_language(timings):
    staff = [t for t in timings if t.audience == "staff"]
    assert staff
    too_long = [(t.label, t.choices, lang, round(s, 1)) for t in staff
                for lang, s in t.speech.items() if s > 20.0]
    assert not too_long


def test_drill_texts_are_short_and_pre_rendered(announcer, timings):
    shared = {t.label: t for t in timings if t.audience == "shared"}
    assert max(shared["drill_marker"].speech.values()) <= 3.0
    assert max(shared["drill_preamble"].speech.values()) <= 8.0
    assert max(shared["drill_closing"].speech.values()) <= 5.0
    marker = announcer.shared_request("drill_marker")
    assert announcer.renderer.cached(marker) is not None


def test_render_report_is_the_table_in_the_readme(tmp_path, audio_cache, timings):
    config = make_site(tmp_path, audio_cache)
    result = dabyl(config, "render", "--report", timeout=120)
    assert result.returncode == 0, result.stderr
    table = result.stdout
    cycles = re.findall(r"\| \*\*([\d.]+)\*\* \|$", table, re.M)
    assert len(cycles) == len([t for t in timings if t.audience == "public"])
    assert all(float(c) <= 35.0 for c in cycles)
    assert _close(_rows(markdown(timings, {"kk": "espeak-ng:kk:150",
                                           "ru": "espeak-ng:ru:150"})), _rows(table))
    # espeak-ng's output shifts by a few milliseconds with what it said before, so the
    # README's table (the demo, rendered once) matches to a tenth of a second or two.
    readme = (ROOT / "README.md").read_text()
    shown = readme[readme.index("<!-- dabyl render --report -->"):
                   readme.index("<!-- end of report -->")]
    assert _close(_rows(shown), _rows(table)), \
        "regenerate the README table with `dabyl render --report`"


def _close(a: dict[str, list[float]], b: dict[str, list[float]]) -> bool:
    return a.keys() == b.keys() and all(
        len(a[k]) == len(b[k]) and all(abs(x - y) <= 0.25 for x, y in zip(a[k], b[k], strict=True))
        for k in a)


def _rows(table: str) -> dict[str, list[float]]:
    rows = {}
    for line in table.splitlines():
        cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
        if line.startswith("| ") and cells[0] != "announcement" and len(cells) > 2:
            rows[cells[0]] = [float(c) if c != "–" else 0.0 for c in cells[2:]]
    return rows


# -- hostage: nothing spoken ------------------------------------------------------------

HOSTAGE_WORDS = ("кепіл", "басып алушы", "залож", "захват")


def test_no_spoken_text_mentions_hostages():
    spoken = [(source, text) for source, _, text in LIBRARY.spoken_texts()]
    assert spoken
    assert not [(s, t) for s, t in spoken if any(w in t.lower() for w in HOSTAGE_WORDS)]
    assert LIBRARY.get("hostage").silent


async def test_hostage_says_nothing_anywhere_by_default(tmp_path, audio_cache):
    controller, events = await start_controller(make_site(tmp_path, audio_cache))
    try:
        hostage = await controller.engine.trigger("hostage", source="operator", origin="t")
        # A lower-priority alarm in the hall: had the hostage activation anything to say,
        # it would speak first.
        fire = await controller.engine.trigger("suspicious_object", source="operator",
                                               origin="t", zones=["hall"])
        first = await events.wait("announcement_started")
        assert first["activation"] == fire.id, first
        status = controller.engine.status()
        assert hostage.id in [a["id"] for a in status["activations"]]
        await events.wait("announcement_ended", activation=fire.id)
        controller.engine.clear(None, "t")
        await events.wait("cleared", activation=hostage.id)
    finally:
        await controller.stop()
    started = [e for e in events.drain() if e["kind"] == "announcement_started"]
    assert not [e for e in started if e["activation"] == hostage.id]
    index = list(csv.DictReader((tmp_path / "wav" / "index.csv").open()))
    assert not [row for row in index if row["label"].startswith("hostage")]


def _with_code_phrase(kk: str, ru: str, scenario: str = "hostage"):
    def change(cfg):
        cfg["code_phrases"] = {scenario: {"kk": kk, "ru": ru}}
    return change


async def test_a_site_code_phrase_is_spoken_once_in_staff_zones_only(tmp_path, audio_cache):
    site = make_site(tmp_path, audio_cache, change=_with_code_phrase(
        "Кезекші әкімші үшінші кабинетке келсін.", "Дежурного администратора просят в третий кабинет."))
    controller, events = await start_controller(site)
    try:
        act = await controller.engine.trigger("hostage", source="operator", origin="t")
        started = await events.wait("announcement_started", activation=act.id)
        assert started["zones"] == ["office"] and started["label"] == "hostage-staff"
        await events.wait("announcement_ended", activation=act.id)
    finally:
        await controller.stop()
    spoken = [e for e in events.drain() if e["kind"] == "announcement_started"
              and e["activation"] == act.id]
    assert len(spoken) == 1, "once"


@pytest.mark.parametrize("change, reason", [
    (_with_code_phrase("Кепілге алынды.", "Захват заложников."), "must not name the threat"),
    (_with_code_phrase("Әкімші келсін.", "Администратора просят.", "fire"), "is not covert"),
    (_with_code_phrase("Әкімші келсін.", "Администратора просят.", "flood"), "unknown scenario"),
])
def test_a_code_phrase_is_checked(tmp_path, audio_cache, change, reason):
    config = load_config(make_site(tmp_path, audio_cache, change=change))
    with pytest.raises(ConfigurationError, match=f"code_phrases.*{reason}"):
        load_library(config.scenarios_dir, config)


# -- stress: read from each engine's phonemes ----------------------------------------------

# How every Russian imperative in the texts is stressed (U+0301 after the stressed vowel).
IMPERATIVE_STRESS = {w.replace("\u0301", ""): w for w in (
    "возвраща́йтесь", "встава́йте", "вы́ведите", "вы́йдите", "вы́ключите", "выпуска́йте",
    "допуска́йте", "жди́те", "заблоки́руйте", "заведи́те", "зажига́йте", "закро́йте",
    "запри́те", "иди́те", "лежи́те", "ля́гте", "назови́те", "называ́йте", "остава́йтесь",
    "остерега́йтесь", "отойди́те", "позвони́те", "поки́ньте", "ползи́те", "по́льзуйтесь",
    "приближа́йтесь", "пригни́тесь", "проведи́те", "пу́сть", "слу́шайте", "собери́те",
    "собери́тесь", "соблюда́йте", "сообщи́те", "спуска́йтесь", "толка́йтесь", "тро́гайте",
    "уведи́те", "укро́йте", "укро́йтесь",
)}


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    voice = build(tmp_path_factory.mktemp("piper") / "ru_RU-irina-medium.onnx", "ru")
    return {"espeak-ng": EspeakEngine("ru"), "piper": PiperEngine("ru", voice)}


def _heard(engine, text: str) -> list[tuple[str, str]]:
    """Each word of a text beside the phonemes the engine speaks for it."""
    said = [w for w in re.split(r"\s+", re.sub(r"[.,!?;:^–—-]", " ", engine.phonemes(text))) if w]
    written = [part for w in words(normalize(text, "ru")) for part in w.split("-")]
    assert len(said) == len(written), (written, said)
    return list(zip(written, said, strict=True))


@pytest.mark.parametrize("engine", ["espeak-ng", "piper"])
def test_every_russian_imperative_is_stressed_as_an_imperative(engines, engine):
    checked, wrong = 0, []
    for source, lang, text in LIBRARY.spoken_texts():
        if lang != "ru":
            continue
        for word, phonemes in _heard(engines[engine], text):
            if not imperatives(word, "ru"):
                continue
            expected = IMPERATIVE_STRESS.get(word)
            if expected is None:
                wrong.append(f"{source}: {word!r} is not in IMPERATIVE_STRESS; add its stress")
                continue
            if sum(c in "аеёиоуыэюя" for c in word) < 2:
                continue
            checked += 1
            if stress_index(phonemes) != marked_stress(expected):
                wrong.append(f"{source}: {engine} says {word!r} as {phonemes}, not {expected}")
    assert checked > 50
    assert not wrong


# Words whose imperative and indicative differ only in stress: only a mark tells them apart.
MARKED = ["за́мок", "замо́к", "выходи́те", "вы́ходите", "выводи́те", "подходи́те", "входи́те"]


@pytest.mark.parametrize("engine", ["espeak-ng", "piper"])
@pytest.mark.parametrize("word", MARKED)
def test_a_stress_mark_is_spoken_where_it_is(engines, engine, word):
    text = f"Пожалуйста, {word} сейчас."
    heard = dict(_heard(engines[engine], text))
    assert stress_index(heard[word.replace("\u0301", "")]) == marked_stress(word), heard


def test_check_finds_no_stress_mark_espeak_would_ignore(engines):
    assert engines["espeak-ng"].stress_problems("Не подходи́те к нему. Это за́мок.") == []


# -- the normaliser ----------------------------------------------------------------------

@pytest.mark.parametrize("lang, text, expected", [
    ("ru", "1 м", "один метр"),
    ("ru", "2 м", "два метра"),
    ("ru", "21 км", "двадцать один километр"),
    ("ru", "5 л", "пять литров"),
    ("ru", "11 м", "одиннадцать метров"),
    ("ru", "2023 г", "две тысячи двадцать три грамма"),
    ("ru", "0,33 л", "ноль целых тридцать три сотых литра"),
    ("ru", "1,5 кг", "одна целая пять десятых килограмма"),
    ("ru", "в 2023 г.", "в две тысячи двадцать три г."),
    ("ru", "Тираж 100\u00a0000.", "Тираж сто тысяч."),
    ("ru", "Звоните 101 112.", "Звоните сто один сто двенадцать."),
    ("ru", "№5", "номер пять"),
    ("ru", "в 10:30", "в десять тридцать"),
    ("ru", "в 9:05", "в девять ноль пять"),
    ("kk", "0,33 л", "нөл бүтін жүзден отыз үш литр"),
    ("kk", "2,5 км", "екі бүтін оннан бес километр"),
    ("kk", "5 м", "бес метр"),
    ("kk", "№5", "нөмір бес"),
    ("kk", "10:30", "он отыз"),
])
def test_normalize_numbers_and_units(lang, text, expected):
    assert normalize(text, lang) == expected


def _num2words(value: int | Decimal, lang: str) -> str:
    words = num2words(value, lang={"kk": "kz", "ru": "ru"}[lang])
    # dabyl drops the "one" before thousands, as people say it.
    return re.sub(r"^(одна тысяча|бір мың)", lambda m: m.group(0).split()[1], words)


def _russian_form(n: int) -> str:
    # Written out from the CLDR rule for Russian cardinals, independently of Babel.
    if n % 10 == 1 and n % 100 != 11:
        return "метр"
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return "метра"
    return "метров"


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=100000))
def test_integers_are_read_as_num2words_reads_them(n):
    for lang in ("kk", "ru"):
        words = _num2words(n, lang)
        assert normalize(str(n), lang) == words
        assert normalize(f"{n:,}".replace(",", "\u00a0"), lang) == words
        assert normalize(f"Осы {n}.", lang) == f"Осы {words}."
    assert normalize(f"{n} м", "ru") == f"{_num2words(n, 'ru')} {_russian_form(n)}"
    assert normalize(f"{n} м", "kk") == f"{_num2words(n, 'kk')} метр"


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=100000), st.integers(min_value=1, max_value=3),
       st.data())
def test_decimals_in_both_languages(whole, places, data):
    fraction = data.draw(st.integers(min_value=0, max_value=10 ** places - 1))
    digits = f"{fraction:0{places}d}"
    assert normalize(f"{whole},{digits}", "ru") == _num2words(Decimal(f"{whole}.{digits}"), "ru")
    denominator = {1: "оннан", 2: "жүзден", 3: "мыңнан"}[places]
    assert normalize(f"{whole},{digits}", "kk") == (
        f"{_num2words(whole, 'kk')} бүтін {denominator} {_num2words(fraction, 'kk')}")
    # A decimal takes the genitive singular in Russian ("ноль целых пять десятых метра").
    assert normalize(f"{whole},{digits} м", "ru").endswith(" метра")


# -- what `dabyl check` rejects --------------------------------------------------------------

@pytest.mark.parametrize("lang, text, reason", [
    ("ru", "Пожар на ул. Абая.", "abbreviation 'ул.'"),
    ("ru", "Сообщите в МЧС.", "abbreviation 'МЧС'"),
    ("kk", "ҚР заңы бойынша шығыңыздар.", "abbreviation 'ҚР'"),
    ("kk", "2023 ж. жоспар бойынша.", "abbreviation 'ж.'"),
    ("ru", "Поднимитесь на 5-й этаж.", "number '5-й'"),
    ("ru", "Учения 03.05.2023.", "number '03.05.2023'"),
    ("ru", "Задымление 50%.", "symbol '%'"),
    ("ru", "Звоните по 101/112.", "symbol '/'"),
    ("ru", "Call 112.", "Latin letters"),
    ("ru", "Шығыңыздар.", "symbol 'ғ'"),
    ("ru", "Ст́оп.", "stress mark"),
])
def test_speech_problems(lang, text, reason):
    problems = speech_problems(text, lang)
    assert any(reason in p for p in problems), problems


def test_every_shipped_text_can_be_spoken():
    assert LIBRARY.speech_problems == []
    assert len(LIBRARY.spoken_texts()) > 40


def test_check_rejects_unspeakable_texts_naming_file_and_key(tmp_path, audio_cache):
    scenarios = tmp_path / "scenarios"
    shutil.copytree(ROOT / "scenarios", scenarios)
    fire = scenarios / "fire.toml"
    fire.write_text(fire.read_text().replace("Внимание! В здании пожар.",
                                             "Внимание! Пожар на ул. Абая, 5-й этаж, 50%."))
    shared = scenarios / "_shared.toml"
    shared.write_text(shared.read_text().replace("Дабыл тоқтатылды", "ҚР дабылы тоқтатылды"))

    def own_scenarios(cfg):
        cfg["scenarios"] = str(scenarios)

    result = dabyl(make_site(tmp_path, audio_cache, change=own_scenarios), "check")
    assert result.returncode == 1, result.stdout
    errors = [line for line in result.stdout.splitlines() if line.startswith("error:")]
    for expected in (f"{fire}: message.public.ru: abbreviation 'ул.'",
                     f"{fire}: message.public.ru: number '5-й'",
                     f"{fire}: message.public.ru: symbol '%'",
                     f"{shared}: all_clear.kk: abbreviation 'ҚР'"):
        assert any(line.startswith(f"error: {expected}") for line in errors), errors
    assert len(errors) == 4, errors
    assert "Traceback" not in result.stdout + result.stderr


def test_marks_in_texts_reach_no_engine_as_a_stray_character():
    text = "Не подходи́те."
    assert "\u0301" in normalize(text, "ru", keep_stress=True)
    assert "\u0301" not in EspeakEngine("ru").spoken(text)
