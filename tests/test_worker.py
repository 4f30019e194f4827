"""The audio worker process, through its real wire protocol: what it plays, how it
stops, how it falls back and reports, and that it is started again when it dies."""

from __future__ import annotations

import asyncio
import csv
import os
import signal
import wave

import numpy as np

from audio.player import Player

RATE = 8000


def _tone(seconds: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * freq * t) * 8000).astype(np.int16)


def _outputs(wav_dir, pace: float = 0.0, keep_mb: float = 100.0, channels: int = 1):
    return [{"name": "wav", "device": "wav", "rate": RATE, "channels": channels,
             "wav_dir": str(wav_dir), "wav_pace": pace, "wav_keep_mb": keep_mb}]


class Reports:
    def __init__(self) -> None:
        self.seen: list[dict] = []
        self.changed = asyncio.Event()

    def __call__(self, report: dict) -> None:
        self.seen.append(report)
        self.changed.set()

    async def wait(self, ev: str, timeout: float = 10.0, **match) -> dict:
        async with asyncio.timeout(timeout):
            while True:
                for report in self.seen:
                    if report.get("ev") == ev and all(report.get(k) == v for k, v in match.items()):
                        self.seen.remove(report)
                        return report
                self.changed.clear()
                await self.changed.wait()


async def test_the_worker_writes_what_was_played_and_stops_on_request(tmp_path):
    reports = Reports()
    player = Player(_outputs(tmp_path), {"main": "wav"}, reports)
    await player.start()
    try:
        sink = await reports.wait("sink", output="wav")
        assert sink["sink"] == "wav" and "configured" in sink["fault"]
        whole = await player.play("main", "fire-public", None, samples=_tone(1.0))
        result = await whole.done
        assert result.completed and result.first_frame is not None
        # A long announcement, paced like a sound card, stopped after its first block.
        await player.close()
        reports = Reports()
        player = Player(_outputs(tmp_path, pace=1.0), {"main": "wav"}, reports)
        await player.start()
        first = asyncio.Event()
        long = await player.play("main", "stopped", None, samples=_tone(30.0),
                                 on_first=lambda at: first.set())
        await asyncio.wait_for(first.wait(), 10)
        player.stop(long)
        result = await asyncio.wait_for(long.done, 5)
        assert not result.completed
    finally:
        await player.close()
    rows = list(csv.DictReader((tmp_path / "index.csv").open()))
    assert [r["label"] for r in rows] == ["fire-public", "stopped"]
    assert rows[0]["completed"] == "True" and rows[1]["completed"] == "False"
    assert float(rows[1]["seconds"]) < 5, "stopped within blocks, not at the end"
    with wave.open(str(tmp_path / rows[0]["file"])) as wav:
        assert wav.getnframes() == RATE


async def test_a_corrupt_cached_file_is_reported_not_played(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEgarbage")
    player = Player(_outputs(tmp_path / "wav"), {"main": "wav"}, Reports())
    await player.start()
    try:
        handle = await player.play("main", "bad", None, path=str(bad))
        result = await handle.done
        assert not result.completed and result.error.startswith("unreadable")
    finally:
        await player.close()


async def test_the_wav_folder_is_rotated(tmp_path):
    player = Player(_outputs(tmp_path, keep_mb=0.05), {"main": "wav"}, Reports())
    await player.start()
    try:
        for i in range(8):  # 8 × 16 kB, 50 kB kept
            handle = await player.play("main", f"a{i}", None, samples=_tone(1.0))
            assert (await handle.done).completed
    finally:
        await player.close()
    kept = sorted(p.name for p in tmp_path.glob("*.wav"))
    assert 1 <= len(kept) <= 4
    assert kept[-1].endswith("-a7.wav"), "the newest stays"
    rows = list(csv.DictReader((tmp_path / "index.csv").open()))
    assert len(rows) == 8, "the index keeps every announcement"


async def test_lanes_sharing_an_output_play_at_the_same_time(tmp_path):
    player = Player(_outputs(tmp_path, pace=1.0, channels=2), {"main": "wav", "staff": "wav"},
                    Reports())
    await player.start()
    try:
        a = await player.play("main", "public", [0], samples=_tone(0.5, 440))
        b = await player.play("staff", "staff", [1], samples=_tone(0.5, 660))
        ra, rb = await asyncio.gather(a.done, b.done)
    finally:
        await player.close()
    assert ra.completed and rb.completed
    assert abs(ra.first_frame - rb.first_frame) < 0.2, "both lanes start together"
    rows = {r["label"]: r for r in csv.DictReader((tmp_path / "index.csv").open())}
    assert rows["public"]["channels"] == "0" and rows["staff"]["channels"] == "1"
    with wave.open(str(tmp_path / rows["staff"]["file"])) as wav:
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16).reshape(-1, 2)
    assert not frames[:, 0].any() and frames[:, 1].any(), "each lane on its own channel"


async def test_a_killed_worker_is_started_again_and_plays(tmp_path):
    reports = Reports()
    player = Player(_outputs(tmp_path, pace=1.0), {"main": "wav"}, reports)
    await player.start()
    try:
        first = asyncio.Event()
        handle = await player.play("main", "long", None, samples=_tone(30.0),
                                   on_first=lambda at: first.set())
        await asyncio.wait_for(first.wait(), 10)
        pid = player.pid
        os.kill(pid, signal.SIGKILL)
        result = await asyncio.wait_for(handle.done, 5)
        assert not result.completed and "ended" in result.error
        exit_report = await reports.wait("exit")
        assert exit_report["code"] == -signal.SIGKILL
        again = await player.play("main", "again", None, samples=_tone(0.2))
        assert (await asyncio.wait_for(again.done, 10)).completed
        assert player.pid != pid and player.starts == 2
    finally:
        await player.close()
