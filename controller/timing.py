"""How long each announcement takes to hear, measured from the rendered cache.

A crowd hears the attention signal, the Kazakh text, a pause and the Russian text,
then again after the scenario's pause. What matters to someone who understands only
one of the languages is how soon their part tells them what to do, and how soon the
whole cycle comes round again. `dabyl render --report` prints this table for the
site's configured voices; the limits below are the ones the texts are written to.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from audio.render import Request
from audio.text import first_instruction
from controller.announcer import Announcer
from controller.config import Config
from controller.events import EventBus
from controller.faults import FaultBook
from controller.journal import Journal
from controller.scenarios import Library

# A public cycle (signal, Kazakh, pause, Russian) comes round within this many seconds.
PUBLIC_CYCLE_MAX = 35.0
# Each language's part tells people what to do within this many seconds of its start.
FIRST_INSTRUCTION_MAX = 8.0
# A staff message is short in each language; the console's checklist carries the rest.
STAFF_LANGUAGE_MAX = 20.0


@dataclass
class Timing:
    label: str
    audience: str  # public | staff | shared
    signal: str
    cycle: float  # the announcement as it plays: signal, each language, pauses
    speech: dict[str, float] = field(default_factory=dict)  # each language alone
    first: dict[str, float | None] = field(default_factory=dict)  # to the end of the
    # first instruction, from the start of that language's part
    choices: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        found = []
        if self.audience == "public" and self.cycle > PUBLIC_CYCLE_MAX:
            found.append(f"{self.label}: the cycle takes {self.cycle:.1f} s "
                         f"(at most {PUBLIC_CYCLE_MAX:.0f} s)")
        if self.audience == "staff":
            for lang, seconds in self.speech.items():
                if seconds > STAFF_LANGUAGE_MAX:
                    found.append(f"{self.label}: {lang} takes {seconds:.1f} s "
                                 f"(at most {STAFF_LANGUAGE_MAX:.0f} s)")
        if self.audience in ("public", "staff"):
            for lang, seconds in self.first.items():
                if seconds is None:
                    found.append(f"{self.label}: the {lang} text gives no instruction")
                elif seconds > FIRST_INSTRUCTION_MAX:
                    found.append(f"{self.label}: the first {lang} instruction ends at "
                                 f"{seconds:.1f} s (at most {FIRST_INSTRUCTION_MAX:.0f} s)")
        return found


class _NoJournal(Journal):
    def append(self, kind, activation=None, **data):  # offline work writes no journal rows
        return ""


def offline_announcer(config: Config, library: Library) -> Announcer:
    """An announcer for rendering outside a running controller (no journal, no clients)."""
    bus = EventBus(_NoJournal(Path(os.devnull)))
    announcer = Announcer(config, library, bus, FaultBook(bus))
    announcer.setup()
    return announcer


def _duration(announcer: Announcer, request: Request) -> float:
    assert announcer.renderer is not None
    return announcer.renderer.render(request).duration


def _timing(announcer: Announcer, request: Request, label: str, audience: str) -> Timing:
    timing = Timing(label, audience, request.signal, _duration(announcer, request))
    for lang, text in request.texts:
        timing.speech[lang] = _duration(announcer, Request(((lang, text),), "none", label))
        if audience != "shared":
            prefix = first_instruction(text, lang)
            timing.first[lang] = (None if prefix is None else
                                  _duration(announcer, Request(((lang, prefix),), "none", label)))
    return timing


def measure(announcer: Announcer) -> list[Timing]:
    """Every announcement the site can play, rendered (or read from the cache) and timed.
    Parameter choices that say the same words share one row."""
    assert announcer.renderer is not None
    timings: list[Timing] = []
    by_key: dict[str, Timing] = {}
    for scenario in announcer.library.scenarios.values():
        for audience in ("public", "staff"):
            for params in scenario.all_parameter_sets():
                request = announcer.scenario_request(scenario, audience, params)
                if request is None:
                    continue
                key = announcer.renderer.key(request)
                choice = ", ".join(params.values())
                if key in by_key:
                    by_key[key].choices.append(choice)
                    continue
                timing = _timing(announcer, request, f"{scenario.id} {audience}", audience)
                if choice:
                    timing.choices.append(choice)
                by_key[key] = timing
                timings.append(timing)
    for name in announcer.library.shared.SPOKEN:
        timings.append(_timing(announcer, announcer.shared_request(name), name, "shared"))
    return timings


def markdown(timings: list[Timing], voices: dict[str, str]) -> str:
    """The timing table, as the README shows it."""
    langs = list(voices)
    voice_line = "; ".join(f"{lang}: `{voice}`" for lang, voice in voices.items())
    head = ["announcement", "signal"]
    for lang in langs:
        head += [f"{lang}", f"{lang}: first instruction by"]
    head.append("whole announcement")
    lines = [
        f"Voices: {voice_line}. Seconds, measured from the rendered cache.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for t in timings:
        label = t.label + (f" ({', '.join(t.choices)})" if t.choices else "")
        row = [label, t.signal]
        for lang in langs:
            first = t.first.get(lang)
            row += [f"{t.speech.get(lang, 0.0):.1f}",
                    "–" if t.audience == "shared" or first is None else f"{first:.1f}"]
        cycle = f"{t.cycle:.1f}"
        row.append(f"**{cycle}**" if t.audience == "public" else cycle)
        lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        f"Limits: a public cycle (bold: signal, Kazakh, pause, Russian) at most "
        f"{PUBLIC_CYCLE_MAX:.0f} s; the first instruction of each language within "
        f"{FIRST_INSTRUCTION_MAX:.0f} s of its start; a staff message at most "
        f"{STAFF_LANGUAGE_MAX:.0f} s per language.",
    ]
    return "\n".join(lines) + "\n"
