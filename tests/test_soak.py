"""Soak: a scripted burst of everything a site does in a long time (chattering panic
buttons, repeated triggers, drills, silences, clears), on loopback only, bounded.
Afterwards: no growth in tasks or memory, and a journal that verifies."""

from __future__ import annotations

import asyncio
import gc
import random
import tracemalloc

from controller.errors import RequestInvalid
from controller.journal import verify
from tests.conftest import make_site, start_controller

SCENARIOS = ["fire", "shooting", "armed_attack", "collapse", "suspicious_object", "hostage",
             "explosion", "terrorist_attack", "phone_threat"]


async def _cycle(controller, events, rng: random.Random) -> None:
    engine = controller.engine
    what = rng.random()
    if what < 0.3:
        # A chattering button: bounces for a few ms, then a real press and release.
        sim, cfg = controller.devices.simulator_for_input(rng.choice(["panic_office",
                                                                      "call_point_lobby"]))
        for _ in range(rng.randint(2, 6)):
            sim.set_input(cfg.channel, True)
            sim.set_input(cfg.channel, False)
        await controller.press(cfg.id, 0.1, "soak")
    else:
        drill = rng.random() < 0.5
        try:
            act = await engine.trigger(rng.choice(SCENARIOS), source="operator", origin="soak",
                                       drill=drill)
        except RequestInvalid as exc:  # no drill while a real alarm is open
            assert drill and exc.code == "real_alarm_open", exc
            return
        if rng.random() < 0.4:
            engine.silence(act.id, "soak")
        if rng.random() < 0.3 and act.scenario.checklist.staff.ru:
            engine.tick(act.id, "staff", 0, True, "soak")
    await asyncio.sleep(0)  # let the engine act between steps
    if rng.random() < 0.5 or len(engine.activations) > 3:
        for act in list(engine.activations.values()):
            if act.state == "held" and rng.random() < 0.5:
                engine.confirm(act.id, "soak")
        engine.clear(None, "soak")


async def _quiet(controller, events) -> None:
    """All cleared, audio idle, outputs at rest."""
    controller.engine.clear(None, "soak")
    async with asyncio.timeout(60):
        while controller.engine.busy() or not controller.devices.at_rest():
            events.seen.append(await events.queue.get())  # re-check after every event


async def test_soak(tmp_path, audio_cache):
    controller, events = await start_controller(make_site(tmp_path, audio_cache, pace=20.0,
                                                          pauses=0.05))
    rng = random.Random(2023)
    try:
        for _ in range(20):  # warm-up: caches, lazy imports, first connections
            await _cycle(controller, events, rng)
        await _quiet(controller, events)
        events.drain()
        events.seen.clear()
        gc.collect()
        tasks_before = len(asyncio.all_tasks())
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        for i in range(250):
            await _cycle(controller, events, rng)
            if i % 25 == 0:
                events.drain()
                events.seen.clear()
        await _quiet(controller, events)
        events.drain()
        events.seen.clear()
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        growth = sum(s.size_diff for s in after.compare_to(before, "filename"))
        tasks_after = len(asyncio.all_tasks())
        assert tasks_after <= tasks_before + 2, (tasks_before, tasks_after)
        assert growth < 2_000_000, f"memory grew by {growth} bytes"
        assert controller.engine.activations == {}
        assert await asyncio.to_thread(controller.journal.flush, 10)
    finally:
        await controller.stop()
    result = verify(tmp_path / "journal.sqlite")
    ok, problems, count = result.ok, result.problems, result.count
    assert ok, problems
    assert count > 1000
