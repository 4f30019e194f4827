"""The engine's voice: picks voices, pre-renders every announcement, and plays them
through the audio worker process, one lane at a time each.

An alarm never waits for synthesis when the cache is warm. Anything that goes wrong
while rendering or playing becomes a fault and the next fallback, in order: the
cached announcement → synthesise now (in memory if the cache cannot be written) →
the attention or evacuation tone generated in memory. The worker that plays is
supervised: if it ends it is started again (a fault says so); if the sound card
fails it falls back to WAV files (a fault says so). Never a silent alarm without a
visible fault.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audio.player import Player, Result, TrackHandle
from audio.render import Renderer, Request
from audio.tts import VoiceChoice, choose_voice
from controller.config import Config
from controller.events import EventBus
from controller.faults import FaultBook
from controller.scenarios import Library, Scenario

AUDIO_FAULT = "audio:output"
log = logging.getLogger("dabyl.audio")


@dataclass
class Played:
    completed: bool
    first_frame: float | None  # monotonic time the first block went to the sink
    error: str | None = None


@dataclass
class Playback:
    """One announcement being played; `stop` cuts it within one block."""

    stopped: bool = False
    track: TrackHandle | None = None
    player: Player | None = field(default=None, repr=False)

    def stop(self) -> None:
        self.stopped = True
        if self.track is not None and self.player is not None:
            self.player.stop(self.track)


def site_voices(config: Config) -> dict[str, VoiceChoice]:
    """The engine and voice that will speak each of the site's languages."""
    return {lang: choose_voice(lang, config.audio.voices.get(lang, "auto"), config.voices_dir)
            for lang in config.site.languages}


def output_key(output: str | int) -> str:
    return str(output)


class Announcer:
    def __init__(self, config: Config, library: Library, bus: EventBus, faults: FaultBook) -> None:
        self.config = config
        self.library = library
        self.bus = bus
        self.faults = faults
        self.languages = list(config.site.languages)
        self.voices: dict[str, VoiceChoice] = {}
        self.renderer: Renderer | None = None
        self.player: Player | None = None
        self.prerendered = 0
        self.sinks: dict[str, dict[str, Any]] = {}
        self.playing: dict[str, str] = {}  # lane → label
        self._reported = asyncio.Event()
        self._expected: set[str] = set()
        # Alarm-time rendering has a thread of its own: never the shared default
        # executor, never behind the start-up pre-rendering.
        self._render = concurrent.futures.ThreadPoolExecutor(1, "dabyl-render")
        self._prerender = concurrent.futures.ThreadPoolExecutor(1, "dabyl-prerender")

    # -- set-up -------------------------------------------------------------------
    def setup(self) -> None:
        """Voices and renderer (blocking: loads speech engines)."""
        self.voices = site_voices(self.config)
        for lang, choice in self.voices.items():
            key = f"voice:{lang}"
            if choice.engine is None:
                self.faults.raise_(key, "voice_missing", language=lang,
                                   notes="; ".join(choice.notes))
            self.bus.publish("voice", language=lang, voice=choice.description, notes=choice.notes)
        self.renderer = Renderer(
            self.config.path(self.config.audio.cache_dir),
            self.config.audio.sample_rate,
            self.config.audio.level_db,
            self.config.audio.pause,
            self.voices,
        )

    def _outputs(self) -> tuple[list[dict[str, Any]], dict[str, str]]:
        audio = self.config.audio
        wav_dir = self.config.path(audio.wav_dir)
        outputs: dict[str, dict[str, Any]] = {}
        lanes: dict[str, str] = {}
        for lane in self.config.lanes():
            device = self.config.lane_output(lane)
            key = output_key(device)
            if key not in outputs:
                main = device == audio.output
                outputs[key] = {
                    "name": key, "device": device, "rate": audio.sample_rate,
                    "channels": self.config.output_channels(device),
                    "wav_dir": str(wav_dir if main else wav_dir / _safe(key)),
                    "wav_pace": audio.wav_pace, "wav_keep_mb": audio.wav_keep_mb,
                }
            lanes[lane] = key
        return list(outputs.values()), lanes

    async def start(self) -> None:
        """Start the audio worker; returns once it runs."""
        outputs, lanes = self._outputs()
        self._reported = asyncio.Event()
        self._expected = {o["name"] for o in outputs}
        self.player = Player(outputs, lanes, self._report)
        await self.player.start()
        # Ready means: what every output plays into is known (and faulted if it is
        # not a loudspeaker).
        try:
            async with asyncio.timeout(10):
                await self._reported.wait()
        except TimeoutError:
            self.faults.raise_("audio:worker", "audio_worker_ended",
                               detail="no report from the audio worker within 10 s")

    async def close(self) -> None:
        if self.player is not None:
            await self.player.close()
        self._render.shutdown(wait=False, cancel_futures=True)
        self._prerender.shutdown(wait=False, cancel_futures=True)

    def fault_key(self, output: str) -> str:
        return AUDIO_FAULT if output == output_key(self.config.audio.output) \
            else f"{AUDIO_FAULT}:{output}"

    def _report(self, report: dict[str, Any]) -> None:
        """What the worker reports, as faults: heard in the event loop."""
        ev = report.get("ev")
        if ev == "sink":
            name = str(report["output"])
            self.sinks[name] = {"sink": report.get("sink"), "output": report.get("description")}
            key = self.fault_key(name)
            if report.get("fault"):
                self.faults.raise_(key, "audio_output", detail=report["fault"])
            else:
                self.faults.clear(key, "sound output works")
            if self._expected <= set(self.sinks):
                self._reported.set()
        elif ev == "exit":
            if report.get("error"):
                detail = str(report["error"])
                self.faults.raise_("audio:worker", "audio_worker_ended", detail=detail)
            else:
                detail = f"exit code {report.get('code')}"
                self.faults.raise_("audio:worker", "audio_worker_exited",
                                   status=report.get("code"))
            self.bus.publish("audio_worker_restarted", detail=detail)
        elif ev == "started" and "audio:worker" in self.faults.active:
            self.faults.clear("audio:worker", "sound flows again", leave_notice=True)

    def last_frame(self, lane: str) -> float:
        return self.player.last_frames.get(lane, 0.0) if self.player else 0.0

    # -- what to say ----------------------------------------------------------------
    def _request(self, texts: dict[str, str], signal: str, label: str) -> Request:
        return Request(tuple((lang, texts[lang]) for lang in self.languages), signal, label)

    def scenario_request(
        self, scenario: Scenario, audience: str, params: dict[str, str]
    ) -> Request | None:
        texts = {}
        for lang in self.languages:
            text = scenario.text(audience, lang, params)  # type: ignore[arg-type]
            if text is None:
                return None
            texts[lang] = text
        return self._request(texts, scenario.attention.signal, f"{scenario.id}-{audience}")

    def shared_request(self, name: str, signal: str = "chime") -> Request:
        texts = getattr(self.library.shared, name)
        return self._request({lang: texts[lang] for lang in self.languages}, signal, name)

    def all_requests(self) -> list[Request]:
        requests = [self.shared_request(name) for name in self.library.shared.SPOKEN]
        for scenario in self.library.scenarios.values():
            for params in scenario.all_parameter_sets():
                for audience in ("public", "staff"):
                    req = self.scenario_request(scenario, audience, params)
                    if req is not None:
                        requests.append(req)
        return requests

    def missing(self) -> list[Request]:
        assert self.renderer is not None
        return [r for r in self.all_requests() if self.renderer.cached(r) is None]

    def prerender(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Render whatever is not cached yet (blocking)."""
        assert self.renderer is not None
        todo = self.missing()
        for i, req in enumerate(todo, 1):
            self.renderer.render(req)
            if progress:
                progress(i, len(todo))
        self.prerendered = len(todo)
        return len(todo)

    async def prerender_async(self) -> int:
        """Pre-render on its own thread (start-up)."""
        return await asyncio.get_running_loop().run_in_executor(self._prerender, self.prerender)

    # -- playing ----------------------------------------------------------------------
    def channels_for(self, lane: str, zones: list[str]) -> list[int]:
        return sorted({self.config.zones[z].audio_channel for z in zones
                       if z in self.config.zones}) or [0]

    async def play(
        self,
        request: Request,
        activation: str | None,
        zones: list[str],
        lane: str,
        playback: Playback,
        on_first_frame: Callable[[float], None] | None = None,
    ) -> Played:
        """Play one announcement on a lane, down the fallback ladder if need be;
        `on_first_frame` hears (in the loop) the moment the first block was played."""
        assert self.renderer is not None and self.player is not None
        playback.player = self.player
        first: list[float] = []

        def started(at: float) -> None:
            if not first:
                first.append(at)
                if on_first_frame is not None:
                    on_first_frame(at)

        channels = self.channels_for(lane, zones)
        announcement = self.renderer.cached(request)
        self.playing[lane] = request.label
        self.bus.publish(
            "announcement_started", activation, label=request.label, zones=zones, lane=lane,
            voices=self.renderer.voice_ids(request), cached=announcement is not None,
        )
        result = Result(False, None, None)
        try:
            if announcement is not None:
                result = await self._track(playback, lane, request.label, channels, started,
                                           path=str(announcement.path))
                if result.error and result.error.startswith("unreadable") \
                        and not playback.stopped:
                    self.faults.raise_("audio:cache", "cache_unreadable", label=request.label,
                                       error=result.error)
                    announcement = None
            if announcement is None and not playback.stopped:
                result = await self._render_now(request, activation, lane, channels, playback,
                                                started)
        finally:
            self.playing.pop(lane, None)
        self.bus.publish(
            "announcement_ended", activation, label=request.label, lane=lane,
            completed=result.completed, error=result.error,
            # When its last block went to the sink: what a stop is timed by.
            live={"at_mono": time.monotonic(), "ended_at": result.ended},
        )
        return Played(result.completed, first[0] if first else None, result.error)

    async def _render_now(self, request: Request, activation: str | None, lane: str,
                          channels: list[int], playback: Playback, started) -> Result:
        """A cache miss: the tone goes out at once while the speech is synthesised;
        if synthesis fails, the tone alone."""
        assert self.renderer is not None
        self.bus.publish("cache_miss", activation, label=request.label)
        loop = asyncio.get_running_loop()
        speech_only = Request(request.texts, "none", request.label)
        render = loop.run_in_executor(self._render, self._compose, speech_only)
        tone = self.renderer.signal(request.signal if request.signal != "none" else "chime")
        result = Result(False, None, None)
        try:
            result = await self._track(playback, lane, request.label + "-tone", channels,
                                       started, samples=tone)
            samples, store_error = await render
        except Exception as exc:  # noqa: BLE001 - synthesis failure: the tone must do
            log.warning("speech for %s failed: %s", request.label, exc)
            self.faults.raise_("audio:speech", "speech_failed", label=request.label,
                               error=f"{type(exc).__name__}: {exc}")
            return Result(result.completed, result.first_frame, f"speech failed: {exc}")
        finally:
            if not render.done():
                render.cancel()
        self.faults.clear("audio:speech", "speech is synthesised again")
        if store_error:
            self.faults.raise_("audio:cache", "cache_unwritable", error=store_error)
        if not result.completed or playback.stopped:
            return result
        return await self._track(playback, lane, request.label, channels, started,
                                 samples=samples)

    def _compose(self, request: Request) -> tuple[np.ndarray, str | None]:
        """Synthesise and store (in the render thread); in memory if storing fails."""
        assert self.renderer is not None
        samples = self.renderer.compose(request)
        try:
            self.renderer.store(request, samples)
        except OSError as exc:
            return samples, str(exc)
        return samples, None

    async def _track(self, playback: Playback, lane: str, label: str, channels: list[int],
                     started, **source: Any) -> Result:
        assert self.player is not None
        if playback.stopped:
            return Result(False, None, None)
        handle = await self.player.play(lane, label, channels, on_first=started, **source)
        playback.track = handle
        if playback.stopped:
            self.player.stop(handle)
        return await handle.done

    def status(self) -> dict[str, Any]:
        main = self.sinks.get(output_key(self.config.audio.output), {})
        return {
            "sink": main.get("sink"),
            "output": main.get("output"),
            "outputs": self.sinks,
            "worker": {"pid": self.player.pid if self.player else None,
                       "starts": self.player.starts if self.player else 0},
            "voices": {lang: v.description for lang, v in self.voices.items()},
            "playing": next(iter(self.playing.values()), None),
            "lanes_playing": dict(self.playing),
        }


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:40] or "output"
