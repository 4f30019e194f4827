"""The controller's side of the audio worker (`audio.worker`): it starts the worker,
sends it announcements, hears what it reports, and starts it again whenever it ends.

The player never ends while its owner runs: a worker that exits, crashes or is killed
is started again (after 0.2 s, backing off to 2 s while it keeps failing without
playing a sound), every
track it was playing ends with an error the owner can act on, and the owner hears of
the exit (to raise a fault). A worker that hangs is the owner's to notice (frames stop
flowing: `last_frames`) and to `kill`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audio.wire import WireError, encode, read_frame_async

log = logging.getLogger(__name__)

Report = Callable[[dict[str, Any]], None]


@dataclass
class Result:
    completed: bool
    first_frame: float | None  # monotonic time the first block went to the sink
    error: str | None = None
    ended: float | None = None  # when the worker played (or dropped) the last block


@dataclass
class TrackHandle:
    id: str
    done: asyncio.Future[Result]
    on_first: Callable[[float], None] | None = None
    first: float | None = None
    lane: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Player:
    def __init__(self, outputs: list[dict[str, Any]], lanes: dict[str, str],
                 on_report: Report) -> None:
        self.outputs = outputs
        self.lanes = lanes
        self.on_report = on_report
        self.proc: asyncio.subprocess.Process | None = None
        self.last_frames: dict[str, float] = {}
        self.starts = 0
        self._tracks: dict[str, TrackHandle] = {}
        self._ids = itertools.count(1)
        self._ready = asyncio.Event()
        self._first_start = asyncio.Event()
        self._closing = False
        self._played = False  # the current worker has put sound on a sink
        self._task: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    async def start(self) -> None:
        """Start the worker (and its supervision); returns once it is up."""
        self._task = asyncio.ensure_future(self._supervise())
        self._task.set_name("audio-worker")
        await self._first_start.wait()

    async def close(self) -> None:
        self._closing = True
        proc = self.proc
        if proc is not None and proc.returncode is None:
            try:
                assert proc.stdin is not None
                proc.stdin.close()
                async with asyncio.timeout(2):
                    await proc.wait()
            except (TimeoutError, OSError, ConnectionError):
                proc.kill()
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=2)
        self._fail_all("the audio worker was stopped")

    def kill(self) -> None:
        """End a worker that no longer plays (it is started again at once)."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()

    async def _supervise(self) -> None:
        backoff = 0.2
        while not self._closing:
            self._played = False
            try:
                await self._spawn()
            except OSError as exc:
                self._tell({"ev": "exit", "code": None, "error": f"cannot start: {exc}"})
                self._first_start.set()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            self._first_start.set()
            code = await self._read()
            self._ready.clear()
            self._fail_all("the audio worker ended")
            if self._closing:
                return
            self._tell({"ev": "exit", "code": code})
            if self._played:
                backoff = 0.2  # it played: not a crash loop, start the next one at once
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def _spawn(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "audio.worker",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
        )
        self.proc = proc
        self.starts += 1
        self._write({"op": "setup", "outputs": self.outputs, "lanes": self.lanes})
        self._ready.set()

    async def _read(self) -> int | None:
        proc = self.proc
        assert proc is not None and proc.stdout is not None
        try:
            while True:
                frame = await read_frame_async(proc.stdout)
                if frame is None:
                    break
                self._heard(frame[0])
        except WireError:
            proc.kill()
        try:
            async with asyncio.timeout(2):
                return await proc.wait()
        except TimeoutError:
            proc.kill()
            return await proc.wait()

    def _heard(self, report: dict[str, Any]) -> None:
        ev = report.get("ev")
        if ev == "started":
            self._played = True
            handle = self._tracks.get(str(report.get("track")))
            if handle is not None and handle.first is None:
                handle.first = float(report["at"])
                if handle.on_first is not None:
                    handle.on_first(handle.first)
        elif ev == "done":
            handle = self._tracks.pop(str(report.get("track")), None)
            if handle is not None and not handle.done.done():
                handle.done.set_result(Result(bool(report.get("completed")), handle.first,
                                              report.get("error"), report.get("at")))
        elif ev == "frames":
            lane = str(report.get("lane"))
            self.last_frames[lane] = max(self.last_frames.get(lane, 0.0), float(report["at"]))
        self._tell(report)

    def _tell(self, report: dict[str, Any]) -> None:
        """Pass a report on. The owner's handler failing must never end the supervision
        of the worker: the next worker would never be started."""
        try:
            self.on_report(report)
        except Exception:  # noqa: BLE001 - logged in full; the supervision goes on
            log.exception("the audio worker's report %s could not be handled", report.get("ev"))

    def _fail_all(self, error: str) -> None:
        tracks, self._tracks = self._tracks, {}
        for handle in tracks.values():
            if not handle.done.done():
                handle.done.set_result(Result(False, handle.first, error))

    def _write(self, header: dict[str, Any], payload: bytes = b"") -> bool:
        proc = self.proc
        if proc is None or proc.stdin is None or proc.returncode is not None:
            return False
        try:
            proc.stdin.write(encode(header, payload))
        except (ConnectionError, OSError, RuntimeError):
            return False
        return True

    async def play(self, lane: str, label: str, channels: list[int] | None, *,
                   path: str | None = None, samples: np.ndarray | None = None,
                   on_first: Callable[[float], None] | None = None) -> TrackHandle:
        """Start a track (a cached file by `path`, or samples); await `handle.done`."""
        loop = asyncio.get_running_loop()
        handle = TrackHandle(f"t{next(self._ids)}", loop.create_future(), on_first, lane=lane)
        try:
            async with asyncio.timeout(5):
                await self._ready.wait()
        except TimeoutError:
            handle.done.set_result(Result(False, None, "the audio worker is not running"))
            return handle
        header = {"op": "play", "track": handle.id, "lane": lane, "label": label,
                  "channels": channels}
        payload = b""
        if path is not None:
            header["path"] = path
        elif samples is not None:
            payload = np.ascontiguousarray(samples, dtype=np.int16).tobytes()
        self._tracks[handle.id] = handle
        if not self._write(header, payload):
            self._tracks.pop(handle.id, None)
            handle.done.set_result(Result(False, None, "the audio worker is not running"))
        return handle

    def stop(self, handle: TrackHandle) -> None:
        if handle.id in self._tracks:
            self._write({"op": "stop", "track": handle.id})
