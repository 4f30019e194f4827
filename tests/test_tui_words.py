"""No English word or internal id in a Kazakh console (nor Kazakh in a Russian one):
a walk through every screen in each language, reading what the screen shows, and
every word must come from that language's tables (the console's strings, the
controller's messages and event words, the scenario files and the site config's
titles in that language) or be a proper name on the allow-list.
"""

from __future__ import annotations

import asyncio
import re
import tomllib

import pytest

from controller import messages
from tests.conftest import ROOT
from tests.tui_support import controller_in, held_ready, screen_name, screen_text, until, visible
from tui.app import DabylApp
from tui.strings import STRINGS, text_language

# Proper names: key caps (and the letters on them), commands an officer types, the
# speech engines' names.
ALLOWED = {"f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9", "f10", "f11", "f12", "ctrl",
           "esc", "enter", "tab", "space", "dabyl", "tui", "make", "run", "check", "espeak",
           "ng", "piper", "sudo", "systemctl", "restart", "serve", *"abcdefghijklmnopqrstuvwxyz"}
WORD = re.compile(r"[^\W\d_]+")


def words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


def table_texts(lang: str, controller) -> list[str]:
    """Everything the console may say in `lang`."""
    tlang = text_language(lang)
    texts = list(STRINGS[lang].values())
    for table in (messages.MESSAGES, messages.EVENTS):
        texts += [t[lang] for t in table.values()]
    texts.append(messages.UNKNOWN_EVENT[lang])
    for group in messages.WORDS.values():
        texts += [w[lang] for w in group.values()]
    for sc in controller.library.scenarios.values():
        data = sc.model_dump()
        texts.append(data["title"][tlang])
        for role in ("leader", "staff"):
            texts += data["checklist"][role][tlang]
        for block in data["info"]:
            texts += [block["title"][tlang], *block["items"][tlang]]
        for field in data["form"]:
            texts.append(field["title"][tlang])
            if field.get("choices"):
                texts += field["choices"][tlang]
        for param in data["parameters"]:
            texts += [param["title"][tlang], *(c["title"][tlang] for c in param["choices"])]
            texts += [v[tlang] for v in param.get("value_titles", {}).values()]
    config = controller.config
    titles = [config.site.name] + [z.title for z in config.zones.values()]
    titles += [i.title for i in config.inputs] + [d.title for d in config.devices]
    titles += [o.title for o in config.outputs.values()]
    for title in titles:
        parts = [p.strip() for p in title.split(" / ")]
        texts.append(parts[0] if tlang == "kk" else parts[-1])
    return texts


def strangers(text: str, vocabulary: set[str], prefixes: set[str]) -> set[str]:
    """Words not in the vocabulary. A word cut short ("Ғимараттағ…") counts when it
    begins a known word."""
    found = set()
    for match in re.finditer(r"([^\W\d_]+)(…?)", text):
        word, cut = match.group(1).lower(), match.group(2)
        if word in vocabulary or (cut and any(p.startswith(word) for p in prefixes)):
            continue
        found.add(match.group(1))
    return found


class Walk:
    """Collects what each screen shows: its notes, then (with the notes gone, so none
    covers a word) the screen, or the dialog on top of it."""

    def __init__(self, app) -> None:
        self.app = app
        self.seen: list[tuple[str, str]] = []

    async def look(self, pilot, where: str) -> None:
        await pilot.pause()
        notes = "\n".join(n.message for n in self.app._notifications)
        self.app.clear_notifications()
        await pilot.pause()
        dialog = self.app.screen.query(".dialog")
        text = visible(self.app, dialog.first()) if dialog else screen_text(self.app)
        self.seen.append((where, text + "\n" + notes))


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
async def test_every_screen_speaks_one_language(tmp_path, audio_cache, lang):
    controller, events = await controller_in(tmp_path, audio_cache, lang)
    try:
        vocabulary = set(ALLOWED)
        for text in table_texts(lang, controller):
            vocabulary.update(words(text))
        controller.faults.raise_("input:panic_office", "input_open", input="panic_office")
        if lang == "en":  # the English text of a fault may carry a program's own words
            for fault in controller.faults.list():
                vocabulary.update(words(fault["message"]))
        prefixes = vocabulary - ALLOWED
        app = DabylApp(controller.server.path)
        async with app.run_test(size=(80, 24)) as pilot:
            await app.connected.wait()
            walk = Walk(app)
            await walk.look(pilot, "quiescent")
            await pilot.press("f1")
            await until(pilot, lambda: screen_name(app) == "TriggerScreen")
            await walk.look(pilot, "trigger dialog")
            await pilot.press("escape")
            drill = await controller.engine.trigger("suspicious_object", source="operator",
                                                    origin="t", drill=True,
                                                    parameters={"object": "grenade"})
            await events.wait("first_audio", activation=drill.id)
            await until(pilot, lambda: len(app.status["activations"]) == 1)
            await walk.look(pilot, "a drill")
            # A cluster: a panic button (it ends the drill), then the fire call point
            # (held), then a call.
            await controller.press("panic_office", 0.3, "t")
            await events.wait("triggered", scenario="armed_attack")
            await controller.press("call_point_lobby", 0.3, "t")
            held = await events.wait("held")
            await until(pilot, lambda: held_ready(app))
            await walk.look(pilot, "held prompt")
            await pilot.press("escape")
            phone = await controller.engine.trigger("phone_threat", source="operator",
                                                    origin="t")
            await until(pilot, lambda: len(app.status["activations"]) == 3)
            await walk.look(pilot, "three alarms")
            for _ in range(2):
                await pilot.press("f12")
                await walk.look(pilot, "the next alarm")
            await pilot.press("s")
            await until(pilot, lambda: screen_name(app) == "ConfirmScreen")
            await walk.look(pilot, "silence question")
            await pilot.press("escape")
            await pilot.press("p")
            await until(pilot, lambda: screen_name(app) == "FormScreen")
            await walk.look(pilot, "caller form")
            app.screen.query_one("#f-q_intermediary").scroll_visible(animate=False)
            await walk.look(pilot, "caller form, the end")
            await pilot.press("escape")
            controller.engine.record_form(phone.id, {"tempo": "x"}, "t")
            controller.engine.decline(held["activation"], "t")
            controller.engine.tick(phone.id, "staff", 0, True, "t")
            controller.faults.acknowledge("input:panic_office", "t")
            controller.faults.clear("input:panic_office", "x")
            await controller.selftest("t")
            controller.bus.publish("a_kind_from_a_newer_controller", journal=False)
            await events.wait("selftest")
            await pilot.press("h")
            await until(pilot, lambda: screen_name(app) == "HelpScreen")
            await walk.look(pilot, "help")
            await pilot.press("escape")
            app.main.query_one("#log").scroll_home(animate=False)
            await walk.look(pilot, "event log, the start")
            await pilot.press("r")
            await walk.look(pilot, "the leader's checklist")
            await pilot.press("q")
            await until(pilot, lambda: screen_name(app) == "QuitScreen")
            await walk.look(pilot, "quit")
            await pilot.press("escape")
            controller.engine.clear(None, "t")
            await asyncio.to_thread(controller.journal.flush, 5)
            await pilot.press("j")
            await until(pilot, lambda: screen_name(app) == "JournalScreen")
            table = app.screen.query_one("#activations")
            await until(pilot, lambda: table.row_count >= 4)
            await walk.look(pilot, "journal")
            timeline = app.screen.query_one("#timeline")
            for row in range(table.row_count):
                table.move_cursor(row=row)
                await pilot.press("enter")
                await until(pilot, lambda: timeline.row_count > 0)
                for line in range(0, timeline.row_count, 5):
                    timeline.move_cursor(row=line)
                    await walk.look(pilot, f"timeline {row}")
                table.focus()
            await pilot.press("e")  # the drill record of a real alarm: refused
            await until(pilot, lambda: screen_name(app) == "DrillRecordScreen")
            await walk.look(pilot, "drill record")
            await pilot.press(*"5", "ctrl+s")
            await until(pilot, lambda: len(list(app._notifications)) > 0)
            await walk.look(pilot, "a refusal")
            await until(pilot, lambda: screen_name(app) == "JournalScreen")
            await pilot.press("b")
            await until(pilot, lambda: screen_name(app) == "BriefingScreen")
            await walk.look(pilot, "briefing")
        found = {}
        for where, text in walk.seen:
            bad = strangers(text, vocabulary, prefixes)
            if bad:
                found[where] = sorted(bad)
        assert not found, found
    finally:
        await controller.stop()


def test_every_table_has_all_three_languages():
    for table in (messages.MESSAGES, messages.EVENTS):
        for code, texts in table.items():
            assert set(texts) == set(messages.LANGUAGES), code
    for group, values in messages.WORDS.items():
        for value, texts in values.items():
            assert set(texts) == set(messages.LANGUAGES), (group, value)
    assert set(STRINGS["kk"]) == set(STRINGS["ru"]) == set(STRINGS["en"])


def test_every_event_the_controller_publishes_has_words():
    published = set()
    for path in (ROOT / "controller").rglob("*.py"):
        published |= set(re.findall(r'publish\(\s*"(\w+)"', path.read_text()))
    published |= {"cleared", "declined"}  # published by name in Engine._end
    missing = sorted(published - set(messages.EVENTS) - {"status"})
    assert not missing, f"add these event kinds to controller/messages.py EVENTS: {missing}"


def test_every_shared_announcement_has_a_name():
    from controller.scenarios import SharedTexts
    missing = [n for n in SharedTexts.SPOKEN if n not in messages.WORDS["label"]]
    assert not missing, f"add these labels to controller/messages.py WORDS['label']: {missing}"


def test_the_demo_site_names_everything_in_both_languages():
    config = tomllib.loads((ROOT / "config.toml").read_text())
    titled = [config["site"]["name"], *(d["title"] for d in config["devices"]),
              *(o["title"] for o in config["outputs"].values()),
              *(z["title"] for z in config["zones"].values()),
              *(i["title"] for i in config["inputs"])]
    for title in titled:
        assert len(title.split(" / ")) == 2, title
