"""Drills and the inspector's records: schedule, missed runs, drill records, the
after-action report, Annex 2 and Annex 3 documents, the raised threat level."""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import docx
import pytest

from controller.config import ScheduleEntry, load_config
from controller.journal import Journal
from controller.records import after_action, may_switch, write_annex2, write_annex3
from controller.scenarios import load_library
from controller.schedule import cron_trigger, runs_between
from tests.conftest import make_site, start_controller

ALMATY = ZoneInfo("Asia/Almaty")


def test_cron_weekdays_count_from_sunday_like_cron():
    monday_nine = cron_trigger("0 9 * * 1", "Asia/Almaty")
    sunday = datetime(2026, 11, 22, 12, 0, tzinfo=ALMATY)  # a Sunday
    assert monday_nine.get_next_fire_time(None, sunday) == datetime(2026, 11, 23, 9, 0,
                                                                     tzinfo=ALMATY)
    weekdays = cron_trigger("30 8 * * 1-5", "Asia/Almaty")
    saturday = datetime(2026, 11, 28, 0, 0, tzinfo=ALMATY)
    assert weekdays.get_next_fire_time(None, saturday).weekday() == 0
    with pytest.raises(ValueError):
        cron_trigger("0 9 * *", "Asia/Almaty")


def test_runs_between_counts_every_due_time():
    entry = ScheduleEntry(id="hourly", cron="0 * * * *", action="selftest")
    since = datetime(2026, 11, 22, 8, 30, tzinfo=ALMATY)
    runs = runs_between(entry, "Asia/Almaty", since, since + timedelta(hours=3))
    assert [r.hour for r in runs] == [9, 10, 11]


def _scheduled(cron: str, action: str = "drill"):
    def change(cfg):
        entry = {"id": "test_entry", "cron": cron, "action": action}
        if action == "drill":
            entry["scenario"] = "collapse"
        cfg["schedule"] = [entry]

    return change


async def test_a_scheduled_drill_runs_by_itself_and_lands_in_annex2(tmp_path, audio_cache):
    # Every second (a leading seconds field), so the test does not wait a minute.
    config_path = make_site(tmp_path, audio_cache, change=_scheduled("* * * * * *"), pauses=0.05)
    controller, events = await start_controller(config_path)
    try:
        run = await events.wait("schedule_run", entry="test_entry", timeout=5)
        assert run["action"] == "drill"
        triggered = await events.wait("triggered", source="schedule", timeout=5)
        assert triggered["origin"] == "test_entry" and triggered["drill"] is True
        act = triggered["activation"]
        await events.wait("cleared", activation=act, timeout=30)
        controller.schedule.stop()  # one drill is enough for this test
        reply = await controller.handle(
            __import__("controller.api", fromlist=["DrillRecord"]).DrillRecord(
                op="drill_record", activation=act, participants=14, remarks="Шығу 3 минут"),
            "t")
        assert reply == {"journaled": True}
        await asyncio.to_thread(controller.journal.flush, 5)
    finally:
        await controller.stop()
    config = load_config(config_path)
    library = load_library(config.scenarios_dir, config)
    rows = config.path(config.control.journal)
    for lang, topic_word, heading in (("ru", "Основные требования", "Раздел 2. Мероприятия"),
                                      ("kk", "қауіпсіздік шараларының", "2-бөлім. Іс-шаралар")):
        out = tmp_path / f"annex2-{lang}.docx"
        briefings, drills = write_annex2(out, rows, library, config, lang, None, None)
        assert drills >= 1
        document = docx.Document(str(out))
        text = "\n".join(p.text for p in document.paragraphs)
        assert heading in text
        table = document.tables[1]
        header = [c.text for c in table.rows[0].cells]
        assert len(header) == 6
        first = [c.text for c in table.rows[2].cells]
        assert first[0] == "1"
        assert topic_word in first[2]
        assert act in first[3] and "Шығу 3 минут" in first[3]
        assert first[4] == "14"
        with out.with_suffix(".csv").open(encoding="utf-8") as fh:
            assert any("14" in row for row in csv.reader(fh))


async def test_a_drill_missed_while_down_is_reported_at_start(tmp_path, audio_cache):
    config_path = make_site(tmp_path, audio_cache, change=_scheduled("0 * * * *", "selftest"))
    # The journal of a controller that last wrote something three hours ago.
    journal = Journal(tmp_path / "journal.sqlite")
    journal.open()
    journal.append("controller_started", ts=(datetime.now(UTC) - timedelta(hours=3)).isoformat())
    journal.append("controller_stopped", ts=(datetime.now(UTC) - timedelta(hours=3)).isoformat())
    assert journal.flush()
    journal.close()
    controller, events = await start_controller(config_path)
    try:
        missed = await events.wait("schedule_missed", entry="test_entry")
        assert missed["count"] in (2, 3)  # every full hour in the last three
        fault = controller.faults.active["notice:missed:test_entry"]
        assert "missed" in fault.message
        assert not [e for e in events.drain() if e["kind"] == "schedule_run"], "not run late"
        assert controller.faults.acknowledge("notice:missed:test_entry", "t")
        assert "notice:missed:test_entry" not in controller.faults.active
    finally:
        await controller.stop()


def test_annex3_schedule_from_the_configured_drills(tmp_path, audio_cache):
    def drills(cfg):
        cfg["schedule"] = [
            {"id": "fire_spring", "cron": "0 11 15 3 *", "action": "drill", "scenario": "fire"},
            {"id": "attack_quarterly", "cron": "0 10 1 1,4,7,10 *", "action": "drill",
             "scenario": "armed_attack"},
            {"id": "weekly_selftest", "cron": "0 9 * * 1", "action": "selftest"},
        ]

    config = load_config(make_site(tmp_path, audio_cache, change=drills))
    library = load_library(config.scenarios_dir, config)
    for lang, word in (("ru", "Порядок действия при нападении"), ("kk", "шабуыл жасау кезіндегі")):
        out = tmp_path / f"annex3-{lang}.docx"
        assert write_annex3(out, config, library, 2027, lang) == 5
        table = docx.Document(str(out)).tables[0]
        rows = [[c.text for c in r.cells] for r in table.rows[2:]]
        assert [r[3] for r in rows] == ["01.01.2027 10:00", "15.03.2027 11:00", "01.04.2027 10:00",
                                        "01.07.2027 10:00", "01.10.2027 10:00"]
        assert word in rows[0][1]


async def test_raised_threat_level_runs_a_selftest_and_survives_a_restart(site):
    from controller import api

    controller, events = await start_controller(site)
    try:
        reply = await controller.handle(api.ThreatLevel(op="threat_level", level="raised"), "t")
        assert reply["selftest"] and any("pulsed" in r["detail"] for r in reply["selftest"])
        await events.wait("selftest")
        status = await controller.handle(api.Status(op="status"), "t")
        assert status["status"]["threat_level"] == "raised"
    finally:
        await controller.stop()
    controller, events = await start_controller(site)
    try:
        assert controller.threat_level == "raised"
    finally:
        await controller.stop()


async def test_after_action_report_has_the_key_times(running):
    controller, events = running
    act = await controller.engine.trigger("explosion", source="operator", origin="t", drill=True)
    await events.wait("first_audio", activation=act.id)
    while act.id not in (await events.wait("output", ok=True)).get("wanted_by", []):
        pass  # until its own relays' acknowledgement is journaled
    controller.engine.clear(act.id, "t")
    await asyncio.to_thread(controller.journal.flush, 5)
    report = after_action(controller.journal.path, act.id,
                          may_switch(controller.config, controller.library))
    times = report["key_times_s"]
    assert times["trigger_to_first_relay"] is not None and times["trigger_to_first_relay"] >= 0
    assert times["trigger_to_first_audio"] is not None
    assert times["trigger_to_clear"] >= times["trigger_to_first_relay"]
    kinds = [r["kind"] for r in report["timeline"]]
    assert kinds[0] == "triggered" and "cleared" in kinds and "output" in kinds


async def test_drill_record_refuses_a_real_alarm(running):
    from controller import api
    from controller.errors import RequestInvalid

    controller, events = running
    act = await controller.engine.trigger("fire", source="operator", origin="t")
    with pytest.raises(RequestInvalid, match="real alarm"):
        await controller.handle(api.DrillRecord(op="drill_record", activation=act.id,
                                                participants=3), "t")
