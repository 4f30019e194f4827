"""The engine: turns triggers into activations, decides what every output and
loudspeaker does, and journals each step.

Rules (SPEC §5):
- An activation goes active (or held) → cleared; it is latched until an operator
  clears it, or, for drills, until its own repetitions end.
- Re-triggering a scenario that is not cleared returns the same activation.
- A higher-priority activation takes the zones it shares with a lower one; the
  lower one is suspended, not lost, and resumes when the higher clears.
- During a lockdown (`shelter`), an evacuation from an automatic source is held
  for an operator's confirmation and the staff zones are told at once.
- Silence stops audio and sounders and keeps the alarm; clear ends it with the
  all-clear message and puts outputs at rest.
- At start every output goes to rest, then activations that were open when the
  process died are resumed, and the gap is journaled.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from audio.render import Request
from controller.announcer import Announcer
from controller.config import Config, PanicInput
from controller.devices import DeviceManager
from controller.errors import RequestInvalid
from controller.events import EventBus
from controller.faults import FaultBook
from controller.journal import Recovered, now_iso
from controller.scenarios import Library, Scenario, zones_for
from controller.tasks import TaskSet

AUTOMATIC_SOURCES = ("input", "schedule")
ROLES = ("leader", "staff")


@dataclass
class Activation:
    id: str
    scenario: Scenario
    source: str
    origin: str
    drill: bool
    zones: list[str]
    parameters: dict[str, str]
    started: str
    order: int
    state: str = "active"  # active | held | cleared
    silenced: bool = False
    preamble_done: bool = False
    repetitions: int = 0
    part: int = 0
    pause_until: float = 0.0
    audio_done: bool = False
    closing_done: bool = False
    first_audio: float | None = None
    trigger_mono: float = field(default_factory=time.monotonic)
    ticks: dict[str, dict[int, str]] = field(default_factory=lambda: {r: {} for r in ROLES})
    answers: dict[str, str] = field(default_factory=dict)
    resumed: bool = False

    @property
    def priority(self) -> int:
        return self.scenario.priority

    def rank(self) -> tuple[int, int]:
        return (self.priority, -self.order)


@dataclass
class Step:
    activation: Activation | None
    request: Request
    zones: list[str]
    kind: str  # preamble | public | staff | closing | notice | all_clear
    cancelled: bool = False


class Engine:
    def __init__(
        self,
        config: Config,
        library: Library,
        bus: EventBus,
        faults: FaultBook,
        devices: DeviceManager,
        announcer: Announcer,
    ) -> None:
        self.config = config
        self.library = library
        self.bus = bus
        self.faults = faults
        self.devices = devices
        self.announcer = announcer
        self.activations: dict[str, Activation] = {}
        self._order = 0
        self._notices: list[Step] = []
        self._routed: list[str] = []
        self._playing: Step | None = None
        self._wake = asyncio.Event()
        self._tasks = TaskSet()
        self.outputs_settled = asyncio.Event()
        devices.on_input = self._on_input

    # -- life cycle -----------------------------------------------------------------
    async def start(self, recovered: Recovered) -> None:
        # Outputs to rest first, so nothing stays on from before the restart
        # unless the engine wants it.
        await self.devices.rest(timeout=3.0)
        self._resume(recovered)
        self._spawn(self._audio_loop(), "audio")
        self._refresh()

    async def stop(self) -> None:
        self.announcer.stop()
        await self._tasks.cancel_all()

    def _spawn(self, coro, name: str):
        return self._tasks.spawn(coro, name)

    def _resume(self, recovered: Recovered) -> None:
        """Rebuild every activation that was open when the controller stopped, exactly
        as it was: silenced or not, held or confirmed, ticks, form answers, and its
        elapsed time counted from the original trigger."""
        if not recovered.open_activations:
            return
        last_ts = recovered.last_row.ts if recovered.last_row else now_iso()
        now = datetime.now(UTC)
        gap = (now - datetime.fromisoformat(last_ts)).total_seconds()
        for act_id, rows in recovered.open_activations.items():
            first = rows[0]
            data = first.data
            try:
                scenario = self.library.get(data["scenario"])
            except KeyError as exc:
                self.faults.raise_(f"resume:{act_id}", "resume_failed", activation=act_id,
                                   error=str(exc))
                continue
            known = [z for z in data.get("zones", []) if z in self.config.zones]
            age = max(0.0, (now - datetime.fromisoformat(first.ts)).total_seconds())
            self._order += 1
            act = Activation(
                id=act_id,
                scenario=scenario,
                source=data.get("source", "operator"),
                origin=data.get("origin", ""),
                drill=bool(data.get("drill", False)),
                zones=known or zones_for(scenario, self.config, None),
                parameters=data.get("parameters", {}),
                started=first.ts,
                order=self._order,
                state=data.get("state", "active"),
                trigger_mono=time.monotonic() - age,
                resumed=True,
            )
            for row in rows[1:]:
                if row.kind == "confirmed":
                    act.state = "active"
                elif row.kind == "silenced":
                    act.silenced = True
                elif row.kind == "checklist_tick" and row.data.get("role") in ROLES:
                    role, item = row.data["role"], row.data.get("item")
                    if row.data.get("done"):
                        act.ticks[role][item] = row.data.get("ts", row.ts)
                    else:
                        act.ticks[role].pop(item, None)
                elif row.kind == "form":
                    act.answers.update(row.data.get("answers", {}))
            self.activations[act_id] = act
            self.bus.publish(
                "resumed",
                act_id,
                scenario=scenario.id,
                drill=act.drill,
                gap_s=round(gap, 3),
                last_journal_row=last_ts,
            )

    # -- triggers ---------------------------------------------------------------------
    async def trigger(
        self,
        scenario_id: str,
        *,
        source: str,
        origin: str,
        drill: bool = False,
        zones: list[str] | None = None,
        parameters: dict[str, str] | None = None,
    ) -> Activation:
        try:
            scenario = self.library.get(scenario_id)
        except KeyError:
            raise RequestInvalid(code="unknown_scenario", scenario=scenario_id,
                                 known=", ".join(sorted(self.library.scenarios))) from None
        try:
            params = scenario.resolve_parameters(parameters)
            covered = zones_for(scenario, self.config, zones)
        except ValueError as exc:
            raise RequestInvalid(code="bad_trigger", detail=str(exc)) from None
        if not covered:
            raise RequestInvalid(code="no_zone_to_reach", scenario=scenario.id)

        for existing in list(self.activations.values()):
            if existing.scenario.id != scenario.id:
                continue
            if existing.drill and not drill:
                self._end(existing, "cleared", "operator" if source == "operator" else source,
                          origin, reason="superseded by a real alarm", announce=False)
                break
            self.bus.publish("retriggered", existing.id, source=source, origin=origin)
            return existing

        self._order += 1
        act = Activation(
            id=f"{scenario.id}-{secrets.token_hex(3)}",
            scenario=scenario,
            source=source,
            origin=origin,
            drill=drill,
            zones=covered,
            parameters=params,
            started=now_iso(),
            order=self._order,
        )
        hold = (
            scenario.kind == "evacuate"
            and source in AUTOMATIC_SOURCES
            and self.config.engine.hold_automatic_evacuation_during_lockdown
            and any(
                a.scenario.kind == "shelter" and a.state == "active"
                for a in self.activations.values()
            )
        )
        act.state = "held" if hold else "active"
        self.activations[act.id] = act
        self.bus.publish(
            "triggered",
            act.id,
            ts=act.started,
            scenario=scenario.id,
            title=scenario.title.model_dump(),
            drill=drill,
            source=source,
            origin=origin,
            zones=covered,
            parameters=params,
            priority=scenario.priority,
            state=act.state,
        )
        if hold:
            self.bus.publish(
                "held",
                act.id,
                reason="evacuation from an automatic source during a lockdown "
                "waits for an operator's confirmation",
            )
            staff = [z for z in self.config.staff_zones()]
            if staff:
                self._queue_notice(
                    Step(None, self.announcer.shared_request("held_evacuation"), staff, "notice")
                )
        self._refresh()
        return act

    async def _on_input(self, cfg: PanicInput, active: bool) -> None:
        if active:
            try:
                await self.trigger(cfg.scenario, source="input", origin=cfg.id, zones=cfg.zones)
            except RequestInvalid as exc:
                self.faults.raise_(f"input:{cfg.id}", "input_cannot_trigger", input=cfg.id,
                                   error=str(exc))
        elif not cfg.latching:
            for act in list(self.activations.values()):
                if act.source == "input" and act.origin == cfg.id:
                    self._end(act, "cleared", "input", cfg.id, reason="input released")
            self._refresh()

    # -- operator actions -------------------------------------------------------------
    def _find(self, activation_id: str | None) -> list[Activation]:
        if activation_id is None:
            return list(self.activations.values())
        act = self.activations.get(activation_id)
        if act is None:
            raise RequestInvalid(code="no_open_activation", activation=activation_id)
        return [act]

    def silence(self, activation_id: str | None, operator: str) -> list[str]:
        """Silence one activation, or (without an id) everything: every activation and
        any notice (all-clear, drill closing) that is playing or waiting."""
        done = []
        if activation_id is None and (self._notices or (
                self._playing is not None and self._playing.activation is None)):
            self._notices.clear()
            if self._playing is not None and self._playing.activation is None:
                self._playing.cancelled = True
                self.announcer.stop()
            self.bus.publish("notices_silenced", operator=operator)
        for act in self._find(activation_id):
            if act.silenced:
                continue
            act.silenced = True
            done.append(act.id)
            self.bus.publish("silenced", act.id, operator=operator)
        self._refresh()
        return done

    def clear(self, activation_id: str | None, operator: str) -> list[str]:
        done = []
        for act in self._find(activation_id):
            self._end(act, "cleared", "operator", operator, reason="cleared by operator")
            done.append(act.id)
        self._refresh()
        return done

    def confirm(self, activation_id: str, operator: str) -> None:
        act = self._find(activation_id)[0]
        if act.state != "held":
            raise RequestInvalid(code="not_held", activation=act.id)
        act.state = "active"
        self.bus.publish("confirmed", act.id, operator=operator)
        self._refresh()

    def decline(self, activation_id: str, operator: str) -> None:
        act = self._find(activation_id)[0]
        if act.state != "held":
            raise RequestInvalid(code="not_held", activation=act.id)
        self._end(act, "declined", "operator", operator, reason="declined by operator",
                  announce=False)
        self._refresh()

    def tick(self, activation_id: str, role: str, item: int, done: bool, operator: str) -> None:
        act = self._find(activation_id)[0]
        if role not in ROLES:
            raise RequestInvalid(code="unknown_role", role=role)
        items = getattr(act.scenario.checklist, role).ru
        if not 0 <= item < len(items):
            raise RequestInvalid(code="no_checklist_item", role=role, last=len(items) - 1)
        ts = now_iso()
        if done:
            act.ticks[role][item] = ts
        else:
            act.ticks[role].pop(item, None)
        self.bus.publish(
            "checklist_tick", act.id, role=role, item=item, done=done, operator=operator,
            text=getattr(act.scenario.checklist, role).ru[item], ts=ts,
        )

    def record_form(self, activation_id: str, answers: dict[str, str], operator: str) -> None:
        act = self._find(activation_id)[0]
        fields = {f.id for f in act.scenario.form}
        if not fields:
            raise RequestInvalid(code="no_form", scenario=act.scenario.id)
        unknown = sorted(set(answers) - fields)
        if unknown:
            raise RequestInvalid(code="form_no_field", scenario=act.scenario.id, field=unknown[0])
        act.answers.update(answers)
        self.bus.publish("form", act.id, answers=answers, operator=operator)

    def _end(
        self, act: Activation, kind: str, source: str, who: str, *, reason: str,
        announce: bool = True,
    ) -> None:
        if act.id not in self.activations:
            return
        del self.activations[act.id]
        was_held = act.state == "held"
        act.state = "cleared"
        self.bus.publish(kind, act.id, source=source, by=who, reason=reason,
                         duration_s=round(time.monotonic() - act.trigger_mono, 3))
        if self._playing is not None and self._playing.activation is act:
            self.announcer.stop()
        if announce and not act.scenario.silent and not was_held:
            zones = self._free_zones(act.zones)
            if zones:
                if act.drill and not act.closing_done:
                    req = self.announcer.shared_request("drill_closing")
                elif not act.drill:
                    req = self.announcer.shared_request("all_clear")
                else:
                    req = None
                if req is not None:
                    self._queue_notice(Step(None, req, zones, "all_clear"))

    def _queue_notice(self, step: Step) -> None:
        """One pending notice per message: clearing three alarms at once gives one
        all-clear to all their zones, not three in a row."""
        for pending in self._notices:
            if pending.request == step.request and pending.kind == step.kind:
                pending.zones = list(dict.fromkeys(pending.zones + step.zones))
                return
        self._notices.append(step)

    # -- deciding -----------------------------------------------------------------------
    def _live(self) -> list[Activation]:
        return [a for a in self.activations.values() if a.state == "active"]

    def zone_holders(self, speaking: bool = True) -> dict[str, Activation | None]:
        """Which activation has each zone's loudspeakers. Silent activations (a phone
        threat) never take a zone from one that speaks; with `speaking=False` they are
        shown too (for the console)."""
        holders: dict[str, Activation | None] = {z: None for z in self.config.zones}
        live = [a for a in self._live() if not speaking or not a.scenario.silent]
        for act in sorted(live, key=Activation.rank, reverse=True):
            for zone in act.zones:
                if holders.get(zone, "x") is None:
                    holders[zone] = act
        return holders

    def _free_zones(self, zones: list[str]) -> list[str]:
        holders = self.zone_holders()
        return [z for z in zones if holders.get(z) is None]

    def held_zones(self, act: Activation) -> list[str]:
        holders = self.zone_holders()
        return [z for z in act.zones if holders.get(z) is act]

    def desired_outputs(self) -> dict[str, bool]:
        outputs = self.config.outputs
        on: set[str] = set()
        for act in self._live():
            for name in act.scenario.outputs:
                if name not in outputs:
                    continue
                if act.drill and name in self.config.drill.suppress_outputs:
                    continue
                if act.silenced and outputs[name].kind == "sounder":
                    continue
                on.add(name)
        for zone in self._routed:
            on.update(self.config.zones[zone].outputs)
        if self._routed:
            on.update(n for n, o in outputs.items() if o.kind == "amplifier")
        return {name: name in on for name in outputs}

    def _refresh(self) -> None:
        """Re-decide outputs and audio after any change."""
        playing = self._playing
        best = self._audible()
        stale = False
        if playing is not None and playing.activation is not None:
            act = playing.activation
            stale = act.state != "active" or act.silenced or best is not act
        elif playing is not None and playing.kind == "all_clear":
            stale = best is not None
        if stale:
            playing.cancelled = True
            self.announcer.stop()
        self._wake.set()
        self._spawn(self._apply_outputs(time.monotonic()), "outputs")

    async def _apply_outputs(self, since: float) -> None:
        ok = await self.devices.apply(self.desired_outputs())
        done = time.monotonic()
        self.bus.publish(
            "outputs_applied", journal=False, ok=ok,
            latency_ms=round((done - since) * 1000, 2), live={"at_mono": done},
        )
        self.outputs_settled.set()

    def _audible(self) -> Activation | None:
        candidates = [
            a for a in self._live()
            if not a.silenced and not a.audio_done and not a.scenario.silent and self.held_zones(a)
        ]
        return max(candidates, key=Activation.rank, default=None)

    def _next_step(self) -> Step | float | None:
        """The next thing to play, or seconds to wait, or None when there is nothing."""
        if self._audible() is not None:
            # Never "the danger is over" while another alarm is live.
            self._notices = [n for n in self._notices if n.kind != "all_clear"]
        if self._notices:
            return self._notices.pop(0)
        while (act := self._audible()) is not None:
            held = self.held_zones(act)
            staff = set(self.config.staff_zones())
            public_zones = [z for z in held if z not in staff]
            staff_zones = [z for z in held if z in staff]
            if act.drill and not act.preamble_done:
                return Step(act, self.announcer.shared_request("drill_preamble"), held, "preamble")
            count = act.scenario.repeat.drill_count if act.drill else act.scenario.repeat.count
            if count and act.repetitions >= count:
                if act.drill and not act.closing_done:
                    return Step(act, self.announcer.shared_request("drill_closing"), held, "closing")
                act.audio_done = True
                continue
            cycle: list[Step] = []
            for audience, zones in (("public", public_zones), ("staff", staff_zones)):
                req = self.announcer.scenario_request(act.scenario, audience, act.parameters)
                if req is not None and zones:
                    cycle.append(Step(act, req, zones, audience))
            if not cycle:
                act.audio_done = True
                continue
            if act.part < len(cycle):
                return cycle[act.part]
            # One repetition done; pause before the next.
            if act.pause_until == 0.0:
                act.pause_until = time.monotonic() + act.scenario.repeat.pause
            left = act.pause_until - time.monotonic()
            last = bool(count) and act.repetitions + 1 >= count
            if left > 0 and not last:
                return left
            act.repetitions += 1
            act.part = 0
            act.pause_until = 0.0
        return None

    async def _audio_loop(self) -> None:
        while True:
            self._wake.clear()
            step = self._next_step()
            if step is None or isinstance(step, float):
                if self._routed:
                    await self._route([])
                timeout = step if isinstance(step, float) else None
                try:
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                continue
            # Claimed before the relays move, so a change meanwhile can cancel it.
            self._playing = step
            await self._route(step.zones)
            act = step.activation
            if step.cancelled:
                self._playing = None
                continue

            def first_frame(at: float, act: Activation | None = act) -> None:
                if act is not None and act.first_audio is None:
                    act.first_audio = at
                    self.bus.publish("first_audio", act.id,
                                     latency_ms=round((at - act.trigger_mono) * 1000, 2))

            try:
                played = await self.announcer.play(
                    step.request, act.id if act else None, step.zones, first_frame
                )
            finally:
                self._playing = None
            if act is None:
                continue
            if not played.completed:
                continue
            if step.kind == "preamble":
                act.preamble_done = True
            elif step.kind == "closing":
                act.closing_done = True
                self._end(act, "cleared", "engine", "engine", reason="drill completed",
                          announce=False)
                self._refresh()
            else:
                act.part += 1

    async def _route(self, zones: list[str]) -> None:
        """Select the loudspeaker zones; audio waits for the relays at most 50 ms."""
        self._routed = list(zones)
        await self.devices.apply(self.desired_outputs(), timeout=0.05)

    # -- status -------------------------------------------------------------------------
    def busy(self) -> bool:
        """Something is playing or waiting to be played."""
        return self._playing is not None or bool(self._notices)

    def mode(self) -> str:
        if any(not a.drill for a in self.activations.values()):
            return "ALARM"
        if self.activations:
            return "DRILL"
        if self.faults.active:
            return "FAULT"
        return "QUIESCENT"

    def activation_dict(self, act: Activation) -> dict[str, Any]:
        return {
            "id": act.id,
            "scenario": act.scenario.id,
            "title": act.scenario.title.model_dump(),
            "kind": act.scenario.kind,
            "priority": act.priority,
            "state": act.state,
            "drill": act.drill,
            "source": act.source,
            "origin": act.origin,
            "zones": act.zones,
            "held_zones": self.held_zones(act),
            "suspended": act.state == "active" and not self.held_zones(act),
            "parameters": act.parameters,
            "silenced": act.silenced,
            "started": act.started,
            "elapsed_s": round(time.monotonic() - act.trigger_mono, 1),
            "calls": act.scenario.calls,
            "playing": self._playing is not None and self._playing.activation is act,
            "ticks": {r: sorted(t) for r, t in act.ticks.items()},
            "answers": act.answers,
            "resumed": act.resumed,
        }

    def status(self) -> dict[str, Any]:
        holders = self.zone_holders(speaking=False)
        return {
            "site": self.config.site.name,
            "address": self.config.site.address,
            "timezone": self.config.site.timezone,
            "ui_language": self.config.site.ui_language,
            "mode": self.mode(),
            "activations": [
                self.activation_dict(a)
                for a in sorted(self.activations.values(), key=Activation.rank, reverse=True)
            ],
            "zones": {
                z: {"holder": h.id if h else None, "staff": self.config.zones[z].staff,
                    "routed": z in self._routed}
                for z, h in holders.items()
            },
            "outputs": self.devices.output_states(),
            "devices": self.devices.status(),
            "faults": self.faults.list(),
            "audio": self.announcer.status(),
            "inputs": [
                {"id": i.id, "scenario": i.scenario, "device": i.device, "channel": i.channel}
                for i in self.config.inputs
            ],
            "scenarios": [
                {"id": s.id, "title": s.title.model_dump(), "priority": s.priority,
                 "kind": s.kind, "audience": s.audience}
                for s in self.library.scenarios.values()
            ],
        }
