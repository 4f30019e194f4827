"""The engine's voice: picks voices, pre-renders every announcement, plays one at a time.

An alarm never waits for synthesis when the cache is warm. On a cache miss the
attention signal plays at once while the speech renders, then the speech plays,
and the miss is journaled. If the sound card fails mid-announcement, the WAV sink
takes over and a fault is raised: never a silent alarm without a visible fault.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from audio.playback import AudioUnavailable, Sink, WavSink, open_sink
from audio.render import Renderer, Request
from audio.tts import VoiceChoice, choose_voice
from controller.config import Config
from controller.events import EventBus
from controller.faults import FaultBook
from controller.scenarios import Library, Scenario

AUDIO_FAULT = "audio:output"


@dataclass
class Played:
    completed: bool
    first_frame: float | None  # monotonic time the first block went to the output


def site_voices(config: Config) -> dict[str, VoiceChoice]:
    """The engine and voice that will speak each of the site's languages."""
    return {lang: choose_voice(lang, config.audio.voices.get(lang, "auto"), config.voices_dir)
            for lang in config.site.languages}


class Announcer:
    def __init__(self, config: Config, library: Library, bus: EventBus, faults: FaultBook) -> None:
        self.config = config
        self.library = library
        self.bus = bus
        self.faults = faults
        self.languages = list(config.site.languages)
        self.voices: dict[str, VoiceChoice] = {}
        self.renderer: Renderer | None = None
        self.sink: Sink | None = None
        self._stop = threading.Event()
        self.playing: str | None = None
        self.prerendered = 0

    # -- set-up -------------------------------------------------------------------
    def setup(self) -> None:
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
        sink, reason = open_sink(
            self.config.audio.output,
            self.config.audio.sample_rate,
            self.config.path(self.config.audio.wav_dir),
            self.config.audio.wav_pace,
            self.config.audio.channels,
        )
        self.sink = sink
        if reason:
            self.faults.raise_(AUDIO_FAULT, "audio_output", detail=reason)

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
        """Render whatever is not cached yet (blocking; run in a thread)."""
        assert self.renderer is not None
        todo = self.missing()
        for i, req in enumerate(todo, 1):
            self.renderer.render(req)
            if progress:
                progress(i, len(todo))
        self.prerendered = len(todo)
        return len(todo)

    # -- playing ----------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    async def play(
        self,
        request: Request,
        activation: str | None,
        zones: list[str],
        on_first_frame: Callable[[float], None] | None = None,
    ) -> Played:
        """Play one announcement; `on_first_frame` hears (in the loop) the moment the
        first block went to the output."""
        assert self.renderer is not None and self.sink is not None
        # A fresh flag per announcement: a stop meant for one never leaks into the next.
        stop = self._stop = threading.Event()
        first: list[float] = []
        loop = asyncio.get_running_loop()

        def started() -> None:  # called from the sink's thread
            if not first:
                first.append(time.monotonic())
                if on_first_frame is not None:
                    loop.call_soon_threadsafe(on_first_frame, first[0])

        announcement = self.renderer.cached(request)
        self.playing = request.label
        on = sorted({self.config.zones[z].audio_channel for z in zones if z in self.config.zones})
        self.bus.publish(
            "announcement_started",
            activation,
            label=request.label,
            zones=zones,
            voices=self.renderer.voice_ids(request),
            cached=announcement is not None,
        )
        try:
            if announcement is None:
                self.bus.publish("cache_miss", activation, label=request.label)
                # The tone goes out at once; the speech is rendered meanwhile.
                render = asyncio.ensure_future(
                    asyncio.to_thread(self.renderer.render, Request(request.texts, "none", request.label))
                )
                try:
                    tone = self.renderer.signal(request.signal if request.signal != "none" else "chime")
                    done = await self._play_samples(tone, request.label + "-tone", stop, started, on)
                    speech = await render
                finally:
                    if not render.done():
                        render.cancel()
                if done:
                    done = await self._play_samples(speech.samples(), request.label, stop,
                                                    started, on)
            else:
                done = await self._play_samples(announcement.samples(), request.label, stop,
                                                started, on)
        finally:
            self.playing = None
        self.bus.publish(
            "announcement_ended", activation, label=request.label, completed=done,
            live={"at_mono": time.monotonic()},
        )
        return Played(done, first[0] if first else None)

    async def _play_samples(self, samples, label: str, stop: threading.Event, started,
                            on: list[int]) -> bool:
        assert self.sink is not None and self.renderer is not None
        rate = self.renderer.rate
        try:
            return await asyncio.to_thread(self.sink.play, samples, rate, label, stop, started, on)
        except AudioUnavailable as exc:
            # Fall back so the alarm goes on being "heard" somewhere, and say so.
            wav_dir = self.config.path(self.config.audio.wav_dir)
            self.faults.raise_(AUDIO_FAULT, "audio_output",
                               detail=f"{exc}; announcements go to WAV files in {wav_dir}")
            self.sink.close()
            self.sink = WavSink(wav_dir, self.config.audio.wav_pace, self.config.audio.channels)
            return await asyncio.to_thread(self.sink.play, samples, rate, label, stop, started, on)

    def status(self) -> dict:
        return {
            "sink": self.sink.name if self.sink else None,
            "output": getattr(self.sink, "description", None),
            "voices": {lang: v.description for lang, v in self.voices.items()},
            "playing": self.playing,
        }
