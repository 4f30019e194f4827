"""The engine's rules, each against a running controller and a real Modbus device.

Coil states are read back over the wire by an independent master (raw frames),
not through dabyl's own driver.
"""

from __future__ import annotations

import asyncio
import csv

import pytest

from controller.errors import RequestInvalid
from drivers.simulator import SimulatedBoard
from tests.conftest import coil_map, make_site, read_coils, start_controller, wait_coils


def _sim(controller) -> SimulatedBoard:
    return controller.devices.simulators["board1"]


async def test_fire_drill_runs_through_and_ends_by_itself(tmp_path, audio_cache):
    controller, events = await start_controller(make_site(tmp_path, audio_cache, pauses=0.05))
    try:
        ch = coil_map(controller)
        act = await controller.engine.trigger("fire", source="operator", origin="test", drill=True)
        await events.wait("triggered", activation=act.id, drill=True)
        coils = await wait_coils(_sim(controller), {ch["strobe"]: True, ch["amp_power"]: True})
        assert coils[ch["siren"]] is False, "a drill never sounds the siren on this site"
        assert coils[ch["power_cut"]] is False
        ended = await events.wait("cleared", activation=act.id, timeout=30)
        assert ended["reason"] == "drill completed"
        await wait_coils(_sim(controller), {c: False for c in ch.values()})
        labels = [e["label"] for e in events.drain()
                  if e["kind"] == "announcement_started" and e["activation"] == act.id]
        assert labels == ["drill_preamble", "fire-public", "drill_marker", "fire-staff",
                          "drill_marker", "fire-public", "drill_marker", "fire-staff",
                          "drill_closing"], "every drill message says it is a drill"
        markers = [e for e in events.seen if e["kind"] == "announcement_started"
                   and e["label"] == "drill_marker"]
        assert [m["zones"] for m in markers] == [["office"], ["hall", "lobby", "yard"],
                                                 ["office"]], "each in its message's zones"
        staff = [e for e in events.seen if e["kind"] == "announcement_started"
                 and e["label"] == "fire-staff"]
        assert all(e["zones"] == ["office"] for e in staff)
        rows = list(csv.DictReader((tmp_path / "wav" / "index.csv").open()))
        assert [r["label"] for r in rows][:2] == ["drill_preamble", "fire-public"]
    finally:
        await controller.stop()


async def test_real_fire_silence_then_clear(running):
    controller, events = running
    ch = coil_map(controller)
    act = await controller.engine.trigger("fire", source="operator", origin="test")
    await wait_coils(_sim(controller), {ch["siren"]: True, ch["strobe"]: True,
                                        ch["power_cut"]: True})
    assert controller.engine.mode() == "ALARM"
    controller.engine.silence(act.id, "test")
    await events.wait("silenced", activation=act.id)
    coils = await wait_coils(_sim(controller), {ch["siren"]: False})
    assert coils[ch["strobe"]] is True, "silence keeps the alarm latched (strobe stays)"
    assert act.id in controller.engine.activations
    controller.engine.clear(act.id, "test")
    await events.wait("cleared", activation=act.id)
    notice = await events.wait("announcement_started", label="all_clear")
    assert set(notice["zones"]) == {"hall", "lobby", "yard", "office"}
    await events.wait("announcement_ended", label="all_clear")
    await wait_coils(_sim(controller), {c: False for c in ch.values()})
    assert controller.engine.mode() != "ALARM"


async def test_retrigger_returns_the_same_activation(running):
    controller, events = running
    first = await controller.engine.trigger("shooting", source="operator", origin="a")
    second = await controller.engine.trigger("shooting", source="input", origin="b")
    assert first is second
    await events.wait("retriggered", activation=first.id, origin="b")
    assert len(controller.engine.activations) == 1


async def test_real_alarm_supersedes_a_drill_of_the_same_scenario(running):
    controller, events = running
    drill = await controller.engine.trigger("fire", source="operator", origin="a", drill=True)
    real = await controller.engine.trigger("fire", source="operator", origin="a")
    assert real.id != drill.id and not real.drill
    ended = await events.wait("cleared", activation=drill.id)
    assert ended["reason"] == "superseded by a real alarm"


async def test_priority_suspends_the_lower_and_resumes_it(tmp_path, audio_cache):
    # Paced like a sound card, so announcements are really in progress.
    controller, events = await start_controller(make_site(tmp_path, audio_cache, pace=1.0))
    try:
        fire = await controller.engine.trigger("fire", source="operator", origin="t")
        await events.wait("announcement_started", activation=fire.id, label="fire-public")
        attack = await controller.engine.trigger("armed_attack", source="operator", origin="t")
        stopped = await events.wait("announcement_ended", activation=fire.id, timeout=5)
        assert stopped["completed"] is False, "the lower announcement is cut off"
        await events.wait("announcement_started", activation=attack.id, label="armed_attack-public")
        status = {a["id"]: a for a in controller.engine.status()["activations"]}
        assert status[fire.id]["suspended"] is True
        assert set(status[attack.id]["held_zones"]) == {"hall", "lobby", "yard", "office"}
        controller.engine.clear(attack.id, "t")
        await events.wait("announcement_started", activation=fire.id, label="fire-public",
                          timeout=5)
        status = {a["id"]: a for a in controller.engine.status()["activations"]}
        assert status[fire.id]["suspended"] is False
        all_clear = [e for e in events.drain() if e["kind"] == "announcement_started"
                     and e["label"] == "all_clear"]
        assert all_clear == [], "no all-clear while the fire still holds every zone"
    finally:
        await controller.stop()


async def test_lockdown_holds_an_automatic_evacuation_for_confirmation(running):
    controller, events = running
    attack = await controller.engine.trigger("armed_attack", source="operator", origin="t")
    press = asyncio.ensure_future(controller.press("call_point_lobby", 0.3, "t"))
    held = await events.wait("triggered", scenario="fire", source="input")
    assert held["state"] == "held" and held["origin"] == "call_point_lobby"
    await events.wait("held", activation=held["activation"])
    notice = await events.wait("announcement_started", label="held_evacuation")
    assert notice["zones"] == ["office"], "staff are told at once, the public is not"
    await press
    fire = controller.engine.activations[held["activation"]]
    assert fire.state == "held"
    assert controller.devices.output_states()["siren"]["wanted"] is False
    controller.engine.confirm(fire.id, "duty officer")
    await events.wait("confirmed", activation=fire.id)
    assert fire.state == "active"
    with pytest.raises(RequestInvalid):
        controller.engine.confirm(fire.id, "duty officer")
    assert attack.state == "active"


async def test_operator_evacuation_during_lockdown_proceeds(running):
    controller, events = running
    await controller.engine.trigger("armed_attack", source="operator", origin="t")
    fire = await controller.engine.trigger("fire", source="operator", origin="t")
    assert fire.state == "active"


async def test_declined_evacuation_ends(running):
    controller, events = running
    await controller.engine.trigger("terrorist_attack", source="operator", origin="t")
    fire = await controller.engine.trigger("collapse", source="schedule", origin="weekly")
    assert fire.state == "held"
    controller.engine.decline(fire.id, "t")
    await events.wait("declined", activation=fire.id)
    assert fire.id not in controller.engine.activations


async def test_panic_input_starts_its_scenario(running):
    controller, events = running
    await controller.press("panic_office", 0.3, "t")
    event = await events.wait("triggered", scenario="armed_attack")
    assert event["source"] == "input" and event["origin"] == "panic_office"
    # Pressed again once the release registered: still one activation.
    await events.wait("input", input="panic_office", active=False)
    await controller.press("panic_office", 0.5, "t")
    await events.wait("retriggered", activation=event["activation"])
    assert len(controller.engine.activations) == 1


async def test_staff_only_scenarios_never_reach_public_zones(tmp_path, audio_cache):
    # Hostage speaks only where the site agreed a code phrase with its staff.
    def code_phrase(cfg):
        cfg["code_phrases"] = {"hostage": {"kk": "Әкімші үшінші кабинетке келсін.",
                                           "ru": "Администратора просят в третий кабинет."}}

    controller, events = await start_controller(make_site(tmp_path, audio_cache,
                                                          change=code_phrase))
    try:
        await _staff_only_never_reach_public_zones(controller, events)
    finally:
        await controller.stop()


async def _staff_only_never_reach_public_zones(controller, events):
    with pytest.raises(RequestInvalid, match="never reaches public zone"):
        await controller.engine.trigger("hostage", source="operator", origin="t", zones=["hall"])
    act = await controller.engine.trigger("hostage", source="operator", origin="t")
    assert act.zones == ["office"]
    started = await events.wait("announcement_started", activation=act.id)
    assert started["zones"] == ["office"] and started["label"] == "hostage-staff"
    ch = coil_map(controller)
    coils = await wait_coils(_sim(controller), {ch["zone_office"]: True})
    assert not any(coils[ch[z]] for z in ("zone_hall", "zone_lobby", "zone_yard"))


async def test_phone_threat_is_silent_and_keeps_the_form(running):
    controller, events = running
    act = await controller.engine.trigger("phone_threat", source="operator", origin="t")
    controller.engine.record_form(act.id, {"voice": "низкий", "q_demands": "деньги"}, "t")
    await events.wait("form", activation=act.id)
    with pytest.raises(RequestInvalid, match="no field"):
        controller.engine.record_form(act.id, {"shoe_size": "42"}, "t")
    controller.engine.tick(act.id, "staff", 2, True, "t")
    tick = await events.wait("checklist_tick", activation=act.id)
    assert tick["item"] == 2 and "продолжительность" in tick["text"]
    assert not [e for e in events.drain() if e["kind"] == "announcement_started"]


async def test_unknown_scenario_zone_or_parameter_changes_nothing(running):
    controller, events = running
    for kwargs in ({"scenario_id": "flood"},
                   {"scenario_id": "fire", "zones": ["roof"]},
                   {"scenario_id": "suspicious_object", "parameters": {"object": "piano"}}):
        sid = kwargs.pop("scenario_id")
        with pytest.raises(RequestInvalid):
            await controller.engine.trigger(sid, source="operator", origin="t", **kwargs)
    assert controller.engine.activations == {}


async def test_outputs_go_to_rest_at_start(tmp_path, audio_cache):
    board = SimulatedBoard(coils=16, inputs=8)
    await board.start()
    try:
        for ch in range(9):
            board._device.setValues(1, ch, [True])
        assert all((await asyncio.to_thread(read_coils, board.port))[:9])

        def external(cfg):
            cfg["devices"][0].update(simulate=False, port=board.port)

        controller, events = await start_controller(make_site(tmp_path, audio_cache, change=external))
        try:
            await wait_coils(board, {ch: False for ch in range(9)})
        finally:
            await controller.stop()
    finally:
        await board.stop()


async def test_lost_device_raises_a_fault_and_gets_its_outputs_back(tmp_path, audio_cache):
    board = SimulatedBoard(coils=16, inputs=8)
    await board.start()
    port = board.port

    def external(cfg):
        cfg["devices"][0].update(simulate=False, port=port, poll_period=0.5, timeout=0.3)

    controller, events = await start_controller(
        make_site(tmp_path, audio_cache, change=external, pauses=0.05))
    try:
        ch = coil_map(controller)
        act = await controller.engine.trigger("fire", source="operator", origin="t")
        await wait_coils(board, {ch["strobe"]: True, ch["siren"]: True})
        await board.stop()
        fault = await events.wait("fault", key="device:board1", timeout=10)
        assert fault["message"].startswith(f"board1 (modbus-coils, 127.0.0.1:{port} unit 1): ")
        assert controller.engine.mode() == "ALARM", "the alarm goes on"
        events.drain()
        for e in events.seen:
            e["_taken"] = True
        await events.wait("announcement_started", activation=act.id, timeout=10)
        results = await controller.selftest("t")
        assert not any(r["ok"] for r in results if r["device"] == "board1")
        board = SimulatedBoard(coils=16, inputs=8, port=port)
        await board.start()
        await events.wait("fault_cleared", key="device:board1", timeout=10)
        await wait_coils(board, {ch["strobe"]: True, ch["siren"]: True})
        assert act.id in controller.engine.activations
    finally:
        await controller.stop()
        await board.stop()


async def test_selftest_checks_every_channel_silently(running):
    controller, events = running
    results = await controller.selftest("t")
    outputs = {r["name"]: r for r in results if r["kind"] == "output"}
    assert set(outputs) == set(controller.config.outputs)
    assert all(r["ok"] for r in outputs.values()), outputs
    assert "pulsed" in outputs["zone_hall"]["detail"] and "pulsed" in outputs["amp_power"]["detail"]
    assert "pulsed" not in outputs["siren"]["detail"], "a sounder is never pulsed"
    inputs = {r["name"]: r for r in results if r["kind"] == "input"}
    assert inputs["panic_office"]["detail"] == "at rest"
    audio = [r for r in results if r["kind"] == "audio"]
    assert audio and audio[0]["ok"] is False, "WAV files are not a loudspeaker"
    event = await events.wait("selftest")
    assert event["checked"] == len(results)
    # During an alarm nothing is pulsed.
    await controller.engine.trigger("fire", source="operator", origin="t")
    results = await controller.selftest("t")
    assert not any("pulsed" in r["detail"] for r in results)


async def test_no_all_clear_while_a_new_alarm_is_live(tmp_path, audio_cache):
    controller, events = await start_controller(make_site(tmp_path, audio_cache, pace=1.0))
    try:
        fire = await controller.engine.trigger("fire", source="operator", origin="t")
        await events.wait("announcement_started", activation=fire.id)
        controller.engine.clear(fire.id, "t")
        await events.wait("announcement_started", label="all_clear")
        shooting = await controller.engine.trigger("shooting", source="operator", origin="t")
        ended = await events.wait("announcement_ended", label="all_clear", timeout=5)
        assert ended["completed"] is False, "the all-clear is cut off by the new alarm"
        await events.wait("announcement_started", activation=shooting.id, timeout=5)
    finally:
        await controller.stop()


async def test_clearing_several_alarms_gives_one_all_clear(running):
    controller, events = running
    a = await controller.engine.trigger("hostage", source="operator", origin="t")
    b = await controller.engine.trigger("suspicious_object", source="operator", origin="t",
                                        zones=["hall"])
    await controller.engine.trigger("phone_threat", source="operator", origin="t")
    controller.engine.clear(None, "t")
    first = await events.wait("announcement_started", label="all_clear")
    # The hostage and the phone threat said nothing: the all-clear goes where the
    # suspicious-object evacuation was heard.
    assert a.scenario.silent and set(first["zones"]) == set(b.zones)
    await events.wait("announcement_ended", label="all_clear")
    assert not [e for e in events.drain() if e["kind"] == "announcement_started"
                and e["label"] == "all_clear" and not e.get("_taken")]
