"""The terminal UI, driven by Textual's Pilot against a real controller.

Everything goes through the control socket, as with a duty officer at the keyboard.
"""

from __future__ import annotations

import asyncio
import html
import os
import re
from pathlib import Path

from textual.widgets import SelectionList, Static

from drivers.simulator import SimulatedBoard
from tests.conftest import make_site, start_controller
from tui.app import ConfirmScreen, DabylApp, FormScreen, HeldScreen, JournalScreen, TriggerScreen


def text_of(app: DabylApp, selector: str) -> str:
    return str(app.query_one(selector, Static).content)


async def until(pilot, predicate, timeout: float = 10.0) -> None:
    """Let the app process messages until the predicate holds."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await pilot.pause(0.02)


async def test_real_alarm_needs_confirmation_and_defaults_to_no(running):
    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        assert "ТЫНЫШ" in text_of(app, "#top") or "АҚАУ" in text_of(app, "#top")
        await pilot.press("f9")
        await until(pilot, lambda: isinstance(app.screen, TriggerScreen))
        assert "НАҚТЫ ДАБЫЛ" in str(app.screen.query_one(".real-banner").content)
        assert app.focused.id == "no", "the safe answer has the focus"
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, TriggerScreen))
        assert controller.engine.activations == {}
        await pilot.press("f9")
        await until(pilot, lambda: isinstance(app.screen, TriggerScreen))
        await pilot.press("tab", "enter")
        event = await events.wait("triggered", scenario="fire")
        assert event["drill"] is False
        await until(pilot, lambda: "ДАБЫЛ" in text_of(app, "#top"))
        assert "Өрт" in text_of(app, "#act-head")
        assert "101" in text_of(app, "#act-head")


async def test_drill_mode_parameters_and_zone_narrowing(running):
    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        await pilot.press("d", "f1")
        await until(pilot, lambda: isinstance(app.screen, TriggerScreen))
        screen = app.screen
        assert "ОҚУ-ЖАТТЫҒУ" in str(screen.query_one(".drill-banner").content)
        screen.query_one("#param-object").value = "suitcase"
        zones = screen.query_one("#zones", SelectionList)
        zones.deselect("yard")
        await pilot.pause()
        await pilot.click("#yes")
        event = await events.wait("triggered", scenario="suspicious_object")
        assert event["drill"] is True
        assert event["parameters"] == {"object": "suitcase"}
        assert "yard" not in event["zones"] and "hall" in event["zones"]


async def test_checklist_tick_silence_and_clear_by_keyboard(running):
    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        act = await controller.engine.trigger("fire", source="operator", origin="t")
        await until(pilot, lambda: app.current() is not None)
        checklist = app.query_one("#checklist", SelectionList)
        checklist.focus()
        await pilot.press("down", "down", "space")
        tick = await events.wait("checklist_tick", activation=act.id)
        assert tick["role"] == "staff" and tick["done"] is True
        assert tick["item"] == checklist.highlighted
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("tab", "enter")
        await events.wait("silenced", activation=act.id)
        await until(pilot, lambda: "ДЫБЫС ӨШІК" in text_of(app, "#act-head"))
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("tab", "enter")
        await events.wait("cleared", activation=act.id)
        await until(pilot, lambda: app.current() is None)


async def test_panic_press_and_held_evacuation_appear_at_once(running):
    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        await controller.press("panic_office", 0.3, "t")
        await events.wait("triggered", scenario="armed_attack")
        await until(pilot, lambda: "Қарулы шабуыл" in text_of(app, "#act-head"))
        await controller.press("call_point_lobby", 0.3, "t")
        held = await events.wait("held")
        await until(pilot, lambda: isinstance(app.screen, HeldScreen))
        assert app.focused.id == "decline"
        await pilot.press("tab", "enter")
        await events.wait("confirmed", activation=held["activation"])


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
            await until(pilot, lambda: "байланыста" in text_of(app, "#devices"))
            await board.stop()
            await events.wait("fault", key="device:board1")
            await until(pilot, lambda: "БАЙЛАНЫС ЖОҚ" in text_of(app, "#devices"))
            assert "board1 (modbus-coils" in text_of(app, "#faults")
            await pilot.press("a")
            await events.wait("fault_acknowledged", key="device:board1")
    finally:
        await controller.stop()


async def test_two_uis_see_the_same_alarm_and_closing_one_keeps_the_controller(running):
    controller, events = running
    first, second = DabylApp(controller.server.path), DabylApp(controller.server.path)
    async with first.run_test(size=(80, 24)) as p1, second.run_test(size=(100, 30)) as p2:
        await first.connected.wait()
        await second.connected.wait()
        await controller.engine.trigger("explosion", source="operator", origin="t", drill=True)
        await until(p1, lambda: "Ғимараттағы жарылыс" in text_of(first, "#act-head"))
        await until(p2, lambda: "Ғимараттағы жарылыс" in text_of(second, "#act-head"))
    assert controller.engine.activations, "closing the UIs leaves the controller and alarm"
    assert controller.server._server is not None


async def test_phone_form_and_journal_browser(running):
    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        act = await controller.engine.trigger("phone_threat", source="operator", origin="t")
        await until(pilot, lambda: app.current() is not None)
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, FormScreen))
        app.screen.query_one("#f-q_demands").value = "требует деньги"
        app.screen.query_one("#f-tempo").value = "жылдам"
        await pilot.press("ctrl+s")
        form = await events.wait("form", activation=act.id)
        assert form["answers"] == {"q_demands": "требует деньги", "tempo": "жылдам"}
        controller.engine.clear(act.id, "t")
        await asyncio.to_thread(controller.journal.flush, 5)
        await pilot.press("j")
        await until(pilot, lambda: isinstance(app.screen, JournalScreen))
        table = app.screen.query_one("#activations")
        await until(pilot, lambda: table.row_count >= 1)
        await pilot.press("enter")
        timeline = app.screen.query_one("#timeline")
        await until(pilot, lambda: timeline.row_count >= 3)
        kinds = [timeline.get_row_at(i)[1] for i in range(timeline.row_count)]
        assert "triggered" in kinds and "form" in kinds and "cleared" in kinds


async def test_help_lists_every_key(running):
    controller, _ = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        await pilot.press("question_mark")
        await pilot.pause()
        text = "\n".join(str(w.content) for w in app.screen.query(Static))
        for key in ("F1", "F10", "Silence", "Clear", "Journal", "Drill mode"):
            assert key in text, key


# -- snapshots: the screen's text at 80×24, volatile parts masked ----------------------

SNAPSHOTS = Path(__file__).parent / "snapshots"
CHAR_WIDTH, LINE_HEIGHT, FIRST_LINE = 12.2, 24.4, 20.0


def screen_text(app: DabylApp) -> str:
    """The screen as text lines, rebuilt from Textual's SVG export."""
    svg = app.export_screenshot()
    rows: dict[int, list[tuple[int, str]]] = {}
    for x, y, content in re.findall(r'<text[^>]*x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', svg):
        row = (float(y) - FIRST_LINE) / LINE_HEIGHT
        if abs(row - round(row)) > 0.01:
            continue  # the window title, not a terminal line
        rows.setdefault(round(row), []).append((round(float(x) / CHAR_WIDTH), html.unescape(content)))
    lines = []
    for r in range(max(rows) + 1 if rows else 0):
        line = ""
        for col, chunk in sorted(rows.get(r, [])):
            line = line.ljust(col) + chunk
        lines.append(line.replace("\xa0", " ").rstrip())
    text = "\n".join(lines)
    text = re.sub(r"\d{4}-\d\d-\d\d", "YYYY-MM-DD", text)
    text = re.sub(r"\d\d:\d\d:\d\d", "HH:MM:SS", text)
    text = re.sub(r"\d\d:\d\d", "MM:SS", text)
    text = re.sub(r"tmp[\w]{8}", "TMP", text)
    text = re.sub(r"-[0-9a-f]{6}\b", "-ID", text)
    return text + "\n"


def assert_snapshot(app: DabylApp, name: str) -> None:
    actual = screen_text(app)
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("DABYL_UPDATE_SNAPSHOTS"):
        path.write_text(actual)
    assert path.exists(), f"no snapshot {path}; run with DABYL_UPDATE_SNAPSHOTS=1 and review it"
    assert actual == path.read_text(), f"screen differs from {path}:\n{actual}"


async def test_snapshots_of_the_main_states(running):
    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        await pilot.pause()
        assert_snapshot(app, "quiescent")
        await pilot.press("f9")
        await until(pilot, lambda: isinstance(app.screen, TriggerScreen))
        await pilot.pause()
        assert_snapshot(app, "trigger_dialog")
        await pilot.press("escape")
        act = await controller.engine.trigger("fire", source="operator", origin="t", drill=True)
        await until(pilot, lambda: app.current() is not None)
        controller.engine.silence(act.id, "t")
        await until(pilot, lambda: "ДЫБЫС ӨШІК" in text_of(app, "#act-head"))
        await until(pilot, lambda: not any(z["routed"] for z in app.status["zones"].values()))
        app.query_one("#log").clear()
        await pilot.pause()
        assert_snapshot(app, "drill_active")


async def test_ui_speaks_the_site_language(tmp_path, audio_cache):
    for language, mode, idle in (("ru", "НОРМА", "Тревоги нет"), ("en", "QUIESCENT", "No alarm")):
        directory = tmp_path / language
        directory.mkdir()

        def choose(cfg, language=language):
            cfg["site"]["ui_language"] = language
            cfg["audio"]["output"] = "wav"

        controller, events = await start_controller(make_site(directory, audio_cache,
                                                              change=choose))
        try:
            controller.faults.clear("audio:output")  # so the mode shows as quiescent
            app = DabylApp(controller.server.path)
            async with app.run_test(size=(80, 24)) as pilot:
                await app.connected.wait()
                await app.refresh_status()
                await until(pilot, lambda app=app, mode=mode: mode in text_of(app, "#top"))
                assert idle in text_of(app, "#act-head")
                # Scenario titles: Russian for both (they exist in kk and ru).
                assert "Пожар" in str(app.query_one("#sc-fire").label)
        finally:
            await controller.stop()


async def test_briefing_and_drill_record_from_the_journal_browser(running):
    from tui.app import BriefingScreen, DrillRecordScreen

    controller, events = running
    app = DabylApp(controller.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.connected.wait()
        act = await controller.engine.trigger("fire", source="operator", origin="t", drill=True)
        controller.engine.clear(act.id, "t")
        await pilot.press("j")
        await until(pilot, lambda: isinstance(app.screen, JournalScreen))
        await until(pilot, lambda: app.screen.query_one("#activations").row_count >= 1)
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, BriefingScreen))
        app.screen.query_one("#person").value = "Ахметов Ерлан"
        app.screen.query_one("#by").value = "Сейітов Бауыржан, имам"
        app.screen.query_one("#kind").value = "unplanned"
        await pilot.press("ctrl+s")
        briefing = await events.wait("briefing")
        assert briefing["person"] == "Ахметов Ерлан" and briefing["briefing"] == "unplanned"
        await until(pilot, lambda: isinstance(app.screen, JournalScreen))
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, DrillRecordScreen))
        app.screen.query_one("#participants").value = "17"
        await pilot.press("ctrl+s")
        record = await events.wait("drill_record", activation=act.id)
        assert record["participants"] == 17
