"""Config and scenario validation: the demo is valid; every malformed file gets
one line per problem naming file, key path and reason, and nothing half-loads."""

from __future__ import annotations

import copy
import shutil
import tomllib
from pathlib import Path

import pytest
import tomli_w

from controller.config import load_config
from controller.errors import ConfigurationError
from controller.scenarios import STANDARD_IDS, load_library
from tests.conftest import DEMO, ROOT


def test_demo_site_and_all_scenarios_are_valid():
    config = load_config(ROOT / "config.toml")
    library = load_library(config.scenarios_dir, config)
    assert sorted(library.scenarios) == sorted(STANDARD_IDS)
    assert library.warnings == []


def _write(tmp_path: Path, cfg: dict) -> Path:
    cfg["scenarios"] = str(ROOT / "scenarios")
    path = tmp_path / "config.toml"
    path.write_text(tomli_w.dumps(cfg))
    return path


def _mutate(fn):
    cfg = copy.deepcopy(DEMO)
    fn(cfg)
    return cfg


BAD_CONFIGS = {
    "missing site": (lambda c: c.pop("site"), "site: required key is missing"),
    "empty site name": (lambda c: c["site"].update(name=""), "site.name"),
    "unknown time zone": (lambda c: c["site"].update(timezone="Mars/Olympus"), "site.timezone"),
    "unknown language": (lambda c: c["site"].update(languages=["kk", "en"]), "site.languages[1]"),
    "unknown top-level key": (lambda c: c.update(sirens=3), "sirens: unknown key"),
    "port out of range": (lambda c: c["devices"][0].update(port=70000), "devices[0].port"),
    "port of wrong type": (lambda c: c["devices"][0].update(port=[1]), "devices[0].port"),
    "unit id too big": (lambda c: c["devices"][0].update(unit=300), "devices[0].unit"),
    "negative poll period": (lambda c: c["devices"][0].update(poll_period=-1), "devices[0].poll_period"),
    "bad transport": (lambda c: c["devices"][0].update(transport="usb"), "devices[0].transport"),
    "duplicate device id": (lambda c: c["devices"].append(dict(c["devices"][0], port=15999)),
                            "devices[1].id: duplicate device id"),
    "serial transport with a number": (lambda c: c["devices"][0].update(transport="serial"),
                                       "devices[0].port: serial transport needs a device path"),
    "output on unknown device": (lambda c: c["outputs"]["siren"].update(device="board9"),
                                 "outputs.siren.device: unknown device 'board9'"),
    "output channel beyond the board": (lambda c: c["outputs"]["siren"].update(channel=40),
                                        "outputs.siren.channel: channel 40 does not exist"),
    "two outputs on one channel": (lambda c: c["outputs"]["siren"].update(channel=5),
                                   "is already used by output 'strobe'"),
    "zone with unknown output": (lambda c: c["zones"]["hall"].update(outputs=["zone_moon"]),
                                 "zones.hall.outputs[0]: unknown output 'zone_moon'"),
    "zone without outputs": (lambda c: c["zones"]["hall"].update(outputs=[]), "zones.hall.outputs"),
    "no zones": (lambda c: c.update(zones={}), "zones: at least one zone is needed"),
    "input on unknown device": (lambda c: c["inputs"][0].update(device="nope"),
                                "inputs[0].device: unknown device 'nope'"),
    "input naming unknown scenario": (lambda c: c["inputs"][0].update(scenario="flood"),
                                      "inputs[0].scenario: unknown scenario 'flood'"),
    "two inputs on one channel": (lambda c: c["inputs"][1].update(channel=0),
                                  "inputs[1].channel: board1 input 0 is already used"),
    "bad contact type": (lambda c: c["inputs"][0].update(contact="sometimes"), "inputs[0].contact"),
    "input zone unknown": (lambda c: c["inputs"][0].update(zones=["roof"]),
                           "inputs[0].zones[0]: unknown zone 'roof'"),
    "drill suppresses unknown output": (lambda c: c["drill"].update(suppress_outputs=["bell"]),
                                        "drill.suppress_outputs[0]: unknown output 'bell'"),
    "schedule cron with four fields": (lambda c: c["schedule"][0].update(cron="0 11 15 3"),
                                       "schedule[0].cron"),
    "schedule drill without scenario": (lambda c: c["schedule"][0].pop("scenario"),
                                        "schedule[0].scenario: a drill needs a scenario"),
    "zone on a channel the card lacks": (lambda c: c["zones"]["office"].update(audio_channel=3),
                                         "zones.office.audio_channel: channel 3 does not exist"),
    "audio rate too low": (lambda c: c["audio"].update(sample_rate=100), "audio.sample_rate"),
    "level above zero": (lambda c: c["audio"].update(level_db=6), "audio.level_db"),
    "bad output name": (lambda c: c["outputs"].update({"Bad-Name": {"device": "board1", "channel": 9}}),
                        "outputs.Bad-Name"),
}


@pytest.mark.parametrize("name", sorted(BAD_CONFIGS))
def test_malformed_config_is_reported_with_file_key_and_reason(tmp_path, name):
    change, expected = BAD_CONFIGS[name]
    path = _write(tmp_path, _mutate(change))
    with pytest.raises(ConfigurationError) as err:
        config = load_config(path)
        load_library(config.scenarios_dir, config)
    lines = err.value.problems
    assert lines, "a problem must be reported"
    assert any(expected in line for line in lines), lines
    assert all(line.startswith(str(path)) or ".toml" in line for line in lines), lines
    assert all("\n" not in line for line in lines)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[site\nname = 'x'", "TOML syntax error"),
        ("site = 5", "site"),
        (b"\xff\xfe".decode("latin-1"), "TOML"),
    ],
)
def test_unreadable_config_is_one_clear_line(tmp_path, text, expected):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError) as err:
        load_config(path)
    assert any(expected in line for line in err.value.problems), err.value.problems


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigurationError, match="file not found"):
        load_config(tmp_path / "nope.toml")


# -- scenario files --------------------------------------------------------------

def _scenario_dir(tmp_path: Path) -> Path:
    target = tmp_path / "scenarios"
    shutil.copytree(ROOT / "scenarios", target)
    return target


def _edit(directory: Path, name: str, fn) -> Path:
    path = directory / f"{name}.toml"
    data = tomllib.loads(path.read_text())
    fn(data)
    path.write_text(tomli_w.dumps(data))
    return path


BAD_SCENARIOS = {
    "priority out of range": ("fire", lambda d: d.update(priority=999), "priority"),
    "unknown kind": ("fire", lambda d: d.update(kind="panic"), "kind"),
    "missing Kazakh title": ("fire", lambda d: d["title"].pop("kk"), "title.kk"),
    "empty Russian message": ("fire", lambda d: d["message"]["public"].update(ru=""), "message.public.ru"),
    "checklist lengths differ": ("fire", lambda d: d["checklist"]["staff"]["kk"].pop(),
                                 "checklist.staff"),
    "public message in staff-only scenario": (
        "hostage", lambda d: d["message"].update(public={"kk": "а", "ru": "б"}),
        "staff-only scenario must not have a public message"),
    "staff-only scenario on all zones": ("hostage", lambda d: d.update(zones="all"),
                                         "staff-only scenario's zones"),
    "placeholder without parameter": (
        "fire", lambda d: d["message"]["public"].update(ru="Отойдите на {distance} метров."),
        "no parameter provides it"),
    "default choice that does not exist": (
        "suspicious_object", lambda d: d["parameters"][0].update(default="piano"), "default"),
    "choice values differ": (
        "suspicious_object", lambda d: d["parameters"][0]["choices"][1].update(values={}),
        "must set the same values"),
    "bad call number": ("fire", lambda d: d.update(calls=["fire brigade"]), "calls[0]"),
    "training topic outside Annex 1": ("fire", lambda d: d.update(training_topics=[11]),
                                       "training_topics[0]"),
    "id does not match file": ("fire", lambda d: d.update(id="fires"), "does not match the file name"),
    "unknown key": ("fire", lambda d: d.update(volume=11), "volume: unknown key"),
    "unknown zone for this site": ("fire", lambda d: d.update(zones=["hall", "roof"]),
                                   "zones[1]: unknown zone 'roof'"),
}


@pytest.mark.parametrize("name", sorted(BAD_SCENARIOS))
def test_malformed_scenario_is_reported_and_nothing_half_loads(tmp_path, name):
    target, change, expected = BAD_SCENARIOS[name]
    directory = _scenario_dir(tmp_path)
    path = _edit(directory, target, change)
    config = load_config(ROOT / "config.toml")
    with pytest.raises(ConfigurationError) as err:
        load_library(directory, config)
    lines = err.value.problems
    assert any(str(path) in line and expected in line for line in lines), lines


def test_broken_toml_in_one_scenario_fails_the_whole_library(tmp_path):
    directory = _scenario_dir(tmp_path)
    (directory / "collapse.toml").write_text("id = 'collapse\n")
    with pytest.raises(ConfigurationError) as err:
        load_library(directory)
    assert any("collapse.toml: TOML syntax error" in line for line in err.value.problems)


def test_missing_shared_texts(tmp_path):
    directory = _scenario_dir(tmp_path)
    (directory / "_shared.toml").unlink()
    with pytest.raises(ConfigurationError, match="_shared.toml: file not found"):
        load_library(directory)


def test_the_config_reference_names_every_key_and_is_current():
    from controller import configref

    assert configref.missing_meanings() == [], "every key needs its meaning in configref"
    checked_in = (ROOT / "docs" / "config-reference.md").read_text(encoding="utf-8")
    assert checked_in == configref.generate(), \
        "regenerate: python -m controller.configref > docs/config-reference.md"


def test_a_value_with_a_line_break_is_still_one_problem_line(tmp_path):
    cfg = tomllib.loads((ROOT / "config.toml").read_text())
    cfg["scenarios"] = "no\nsuch\tfolder"
    target = tmp_path / "config.toml"
    target.write_text(tomli_w.dumps(cfg))
    with pytest.raises(ConfigurationError) as exc:
        load_library(load_config(target).scenarios_dir, load_config(target))
    assert all("\n" not in p and "\t" not in p for p in exc.value.problems), exc.value.problems
    assert any("no\\nsuch\\tfolder" in p for p in exc.value.problems), exc.value.problems
