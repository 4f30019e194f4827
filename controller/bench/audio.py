"""The sound path: preemption, stops at the sink, two lanes at once, and the sound path
supervised (the audio worker killed, a sound card that stops taking frames).

Sound is timed where it reaches the sink: the audio worker reports, on the machine's
one monotonic clock, when the first block of an announcement went to the sink and when
the last one did. A block is 20 ms: a stop can be no faster than the block already
handed over, which is the physical limit printed beside the stop figure. Every round
starts from rest.
"""

from __future__ import annotations

import asyncio
import ctypes.util
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from audio.playback import BLOCK_SECONDS
from controller.bench.common import BenchContext, Figure, at_rest, running

NAME = "audio"
BLOCK_MS = BLOCK_SECONDS * 1000


async def _playing(probe, act_id: str) -> None:
    """Until the activation's first frame has reached the sink."""
    await probe.wait("first_audio", activation=act_id, timeout=30)


async def _frames_since(controller, lane: str) -> None:
    """Until the lane's frames reach the sink from now on (a notice is playing)."""
    since = time.monotonic()
    async with asyncio.timeout(10):
        while True:
            if controller.announcer.last_frame(lane) > since:
                return
            await asyncio.sleep(0.005)


async def _preemption(path: Path, rounds: int) -> dict[str, list[float]]:
    """A higher alarm while a lower one plays, and an alarm while the all-clear plays:
    the newcomer's first frame, and when the cut announcement stopped at the sink."""
    out: dict[str, list[float]] = {"first": [], "stop": []}
    async with running(path) as (controller, probe):
        engine = controller.engine
        for i in range(rounds):
            await at_rest(controller)
            probe.drain()
            if i % 2 == 0:
                lower = await engine.trigger("fire", source="operator", origin="bench")
                await _playing(probe, lower.id)
                cut: dict[str, Any] = {"activation": lower.id}
            else:
                lower = await engine.trigger("fire", source="operator", origin="bench")
                await _playing(probe, lower.id)
                engine.clear(lower.id, "bench")
                await probe.wait("announcement_started", label="all_clear", timeout=30)
                await _frames_since(controller, "main")
                cut = {"label": "all_clear"}
            t0 = time.monotonic()
            higher = await engine.trigger("shooting", source="operator", origin="bench")
            first = await probe.wait("first_audio", activation=higher.id, timeout=30)
            out["first"].append((first["at_mono"] - t0) * 1000)
            ended = await probe.wait("announcement_ended", completed=False, timeout=30, **cut)
            out["stop"].append((ended["ended_at"] - t0) * 1000)
            engine.clear(None, "bench")
    return out


async def _stops(path: Path, rounds: int) -> dict[str, list[float]]:
    """Clear and silence while an announcement plays: when it stopped at the sink."""
    out: dict[str, list[float]] = {"clear": [], "silence": []}
    async with running(path) as (controller, probe):
        engine = controller.engine
        for i in range(rounds):
            await at_rest(controller)
            probe.drain()
            act = await engine.trigger("fire", source="operator", origin="bench")
            await _playing(probe, act.id)
            how = "clear" if i % 2 == 0 else "silence"
            t0 = time.monotonic()
            if how == "clear":
                engine.clear(act.id, "bench")
            else:
                engine.silence(act.id, "bench")
            ended = await probe.wait("announcement_ended", activation=act.id, timeout=30)
            out[how].append((ended["ended_at"] - t0) * 1000)
            engine.clear(None, "bench")
    return out


def _two_lanes(data: dict[str, Any]) -> None:
    """The office on a lane of its own: channel 1 of a two-channel output."""
    data["audio"].update(channels=2, lanes={"staff": {"title": "Кеңсе / Офис"}})
    for zone in data["zones"].values():
        staff = zone.get("staff", False)
        zone.update(lane="staff" if staff else "main", audio_channel=1 if staff else 0)


async def _lanes(path: Path, rounds: int) -> list[float]:
    """Trigger → the later of the two lanes' first frames."""
    samples = []
    async with running(path) as (controller, probe):
        engine = controller.engine
        for _ in range(rounds):
            await at_rest(controller)
            probe.drain()
            t0 = time.monotonic()
            act = await engine.trigger("fire", source="operator", origin="bench")
            firsts = {}
            while len(firsts) < 2:
                event = await probe.wait("first_audio", activation=act.id, timeout=30)
                firsts[event["lane"]] = event["at_mono"]
            samples.append((max(firsts.values()) - t0) * 1000)
            engine.clear(act.id, "bench")
    return samples


async def _worker_killed(path: Path, rounds: int) -> dict[str, list[float]]:
    """kill -9 of the audio worker mid-announcement: → fault, → sound again."""
    out: dict[str, list[float]] = {"fault": [], "again": []}
    async with running(path) as (controller, probe):
        engine = controller.engine
        act = await engine.trigger("fire", source="operator", origin="bench")
        await _playing(probe, act.id)
        for _ in range(rounds):
            await probe.wait("announcement_started", activation=act.id, timeout=60)
            probe.drain()
            t0 = time.monotonic()
            os.kill(controller.announcer.player.pid, signal.SIGKILL)
            await probe.wait("fault", key="audio:worker", timeout=10)
            out["fault"].append((time.monotonic() - t0) * 1000)
            await probe.wait("fault_cleared", key="audio:worker", timeout=10)
            out["again"].append((time.monotonic() - t0) * 1000)
        engine.clear(None, "bench")
    return out


STUCK_READER = """#!{python}
import select, sys
sys.stdin.buffer.read(44100)
poll = select.poll()
poll.register(0, select.POLLHUP)
poll.poll()
"""


async def _stalled(ctx: BenchContext, rounds: int) -> list[float]:
    """A sound card whose driver stops taking frames (its reader stops after a second):
    from the last frame that reached it to the fault."""
    home = ctx.work / "stuck-home"
    home.mkdir()
    reader = home / "stuck"
    reader.write_text(STUCK_READER.format(python=sys.executable))
    reader.chmod(0o755)
    (home / ".asoundrc").write_text(
        f'pcm.!default {{ type plug; slave.pcm "stuck" }}\n'
        f'pcm.stuck {{ type file; slave.pcm "null"; format "raw"; file "|{reader}" }}\n')

    def sound_card(data: dict[str, Any]) -> None:
        data["audio"]["output"] = "default"

    path = ctx.site("stalled", sound_card)
    samples = []
    old_home = os.environ.get("HOME")
    os.environ["HOME"] = str(home)  # the audio worker reads this ALSA configuration
    try:
        async with running(path) as (controller, probe):
            act = await controller.engine.trigger("fire", source="operator", origin="bench")
            await _playing(probe, act.id)
            for _ in range(rounds):
                await probe.wait("fault", key="audio:stalled:main", timeout=30)
                samples.append((time.monotonic() - controller.announcer.last_frame("main"))
                               * 1000)
                await probe.wait("fault_cleared", key="audio:stalled:main", timeout=30)
            controller.engine.clear(None, "bench")
    finally:
        if old_home is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = old_home
    return samples


def measure(ctx: BenchContext) -> list[Figure]:
    rounds = max(10, ctx.rounds // 2)
    preempt = asyncio.run(_preemption(ctx.site("preempt"), rounds))
    stops = asyncio.run(_stops(ctx.site("stops"), rounds))
    lanes = asyncio.run(_lanes(ctx.site("lanes", _two_lanes), rounds))
    killed = asyncio.run(_worker_killed(ctx.site("killed"), min(10, ctx.rounds)))
    block = f"one {BLOCK_MS:g} ms block already handed to the sink"
    figures = [
        Figure("preemption_first_frame",
               "higher alarm while another message or a notice plays → its first frame",
               preempt["first"], 150),
        Figure("stop_after_preemption", "preemption → the cut announcement stops at the sink",
               preempt["stop"], 100, limit=BLOCK_MS, limit_note=block),
        Figure("stop_after_clear", "clear → the announcement stops at the sink",
               stops["clear"], 100, limit=BLOCK_MS, limit_note=block),
        Figure("stop_after_silence", "silence → the announcement stops at the sink",
               stops["silence"], 100, limit=BLOCK_MS, limit_note=block),
        Figure("two_lanes_first_frames",
               "trigger → first frames on both lanes (staff and public at once)", lanes, 150),
        Figure("worker_killed_to_fault", "audio worker killed (kill -9) → fault raised",
               killed["fault"], 2000),
        Figure("worker_killed_to_sound", "audio worker killed (kill -9) → sound again",
               killed["again"], 2000),
    ]
    if ctypes.util.find_library("portaudio") is None:
        ctx.notes.append("no PortAudio here: the stalled sound card was not measured")
    else:
        stalled = asyncio.run(_stalled(ctx, min(5, ctx.rounds)))
        figures.append(Figure(
            "sound_stalled_to_fault", "sound card stops taking frames → fault raised",
            stalled, 3000, limit=2000, limit_note="the watchdog's 2 s without frames",
            standard="EN 54-16: fault within 100 s", standard_allows=100000))
    return figures
