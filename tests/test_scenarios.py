"""The ten Annex 4 scenarios: every field present in both languages, staff-only
scenarios never reach public zones, numbers agree grammatically."""

from __future__ import annotations

import pytest

from controller.config import load_config
from controller.scenarios import STANDARD_IDS, fill, load_library, zones_for
from tests.conftest import ROOT

CONFIG = load_config(ROOT / "config.toml")
LIBRARY = load_library(CONFIG.scenarios_dir, CONFIG)
KAZAKH_LETTERS = set("әғқңөұүһі")


@pytest.mark.parametrize("sid", STANDARD_IDS)
def test_scenario_has_every_field_in_both_languages(sid):
    s = LIBRARY.get(sid)
    assert s.annex.startswith("Annex 4")
    assert s.title.kk and s.title.ru
    assert s.calls and set(s.calls) <= {"101", "102", "112"}
    assert s.training_topics
    for role in ("leader", "staff"):
        items = getattr(s.checklist, role)
        assert len(items.kk) == len(items.ru) >= 1
        # Kazakh lines are Kazakh: they use letters Russian does not have.
        assert any(set(line) & KAZAKH_LETTERS for line in items.kk)
    for audience in ("public", "staff"):
        texts = s.message_for(audience)
        if texts is not None:
            assert set(texts.kk) & KAZAKH_LETTERS
            # Short sentences a frightened crowd can follow.
            for lang in ("kk", "ru"):
                for sentence in texts[lang].split("."):
                    assert len(sentence.split()) <= 16, sentence


def test_staff_only_scenarios_are_silent_to_the_public():
    staff_only = {s.id for s in LIBRARY.scenarios.values() if s.staff_only}
    assert staff_only == {"phone_threat", "written_threat", "hostage"}
    for sid in staff_only:
        s = LIBRARY.get(sid)
        assert s.message.public is None
        zones = zones_for(s, CONFIG, None)
        assert zones and all(CONFIG.zones[z].staff for z in zones)
        with pytest.raises(ValueError, match="never reaches public zone"):
            zones_for(s, CONFIG, ["hall", "office"])


def test_suspicious_object_public_message_does_not_mention_a_bomb():
    s = LIBRARY.get("suspicious_object")
    for lang, words in {"kk": ["жарылғыш", "бомба", "күдікті"], "ru": ["взрыв", "бомб", "подозр"]}.items():
        text = s.message.public[lang].lower()
        assert not any(w in text for w in words), text
    assert "подозрительный" in s.message.staff.ru


ITEM_10 = {"grenade": 50, "tnt_200g": 45, "explosive_device": 200, "beer_can": 60,
           "briefcase": 230, "suitcase": 350, "car": 600, "minibus": 920, "truck": 1240}


def test_distance_table_of_item_10_is_the_cordon():
    param = LIBRARY.get("suspicious_object").parameters[0]
    cordons = {c.id: c.values["cordon"] for c in param.choices}
    assert cordons == {"unknown": 100, **ITEM_10}
    assert param.default == "unknown"


@pytest.mark.parametrize("choice", ["unknown", *ITEM_10])
def test_visitors_hear_at_least_the_larger_of_100_m_and_the_table(choice):
    s = LIBRARY.get("suspicious_object")
    cordon = ITEM_10.get(choice, 100)
    visitors = max(100, cordon)
    params = s.resolve_parameters({"object": choice})
    assert s.parameter_values(params) == {"object": choice, "cordon": cordon,
                                          "distance": visitors}
    public = {lang: s.text("public", lang, params) for lang in ("kk", "ru")}
    assert f"кемінде {visitors} метр" in public["kk"]
    assert f"не меньше чем {visitors} метр" in public["ru"]
    # The public never hears the cordon when it is below the visitors' distance.
    if cordon < 100:
        assert f" {cordon} " not in public["kk"] + public["ru"]
    staff = {lang: s.text("staff", lang, params) for lang in ("kk", "ru")}
    assert f"кемінде {visitors} метр" in staff["kk"]
    assert f"қоршау — кемінде {cordon} метр" in staff["kk"]
    assert f"не меньше чем {visitors} метр" in staff["ru"]
    assert f"оцепление — не меньше чем {cordon} метр" in staff["ru"]


def test_the_console_gets_the_chosen_object_and_both_distances():
    s = LIBRARY.get("suspicious_object")
    (detail,) = s.describe_parameters(s.resolve_parameters({"object": "grenade"}))
    assert detail["choice"] == "grenade" and detail["choice_title"]["ru"] == "Граната"
    values = {v["name"]: (v["value"], v["title"]["ru"]) for v in detail["values"]}
    assert values == {"cordon": (50, "Зона оцепления, м"),
                      "distance": (100, "Посетители, не ближе, м")}


def test_no_choice_may_tell_visitors_less_than_100_m(tmp_path):
    import shutil

    from controller.errors import ConfigurationError

    shutil.copytree(ROOT / "scenarios", tmp_path / "scenarios")
    path = tmp_path / "scenarios" / "suspicious_object.toml"
    path.write_text(path.read_text().replace("values = { cordon = 50, distance = 100 }",
                                             "values = { cordon = 50, distance = 50 }"))
    with pytest.raises(ConfigurationError, match="grenade.*distance is 50, below the minimum 100"):
        load_library(tmp_path / "scenarios")


@pytest.mark.parametrize(
    "n, word", [(1, "метр"), (2, "метра"), (4, "метра"), (5, "метров"), (11, "метров"),
                (21, "метр"), (22, "метра"), (45, "метров"), (1240, "метров")]
)
def test_russian_numeral_agreement_uses_cldr_plural_rules(n, word):
    assert fill("{d} {d:метр|метра|метров}", "ru", {"d": n}) == f"{n} {word}"


def test_kazakh_noun_stays_singular_after_numbers():
    assert fill("{d} {d:метр}", "kk", {"d": 45}) == "45 метр"


def test_parameters_are_checked():
    s = LIBRARY.get("suspicious_object")
    assert s.resolve_parameters({}) == {"object": "unknown"}
    with pytest.raises(ValueError, match="no choice 'piano'"):
        s.resolve_parameters({"object": "piano"})
    with pytest.raises(ValueError, match="no parameter 'colour'"):
        s.resolve_parameters({"colour": "red"})


def test_shared_texts_say_it_is_a_drill():
    shared = LIBRARY.shared
    assert "оқу-жаттығу" in shared.drill_preamble.kk
    assert "учебная тревога" in shared.drill_preamble.ru
    assert "учебная тревога" in shared.drill_closing.ru.lower()
    assert "оқу-жаттығу" in shared.drill_marker.kk.lower()
    assert "учебная тревога" in shared.drill_marker.ru.lower()
    assert "drill_marker" in shared.spoken()
