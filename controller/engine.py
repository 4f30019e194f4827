"""The engine: turns triggers into activations, decides what every output and
loudspeaker does, and journals each step.

Rules (SPEC §5; the README's "How the engine decides" says the same for people):
- An activation goes active (or held) → cleared; it is latched until an operator
  clears it, or, for drills, until its own repetitions end.
- Re-triggering a scenario that is not cleared returns the same activation.
- Each zone is held by the highest-ranked activation that speaks there: active, not
  silenced, with something left to say there. A silenced activation, or one that has
  said all it will say (a code phrase spoken once, a message repeated its count), never
  holds a zone against one that speaks: silence stops that sound, never all sound. The
  others are suspended, not lost, and resume when the zone is free.
- During a lockdown (`shelter`), an evacuation from an automatic source is held for
  an operator's confirmation and the staff zones are told at once. An operator's
  evacuation (confirmed, or triggered by an operator during the lockdown) wins over
  the lockdown: it takes its zones, `lock` outputs are released while any evacuation
  holds a zone, and the lockdown is suspended, not gone.
- Silent activations (phone and written threats) speak nowhere and are never
  "suspended"; they keep their zones' all-clear back until they end.
- Each zone belongs to an audio lane; lanes play at the same time. Within a lane,
  activations take turns announcement by announcement, so none waits for more than
  one other. A drill says it is a drill before every cycle.
- Notices: the held-evacuation notice plays at the next pause in its lane and is
  dropped the moment its evacuation is decided; the all-clear and the drill closing
  go only to zones no open activation covers, and stop the moment one does. A new
  activation cuts any notice in its lanes at once.
- Silence stops audio and sounders and keeps the alarm; clear ends it with the
  all-clear message and puts outputs at rest.
- At start every output goes to rest, then activations that were open when the
  process died are resumed, and the gap is journaled.
- Supervision: whenever a lane should be heard, sound frames must reach its sink; if
  none do for 2 s, a fault names the activation and the player is restarted.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from audio.render import Request
from controller.announcer import Announcer, Playback, Played
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
STALL_SECONDS = 2.0
WATCH_PERIOD = 0.25
log = logging.getLogger("dabyl.engine")


@dataclass
class LaneProgress:
    """Where an activation is in its announcements on one lane."""

    part: int = 0
    repetitions: int = 0
    pause_until: float = 0.0
    closing_done: bool = False
    done: bool = False
    last_played: float = 0.0
    first_frame: float | None = None
    next_cycle_at: float | None = None


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
    # An operator's evacuation during a lockdown: it wins over the lockdowns open then.
    overrides_lockdown: bool = False
    # Which decision of that kind it came after (see Engine._epoch): an overriding
    # evacuation carries its own, a lockdown the one in force when it started.
    epoch: int = 0
    first_audio: float | None = None
    trigger_mono: float = field(default_factory=time.monotonic)
    # From when it should be heard: its trigger, an operator's confirmation of a held
    # evacuation, or the restart that resumed it. First-audio latency counts from here.
    audible_mono: float = field(default_factory=time.monotonic)
    ticks: dict[str, dict[int, str]] = field(default_factory=lambda: {r: {} for r in ROLES})
    answers: dict[str, str] = field(default_factory=dict)
    progress: dict[str, LaneProgress] = field(default_factory=dict)
    resumed: bool = False

    @property
    def priority(self) -> int:
        return self.scenario.priority

    @property
    def speaks(self) -> bool:
        """Wants loudspeakers now: active, not silenced, with something to say."""
        return self.state == "active" and not self.silenced and not self.scenario.silent

    def rank(self) -> tuple[bool, int, int, int]:
        """Who has a zone: a real alarm before any drill; an operator's evacuation
        before the lockdowns it was decided against (a lockdown started later competes
        by priority again); then priority; then the earlier one."""
        return (not self.drill, self.epoch, self.priority, -self.order)

    def lane(self, lane: str) -> LaneProgress:
        return self.progress.setdefault(lane, LaneProgress())


@dataclass(eq=False)
class Step:
    lane: str
    activation: Activation | None
    request: Request
    zones: list[str]
    kind: str  # preamble | marker | public | staff | closing | notice | all_clear
    about: str | None = None  # the activation a notice is about
    cancelled: bool = False
    dropped: bool = False  # silenced by an operator: never requeued
    # A notice cut by a new activation lets that activation speak first (once).
    yielded: bool = False
    started_gen: int = 0
    playback: Playback = field(default_factory=Playback)

    @property
    def notice(self) -> bool:
        return self.activation is None


@dataclass(eq=False)
class Lane:
    id: str
    zones: list[str]
    amplifiers: list[str]
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    playing: Step | None = None
    routed: list[str] = field(default_factory=list)
    notices: list[Step] = field(default_factory=list)
    expect_since: float | None = None
    stalled_at: float | None = None
    routing_until: float = 0.0
    failures: int = 0  # announcements in a row that ended with an error


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
        # Bumped by every new activation: a notice started before it yields to it.
        self._generation = 0
        # Counts operators' evacuations decided against a lockdown (Activation.rank).
        self._epoch = 0
        self.lanes: dict[str, Lane] = {
            name: Lane(name, [z for z, zone in config.zones.items() if zone.lane == name],
                       [a for a in config.lane_amplifiers(name) if a in config.outputs])
            for name in config.lanes()
        }
        self._tasks = TaskSet()
        self.outputs_settled = asyncio.Event()
        devices.on_input = self._on_input

    # -- life cycle -----------------------------------------------------------------
    async def start(self, recovered: Recovered) -> None:
        # Outputs to rest first, so nothing stays on from before the restart
        # unless the engine wants it.
        await self.devices.rest(timeout=3.0)
        self._resume(recovered)
        for lane in self.lanes.values():
            self._tasks.supervise(lambda lane=lane: self._lane_loop(lane), f"lane-{lane.id}",
                                  self._task_crashed)
        self._tasks.supervise(self._watchdog, "audio-watchdog", self._task_crashed)
        self._refresh()

    async def stop(self) -> None:
        for lane in self.lanes.values():
            if lane.playing is not None:
                lane.playing.playback.stop()
        await self._tasks.cancel_all()

    def _task_crashed(self, name: str, exc: BaseException) -> None:
        self.faults.raise_(f"task:{name}", "task_restarted", task=name,
                           error=f"{type(exc).__name__}: {exc}")

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
        # The order of the operators' overriding decisions and of the lockdowns, from
        # the journal's sequence: what won over what before the restart wins again.
        decisions: list[tuple[int, Activation]] = []
        lockdowns: list[tuple[int, Activation]] = []
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
                overrides_lockdown=bool(data.get("overrides_lockdown", False)),
                trigger_mono=time.monotonic() - age,
                resumed=True,
            )
            act.overrides_lockdown = act.overrides_lockdown and not act.drill
            if act.overrides_lockdown:
                decisions.append((first.seq, act))
            if scenario.kind == "shelter":
                lockdowns.append((first.seq, act))
            for row in rows[1:]:
                if row.kind == "confirmed":
                    act.state = "active"
                    if row.data.get("overrides_lockdown", False) and not act.drill:
                        act.overrides_lockdown = True
                        decisions.append((row.seq, act))
                elif row.kind == "silenced":
                    act.silenced = True
                elif row.kind == "retriggered" and row.data.get("sounds_again"):
                    act.silenced = False
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
        decisions.sort(key=lambda d: d[0])
        for epoch, (_, act) in enumerate(decisions, start=1):
            act.epoch = epoch
        for seq, act in lockdowns:
            act.epoch = sum(1 for decided, _ in decisions if decided < seq)
        self._epoch = len(decisions)

    # -- triggers ---------------------------------------------------------------------
    def _lockdown(self) -> bool:
        """A real lockdown is open (a drill never holds back a real evacuation)."""
        return any(a.scenario.kind == "shelter" and a.state == "active" and not a.drill
                   for a in self.activations.values())

    def _override(self, act: Activation) -> None:
        """An operator's real evacuation during a real lockdown: it wins over every
        lockdown open now, never over one that starts later."""
        act.overrides_lockdown = (act.scenario.kind == "evacuate" and not act.drill
                                  and self._lockdown())
        if act.overrides_lockdown:
            self._epoch += 1
            act.epoch = self._epoch
        elif act.scenario.kind == "shelter":
            act.epoch = self._epoch

    async def trigger(
        self,
        scenario_id: str,
        *,
        source: str,
        origin: str,
        drill: bool = False,
        zones: list[str] | None = None,
        parameters: dict[str, str] | None = None,
        note: str | None = None,
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
            if existing.scenario.id == scenario.id and existing.drill == drill:
                # A new press or call is new danger: a silenced alarm sounds again.
                again = existing.silenced
                existing.silenced = False
                self.bus.publish("retriggered", existing.id, source=source, origin=origin,
                                 sounds_again=again)
                if again:
                    self._generation += 1
                    self._refresh()
                return existing
        if drill:
            real = [a for a in self.activations.values() if not a.drill]
            if real:
                # Nobody may wonder whether what they hear is the drill or the real thing.
                raise RequestInvalid(code="real_alarm_open", activation=real[0].id)
        else:
            # A real alarm ends every drill it shares a zone with, without the drill's
            # closing: from now on people hear only the real one.
            for existing in list(self.activations.values()):
                if existing.drill and set(existing.zones) & set(covered):
                    self._end(existing, "cleared", "operator" if source == "operator"
                              else source, origin, reason="superseded by a real alarm",
                              announce=False)

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
        lockdown = self._lockdown()
        evacuation = scenario.kind == "evacuate"
        hold = (
            evacuation
            and source in AUTOMATIC_SOURCES
            and self.config.engine.hold_automatic_evacuation_during_lockdown
            and lockdown
        )
        act.state = "held" if hold else "active"
        if source == "operator" or not evacuation:
            self._override(act)
        if not drill:
            self._drop_drill_closings()
        self.activations[act.id] = act
        extra: dict[str, Any] = {"note": note} if note else {}
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
            overrides_lockdown=act.overrides_lockdown,
            **extra,
        )
        if hold:
            self.bus.publish(
                "held",
                act.id,
                reason="evacuation from an automatic source during a lockdown "
                "waits for an operator's confirmation",
            )
            request = self.announcer.shared_request("held_evacuation")
            for lane in self.lanes.values():
                staff = [z for z in lane.zones if self.config.zones[z].staff]
                if staff:
                    self._queue_notice(Step(lane.id, None, request, staff, "notice",
                                            about=act.id))
        else:
            self._generation += 1
        self._refresh()
        return act

    async def _on_input(self, cfg: PanicInput, active: bool, at_start: bool = False) -> None:
        if active:
            try:
                await self.trigger(cfg.scenario, source="input", origin=cfg.id, zones=cfg.zones,
                                   note="active at start" if at_start else None)
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
        if activation_id is None:
            dropped = False
            for lane in self.lanes.values():
                if lane.notices:
                    lane.notices.clear()
                    dropped = True
                if lane.playing is not None and lane.playing.notice:
                    lane.playing.dropped = True
                    self._cut(lane.playing)
                    dropped = True
            if dropped:
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
            # Clearing several: what is still open is told once, after the last of them.
            self._end(act, "cleared", "operator", operator, reason="cleared by operator",
                      attention=False)
            done.append(act.id)
        self._still_open()
        self._refresh()
        return done

    def confirm(self, activation_id: str, operator: str) -> None:
        act = self._find(activation_id)[0]
        if act.state != "held":
            raise RequestInvalid(code="not_held", activation=act.id)
        act.state = "active"
        act.audible_mono = time.monotonic()
        self._override(act)
        self._generation += 1
        self.bus.publish("confirmed", act.id, operator=operator,
                         overrides_lockdown=act.overrides_lockdown)
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
        announce: bool = True, attention: bool = True,
    ) -> None:
        if act.id not in self.activations:
            return
        del self.activations[act.id]
        was_held = act.state == "held"
        act.state = "cleared"
        self.bus.publish(kind, act.id, source=source, by=who, reason=reason,
                         duration_s=round(time.monotonic() - act.trigger_mono, 3))
        for lane in self.lanes.values():
            # Notices about it are stale now (a held evacuation that was decided).
            lane.notices = [n for n in lane.notices if n.about != act.id]
        # A covert alarm (hostage) ends as quietly as it ran: an all-clear would tell
        # anyone listening that it was there.
        if announce and not act.scenario.silent and not act.scenario.covert and not was_held:
            # The all-clear (or a drill's closing, if it did not close itself) goes to
            # its zones once no open activation covers them.
            # A drill that ends while a real alarm is open closes with nothing: the real
            # alarm's all-clear is all people should hear of it.
            closed = bool(act.progress) and all(p.closing_done for p in act.progress.values())
            real_open = any(not a.drill for a in self.activations.values())
            name = (None if closed or real_open else "drill_closing") if act.drill \
                else "all_clear"
            if name is not None:
                request = self.announcer.shared_request(name)
                for lane in self.lanes.values():
                    zones = [z for z in act.zones if z in lane.zones]
                    if zones:
                        self._queue_notice(Step(lane.id, None, request, zones,
                                                "all_clear" if name == "all_clear" else "closing"))
        if attention:
            self._still_open()

    def _still_open(self) -> None:
        """The console's attention goes back to what is still open."""
        if self.activations:
            top = max(self.activations.values(), key=Activation.rank)
            self.bus.publish("still_open", top.id, journal=False,
                             open=[a.id for a in sorted(self.activations.values(),
                                                        key=Activation.rank, reverse=True)])

    def _drop_drill_closings(self) -> None:
        """A real alarm makes any drill's closing stale, playing or waiting."""
        for lane in self.lanes.values():
            lane.notices = [n for n in lane.notices if n.kind != "closing" or not n.notice]
            playing = lane.playing
            if playing is not None and playing.notice and playing.kind == "closing":
                playing.dropped = True
                self._cut(playing)

    def _queue_notice(self, step: Step) -> None:
        """One pending notice per message and lane: clearing three alarms at once gives
        one all-clear to all their zones, not three in a row."""
        lane = self.lanes[step.lane]
        for pending in lane.notices:
            if pending.request == step.request and pending.kind == step.kind \
                    and pending.about == step.about:
                pending.zones = list(dict.fromkeys(pending.zones + step.zones))
                return
        lane.notices.append(step)
        lane.wake.set()

    # -- deciding -----------------------------------------------------------------------
    def zone_holders(self, speaking: bool = True) -> dict[str, Activation | None]:
        """Which activation has each zone. With `speaking` (the loudspeakers): the
        highest-ranked activation that speaks there. Without (the console, locks and
        the all-clear): every open, not held, activation counts, silent or silenced."""
        holders: dict[str, Activation | None] = {z: None for z in self.config.zones}
        acts = [a for a in self.activations.values()
                if (a.speaks if speaking else a.state == "active")]
        for act in sorted(acts, key=Activation.rank, reverse=True):
            for zone in act.zones:
                if holders.get(zone, "x") is not None:
                    continue
                if speaking and act.lane(self.config.zones[zone].lane).done:
                    continue  # it has said all it will say there: the zone is free
                holders[zone] = act
        return holders

    def held_zones(self, act: Activation, holders: dict[str, Activation | None] | None = None
                   ) -> list[str]:
        holders = self.zone_holders() if holders is None else holders
        return [z for z in act.zones if holders.get(z) is act]

    def _covered(self) -> set[str]:
        """Zones some open activation (held ones too) still covers: no all-clear there."""
        return {z for a in self.activations.values() for z in a.zones}

    def desired_outputs(self) -> tuple[dict[str, bool], dict[str, list[str]]]:
        """Every output's wished state, and which activations want each one on."""
        outputs = self.config.outputs
        wanted: dict[str, set[str]] = {}
        holders = self.zone_holders(speaking=False)
        # A locked door must never trap an evacuating crowd; a drill's evacuation never
        # opens a door a real lockdown locked.
        evacuating = {h.drill for h in holders.values()
                      if h is not None and h.scenario.kind == "evacuate"}
        for act in self.activations.values():
            if act.state != "active":
                continue
            for name in act.scenario.outputs:
                out = outputs.get(name)
                if out is None:
                    continue
                if act.drill and name in self.config.drill.suppress_outputs:
                    continue
                if act.silenced and out.kind == "sounder":
                    continue
                if out.kind == "lock" and (False in evacuating or (act.drill and evacuating)):
                    continue
                wanted.setdefault(name, set()).add(act.id)
        for lane in self.lanes.values():
            if not lane.routed or lane.playing is None:
                continue
            owner = lane.playing.activation.id if lane.playing.activation else \
                (lane.playing.about or lane.playing.kind)
            names = [o for z in lane.routed for o in self.config.zones[z].outputs]
            for name in names + lane.amplifiers:
                wanted.setdefault(name, set()).add(owner)
        states = {name: name in wanted for name in outputs}
        return states, {name: sorted(wanted.get(name, ())) for name in outputs}

    def _refresh(self) -> None:
        """Re-decide outputs and audio after any change: cut what must not go on."""
        holders = self.zone_holders()
        covered = self._covered()
        for lane in self.lanes.values():
            step = lane.playing
            if step is not None and not step.cancelled and self._stale(step, holders, covered,
                                                                       playing=True):
                self._cut(step)
            lane.wake.set()
        self._apply()

    def _stale(self, step: Step, holders, covered: set[str], playing: bool = False) -> bool:
        act = step.activation
        if act is not None:
            return (act.id not in self.activations or not act.speaks
                    or any(holders.get(z) is not act for z in step.zones))
        if step.about is not None:
            about = self.activations.get(step.about)
            if about is None or about.state != "held":
                return True
        elif any(z in covered for z in step.zones):
            return True
        # A playing notice yields at once to any activation that started since it began.
        return playing and step.started_gen != self._generation and any(
            holders.get(z) is not None for z in self.lanes[step.lane].zones)

    def _cut(self, step: Step) -> None:
        step.cancelled = True
        step.playback.stop()

    def _apply(self) -> None:
        self._spawn(self._apply_outputs(time.monotonic()), "outputs")

    async def _apply_outputs(self, since: float) -> None:
        states, owners = self.desired_outputs()
        ok = await self.devices.apply(states, owners)
        done = time.monotonic()
        self.bus.publish(
            "outputs_applied", journal=False, ok=ok,
            latency_ms=round((done - since) * 1000, 2), live={"at_mono": done},
        )
        self.outputs_settled.set()

    # -- one lane -------------------------------------------------------------------------
    def _cycle(self, act: Activation, lane: Lane, held: list[str]) -> list[Step]:
        """An activation's announcements on a lane for one cycle."""
        staff = [z for z in held if self.config.zones[z].staff]
        public = [z for z in held if not self.config.zones[z].staff]
        steps: list[Step] = []
        first_cycle = act.lane(lane.id).repetitions == 0
        for audience, zones in (("public", public), ("staff", staff)):
            req = self.announcer.scenario_request(act.scenario, audience, act.parameters)
            if req is None or not zones:
                continue
            if act.drill:
                # NFPA 72: a drill message says it is a drill, every time: the full
                # preamble to every zone first, then the short marker before each message.
                if first_cycle and not steps:
                    steps.append(Step(lane.id, act,
                                      self.announcer.shared_request("drill_preamble"), held,
                                      "preamble"))
                else:
                    steps.append(Step(lane.id, act,
                                      self.announcer.shared_request("drill_marker"), zones,
                                      "marker"))
            steps.append(Step(lane.id, act, req, zones, audience))
        return steps

    def _activation_step(self, act: Activation, lane: Lane, held: list[str],
                         now: float) -> Step | float | None:
        """The activation's next step on this lane, seconds until it has one, or None
        when it has nothing more to say here."""
        prog = act.lane(lane.id)
        if prog.done:
            return None
        count = act.scenario.repeat.drill_count if act.drill else act.scenario.repeat.count
        if count and prog.repetitions >= count:
            if act.drill and not prog.closing_done:
                return Step(lane.id, act, self.announcer.shared_request("drill_closing"), held,
                            "closing")
            prog.done = True
            return None
        cycle = self._cycle(act, lane, held)
        if not cycle:
            return None
        if prog.pause_until > now:
            return prog.pause_until - now
        return cycle[min(prog.part, len(cycle) - 1)]

    def _next_step(self, lane: Lane) -> Step | float | None:
        """The next thing to play on a lane, or seconds to wait, or None."""
        now = time.monotonic()
        holders = self.zone_holders()
        covered = self._covered()
        ready: list[tuple[float, tuple, Step]] = []
        wait: float | None = None
        for act in self.activations.values():
            if not act.speaks:
                continue
            held = [z for z in lane.zones if holders.get(z) is act]
            if not held:
                continue
            nxt = self._activation_step(act, lane, held, now)
            if isinstance(nxt, Step):
                ready.append((act.lane(lane.id).last_played, tuple(-x for x in act.rank()), nxt))
            elif isinstance(nxt, float):
                wait = nxt if wait is None else min(wait, nxt)
        # The held-evacuation notice goes first at a boundary: staff must decide now;
        # but once cut by a new activation, that activation speaks first.
        for notice in list(lane.notices):
            if notice.about is not None:
                if self._stale(notice, holders, covered):
                    lane.notices.remove(notice)
                    continue
                if notice.yielded and ready:
                    continue
                return notice
        if ready:
            # Turns: whoever has waited longest, then the highest rank.
            return min(ready, key=lambda r: (r[0], r[1]))[2]
        for notice in list(lane.notices):
            notice.zones = [z for z in notice.zones if z not in covered]
            if not notice.zones:
                lane.notices.remove(notice)
                continue
            return notice
        return wait

    def _played(self, lane: Lane, step: Step, played: Played) -> None:
        """Book-keeping after a step ended."""
        act = step.activation
        if act is None:
            if not played.completed and not step.dropped:
                # A notice cut by a new activation (or by a failing worker) comes
                # back; it plays once its zones are free, unless it went stale.
                step.yielded = step.cancelled
                self._queue_notice(step)
            return
        for notice in lane.notices:
            notice.yielded = False  # an activation has spoken: the notice's turn
        prog = act.lane(lane.id)
        prog.last_played = time.monotonic()
        if not played.completed:
            return
        if step.kind == "closing":
            prog.closing_done = prog.done = True
            if act.drill and self._drill_finished(act):
                self._end(act, "cleared", "engine", "engine", reason="drill completed",
                          announce=False)
                self._refresh()
            return
        now = time.monotonic()
        if step.kind in ("public", "staff") and prog.next_cycle_at is None:
            # The pause runs from the end of the cycle's first message: on a shared
            # lane the staff message plays in it, so the public one comes round sooner.
            prog.next_cycle_at = now + act.scenario.repeat.pause
        holders = self.zone_holders()
        held = [z for z in lane.zones if holders.get(z) is act]
        prog.part += 1
        if prog.part >= len(self._cycle(act, lane, held)):
            prog.part = 0
            prog.repetitions += 1
            next_cycle_at = prog.next_cycle_at or now + act.scenario.repeat.pause
            prog.next_cycle_at = None
            count = act.scenario.repeat.drill_count if act.drill else act.scenario.repeat.count
            if not count or prog.repetitions < count:
                prog.pause_until = next_cycle_at
            elif not act.drill:
                # Said all it will say here: its zones are free for whoever else speaks.
                prog.done = True
                self._refresh()

    def _drill_finished(self, act: Activation) -> bool:
        """Every lane that carries one of the drill's zones has closed it."""
        return all(act.lane(lane.id).closing_done for lane in self.lanes.values()
                   if set(act.zones) & set(lane.zones))

    async def _lane_loop(self, lane: Lane) -> None:
        while True:
            lane.wake.clear()
            nxt = self._next_step(lane)
            if not isinstance(nxt, Step):
                if lane.routed:
                    lane.routed = []
                    self._apply()
                try:
                    async with asyncio.timeout(nxt):
                        await lane.wake.wait()
                except TimeoutError:
                    pass
                continue
            step = nxt
            if step.notice:
                step.cancelled = False
                step.playback = Playback()
                step.started_gen = self._generation
                if step in lane.notices:
                    lane.notices.remove(step)
            lane.playing = step
            try:
                confirmed = await self._route(lane, step)
                if step.cancelled:
                    continue
                played = await self.announcer.play(
                    step.request, step.activation.id if step.activation else None, step.zones,
                    lane.id, step.playback, self._first_frame(step, confirmed))
            finally:
                lane.playing = None
            self._played(lane, step, played)
            if played.error and not step.cancelled and not step.playback.stopped:
                # The worker restarts or falls back (a fault says so); try again, less
                # often while it keeps failing before a single frame is heard.
                lane.failures = 1 if played.first_frame is not None else lane.failures + 1
                log.warning("lane %s: %s ended with %s", lane.id, step.request.label,
                            played.error)
                await asyncio.sleep(min(0.2 * 2 ** (lane.failures - 1), 2.0))
            elif played.completed:
                lane.failures = 0

    def _first_frame(self, step: Step, confirmed: bool):
        """The first frame of an activation on each lane is journaled (the first of all
        is its `first_audio`)."""
        act = step.activation

        def first_frame(at: float) -> None:
            if act is None:
                return
            prog = act.lane(step.lane)
            if prog.first_frame is not None:
                return
            prog.first_frame = at
            if act.first_audio is None:
                act.first_audio = at
            self.bus.publish("first_audio", act.id, lane=step.lane,
                             latency_ms=round((at - act.audible_mono) * 1000, 2),
                             relays_confirmed=confirmed, live={"at_mono": at})
        return first_frame

    async def _route(self, lane: Lane, step: Step) -> bool:
        """Select the step's loudspeakers and wait (at most `relay_wait`) until the
        boards acknowledge the zone and amplifier relays: sound goes only into
        switched-on loudspeakers. True when they did."""
        lane.routed = list(step.zones)
        self._apply()
        names = [o for z in step.zones for o in self.config.zones[z].outputs] + lane.amplifiers
        wait = self.config.audio.relay_wait
        lane.routing_until = time.monotonic() + wait
        missing = await self.devices.settled(names, wait)
        key = f"audio:relays:{lane.id}"
        if missing:
            self.faults.raise_(key, "zones_not_confirmed", lane=lane.id, seconds=wait,
                               outputs=missing)
            return False
        self.faults.clear(key, "relays confirmed")
        return True

    # -- supervision --------------------------------------------------------------------
    def _should_sound(self, lane: Lane) -> Activation | None:
        """The activation this lane should be sounding for now (outside any pause)."""
        step = lane.playing
        if step is not None and step.activation is not None and not step.cancelled:
            return step.activation
        now = time.monotonic()
        holders = self.zone_holders()
        for act in sorted(self.activations.values(), key=Activation.rank, reverse=True):
            if not act.speaks:
                continue
            held = [z for z in lane.zones if holders.get(z) is act]
            if held and isinstance(self._activation_step(act, lane, held, now), Step):
                return act
        return None

    async def _watchdog(self) -> None:
        """Supervise the effect, not the code: sound frames reaching the sink."""
        while True:
            await asyncio.sleep(WATCH_PERIOD)
            now = time.monotonic()
            for lane in self.lanes.values():
                act = self._should_sound(lane)
                key = f"audio:stalled:{lane.id}"
                heard = self.announcer.last_frame(lane.id)
                if act is None:
                    lane.expect_since = None
                    continue
                if lane.expect_since is None:
                    lane.expect_since = now
                if lane.stalled_at is not None and heard > lane.stalled_at:
                    lane.stalled_at = None
                    self.faults.clear(key, "sound flows again", leave_notice=True)
                if now - max(heard, lane.expect_since, lane.routing_until) > STALL_SECONDS:
                    self.faults.raise_(key, "audio_stalled", lane=lane.id, activation=act.id,
                                       seconds=STALL_SECONDS)
                    lane.stalled_at = now
                    lane.expect_since = now  # give the restarted player its 2 s
                    if self.announcer.player is not None:
                        self.announcer.player.kill()

    # -- status -------------------------------------------------------------------------
    def healthy(self) -> list[str]:
        """What of the sound path is not running: a lane's loop, the watchdog, the
        audio worker. Empty when all are alive (a stall is the watchdog's to mend)."""
        problems = [f"the loop of audio lane {lane} has stopped" for lane in self.lanes
                    if not self._tasks.alive(f"lane-{lane}")]
        if not self._tasks.alive("audio-watchdog"):
            problems.append("the audio watchdog has stopped")
        player = self.announcer.player
        if player is None or player.proc is None or player.proc.returncode is not None:
            problems.append("the audio worker is not running")
        return problems

    def busy(self) -> bool:
        """Something is playing or waiting to be played."""
        return any(lane.playing is not None or lane.notices for lane in self.lanes.values())

    def mode(self) -> str:
        if any(not a.drill for a in self.activations.values()):
            return "ALARM"
        if self.activations:
            return "DRILL"
        if self.faults.active:
            return "FAULT"
        return "QUIESCENT"

    def activation_dict(self, act: Activation, holders=None) -> dict[str, Any]:
        holders = self.zone_holders() if holders is None else holders
        held = self.held_zones(act, holders)
        playing = [lane.id for lane in self.lanes.values()
                   if lane.playing is not None and lane.playing.activation is act]
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
            "held_zones": held,
            "silent": act.scenario.silent,
            "suspended": act.speaks and not held,
            "overrides_lockdown": act.overrides_lockdown,
            "parameters": act.parameters,
            # Titles and values of the chosen options (object, cordon, visitors' distance).
            "parameter_details": act.scenario.describe_parameters(act.parameters),
            "silenced": act.silenced,
            "started": act.started,
            "elapsed_s": round(time.monotonic() - act.trigger_mono, 1),
            "calls": act.scenario.calls,
            "playing": bool(playing),
            "lanes_playing": playing,
            "ticks": {r: sorted(t) for r, t in act.ticks.items()},
            "answers": act.answers,
            "resumed": act.resumed,
        }

    def status(self) -> dict[str, Any]:
        holders = self.zone_holders()
        shown = self.zone_holders(speaking=False)
        return {
            "site": self.config.site.name,
            "address": self.config.site.address,
            "timezone": self.config.site.timezone,
            "ui_language": self.config.site.ui_language,
            "mode": self.mode(),
            "activations": [
                self.activation_dict(a, holders)
                for a in sorted(self.activations.values(), key=Activation.rank, reverse=True)
            ],
            "zones": {
                z: {"holder": h.id if h else None, "staff": self.config.zones[z].staff,
                    "lane": self.config.zones[z].lane,
                    "routed": any(z in lane.routed for lane in self.lanes.values())}
                for z, h in shown.items()
            },
            "lanes": {
                lane.id: {"zones": lane.zones, "routed": lane.routed,
                          "playing": lane.playing.request.label if lane.playing else None,
                          "activation": lane.playing.activation.id
                          if lane.playing and lane.playing.activation else None}
                for lane in self.lanes.values()
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
