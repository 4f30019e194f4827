"""The running controller: assembles journal, devices, audio and engine, and serves
the control socket. `dabyl serve` and `dabyl run` both run one of these.

Start order follows what an alarm needs first: journal (to know what was open),
devices (outputs to rest), voices and sound output, the engine (which resumes what
was open), the control socket, and only then pre-rendering of whatever is missing
(in a worker thread; an alarm meanwhile starts with its tone).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from controller import api
from controller import journal as journal_mod
from controller.announcer import Announcer
from controller.config import Config, load_config
from controller.devices import DeviceManager
from controller.engine import Engine
from controller.errors import OperationFailed, RequestInvalid
from controller.events import EventBus
from controller.faults import FaultBook
from controller.journal import Journal, Row
from controller.scenarios import Library, load_library
from controller.schedule import Schedule
from controller.tasks import TaskSet

VERSION = "0.1.0"


class Controller:
    def __init__(self, config: Config, library: Library) -> None:
        self.config = config
        self.library = library
        self.journal = Journal(config.path(config.control.journal), self._journal_fault)
        self.bus = EventBus(self.journal)
        self.faults = FaultBook(self.bus)
        self.devices = DeviceManager(config, self.bus, self.faults)
        self.announcer = Announcer(config, library, self.bus, self.faults)
        self.engine = Engine(config, library, self.bus, self.faults, self.devices, self.announcer)
        self.server = api.ControlServer(self, config.path(config.control.socket))
        self.schedule = Schedule(config, self._scheduled)
        self.threat_level = "normal"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks = TaskSet()
        self.ready = asyncio.Event()
        self.rendered = asyncio.Event()
        self.started_mono = time.monotonic()

    @classmethod
    def from_path(cls, path: Path | str | None) -> Controller:
        config = load_config(path)
        return cls(config, load_library(config.scenarios_dir, config))

    def _journal_fault(self, message: str | None) -> None:
        # Called from the journal's writer thread.
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if message:
            loop.call_soon_threadsafe(lambda: self.faults.raise_("journal", "journal",
                                                                 detail=message))
        else:
            loop.call_soon_threadsafe(self.faults.clear, "journal", "journal writes again")

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        recovered = self.journal.open()
        if self.journal.damaged:
            self.faults.raise_("journal", "journal",
                               detail=f"unusable, rows kept in memory: {self.journal.damaged}")
        self.bus.publish("controller_started", version=VERSION, config=str(self.config.base_dir),
                         site=self.config.site.name)
        for warning in self.library.warnings:
            self.bus.publish("warning", message=warning)
        await self.devices.start()
        await asyncio.to_thread(self.announcer.setup)
        await self.engine.start(recovered)
        self.threat_level = recovered.threat_level
        self._report_missed(recovered.last_activity)
        self.schedule.start()
        await self.server.start()
        self.ready.set()
        self._spawn(self._prerender(), "prerender")
        self._spawn(self.bus.feed_status(self.status), "status-feed")

    async def _prerender(self) -> None:
        started = time.monotonic()
        try:
            count = await asyncio.to_thread(self.announcer.prerender)
        except Exception as exc:  # noqa: BLE001 - synthesis failure must not stop the controller
            self.faults.raise_("audio:render", "render_failed", error=str(exc))
            return
        finally:
            self.rendered.set()
        self.bus.publish("prerendered", count=count,
                         seconds=round(time.monotonic() - started, 2))

    def _spawn(self, coro, name: str):
        return self._tasks.spawn(coro, name)

    def _report_missed(self, last: Row | None) -> None:
        """Runs that fell due while the controller was down: said, not skipped, not run late."""
        if last is None:
            return
        since = datetime.fromisoformat(last.ts)
        entries = {e.id: e for e in self.config.schedule}
        for entry_id, runs in self.schedule.missed(since).items():
            entry = entries[entry_id]
            self.bus.publish("schedule_missed", entry=entry_id, action=entry.action,
                             scenario=entry.scenario, count=len(runs),
                             first=runs[0].isoformat(), last=runs[-1].isoformat())
            self.faults.raise_(f"notice:missed:{entry_id}", "schedule_missed",
                               action=entry.action, scenario=entry.scenario or "",
                               entry=entry_id, count=len(runs), last=f"{runs[-1]:%Y-%m-%d %H:%M}")

    async def _scheduled(self, entry) -> None:
        self.bus.publish("schedule_run", entry=entry.id, action=entry.action,
                         scenario=entry.scenario)
        try:
            if entry.action == "drill":
                await self.engine.trigger(entry.scenario, source="schedule", origin=entry.id,
                                          drill=True, zones=entry.zones,
                                          parameters=entry.parameters)
            elif entry.action == "selftest":
                await self.selftest(f"schedule:{entry.id}")
            else:
                self.faults.raise_(f"notice:reminder:{entry.id}", "reminder",
                                   text=entry.text or entry.id)
        except Exception as exc:  # noqa: BLE001 - a schedule job must never die silently
            self.faults.raise_(f"schedule:{entry.id}", "schedule_failed", entry=entry.id,
                               error=str(exc))

    async def stop(self) -> None:
        self.schedule.stop()
        await self.server.stop()
        await self._tasks.cancel_all()
        await self.engine.stop()
        await self.devices.stop()
        if self.announcer.sink is not None:
            self.announcer.sink.close()
        self.bus.publish("controller_stopped")
        await asyncio.to_thread(self.journal.close)

    # -- requests from the control socket (and from the in-process UI) ---------------
    async def handle(self, request: Any, operator: str) -> dict[str, Any]:
        engine = self.engine
        if isinstance(request, api.Ping):
            return {"pong": True}
        if isinstance(request, api.Status):
            return {"status": self.status()}
        if isinstance(request, api.ThreatLevel):
            changed = request.level != self.threat_level
            self.threat_level = request.level
            self.bus.publish("threat_level", level=request.level, by=operator)
            results = None
            if request.level == "raised":
                # Instruction §32: at a raised level, check the notification system works.
                results = await self.selftest(operator)
            return {"level": request.level, "changed": changed, "selftest": results}
        if isinstance(request, api.DrillRecord):
            rows = await asyncio.to_thread(self._rows)
            start = next((r for r in rows if r.activation == request.activation
                          and r.kind == "triggered"), None)
            if start is None:
                raise RequestInvalid(code="not_in_journal", activation=request.activation)
            if not start.data.get("drill"):
                raise RequestInvalid(code="not_a_drill", activation=request.activation)
            scenario = self.library.scenarios.get(start.data.get("scenario", ""))
            self.bus.publish("drill_record", request.activation, participants=request.participants,
                             remarks=request.remarks, by=operator,
                             training_topics=scenario.training_topics if scenario else [])
            return {}
        if isinstance(request, api.Briefing):
            self.bus.publish("briefing", person=request.person, position=request.position,
                             briefing=request.kind, by=request.by, date=request.date,
                             recorded_by=operator)
            return {}
        if isinstance(request, api.Trigger):
            act = await engine.trigger(
                request.scenario,
                source="operator",
                origin=operator,
                drill=request.drill,
                zones=request.zones,
                parameters=request.parameters,
            )
            # The alarm is already under way; the reply waits (briefly) until the
            # trigger is on disk, so an acknowledged alarm survives a crash.
            journaled = await asyncio.to_thread(self.journal.flush, 1.0)
            return {"activation": act.id, "state": act.state, "journaled": journaled}
        if isinstance(request, api.Silence):
            return {"silenced": engine.silence(request.activation, operator)}
        if isinstance(request, api.Clear):
            if request.activation is None and not request.all:
                raise RequestInvalid(code="clear_what")
            return {"cleared": engine.clear(request.activation, operator)}
        if isinstance(request, api.Confirm):
            if request.op == "confirm":
                engine.confirm(request.activation, operator)
            else:
                engine.decline(request.activation, operator)
            return {}
        if isinstance(request, api.Tick):
            engine.tick(request.activation, request.role, request.item, request.done, operator)
            return {}
        if isinstance(request, api.Form):
            engine.record_form(request.activation, request.answers, operator)
            return {}
        if isinstance(request, api.Ack):
            if not self.faults.acknowledge(request.fault, operator):
                raise RequestInvalid(code="no_active_fault", fault=request.fault)
            return {}
        if isinstance(request, api.Selftest):
            return {"results": await self.selftest(operator)}
        if isinstance(request, api.Scenarios):
            return {
                "scenarios": [s.model_dump() for s in self.library.scenarios.values()],
                "zones": {n: z.model_dump() for n, z in self.config.zones.items()},
                "outputs": {n: o.model_dump() for n, o in self.config.outputs.items()},
                "drill_suppress": self.config.drill.suppress_outputs,
                # What consoles call things by: titles instead of ids.
                "inputs": {i.id: {"title": i.title, "scenario": i.scenario}
                           for i in self.config.inputs},
                "devices": {d.id: {"title": d.title, "driver": d.driver}
                            for d in self.config.devices},
                "schedule": {e.id: {"action": e.action, "scenario": e.scenario, "text": e.text}
                             for e in self.config.schedule},
            }
        if isinstance(request, api.JournalQuery):
            return await asyncio.to_thread(self._journal_query, request)
        if isinstance(request, api.Press):
            await self.press(request.input, request.hold, operator)
            return {"pressed": request.input}
        raise OperationFailed(f"unsupported request {request!r}")

    def status(self) -> dict[str, Any]:
        """What `dabyl status` and every console show."""
        return {**self.engine.status(), "threat_level": self.threat_level}

    async def selftest(self, who: str) -> list[dict[str, Any]]:
        """Devices channel by channel, then the audio path and the voices."""
        quiet = not self.engine.activations
        results = await self.devices.selftest(pulse=quiet)
        sink = self.announcer.sink
        audio_fault = self.faults.active.get("audio:output")
        results.append({"device": "audio", "kind": "audio", "name": sink.name if sink else "none",
                        "channel": 0, "ok": sink is not None and audio_fault is None,
                        "detail": audio_fault.message if audio_fault else "sound output open"})
        for lang, voice in self.announcer.voices.items():
            results.append({"device": "audio", "kind": "voice", "name": lang, "channel": 0,
                            "ok": voice.engine is not None, "detail": voice.description})
        failed = [r for r in results if not r["ok"]]
        self.bus.publish("selftest", by=who, checked=len(results), failed=len(failed),
                         failures=[f"{r['device']}/{r['name']}: {r['detail']}" for r in failed])
        return results

    def _rows(self) -> list:
        self.journal.flush(2.0)
        try:
            return journal_mod.read_rows(self.journal.path)
        except journal_mod.JournalDamaged as exc:
            raise OperationFailed(code="journal_unreadable", detail=str(exc)) from None

    def _journal_query(self, request: Any) -> dict[str, Any]:
        rows = self._rows()
        if request.activation is None:
            items = journal_mod.activations(rows)
            if request.drill is not None:
                items = [a for a in items if bool(a["drill"]) == request.drill]
            return {"activations": items[-request.limit:][::-1]}
        shown = journal_mod.timeline(rows, request.activation)
        if not shown:
            raise RequestInvalid(code="not_in_journal", activation=request.activation)
        return {"timeline": [r.as_dict() for r in shown[: request.limit]]}

    async def press(self, input_id: str, hold: float, operator: str) -> None:
        """Press a simulated input like a person would: hold it, then let go."""
        sim, cfg = self.devices.simulator_for_input(input_id)
        if cfg is None:
            known = ", ".join(i.id for i in self.config.inputs) or "none"
            raise RequestInvalid(code="unknown_input", input=input_id, known=known)
        if sim is None:
            raise RequestInvalid(code="input_not_simulated", input=input_id)
        active_level = cfg.contact == "normally_open"
        self.bus.publish("simulated_press", input=input_id, operator=operator)
        hold = max(hold, cfg.debounce * 2 + 0.15)
        sim.set_input(cfg.channel, active_level)
        try:
            await asyncio.sleep(hold)  # the press itself: a person holds the button
        finally:
            sim.set_input(cfg.channel, not active_level)


async def serve(config_path: Path | str | None, stop: asyncio.Event | None = None) -> None:
    controller = Controller.from_path(config_path)
    stop = stop or asyncio.Event()
    await controller.start()
    try:
        await stop.wait()
    finally:
        await controller.stop()
