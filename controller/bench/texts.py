"""What a crowd hears, timed: every announcement rendered with the site's voices.

The figures are durations of real renderings (attention signal, Kazakh, pause,
Russian), not of the controller's work: how long until a public message comes round
again, how soon each language's part says what to do, how long a staff message keeps
its zone. The cold render is the work the controller does once after start (and
`dabyl render` before it) so that no alarm ever waits for synthesis.
"""

from __future__ import annotations

import time

from controller.bench.common import BenchContext, Figure
from controller.config import load_config
from controller.scenarios import load_library
from controller.timing import (
    FIRST_INSTRUCTION_MAX,
    PUBLIC_CYCLE_MAX,
    STAFF_LANGUAGE_MAX,
    offline_announcer,
)
from controller.timing import (
    measure as measure_timings,
)

NAME = "texts"


def measure(ctx: BenchContext) -> list[Figure]:
    renders: list[float] = []
    timings = []
    for round_ in range(min(3, ctx.rounds)):
        cache = ctx.work / f"texts-cache-{round_}"

        def cold(data, cache=cache):
            data["audio"]["cache_dir"] = str(cache)

        config = load_config(ctx.site(f"texts-{round_}", cold))
        announcer = offline_announcer(config, load_library(config.scenarios_dir, config))
        t0 = time.monotonic()
        announcer.prerender()
        renders.append(time.monotonic() - t0)
        timings = measure_timings(announcer)
    voices = ", ".join(f"{lang}: {v.description}" for lang, v in announcer.voices.items())
    ctx.notes.append(f"texts: timed with {voices} (`dabyl render --report` has every row)")
    public = [t for t in timings if t.audience == "public"]
    staff = [t for t in timings if t.audience == "staff"]
    signal_and_pause = min(t.cycle - sum(t.speech.values()) for t in public)
    return [
        Figure("public_cycle", "public cycle: signal, kk, pause, ru (each announcement)",
               [t.cycle for t in public], PUBLIC_CYCLE_MAX, unit="s", target_is_max=True,
               limit=signal_and_pause, limit_note="signal and pause alone, with no words"),
        Figure("first_instruction", "start of a language's part → its first instruction said",
               [s for t in public + staff for s in t.first.values() if s is not None],
               FIRST_INSTRUCTION_MAX, unit="s", target_is_max=True),
        Figure("staff_message", "staff message, per language",
               [s for t in staff for s in t.speech.values()], STAFF_LANGUAGE_MAX, unit="s",
               target_is_max=True),
        Figure("render_all_cold", "render every announcement into an empty cache", renders,
               60, unit="s", target_is_max=True),
    ]
