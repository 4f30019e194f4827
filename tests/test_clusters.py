"""Several alarms at once (issue 11): each case as a duty officer met it, against a
running controller with a real Modbus board; relays read back by raw frames, sound
checked where it is played (WAV index, or PortAudio into an ALSA file)."""

from __future__ import annotations

import asyncio
import ctypes.util
import time

import numpy as np
import pytest

from controller.errors import RequestInvalid
from drivers.simulator import SimulatedBoard
from tests.conftest import coil_map, make_site, start_controller, wait_coils


def _sim(controller) -> SimulatedBoard:
    return controller.devices.simulators["board1"]


def _status(controller) -> dict[str, dict]:
    return {a["id"]: a for a in controller.engine.status()["activations"]}


async def test_the_held_evacuation_notice_stops_once_decided_and_never_blocks(tmp_path,
                                                                               audio_cache):
    """Case 1: the staff notice of a held evacuation is dropped the moment the operator
    decides, and the evacuation (and any new alarm) starts at once."""
    controller, events = await start_controller(make_site(tmp_path, audio_cache, pace=1.0))
    try:
        engine = controller.engine
        attack = await engine.trigger("armed_attack", source="operator", origin="t")
        fire = await engine.trigger("fire", source="input", origin="call_point_lobby")
        assert fire.state == "held"
        notice = await events.wait("announcement_started", label="held_evacuation", timeout=60)
        assert notice["zones"] == ["office"]
        decided = time.monotonic()
        engine.confirm(fire.id, "duty officer")
        ended = await events.wait("announcement_ended", label="held_evacuation", timeout=30)
        assert ended["completed"] is False, "a decided notice is stale: it stops"
        await events.wait("announcement_started", activation=fire.id, timeout=10)
        first = await events.wait("first_audio", activation=fire.id, timeout=10)
        # Its latency counts from the decision, not from the call point's pull.
        assert first["latency_ms"] <= (first["at_mono"] - decided) * 1000 + 0.01
        explosion = await engine.trigger("explosion", source="operator", origin="t")
        await events.wait("first_audio", activation=explosion.id, timeout=10)
        assert attack.id in engine.activations
    finally:
        await controller.stop()


async def test_the_all_clear_reaches_the_zones_no_open_alarm_covers(running):
    """Case 1: two real alarms cleared while a staff-only alarm is still open: the
    all-clear is played in the public zones (never dropped), not in the office."""
    controller, events = running
    engine = controller.engine
    fire = await engine.trigger("fire", source="operator", origin="t")
    collapse = await engine.trigger("collapse", source="operator", origin="t")
    hostage = await engine.trigger("hostage", source="operator", origin="t")  # says nothing
    await events.wait("announcement_started", activation=collapse.id, timeout=30)
    engine.clear(fire.id, "t")
    engine.clear(collapse.id, "t")
    notice = await events.wait("announcement_started", label="all_clear", timeout=30)
    assert set(notice["zones"]) == {"hall", "lobby", "yard"}
    assert hostage.id in engine.activations


async def test_silencing_the_higher_alarm_lets_the_lower_real_one_be_heard(running):
    """Case 2: fire, then shooting, then shooting silenced: the fire is heard again,
    with its amplifier, zones and siren."""
    controller, events = running
    engine = controller.engine
    ch = coil_map(controller)
    fire = await engine.trigger("fire", source="operator", origin="t")
    shooting = await engine.trigger("shooting", source="operator", origin="t")
    await events.wait("announcement_started", activation=shooting.id, timeout=30)
    assert _status(controller)[fire.id]["suspended"] is True
    engine.silence(shooting.id, "t")
    await events.wait("announcement_started", activation=fire.id, label="fire-public", timeout=30)
    status = _status(controller)
    assert status[fire.id]["suspended"] is False
    assert set(status[fire.id]["held_zones"]) == {"hall", "lobby", "yard", "office"}
    assert status[shooting.id]["silenced"] is True
    await wait_coils(_sim(controller), {ch["amp_power"]: True, ch["zone_hall"]: True,
                                        ch["siren"]: True})


async def test_a_confirmed_evacuation_wins_over_the_lockdown(running):
    """Case 3: during an armed attack the operator confirms a fire from a call point:
    the fire takes every zone, the door lock is released, the lockdown is suspended."""
    controller, events = running
    engine = controller.engine
    ch = coil_map(controller)
    attack = await engine.trigger("armed_attack", source="operator", origin="t")
    await wait_coils(_sim(controller), {ch["door_lock"]: True})
    fire = await engine.trigger("fire", source="input", origin="call_point_lobby")
    assert fire.state == "held"
    engine.confirm(fire.id, "duty officer")
    await events.wait("announcement_started", activation=fire.id, label="fire-public", timeout=30)
    coils = await wait_coils(_sim(controller), {ch["door_lock"]: False, ch["siren"]: True})
    assert coils[ch["strobe"]]
    status = _status(controller)
    assert set(status[fire.id]["held_zones"]) == {"hall", "lobby", "yard", "office"}
    assert status[attack.id]["suspended"] is True, "shown as suspended, not gone"
    engine.clear(fire.id, "t")
    await events.wait("announcement_started", activation=attack.id, timeout=30)
    await wait_coils(_sim(controller), {ch["door_lock"]: True})


async def test_an_operator_evacuation_during_a_lockdown_wins_too(running):
    controller, events = running
    engine = controller.engine
    ch = coil_map(controller)
    await engine.trigger("terrorist_attack", source="operator", origin="t")
    fire = await engine.trigger("fire", source="operator", origin="t")
    await events.wait("announcement_started", activation=fire.id, timeout=30)
    await wait_coils(_sim(controller), {ch["door_lock"]: False, ch["siren"]: True})


async def test_silent_activations_stay_open_and_keep_their_zones_all_clear_back(running):
    """Case 4: a phone threat is never "suspended", and the office (where it is open)
    gets no all-clear when another alarm ends."""
    controller, events = running
    engine = controller.engine
    phone = await engine.trigger("phone_threat", source="operator", origin="t")
    written = await engine.trigger("written_threat", source="operator", origin="t")
    shooting = await engine.trigger("shooting", source="operator", origin="t")
    await events.wait("announcement_started", activation=shooting.id, timeout=30)
    status = _status(controller)
    for act in (phone, written):
        assert status[act.id]["suspended"] is False and status[act.id]["silent"] is True
    engine.clear(shooting.id, "t")
    notice = await events.wait("announcement_started", label="all_clear", timeout=30)
    assert "office" not in notice["zones"]
    assert set(notice["zones"]) == {"hall", "lobby", "yard"}
    still = await events.wait("still_open", timeout=5)
    assert set(still["open"]) == {phone.id, written.id}


async def test_no_drill_while_a_real_alarm_is_open_and_a_real_alarm_ends_the_drill(running):
    """A drill and a real alarm never share the loudspeakers: no drill starts while a real
    alarm is open (silenced or silent ones too), and a real alarm ends every drill in its
    zones at once, without the drill's closing."""
    controller, events = running
    engine = controller.engine
    ch = coil_map(controller)
    attack = await engine.trigger("armed_attack", source="operator", origin="t")
    await wait_coils(_sim(controller), {ch["door_lock"]: True})
    engine.silence(attack.id, "t")
    for scenario in ("collapse", "fire"):
        with pytest.raises(RequestInvalid) as refused:
            await engine.trigger(scenario, source="operator", origin="t", drill=True)
        assert refused.value.code == "real_alarm_open"
    assert [a.id for a in engine.activations.values()] == [attack.id]
    assert engine.desired_outputs()[0]["door_lock"] is True
    engine.clear(attack.id, "t")
    hostage = await engine.trigger("hostage", source="operator", origin="t")
    with pytest.raises(RequestInvalid):
        await engine.trigger("suspicious_object", source="operator", origin="t", drill=True)
    engine.clear(hostage.id, "t")
    drill = await engine.trigger("fire", source="operator", origin="t", drill=True)
    await events.wait("first_audio", activation=drill.id, timeout=30)
    shooting = await engine.trigger("shooting", source="operator", origin="t")
    ended = await events.wait("cleared", activation=drill.id, timeout=5)
    assert ended["reason"] == "superseded by a real alarm"
    await events.wait("announcement_started", activation=shooting.id, timeout=30)
    engine.clear(shooting.id, "t")
    notice = await events.wait("announcement_started", label="all_clear", timeout=30)
    assert set(notice["zones"]) == {"hall", "lobby", "yard", "office"}
    labels = [e["label"] for e in events.drain() if e["kind"] == "announcement_started"]
    assert "drill_closing" not in labels, labels


async def test_a_cut_held_evacuation_notice_lets_the_new_alarm_speak_first(tmp_path,
                                                                          audio_cache):
    """Shooting, a call point held, then the operator's own evacuation: the evacuation
    is heard at once, the held notice comes back after its first message."""
    controller, events = await start_controller(make_site(tmp_path, audio_cache, pace=1.0))
    try:
        engine = controller.engine
        await engine.trigger("shooting", source="operator", origin="t")
        fire = await engine.trigger("fire", source="input", origin="call_point_lobby")
        assert fire.state == "held"
        await events.wait("announcement_started", label="held_evacuation", timeout=60)
        collapse = await engine.trigger("collapse", source="operator", origin="t")
        cut = await events.wait("announcement_ended", label="held_evacuation", timeout=10)
        assert cut["completed"] is False
        after = await events.wait("announcement_started", timeout=10)
        assert after["activation"] == collapse.id, after
        again = await events.wait("announcement_started", label="held_evacuation", timeout=60)
        assert again["zones"] == ["office"]
    finally:
        await controller.stop()


async def test_a_lockdown_after_an_overriding_evacuation_takes_over_by_priority(running):
    """Armed attack, then an operator's evacuation (it wins over that lockdown), then a
    terrorist attack: the later lockdown is heard, by its priority."""
    controller, events = running
    engine = controller.engine
    attack = await engine.trigger("armed_attack", source="operator", origin="t")
    explosion = await engine.trigger("explosion", source="operator", origin="t")
    assert explosion.overrides_lockdown is True
    await events.wait("announcement_started", activation=explosion.id, timeout=30)
    terror = await engine.trigger("terrorist_attack", source="operator", origin="t")
    await events.wait("announcement_started", activation=terror.id, timeout=30)
    status = _status(controller)
    assert status[terror.id]["suspended"] is False
    assert set(status[terror.id]["held_zones"]) == {"hall", "lobby", "yard", "office"}
    assert status[attack.id]["suspended"] is True


async def test_what_won_over_what_wins_again_after_a_restart(tmp_path, audio_cache):
    """The order of lockdowns and of the operator's overriding evacuation is read back
    from the journal: after a restart the same alarm holds the zones."""
    site = make_site(tmp_path, audio_cache)
    controller, events = await start_controller(site)
    try:
        engine = controller.engine
        attack = await engine.trigger("armed_attack", source="operator", origin="t")
        fire = await engine.trigger("fire", source="input", origin="call_point_lobby")
        engine.confirm(fire.id, "duty officer")
        terror = await engine.trigger("terrorist_attack", source="operator", origin="t")
        before = {a: s["held_zones"] for a, s in _status(controller).items()}
        await asyncio.to_thread(controller.journal.flush, 5)
    finally:
        await controller.stop()
    assert set(before[terror.id]) == {"hall", "lobby", "yard", "office"}
    controller, events = await start_controller(site)
    try:
        after = {a: s["held_zones"] for a, s in _status(controller).items()}
        assert after == before
        assert {attack.id, fire.id, terror.id} <= set(after)
        controller.engine.clear(terror.id, "t")
        held = {a: s["held_zones"] for a, s in _status(controller).items()}
        assert set(held[fire.id]) == {"hall", "lobby", "yard", "office"}
    finally:
        await controller.stop()


async def test_activations_in_one_lane_take_turns(running):
    """Case 5 on a one-lane site: two alarms on different zones are both heard in the
    first cycle; neither waits for the other's repetitions."""
    controller, events = running
    engine = controller.engine
    obj = await engine.trigger("suspicious_object", source="operator", origin="t",
                               zones=["hall", "lobby"])
    collapse = await engine.trigger("collapse", source="operator", origin="t",
                                    zones=["yard", "office"])
    started = []
    async with asyncio.timeout(60):
        while {obj.id, collapse.id} - {e["activation"] for e in started}:
            started.append(await events.wait("announcement_started"))
    labels = [e["label"] for e in started]
    assert labels.count("collapse-public") <= 1 and labels.count("suspicious_object-public") <= 1


@pytest.mark.skipif(ctypes.util.find_library("portaudio") is None,
                    reason="PortAudio is not installed here (CI installs libportaudio2)")
async def test_two_lanes_play_at_the_same_time_through_portaudio(tmp_path, audio_cache,
                                                                  monkeypatch):
    """Case 5: with the office on a lane of its own (channels 2-3 of a 4-channel card),
    the staff message plays in the office while the public message plays in the hall."""
    home = tmp_path / "home"
    home.mkdir()
    out = tmp_path / "played.raw"
    (home / ".asoundrc").write_text(f"""
pcm.!default {{ type plug; slave {{ pcm "capture"; channels 4 }} }}
pcm.capture {{ type file; slave.pcm "null"; file "{out}"; format "raw" }}
""")
    monkeypatch.setenv("HOME", str(home))

    def two_lanes(cfg):
        cfg["audio"].update(output="default", channels=4,
                            lanes={"staff": {"title": "Кеңсе / Офис"}})
        for zone in ("hall", "lobby", "yard"):
            cfg["zones"][zone]["audio_channel"] = 0
        cfg["zones"]["office"].update(lane="staff", audio_channel=2)

    controller, events = await start_controller(make_site(tmp_path, audio_cache,
                                                          change=two_lanes))
    try:
        assert controller.announcer.status()["sink"] == "sounddevice"
        fire = await controller.engine.trigger("fire", source="operator", origin="t")
        public = await events.wait("announcement_started", label="fire-public", timeout=30)
        staff = await events.wait("announcement_started", label="fire-staff", timeout=30)
        assert (public["lane"], staff["lane"]) == ("main", "staff")
        await events.wait("announcement_ended", label="fire-public", timeout=120)
        await events.wait("announcement_ended", label="fire-staff", timeout=120)
        controller.engine.silence(fire.id, "t")
    finally:
        await controller.stop()
    played = np.frombuffer(out.read_bytes(), dtype=np.int16)
    played = played[: len(played) // 4 * 4].reshape(-1, 4)
    hall, office = played[:, 0], played[:, 2]
    assert not played[:, 1].any() and not played[:, 3].any()

    def sounding(channel: np.ndarray) -> np.ndarray:
        blocks = channel[: len(channel) // 2205 * 2205].reshape(-1, 2205)
        return np.abs(blocks).max(axis=1) > 200

    both = sounding(hall) & sounding(office)
    assert both.sum() > 20, "staff and public messages overlap in time (> 2 s together)"


async def test_sound_waits_for_the_zone_relays(tmp_path, audio_cache):
    """Issue 14 case 6: on a slow board the first frame goes out only after the zone
    and amplifier relays are acknowledged (here the board answers 0.2 s late)."""
    board = SimulatedBoard(coils=16, inputs=8)
    await board.start()
    proxy = await _slow_proxy(board.port, delay=0.2)

    def slow(cfg):
        cfg["devices"][0].update(simulate=False, port=proxy.sockets[0].getsockname()[1],
                                 timeout=2.0)

    controller, events = await start_controller(make_site(tmp_path, audio_cache, change=slow))
    try:
        act = await controller.engine.trigger("fire", source="operator", origin="t")
        first = await events.wait("first_audio", activation=act.id, timeout=30)
        assert first.get("relays_confirmed") is True
        before = events.seen[:events.seen.index(first)]
        acked = {e["output"] for e in before if e["kind"] == "output" and e["ok"]}
        assert {"amp_power", "zone_hall", "zone_lobby", "zone_yard"} <= acked, acked
    finally:
        await controller.stop()
        proxy.close()
        await board.stop()


async def _slow_proxy(port: int, delay: float):
    """A TCP proxy in front of the board that delays every reply: a slow line."""

    async def pipe(reader, writer, late: bool) -> None:
        try:
            while data := await reader.read(4096):
                if late:
                    await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def handle(client_reader, client_writer) -> None:
        board_reader, board_writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.gather(pipe(client_reader, board_writer, False),
                             pipe(board_reader, client_writer, True))

    return await asyncio.start_server(handle, "127.0.0.1", 0)



def test_the_readme_two_lane_example_is_a_valid_site(tmp_path):
    """The README's two-lane snippet, put into the demo site, passes every check."""
    import re
    import tomllib
    from pathlib import Path

    import tomli_w

    from controller.sitecheck import load_site

    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    snippet = re.search(r"### Two audio lanes.*?```toml\n(.*?)```", readme, re.S).group(1)
    extra = tomllib.loads(snippet)
    site = tomllib.loads((root / "config.toml").read_text())
    site["audio"].update(extra["audio"])
    site["zones"] = extra["zones"]
    site["scenarios"] = str(root / "scenarios")
    (tmp_path / "config.toml").write_text(tomli_w.dumps(site))
    config, _library = load_site(tmp_path / "config.toml")
    assert set(config.lanes()) == {"main", "staff"}
    assert config.zones["office"].lane == "staff"


def _code_phrase(cfg) -> None:
    cfg["code_phrases"] = {"hostage": {"kk": "Әкімші үшінші кабинетке келсін.",
                                       "ru": "Администратора просят пройти в третий кабинет."}}


async def test_a_covert_alarm_that_has_spoken_frees_its_zone_and_ends_quietly(tmp_path,
                                                                            audio_cache):
    """A hostage alarm says its code phrase once: after that it holds the office no
    more, so a fire's staff message reaches the office; and it ends with no all-clear
    (that would tell anyone listening that it was there)."""
    controller, events = await start_controller(make_site(tmp_path, audio_cache,
                                                          change=_code_phrase))
    try:
        engine = controller.engine
        hostage = await engine.trigger("hostage", source="operator", origin="t")
        await events.wait("announcement_ended", activation=hostage.id, completed=True,
                          timeout=30)
        fire = await engine.trigger("fire", source="operator", origin="t")
        staff = await events.wait("announcement_started", activation=fire.id,
                                  label="fire-staff", timeout=60)
        assert staff["zones"] == ["office"]
        assert hostage.id in engine.activations, "still open: the console carries it"
        engine.clear(fire.id, "t")
        notice = await events.wait("announcement_started", label="all_clear", timeout=30)
        assert "office" not in notice["zones"], "the hostage alarm is still open there"
        engine.clear(hostage.id, "t")
        await events.wait("cleared", activation=hostage.id)
        queued = [n for lane in engine.lanes.values() for n in lane.notices]
        playing = [lane.playing for lane in engine.lanes.values() if lane.playing]
        assert not any("office" in n.zones for n in queued + playing
                       if n.kind == "all_clear"), "no all-clear after a covert alarm"
    finally:
        await controller.stop()


async def test_the_pause_runs_from_the_end_of_the_first_message(running):
    """On a shared lane the staff message plays within the pause that follows the public
    one: the next cycle is due a pause after the public message, not after the staff."""
    controller, events = running
    fire = await controller.engine.trigger("fire", source="operator", origin="t")
    await events.wait("announcement_ended", activation=fire.id, label="fire-public",
                      completed=True, timeout=60)
    due = fire.lane("main").next_cycle_at
    assert due is not None
    await events.wait("announcement_ended", activation=fire.id, label="fire-staff",
                      completed=True, timeout=60)
    assert fire.lane("main").pause_until == due


async def test_no_scheduled_drill_runs_while_a_real_alarm_is_open(tmp_path, audio_cache):
    def every_second(cfg):
        cfg["schedule"] = [{"id": "monthly", "cron": "* * * * * *", "action": "drill",
                            "scenario": "collapse"}]

    controller, events = await start_controller(make_site(tmp_path, audio_cache,
                                                          change=every_second))
    try:
        fire = await controller.engine.trigger("fire", source="operator", origin="t")
        for drill in [a for a in controller.engine.activations.values() if a.drill]:
            controller.engine.clear(drill.id, "t")  # one that ran before the fire
        since = len(events.drain())
        skipped = await events.wait("schedule_skipped", entry="monthly", timeout=5)
        assert skipped["activation"] == fire.id
        assert "notice:skipped:monthly" in controller.faults.active
        controller.schedule.stop()
        assert not [e for e in events.drain()[since:] if e["kind"] == "triggered"]
        assert all(not a.drill for a in controller.engine.activations.values())
    finally:
        await controller.stop()


async def test_a_silenced_alarm_signalled_again_sounds_again(tmp_path, audio_cache):
    """Silence is "stop this sound": a new press of the panic button is new danger, and
    the alarm is heard again, siren too; a restart keeps it so."""
    site = make_site(tmp_path, audio_cache)
    controller, events = await start_controller(site)
    try:
        engine = controller.engine
        ch = coil_map(controller)
        fire = await engine.trigger("fire", source="operator", origin="t")
        await events.wait("announcement_started", activation=fire.id, timeout=30)
        engine.silence(fire.id, "t")
        await wait_coils(_sim(controller), {ch["siren"]: False})
        await controller.press("call_point_lobby", 0.3, "t")
        again = await events.wait("retriggered", activation=fire.id, timeout=5)
        assert again["sounds_again"] is True
        assert _status(controller)[fire.id]["silenced"] is False
        await events.wait("announcement_started", activation=fire.id, timeout=30)
        await wait_coils(_sim(controller), {ch["siren"]: True})
        await asyncio.to_thread(controller.journal.flush, 5)
    finally:
        await controller.stop()
    controller, events = await start_controller(site)
    try:
        assert _status(controller)[fire.id]["silenced"] is False
    finally:
        await controller.stop()


async def test_clearing_every_alarm_never_says_one_is_still_open(running):
    controller, events = running
    engine = controller.engine
    for scenario in ("fire", "phone_threat", "shooting"):
        await engine.trigger(scenario, source="operator", origin="t")
    engine.clear(None, "t")
    await events.wait("cleared", timeout=5)
    engine.bus.publish("marker_for_the_test", journal=False)
    await events.wait("marker_for_the_test", timeout=5)
    assert not [e for e in events.drain() if e["kind"] == "still_open"]
