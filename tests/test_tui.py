"""The duty officer's console, driven by Textual's Pilot against a real controller.

Everything goes through the control socket, as with an officer at the keyboard, at
80×24 and at 160×48, in Kazakh, Russian and English. What the tests read is what the
screen shows (tests/tui_support.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

import pytest

from drivers.simulator import SimulatedBoard
from tests.conftest import make_site, start_controller
from tests.tui_support import (
    SIZES,
    controller_in,
    flat,
    held_ready,
    screen_name,
    screen_text,
    shows,
    type_raw,
    until,
    visible,
)
from tui.app import DabylApp
from tui.keys import MAIN
from tui.strings import strings

# Each flow runs in each language, at the smallest size it must work at and the large one.
CASES = [("kk", "80x24"), ("kk", "160x48"), ("ru", "80x24"), ("en", "160x48")]


def part(title: str, lang: str) -> str:
    """The language part of a "kk / ru" title from the site config."""
    parts = [p.strip() for p in title.split(" / ")]
    return parts[0] if lang == "kk" else parts[-1]


def text_lang(lang: str) -> str:
    return "kk" if lang == "kk" else "ru"


@pytest.fixture(params=CASES, ids=lambda c: f"{c[0]}-{c[1]}")
async def console(request, tmp_path, audio_cache):
    lang, size = request.param
    controller, events = await controller_in(tmp_path, audio_cache, lang)
    try:
        yield controller, events, lang, SIZES[size]
    finally:
        await controller.stop()


async def dabyl(controller, *args: str) -> tuple[int, str]:
    """The dabyl command, in its own process, against this controller."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "controller.cli", "--config", str(controller.config.source), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode, (out + err).decode()


# -- the controller stays; quitting asks (issue 16, case 1) -----------------------------
async def test_quitting_during_an_alarm_asks_and_keeps_the_controller(console):
    controller, events, lang, size = console
    app = DabylApp(controller.server.path)
    async with app.run_test(size=size) as pilot:
        await app.connected.wait()
        act = await controller.engine.trigger("fire", source="operator", origin="t")
        await until(pilot, lambda: "101" in visible(app, "#act-head"))
        for key in ("q", "ctrl+q", "й", "Q", "shift+f10", "ctrl+c"):
            await pilot.press(key)
            await until(pilot, lambda: screen_name(app) == "QuitScreen")
            assert app.is_running, key
            assert "dabyl tui" in screen_text(app)
            assert act.scenario.title[text_lang(lang)] in screen_text(app)
            await pilot.press("escape")
            await until(pilot, lambda: screen_name(app) != "QuitScreen")
        await pilot.press("q")
        await until(pilot, lambda: screen_name(app) == "QuitScreen")
        assert not app.screen.query("#stop"), "no stopping during an alarm"
        await pilot.press("enter")  # the default: leave, the controller keeps running
        await until(pilot, lambda: not app.is_running)
    assert app.return_value == "leave"
    assert act.id in controller.engine.activations


async def test_the_console_that_started_the_controller_may_stop_it_when_all_is_quiet(running):
    controller, events = running
    app = DabylApp(controller.server.path, owned=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        await pilot.press("q")
        await until(pilot, lambda: screen_name(app) == "QuitScreen")
        assert app.focused.id == "leave", "the safe answer has the focus"
        await pilot.pause()
        for button in ("stay", "stop", "leave"):  # three answers, each read in full
            label = str(app.screen.query_one(f"#{button}").label)
            assert label in flat(screen_text(app)), label
        app.screen.query_one("#stop").press()
        await until(pilot, lambda: not app.is_running)
    assert app.return_value == "stop"


async def test_the_console_follows_events_and_never_asks_for_the_status(running):
    """A JSON-lines proxy between the console and the controller counts its requests."""
    controller, events = running
    counts: dict[str, int] = {}
    proxy_path = controller.server.path.with_name("proxy.sock")

    async def pipe(reader, writer, count):
        while line := await reader.readline():
            if count:
                op = json.loads(line).get("op", "")
                counts[op] = counts.get(op, 0) + 1
            writer.write(line)
            await writer.drain()
        writer.close()

    async def serve(reader, writer):
        up_r, up_w = await asyncio.open_unix_connection(str(controller.server.path),
                                                        limit=16 * 1024 * 1024)
        await asyncio.gather(pipe(reader, up_w, True), pipe(up_r, writer, False),
                             return_exceptions=True)

    server = await asyncio.start_unix_server(serve, path=str(proxy_path), limit=16 * 1024 * 1024)
    try:
        app = DabylApp(proxy_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await app.connected.wait()
            before = counts.get("status", 0)
            act = await controller.engine.trigger("fire", source="operator", origin="t")
            await events.wait("outputs_applied")
            controller.engine.silence(act.id, "t")
            await until(pilot, lambda: "ДЫБЫС ӨШІК" in visible(app, "#act-head"))
            controller.engine.clear(act.id, "t")
            await events.wait("cleared", activation=act.id)
            await until(pilot, lambda: "101" not in visible(app, "#act-head"))
            assert counts.get("status", 0) == before, counts
    finally:
        server.close()


# -- every open alarm can be acted on (case 2) -------------------------------------------
async def test_two_open_alarms_and_acting_on_the_second(console):
    controller, events, lang, size = console
    app = DabylApp(controller.server.path)
    async with app.run_test(size=size) as pilot:
        await app.connected.wait()
        fire = await controller.engine.trigger("fire", source="operator", origin="t")
        obj = await controller.engine.trigger("suspicious_object", source="operator", origin="t")
        second = obj.scenario.title[text_lang(lang)]
        await until(pilot, lambda: shows(app, "#alarms", second))
        assert shows(app, "#alarms", fire.scenario.title[text_lang(lang)])
        await pilot.press("f12")  # the next alarm
        await until(pilot, lambda: shows(app, "#act-head", second))
        await pilot.press("s")
        await until(pilot, lambda: screen_name(app) == "ConfirmScreen")
        assert second in screen_text(app)
        await pilot.press("tab", "enter")
        await events.wait("silenced", activation=obj.id)
        assert not fire.silenced
        await pilot.press("space")  # the checklist of the selected alarm, one key
        tick = await events.wait("checklist_tick")
        assert tick["activation"] == obj.id and tick["item"] == 0
        await pilot.press("c")
        await until(pilot, lambda: screen_name(app) == "ConfirmScreen")
        await pilot.press("tab", "enter")
        await events.wait("cleared", activation=obj.id)
        assert fire.id in controller.engine.activations
        await until(pilot, lambda: not shows(app, "#alarms", second))
        assert shows(app, "#act-head", fire.scenario.title[text_lang(lang)])


async def test_the_alarm_list_answers_to_the_arrow_keys(running):
    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        first = await controller.engine.trigger("fire", source="operator", origin="t")
        second = await controller.engine.trigger("phone_threat", source="operator", origin="t")
        await until(pilot, lambda: shows(app, "#alarms", second.scenario.title["kk"]))
        await pilot.press("shift+tab")
        assert app.focused.id == "alarms"
        await pilot.press("down")
        await until(pilot, lambda: app.selected == second.id)
        await pilot.press("f11")
        await until(pilot, lambda: app.selected == first.id)


async def test_phone_form_under_a_higher_alarm(console):
    controller, events, lang, size = console
    app = DabylApp(controller.server.path)
    async with app.run_test(size=size) as pilot:
        await app.connected.wait()
        phone = await controller.engine.trigger("phone_threat", source="operator", origin="t")
        attack = await controller.engine.trigger("armed_attack", source="operator", origin="t")
        await until(pilot, lambda: len(app.status.get("activations", [])) == 2)
        assert app.selected == attack.id, "the higher alarm is on top"
        await pilot.press("p")
        await until(pilot, lambda: screen_name(app) == "FormScreen")
        assert phone.scenario.title[text_lang(lang)] in screen_text(app)
        await pilot.press(*"Ер")
        await pilot.press("ctrl+s")
        form = await events.wait("form", activation=phone.id)
        assert form["answers"]["caller"] == "Ер"


async def test_the_caller_form_from_the_command_line(running):
    controller, events = running
    act = await controller.engine.trigger("phone_threat", source="operator", origin="t")
    code, out = await dabyl(controller, "form", act.id, "--lang", "ru")
    assert code == 0 and "q_demands" in out and "Какие конкретные требования" in out
    code, out = await dabyl(controller, "form", act.id, "--set", "q_demands=ақша талап етеді",
                            "--set", "tempo=жылдам")
    assert code == 0, out
    form = await events.wait("form", activation=act.id)
    assert form["answers"] == {"q_demands": "ақша талап етеді", "tempo": "fast"}
    code, out = await dabyl(controller, "form", act.id)
    assert "= ақша талап етеді" in out
    code, out = await dabyl(controller, "form", act.id, "--set", "nonsense=1")
    assert code == 2 and "has no field 'nonsense'" in out
    code, out = await dabyl(controller, "form", act.id, "--set", "broken")
    assert code == 2 and "expected NAME=VALUE" in out


# -- prompts show everything and close themselves (case 3) ------------------------------
async def test_held_prompt_shows_everything_and_closes_when_decided_elsewhere(console):
    controller, events, lang, size = console
    app = DabylApp(controller.server.path)
    async with app.run_test(size=size) as pilot:
        await app.connected.wait()
        await controller.press("panic_office", 0.3, "t")
        await events.wait("triggered", scenario="armed_attack")
        await controller.press("call_point_lobby", 0.3, "t")
        held = await events.wait("held")
        await until(pilot, lambda: held_ready(app))
        assert shows(app, "#held-text", strings(lang)["held_text"])
        assert shows(app, "#held-source", part(controller.config.inputs[1].title, lang))
        assert "call_point_lobby" not in screen_text(app)
        assert app.focused.id == "later", "the harmless answer has the focus"
        code, out = await dabyl(controller, "confirm", held["activation"])
        assert code == 0, out
        await until(pilot, lambda: screen_name(app) != "HeldScreen")
        assert any(strings(lang)["held_confirmed"] == n.message for n in app._notifications)
        await pilot.press("f9")  # the F-keys work again at once
        await until(pilot, lambda: screen_name(app) == "TriggerScreen")


async def test_a_held_prompt_left_for_later_comes_back_with_its_key(running):
    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        await controller.press("panic_office", 0.3, "t")
        await events.wait("triggered", scenario="armed_attack")
        await controller.press("call_point_lobby", 0.3, "t")
        held = await events.wait("held")
        await until(pilot, lambda: held_ready(app))
        await pilot.press("escape")
        await until(pilot, lambda: screen_name(app) == "MainScreen")
        assert "ЭВАКУАЦИЯ ШЕШІМДІ КҮТУДЕ" in visible(app, "#top")
        await type_raw(pilot, "у")  # E on the Kazakh layout
        await until(pilot, lambda: held_ready(app))
        await pilot.press("left", "enter")  # from "Later" to "Confirm"
        await events.wait("confirmed", activation=held["activation"])
        await until(pilot, lambda: screen_name(app) == "MainScreen")


async def test_a_prompt_under_another_dialog_closes_when_it_comes_back(running):
    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        await controller.press("panic_office", 0.3, "t")
        await events.wait("triggered", scenario="armed_attack")
        await controller.press("call_point_lobby", 0.3, "t")
        held = await events.wait("held")
        await until(pilot, lambda: held_ready(app))
        await pilot.press("ctrl+q")
        await until(pilot, lambda: screen_name(app) == "QuitScreen")
        controller.engine.decline(held["activation"], "t")
        await events.wait("declined", activation=held["activation"])
        await pilot.press("escape")
        await until(pilot, lambda: screen_name(app) == "MainScreen")
        assert any(strings("kk")["held_declined"] == n.message for n in app._notifications)


# -- the layout (case 4) ------------------------------------------------------------------
async def test_every_alarm_fault_and_the_mode_fit_at_80x24(tmp_path, audio_cache):
    controller, events = await controller_in(tmp_path, audio_cache, "kk")
    try:
        controller.faults.raise_("input:panic_office", "input_open", input="panic_office")
        app = DabylApp(controller.server.path)
        async with app.run_test(size=(80, 24)) as pilot:
            await app.connected.wait()
            acts = [await controller.engine.trigger(s, source="operator", origin="t")
                    for s in ("fire", "suspicious_object", "phone_threat")]
            await until(pilot, lambda: len(app.status.get("activations", [])) == 3)
            await pilot.pause()
            assert "ДАБЫЛ" in visible(app, "#top")
            assert shows(app, "#faults", "Кеңседегі дабыл түймесі кірісі: шлейф үзілген"), \
                visible(app, "#faults")
            for fault in controller.faults.list():
                assert shows(app, "#faults", app.site.fault_text(fault)), fault
            for act in acts:
                assert shows(app, "#alarms", act.scenario.title["kk"])
            app.main.query_one("#checklist").scroll_end(animate=False)
            await pilot.pause()
            assert shows(app, "#act-head", acts[0].scenario.title["kk"]), "pinned at the top"
    finally:
        await controller.stop()


async def test_a_large_terminal_gives_the_room_to_the_log_and_checklists(tmp_path, audio_cache):
    controller, events = await controller_in(tmp_path, audio_cache, "kk")
    try:
        app = DabylApp(controller.server.path)
        async with app.run_test(size=(160, 48)) as pilot:
            await app.connected.wait()
            act = await controller.engine.trigger("fire", source="operator", origin="t")
            await until(pilot, lambda: "101" in visible(app, "#act-head"))
            await pilot.pause()
            assert app.main.query_one("#left").size.width > 30
            assert app.main.query_one("#log").size.height >= 10
            for item in act.scenario.checklist.staff.kk:
                assert shows(app, "#checklist", item), item
            for zone in controller.config.zones.values():
                assert shows(app, "#zones-state", f"{part(zone.title, 'kk')}: Өрт")
    finally:
        await controller.stop()


async def test_the_chosen_object_its_distance_and_what_plays_are_shown(running):
    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        await controller.engine.trigger("suspicious_object", source="operator", origin="t",
                                        parameters={"object": "suitcase"})
        await until(pilot, lambda: "Жол шабаданы" in visible(app, "#act-head"))
        assert shows(app, "#act-head", "Келушілер, кемінде, м: 350"), visible(app, "#act-head")
        assert shows(app, "#act-head", "Қоршау аймағы, м: 350")
        await until(pilot, lambda: "Ойнап тұр" in visible(app, "#act-head"))
        assert "suspicious_object" not in visible(app, "#act-head")


async def test_the_console_rides_through_a_controller_restart(tmp_path, audio_cache):
    """The controller goes away and comes back (a restart): the console says so at
    once, attaches again by itself, and the alarm's time still counts from its trigger."""
    controller, events = await controller_in(tmp_path, audio_cache, "kk")
    config = controller.config.source
    app = DabylApp(controller.server.path)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await app.connected.wait()
            act = await controller.engine.trigger("fire", source="operator", origin="t")
            await until(pilot, lambda: app.current() is not None)
            await controller.stop()
            await until(pilot, lambda: "БАЙЛАНЫС ЖОҚ" in visible(app, "#top"))
            controller, events = await start_controller(config)
            await until(pilot, lambda: "ДАБЫЛ" in visible(app, "#top"))
            assert app.current()["id"] == act.id
            assert app.current()["started"] == act.started, "the original trigger time"
            assert "Өтті 00:0" in visible(app, "#act-head")
            await controller.engine.trigger("phone_threat", source="operator", origin="t")
            await until(pilot, lambda: len(app.status["activations"]) == 2)
    finally:
        await controller.stop()


# -- keys (case 5) ----------------------------------------------------------------------
async def test_letter_keys_answer_on_cyrillic_layouts_and_with_shift(running):
    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        for raw, drill in (("в", True), ("В", False), ("D", True), ("d", False),
                           ("\x1b[18;2~", True)):  # the last: Shift+F7
            await type_raw(pilot, raw)
            assert app.drill_mode is drill, raw
        act = await controller.engine.trigger("fire", source="operator", origin="t")
        await until(pilot, lambda: "101" in visible(app, "#act-head"))
        for raw in ("ы", "Ы", "S", "\x1b[1;2P"):  # the last: Shift+F1
            await type_raw(pilot, raw)
            await until(pilot, lambda: screen_name(app) == "ConfirmScreen")
            await pilot.press("escape")
            await until(pilot, lambda: screen_name(app) != "ConfirmScreen")
        await type_raw(pilot, "ы")
        await until(pilot, lambda: screen_name(app) == "ConfirmScreen")
        await pilot.press("right", "enter")
        await events.wait("silenced", activation=act.id)
        for raw, screen in (("р", "HelpScreen"), ("о", "JournalScreen")):
            await type_raw(pilot, raw)
            await until(pilot, lambda screen=screen: screen_name(app) == screen)
            await pilot.press("escape")
            await until(pilot, lambda: screen_name(app) == "MainScreen")


def test_every_letter_key_has_its_cyrillic_twin_and_an_f_key():
    for key in MAIN:
        names = key.names().split(",")
        assert key.fkey in names, key
        if key.letter:
            assert {key.letter, key.letter.upper()} <= set(names)
            assert len([n for n in names if re.fullmatch("[а-яё]", n)]) == 1, key


async def test_checklist_reads_in_text_wraps_in_full_and_ticks_with_one_key(running):
    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        act = await controller.engine.trigger("fire", source="operator", origin="t")
        await until(pilot, lambda: "101" in visible(app, "#act-head"))
        first = act.scenario.checklist.staff.kk[0]
        assert shows(app, "#checklist", "☐ 1. " + first)
        assert "…" not in visible(app, "#checklist")
        assert app.focused.id == "checklist"
        await pilot.press("space")
        tick = await events.wait("checklist_tick", activation=act.id)
        assert tick["item"] == 0 and tick["done"] is True
        await until(pilot, lambda: shows(app, "#checklist", "☑ 1. " + first))
        await pilot.press("down", "enter")
        tick = await events.wait("checklist_tick", activation=act.id)
        assert tick["item"] == 1
        await pilot.press("enter")
        untick = await events.wait("checklist_tick", activation=act.id)
        assert untick["item"] == 1 and untick["done"] is False
        await pilot.press("r")  # the leader's list
        await until(pilot, lambda: shows(app, "#checklist", act.scenario.checklist.leader.kk[0]))


async def test_phone_form_opens_ready_to_type_and_shows_every_question(running):
    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        act = await controller.engine.trigger("phone_threat", source="operator", origin="t")
        await until(pilot, lambda: app.current() is not None)
        await pilot.press("p")
        await until(pilot, lambda: screen_name(app) == "FormScreen")
        await pilot.press(*"Әйел")
        assert "Ctrl+S" in screen_text(app)
        assert "Select" not in screen_text(app)
        for field in act.scenario.form:
            app.screen.query_one(f"#f-{field.id}").scroll_visible(animate=False)
            await pilot.pause()
            assert shows(app, f"#q-{field.id}", field.title.kk), field.id
        app.screen.query_one("#f-tempo").value = "fast"  # shown as «жылдам»
        await pilot.press("ctrl+s")
        form = await events.wait("form", activation=act.id)
        assert form["answers"] == {"caller": "Әйел", "tempo": "fast"}
        await until(pilot, lambda: app.current()["answers"].get("caller") == "Әйел")
        await pilot.press("p")  # the answers so far come back with the form
        await until(pilot, lambda: screen_name(app) == "FormScreen")
        assert app.screen.query_one("#f-caller").value == "Әйел"
        tempo = app.screen.query_one("#f-tempo")
        assert tempo.value == "fast"
        tempo.scroll_visible(animate=False)
        await pilot.pause()
        assert "жылдам" in screen_text(app) and "fast" not in screen_text(app)
        await pilot.press("ctrl+s")  # nothing changed: nothing is sent again
        await pilot.pause()


# -- done means -------------------------------------------------------------------------
async def test_a_newcomer_runs_a_cluster_to_its_end_by_keyboard_alone(running):
    """At 80×24, in Kazakh: a panic button, then the fire call point (held during the
    lockdown), then a phone call; each decided, recorded and cleared with keys only."""
    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        await controller.press("panic_office", 0.3, "t")
        attack = await events.wait("triggered", scenario="armed_attack")
        await until(pilot, lambda: "Қарулы шабуыл" in visible(app, "#act-head"))
        await pilot.press("space")  # the first item of the staff checklist
        await events.wait("checklist_tick", activation=attack["activation"])
        await controller.press("call_point_lobby", 0.3, "t")
        held = await events.wait("held")
        await until(pilot, lambda: held_ready(app))
        await pilot.press("left", "left", "enter")  # from "Later" to "Decline"
        await events.wait("declined", activation=held["activation"])
        await until(pilot, lambda: screen_name(app) == "MainScreen")
        await pilot.press("f2")  # the phone rings: the phone threat
        await until(pilot, lambda: screen_name(app) == "TriggerScreen")
        await pilot.press("tab", "enter")
        phone = await events.wait("triggered", scenario="phone_threat")
        await until(pilot, lambda: app.selected == phone["activation"])
        await pilot.press("p")
        await until(pilot, lambda: screen_name(app) == "FormScreen")
        await pilot.press(*"ер, 40 жас", "ctrl+s")
        await events.wait("form", activation=phone["activation"])
        await until(pilot, lambda: screen_name(app) == "MainScreen")
        for left in (1, 0):
            await pilot.press("c")
            await until(pilot, lambda: screen_name(app) == "ConfirmScreen")
            await pilot.press("tab", "enter")
            await events.wait("cleared")
            await until(pilot, lambda left=left: len(app.status["activations"]) == left)
        await until(pilot, lambda: not app.status["activations"])
        assert controller.engine.activations == {}
        await pilot.press("q")  # nothing open: this console did not start the controller
        await until(pilot, lambda: not app.is_running)
    assert controller.server._server is not None, "the controller runs on"


# -- what the console always did, kept ---------------------------------------------------
async def test_real_alarm_needs_confirmation_and_defaults_to_no(running):
    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        assert "ТЫНЫШ" in visible(app, "#top") or "АҚАУ" in visible(app, "#top")
        await pilot.press("f9")
        await until(pilot, lambda: screen_name(app) == "TriggerScreen")
        assert "НАҚТЫ ДАБЫЛ" in screen_text(app)
        assert "Сирена" in screen_text(app) and "siren" not in screen_text(app)
        assert app.focused.id == "no", "the safe answer has the focus"
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(app) == "MainScreen")
        assert controller.engine.activations == {}
        await pilot.press("f9")
        await until(pilot, lambda: screen_name(app) == "TriggerScreen")
        app.screen.query_one("#yes").press()
        event = await events.wait("triggered", scenario="fire")
        assert event["drill"] is False
        await until(pilot, lambda: "ДАБЫЛ" in visible(app, "#top"))
        assert "Өрт" in visible(app, "#act-head") and "101" in visible(app, "#act-head")


async def test_drill_mode_parameters_and_zone_narrowing(running):
    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        await pilot.press("d", "f1")
        await until(pilot, lambda: screen_name(app) == "TriggerScreen")
        assert "ОҚУ-ЖАТТЫҒУ" in screen_text(app)
        app.screen.query_one("#param-object").value = "suitcase"
        zones = app.screen.query_one("#zones")
        zones.focus()
        await pilot.press("down", "down", "space")  # the third zone: the yard
        await until(pilot, lambda: "yard" not in zones.ticked)
        app.screen.query_one("#yes").press()
        event = await events.wait("triggered", scenario="suspicious_object")
        assert event["drill"] is True
        assert event["parameters"] == {"object": "suitcase"}
        assert "yard" not in event["zones"] and "hall" in event["zones"]


async def test_panic_press_appears_at_once_by_its_name(running):
    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        await controller.press("panic_office", 0.3, "t")
        await events.wait("triggered", scenario="armed_attack")
        await until(pilot, lambda: "Қарулы шабуыл" in visible(app, "#act-head"))
        notes = [n.message for n in app._notifications]
        assert "Кеңседегі дабыл түймесі: Қарулы шабуыл" in notes
        assert "Кеңседегі дабыл түймесі" in visible(app, "#act-head")


async def test_a_lost_device_shows_as_a_fault(tmp_path, audio_cache):
    board = SimulatedBoard(coils=16, inputs=8)
    await board.start()

    def external(cfg):
        cfg["devices"][0].update(simulate=False, port=board.port, poll_period=0.5, timeout=0.3)

    controller, events = await start_controller(make_site(tmp_path, audio_cache, change=external))
    app = DabylApp(controller.server.path)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await app.connected.wait()
            await until(pilot, lambda: "✓ Реле тақтасы" in visible(app, "#devices"))
            await board.stop()
            await events.wait("fault", key="device:board1")
            await until(pilot, lambda: shows(app, "#devices", "✗ Реле тақтасы: БАЙЛАНЫС ЖОҚ"))
            assert shows(app, "#faults", "Реле тақтасы (modbus-coils"), visible(app, "#faults")
            await pilot.press("a")
            await events.wait("fault_acknowledged", key="device:board1")
    finally:
        await controller.stop()


async def test_two_consoles_see_the_same_alarm_and_closing_one_keeps_the_controller(running):
    controller, events = running
    first, second = DabylApp(controller.server.path), DabylApp(controller.server.path)
    async with first.run_test(size=(80, 24)) as p1, second.run_test(size=(100, 30)) as p2:
        await first.connected.wait()
        await second.connected.wait()
        await controller.engine.trigger("explosion", source="operator", origin="t", drill=True)
        await until(p1, lambda: "Ғимараттағы жарылыс" in visible(first, "#act-head"))
        await until(p2, lambda: "Ғимараттағы жарылыс" in visible(second, "#act-head"))
    assert controller.engine.activations, "closing the consoles leaves the controller and alarm"
    assert controller.server._server is not None


async def test_journal_browser_reads_as_a_timeline(running):
    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        act = await controller.engine.trigger("phone_threat", source="operator", origin="t")
        controller.engine.record_form(act.id, {"tempo": "жылдам"}, "t")
        controller.engine.clear(act.id, "t")
        await asyncio.to_thread(controller.journal.flush, 5)
        await pilot.press("j")
        await until(pilot, lambda: screen_name(app) == "JournalScreen")
        table = app.screen.query_one("#activations")
        await until(pilot, lambda: table.row_count >= 1)
        assert [str(c) for c in table.get_row_at(0)][1:] == [
            "Телефон арқылы немесе ауызша қоқан-лоққы", "НАҚТЫ ДАБЫЛ", "оператор", "аяқталды"]
        for header in ("Уақыты", "Дабыл", "Түрі", "Көзі", "Нәтижесі"):
            assert header in screen_text(app)
        await pilot.press("enter")
        timeline = app.screen.query_one("#timeline")
        await until(pilot, lambda: timeline.row_count >= 3)
        what = [str(timeline.get_row_at(i)[1]) for i in range(timeline.row_count)]
        assert any("НАҚТЫ ДАБЫЛ басталды" in w for w in what), what
        assert any("қоңырау пішіні жазылды" in w for w in what), what
        assert any("аяқталды (оператордың шешімімен)" in w for w in what), what
        assert not any("=" in w for w in what), "no raw key=value"


async def test_briefing_drill_record_and_a_refusal_in_the_officers_language(running):
    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        real = await controller.engine.trigger("shooting", source="operator", origin="t")
        controller.engine.clear(real.id, "t")
        act = await controller.engine.trigger("fire", source="operator", origin="t", drill=True)
        controller.engine.clear(act.id, "t")
        await asyncio.to_thread(controller.journal.flush, 5)  # the browser reads the disk
        await pilot.press("j")
        await until(pilot, lambda: screen_name(app) == "JournalScreen")
        await until(pilot, lambda: app.screen.query_one("#activations").row_count >= 2)
        await pilot.press("b")
        await until(pilot, lambda: screen_name(app) == "BriefingScreen")
        assert app.focused.id == "person"
        await pilot.press(*"Ахметов Ерлан")
        app.screen.query_one("#by").value = "Сейітов Бауыржан, имам"
        app.screen.query_one("#kind").value = "unplanned"
        await pilot.press("ctrl+s")
        briefing = await events.wait("briefing")
        assert briefing["person"] == "Ахметов Ерлан" and briefing["briefing"] == "unplanned"
        await until(pilot, lambda: screen_name(app) == "JournalScreen")
        await pilot.press("e")  # the newest first: the drill
        await until(pilot, lambda: screen_name(app) == "DrillRecordScreen")
        await pilot.press(*"17")
        await pilot.press("ctrl+s")
        record = await events.wait("drill_record", activation=act.id)
        assert record["participants"] == 17
        await until(pilot, lambda: screen_name(app) == "JournalScreen")
        await pilot.press("down", "e")  # the real alarm: the controller refuses
        await until(pilot, lambda: screen_name(app) == "DrillRecordScreen")
        await pilot.press(*"3")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: any("нақты дабыл" in n.message for n in app._notifications))
        assert not any("real alarm" in n.message for n in app._notifications)


async def test_help_lists_every_key_in_the_officers_language(running):
    controller, _ = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        await pilot.press("question_mark")
        await until(pilot, lambda: screen_name(app) == "HelpScreen")
        text = "\n".join(str(w.content) for w in app.screen.query("Static"))
        for key in MAIN:
            assert strings("kk")[key.label] in text and key.shown() in text, key
        for i in range(1, 11):
            assert f"F{i}" in text


# -- snapshots: the screen's text, volatile parts masked -------------------------------
SNAPSHOTS = Path(__file__).parent / "snapshots"


def masked(app) -> str:
    text = screen_text(app)
    text = re.sub(r"\d{4}-\d\d-\d\d", "YYYY-MM-DD", text)
    text = re.sub(r"\d\d:\d\d:\d\d", "HH:MM:SS", text)
    text = re.sub(r"\d\d:\d\d", "MM:SS", text)
    text = re.sub(r"tmp[\w]{8}", "TMP", text)
    text = re.sub(r"-[0-9a-f]{6}\b", "-ID", text)
    return text + "\n"


def assert_snapshot(app, name: str) -> None:
    actual = masked(app)
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("DABYL_UPDATE_SNAPSHOTS"):
        path.write_text(actual)
    assert path.exists(), f"no snapshot {path}; run with DABYL_UPDATE_SNAPSHOTS=1 and review it"
    assert actual == path.read_text(), f"screen differs from {path}:\n{actual}"


async def quiet(app, pilot) -> None:
    """No notes over the screen and an empty event log: what is left does not depend
    on timing."""
    app.clear_notifications()
    app.main.query_one("#log").clear()
    await pilot.pause()


@pytest.mark.parametrize("size", ["80x24", "160x48"])
async def test_snapshots_of_the_main_states(running, size):
    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=SIZES[size]) as pilot:
        await app.connected.wait()
        await quiet(app, pilot)
        assert_snapshot(app, f"quiescent-{size}")
        await pilot.press("f9")
        await until(pilot, lambda: screen_name(app) == "TriggerScreen")
        await pilot.pause()
        assert_snapshot(app, f"trigger_dialog-{size}")
        await pilot.press("escape")
        act = await controller.engine.trigger("fire", source="operator", origin="t")
        controller.engine.silence(act.id, "t")
        await until(pilot, lambda: "ДЫБЫС ӨШІК" in visible(app, "#act-head"))
        await until(pilot, lambda: not any(z["routed"] for z in app.status["zones"].values()))
        await quiet(app, pilot)
        assert_snapshot(app, f"silenced_fire-{size}")
        phone = await controller.engine.trigger("phone_threat", source="operator", origin="t")
        await until(pilot, lambda: len(app.status["activations"]) == 2)
        # The fire ranks above the phone threat: the second in the list is the phone.
        await until(pilot, lambda: app.status["activations"][0]["id"] == act.id)
        await pilot.press("f12")
        await until(pilot, lambda: app.selected == phone.id)
        await quiet(app, pilot)
        assert_snapshot(app, f"two_alarms-{size}")
        await pilot.press("p")
        await until(pilot, lambda: screen_name(app) == "FormScreen")
        await pilot.pause()
        assert_snapshot(app, f"phone_form-{size}")
        await pilot.press("escape")
        await until(pilot, lambda: screen_name(app) == "MainScreen")
        await pilot.press("q")
        await until(pilot, lambda: screen_name(app) == "QuitScreen")
        await pilot.pause()
        assert_snapshot(app, f"quit-{size}")


async def test_snapshot_of_a_held_evacuation(running):
    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        attack = await controller.engine.trigger("armed_attack", source="operator", origin="t")
        controller.engine.silence(attack.id, "t")  # nothing playing: the screen is still
        await controller.engine.trigger("fire", source="input", origin="call_point_lobby")
        await until(pilot, lambda: held_ready(app))
        await until(pilot, lambda: not any(z["routed"] for z in app.status["zones"].values())
                    and not controller.engine.busy())
        app.main.query_one("#log").clear()
        app.clear_notifications()
        await pilot.pause()
        assert_snapshot(app, "held-80x24")
        assert flat(strings("kk")["held_text"]) in flat(visible(app, "#held-text"))


# -- a newcomer's pass at 80×24 (issue: console defects found in Kazakh) ---------------
async def until_held(pilot, app, controller, events) -> dict:
    """An armed attack (the lockdown), then the fire call point: a held evacuation. (The
    input path itself is tested with real presses elsewhere; here a press the loaded
    test machine polls too late must not hide what the prompt does.)"""
    await controller.engine.trigger("fire", source="input", origin="call_point_lobby")
    held = await events.wait("held")
    await until(pilot, lambda: held_ready(app))
    return held


@pytest.mark.parametrize("where", ["form", "checklist"])
async def test_a_stray_enter_never_decides_a_prompt_that_opened_by_itself(running, where):
    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        await controller.engine.trigger("armed_attack", source="operator", origin="t")
        await controller.engine.trigger("phone_threat", source="operator", origin="t")
        await until(pilot, lambda: len(app.status.get("activations", [])) == 2)
        if where == "form":
            await pilot.press("p")
            await until(pilot, lambda: screen_name(app) == "FormScreen")
            await pilot.press(*"ер адам")
        held = await until_held(pilot, app, controller, events)
        assert app.focused.id == "later", "the harmless answer has the focus"
        await pilot.press(*(" 40 жас" if where == "form" else ["down"]), "enter")
        await until(pilot, lambda: screen_name(app) != "HeldScreen")
        assert controller.engine.activations[held["activation"]].state == "held"
        assert not [e for e in events.drain() if e["kind"] in ("declined", "confirmed")]


async def test_a_key_typed_before_a_prompt_appeared_never_reaches_it(running):
    from textual import events as textual_events

    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        await controller.engine.trigger("armed_attack", source="operator", origin="t")
        await until(pilot, lambda: app.current() is not None)
        typed = [textual_events.Key("tab", None), textual_events.Key("enter", "\r")]
        held = await until_held(pilot, app, controller, events)
        for key in typed:  # typed before the prompt, delivered after it (a busy console)
            key.set_sender(app)
            app._driver.send_message(key)
            await pilot.pause()
        await pilot.pause()
        assert screen_name(app) == "HeldScreen" and app.focused.id == "later"
        assert controller.engine.activations[held["activation"]].state == "held"


async def test_keys_in_the_first_half_second_of_a_prompt_never_reach_it(running):
    """Left, Enter sent a moment after the prompt opened (a script, or hands still busy
    with the checklist) confirm nothing: the officer cannot have read it yet."""
    from textual import events as textual_events

    from tui.screens.held import READ_SECONDS

    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        await controller.engine.trigger("armed_attack", source="operator", origin="t")
        held = await until_held(pilot, app, controller, events)
        opened = app.screen.keys_from - READ_SECONDS
        for key, char in (("left", None), ("enter", "\r")):
            event = textual_events.Key(key, char)
            event.time = opened + READ_SECONDS / 2  # arrived while it was still new
            event.set_sender(app)
            app._driver.send_message(event)
            await pilot.pause()
        await pilot.pause()
        assert screen_name(app) == "HeldScreen" and app.focused.id == "later"
        assert controller.engine.activations[held["activation"]].state == "held"
        await pilot.press("left", "enter")  # read, then answered: it counts
        await events.wait("confirmed", activation=held["activation"])


async def test_a_new_alarm_is_announced_whatever_screen_is_open(running):
    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        await pilot.press("j")
        await until(pilot, lambda: screen_name(app) == "JournalScreen")
        code, out = await dabyl(controller, "trigger", "fire")
        assert code == 0, out
        await until(pilot, lambda: any("Өрт" in n.message for n in app._notifications))
        note = next(n for n in app._notifications if "Өрт" in n.message)
        assert note.severity == "error"
        # (Textual draws no toasts under test: the note itself is what is checked above.)
        await until(pilot, lambda: "ДАБЫЛ: 1" in visible(app, "#top"))  # mode and count
        await pilot.press("j")  # one key back to the alarm
        await until(pilot, lambda: screen_name(app) == "MainScreen")
        app.clear_notifications()
        await pilot.press("h")
        await until(pilot, lambda: screen_name(app) == "HelpScreen")
        await controller.engine.trigger("explosion", source="input", origin="x")
        await until(pilot, lambda: any("Ғимараттағы жарылыс" in n.message
                                       for n in app._notifications))


async def test_a_dead_controller_shows_nothing_as_live(tmp_path, audio_cache):
    controller, events = await controller_in(tmp_path, audio_cache, "kk")
    config = controller.config.source
    app = DabylApp(controller.server.path)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await app.connected.wait()
            await controller.engine.trigger("fire", source="operator", origin="t")
            await until(pilot, lambda: "Ойнап тұр" in visible(app, "#act-head")
                        and "♪" in visible(app, "#zones-state"))
            assert "✓ Реле тақтасы" in visible(app, "#devices")
            await controller.stop()
            await until(pilot, lambda: "БАЙЛАНЫС ЖОҚ" in visible(app, "#top"))
            await pilot.pause()
            assert "✓" not in visible(app, "#devices"), visible(app, "#devices")
            assert "Ойнап тұр" not in visible(app, "#act-head")
            assert "♪" not in visible(app, "#zones-state")
            zones = visible(app, "#zones-state")
            assert "Өрт" not in zones and strings("kk")["stale"] in zones, zones
            banner = visible(app, "#offline")
            assert "dabyl" in banner and flat(strings("kk")["offline_banner"]) in flat(banner)
            elapsed = re.search(r"Өтті (\S+)", visible(app, "#act-head")).group(1)
            clock = re.search(r"\d\d:\d\d:\d\d", visible(app, "#top")).group(0)
            for _ in range(2):  # two ticks of the console's clock
                await until(pilot, lambda c=clock: re.search(
                    r"\d\d:\d\d:\d\d", visible(app, "#top")).group(0) != c)
                clock = re.search(r"\d\d:\d\d:\d\d", visible(app, "#top")).group(0)
            assert f"Өтті {elapsed}" in visible(app, "#act-head"), "the time stopped"
            controller, events = await start_controller(config)
            await until(pilot, lambda: "✓ Реле тақтасы" in visible(app, "#devices"))
            assert not app.main.query_one("#offline").display
    finally:
        await controller.stop()


@pytest.mark.parametrize("lang", ["kk", "ru"])
async def test_every_checklist_item_is_shown_in_full_at_80x24(tmp_path, audio_cache, lang):
    controller, events = await controller_in(tmp_path, audio_cache, lang)
    try:
        app = DabylApp(controller.server.path)
        async with app.run_test(size=(80, 24)) as pilot:
            await app.connected.wait()
            for sid, scenario in controller.library.scenarios.items():
                act = await controller.engine.trigger(sid, source="operator", origin="t")
                await until(pilot, lambda act=act: app.selected == act.id)
                checklist = app.main.query_one("#checklist")
                for role in ("staff", "leader"):
                    if app.role != role:
                        await pilot.press("r")
                    texts = [f"{i + 1}. {t}" for i, t in
                             enumerate(getattr(scenario.checklist, role).model_dump()[lang])]
                    for block in scenario.info:
                        texts.append(" ".join([block.title.model_dump()[lang],
                                               *(f"• {t}" for t in
                                                 block.items.model_dump()[lang])]))
                    count = len(texts)
                    await until(pilot, lambda c=checklist, n=count: c.option_count == n)
                    for index, text in enumerate(texts):
                        # The item, and (for an item taller than the list) the pages after.
                        checklist.highlighted = index
                        await pilot.pause()
                        seen = visible(app, checklist)
                        step = checklist.scrollable_content_region.height - 1
                        for _ in range(-(-checklist._heights[index] // step) - 1):
                            checklist.scroll_relative(y=step, animate=False)
                            await pilot.pause()
                            seen += "\n" + visible(app, checklist)
                        missing = set(re.findall(r"\w+", text)) - set(re.findall(r"\w+", seen))
                        assert not missing, (sid, role, text, missing)
                controller.engine.clear(act.id, "t")
                await until(pilot, lambda: app.current() is None)
    finally:
        await controller.stop()


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
async def test_every_bar_reads_in_full_at_80x24(tmp_path, audio_cache, lang):
    from controller.client import AsyncClient

    controller, events = await controller_in(tmp_path, audio_cache, lang)
    s = strings(lang)
    try:
        app = DabylApp(controller.server.path)
        async with app.run_test(size=(80, 24)) as pilot:
            await app.connected.wait()
            client = AsyncClient(controller.server.path)
            await client.connect()
            await client.request("threat_level", level="raised")
            await client.close()
            await controller.engine.trigger("armed_attack", source="operator", origin="t")
            await until_held(pilot, app, controller, events)
            await pilot.press("escape")
            await until(pilot, lambda: screen_name(app) == "MainScreen")
            for drill in (False, True):
                await pilot.pause()
                top = visible(app, "#top")
                assert (s["drill_mode_short"] if drill else s["real_mode_short"]) in top, top
                assert s["held_waiting"] in top and s["threat_short"] in top, top
                await pilot.press("d")
            titles = []
            lines = visible(app, "#scenarios").splitlines()
            for i, sid in enumerate(app.site.scenario_keys, 1):
                title = app.site.short_title(sid)
                assert any(f"F{i} {title}" in line for line in lines), (title, lines)
                titles.append(title)
            assert len(set(titles)) == len(titles) and "…" not in "\n".join(lines)
            lines = visible(app, "#keys").splitlines()
            for key in MAIN:
                if key.action in ("silence", "clear", "form", "decide", "next_alarm", "help",
                                  "quit"):
                    said = s.get(key.label + "_short", s[key.label])
                    assert any(f"{key.shown()}  {said}" in line for line in lines), (key, lines)
            assert len(lines) == 2, lines
    finally:
        await controller.stop()


async def test_the_caller_form_keeps_answers_and_asks_before_losing_them(running):
    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        act = await controller.engine.trigger("phone_threat", source="operator", origin="t")
        await until(pilot, lambda: app.current() is not None)
        await pilot.press("p")
        await until(pilot, lambda: screen_name(app) == "FormScreen")
        await pilot.press(*"ер адам, 40 жас", "ctrl+s")
        await events.wait("form", activation=act.id)
        await until(pilot, lambda: app.current()["answers"].get("caller"))
        await pilot.press("p")
        await until(pilot, lambda: screen_name(app) == "FormScreen")
        await pilot.press("x")
        assert app.screen.query_one("#f-caller").value == "ер адам, 40 жасx"
        assert app.screen.query_one("#no").label.plain != strings("kk")["no"]
        await pilot.press("escape")  # unsaved: it asks, and staying is the default
        await until(pilot, lambda: screen_name(app) == "ConfirmScreen")
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(app) == "FormScreen")
        assert app.screen.query_one("#f-caller").value == "ер адам, 40 жасx"
        await pilot.press("backspace", "escape")  # nothing changed: it closes at once
        await until(pilot, lambda: screen_name(app) == "MainScreen")


async def test_the_chosen_object_shows_both_distances(running):
    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        await controller.engine.trigger("suspicious_object", source="operator", origin="t",
                                        parameters={"object": "grenade"})
        await until(pilot, lambda: "Граната" in visible(app, "#act-head"))
        head = flat(visible(app, "#act-head"))
        assert "Келушілер, кемінде, м: 100" in head and "Қоршау аймағы, м: 50" in head, head


async def test_arrows_in_the_trigger_dialog_and_the_first_enter_ticks(running):
    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        await pilot.press("f9")
        await until(pilot, lambda: screen_name(app) == "TriggerScreen")
        assert app.focused.id == "no"
        await pilot.press("right")
        assert app.focused.id == "yes"
        await pilot.press("left")
        assert app.focused.id == "no"
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(app) == "MainScreen")
        act = await controller.engine.trigger("fire", source="operator", origin="t")
        await until(pilot, lambda: "101" in visible(app, "#act-head"))
        await pilot.press("enter")
        tick = await events.wait("checklist_tick", activation=act.id, timeout=3)
        assert tick["item"] == 0 and tick["done"] is True


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
async def test_the_words_of_the_newcomers_pass(tmp_path, audio_cache, lang):
    controller, events = await controller_in(tmp_path, audio_cache, lang)
    s = strings(lang)
    try:
        app = DabylApp(controller.server.path)
        async with app.run_test(size=(80, 24)) as pilot:
            await app.connected.wait()
            if lang == "kk":
                for key in ("suspended", "f_suspended", "held_title"):
                    assert "тоқтатыл" not in s[key].lower(), s[key]
            assert s["cancel"] != s["no"]
            # The scenarios that broadcast nothing say so instead of ticking a zone.
            for i in (2, 3, 5):
                await pilot.press(f"f{i}")
                await until(pilot, lambda: screen_name(app) == "TriggerScreen")
                await pilot.pause()
                text = flat(visible(app, app.screen.query_one(".dialog")))
                assert "☑" not in text and flat(s["nothing_broadcast"]) in text, text
                await pilot.press("escape")
                await until(pilot, lambda: screen_name(app) == "MainScreen")
            fire = await controller.engine.trigger("fire", source="operator", origin="t")
            other = await controller.engine.trigger("suspicious_object", source="operator",
                                                    origin="t")
            controller.engine.clear(other.id, "t")
            await events.wait("still_open")
            await until(pilot, lambda: len(app.status["activations"]) == 1)
            await pilot.pause()
            title = fire.scenario.title[text_lang(lang)]
            log = flat(visible(app, "#log"))
            assert f"{title}: {title}" not in log and not log.endswith(f": {title}"), log
            controller.engine.clear(fire.id, "t")
            drill = await controller.engine.trigger("fire", source="operator", origin="t",
                                                    drill=True)
            controller.engine.clear(drill.id, "t")
            await asyncio.to_thread(controller.journal.flush, 5)
            await pilot.press("j")
            await until(pilot, lambda: screen_name(app) == "JournalScreen")
            await until(pilot, lambda: app.screen.query_one("#activations").row_count >= 1)
            await pilot.press("e")
            await until(pilot, lambda: screen_name(app) == "DrillRecordScreen")
            app.clear_notifications()
            await pilot.press("ctrl+s")
            await until(pilot, lambda: list(app._notifications))
            notes = [n.message for n in app._notifications]
            assert notes == [s["participants_needed"]], notes
    finally:
        await controller.stop()


def test_the_fire_checklist_spells_current_right():
    text = (Path(__file__).parent.parent / "scenarios" / "fire.toml").read_text()
    assert "токтан" not in text and "тоқтан ажырату" in text
