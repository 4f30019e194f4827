"""The running controller: assembles journal, devices, audio and engine, and serves
the control socket. `dabyl serve` and `dabyl run` both run one of these.

Start order follows what an alarm needs first: journal (to know what was open),
devices (outputs to rest), voices and sound output, the engine (which resumes what
was open), the control socket, and only then pre-rendering of whatever is missing
(in a worker thread; an alarm meanwhile starts with its tone).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from controller import api, clock
from controller import journal as journal_mod
from controller.announcer import Announcer
from controller.config import Config, load_config
from controller.devices import DeviceManager
from controller.engine import Engine
from controller.errors import ConfigurationError, OperationFailed, RequestInvalid
from controller.events import EventBus
from controller.faults import FaultBook
from controller.journal import Journal, JournalReader, Row
from controller.scenarios import Library
from controller.schedule import Schedule
from controller.sitecheck import load_for_start, load_site, save_last_good
from controller.sitelock import SiteLock
from controller.systemd import Notifier
from controller.tasks import TaskSet

VERSION = "0.1.0"
CONFIG_FAULT = "config"
# Sections a reload cannot change under a running controller: they name hardware,
# sound output and the socket; a restart applies them.
RESTART_SECTIONS = ("devices", "outputs", "zones", "inputs", "audio", "control")
WATCH_PERIOD = 1.0

# Requests that change what the controller does or records: their reply waits until
# their rows are durable (in the journal, or at least fsynced in the spill file).
STATE_CHANGING = (api.Trigger, api.Silence, api.Clear, api.Confirm, api.Tick, api.Form, api.Ack,
                  api.Briefing, api.DrillRecord, api.ThreatLevel)
DURABLE_WAIT = 2.0


class Controller:
    def __init__(self, config: Config, library: Library) -> None:
        self.config = config
        self.library = library
        journal_path = config.path(config.control.journal)
        # One controller per site: the lock sits beside the journal.
        self.site_lock = SiteLock(journal_path)
        self.journal = Journal(journal_path, self._journal_fault,
                               key_path=config.path(config.control.key),
                               timezone=config.site.timezone,
                               segment_bytes=int(config.control.journal_segment_mb * 1024 * 1024))
        self.reader = JournalReader(journal_path)
        self.bus = EventBus(self.journal)
        self.faults = FaultBook(self.bus)
        self.devices = DeviceManager(config, self.bus, self.faults)
        self.announcer = Announcer(config, library, self.bus, self.faults)
        self.engine = Engine(config, library, self.bus, self.faults, self.devices, self.announcer)
        control = config.control
        self.server = api.ControlServer(self, config.path(control.socket), group=control.group,
                                        max_clients=control.max_clients,
                                        line_timeout=control.line_timeout)
        self.schedule = Schedule(config, self._scheduled)
        self.threat_level = "normal"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks = TaskSet()
        self.ready = asyncio.Event()
        self.rendered = asyncio.Event()
        self.started_mono = time.monotonic()
        from controller.records import may_switch

        self._may_switch = may_switch(config, library)
        self._early_faults: list[tuple[str, str | None, dict[str, Any]]] = []
        self.journal_lost = 0
        # Problems of the site's files when the controller runs on their last good copy.
        self.config_problems: list[str] = []
        self._files = _fingerprint(config.source)
        self.notifier = Notifier()

    @classmethod
    def from_path(cls, path: Path | str | None) -> Controller:
        """The controller of the site at `path`, on its last good copy if the files are
        broken; ConfigurationError (every problem) when there is nothing to run."""
        config, library, problems = load_for_start(path)
        controller = cls(config, library)
        controller.config_problems = problems
        return controller

    def _journal_fault(self, key: str, code: str | None, params: dict[str, Any]) -> None:
        # Called from the journal's writer thread (and from open(), before the loop runs:
        # those faults are raised by start()).
        loop = self._loop
        if loop is None or loop.is_closed():
            self._early_faults.append((key, code, params))
            return
        if code:
            loop.call_soon_threadsafe(lambda: self.faults.raise_(key, code, **params))
        else:
            loop.call_soon_threadsafe(self.faults.clear, key, "journal writes again")

    async def start(self) -> None:
        # Before anything touches outputs, journal or socket: one controller per site.
        self.site_lock.acquire()
        _private(self.journal.path)
        recovered = self.journal.open()
        self._loop = asyncio.get_running_loop()
        for key, code, params in self._early_faults:
            if code:
                self.faults.raise_(key, code, **params)
            else:
                self.faults.clear(key)
        self._early_faults.clear()
        if self.config_problems:
            self.faults.raise_(CONFIG_FAULT, "config_fallback", problems=self.config_problems)
        else:
            self._keep_last_good(self.config)
        self.bus.publish("controller_started", version=VERSION, boot_id=clock.boot_id(),
                         config=str(self.config.base_dir),
                         site=self.config.site.name)
        for warning in self.library.warnings:
            self.bus.publish("warning", message=warning)
        # A text no voice can say right still loads (better than no alarm); `dabyl check`
        # fails on it, and the console hears of it here.
        for problem in self.library.speech_problems:
            self.bus.publish("warning", message=problem)
        await self.devices.start()
        await asyncio.to_thread(self.announcer.setup)
        await self.announcer.start()
        await self.engine.start(recovered)
        self.threat_level = recovered.threat_level
        self._report_missed(recovered.last_activity)
        self.schedule.start()
        await self.server.start()
        self.ready.set()
        self._spawn(self._prerender(), "prerender")
        self._spawn(self._watch_files(), "watch-files")
        self._spawn(self._service(), "service")
        self._spawn(self._watch_clock(), "watch-clock")
        self._spawn(self.bus.feed_status(self.status), "status-feed")

    async def _watch_clock(self) -> None:
        """A fault while the clock is not synchronised; every jump of it journaled."""
        watch = clock.ClockWatch()
        while True:
            if self.config.site.clock_sync:
                synced = await asyncio.to_thread(clock.synchronised)
                if synced is False:
                    self.faults.raise_("clock", "clock_unsynchronised")
                elif synced:
                    self.faults.clear("clock", "the clock is synchronised")
            delta = watch.jumped()
            if delta is not None:
                self.bus.publish("clock_jump", delta_s=round(delta, 3),
                                 live={"at_mono": time.monotonic()})
            await asyncio.sleep(1.0)

    def healthy(self) -> list[str]:
        """What of the alarm path is not running: the audio loop, each device's
        supervisor, the journal's writer. Empty when all are alive.

        (Liveness of the tasks themselves; the supervisors' own checks of their effects
        raise faults, which are not a reason to restart.)"""
        problems = self.engine.healthy()
        for device in self.devices.links:
            if not self.devices._tasks.alive(f"supervise-{device}"):
                problems.append(f"the supervisor of {device} has stopped")
        writer = self.journal._thread
        if writer is None or not writer.is_alive():
            problems.append("the journal writer has stopped")
        return problems

    def _outputs_settled(self) -> bool:
        """Every board holds the engine's wish, or is known to be lost (a fault)."""
        return all(link.in_sync or link.online is False for link in self.devices.links.values())

    async def _service(self) -> None:
        """systemd: READY=1 when the site can broadcast, then the watchdog."""
        notifier = self.notifier
        if not notifier.enabled:
            return
        period = notifier.watchdog / 2 if notifier.watchdog else None
        ready = False
        last_ping = 0.0
        while True:
            if not ready and self.rendered.is_set() and self._outputs_settled():
                ready = True
                mode = self.engine.status().get("mode", "")
                notifier.ready(f"{self.config.site.name}: {mode}, "
                               f"{len(self.faults.active)} fault(s)")
            now = time.monotonic()
            if period is not None and now - last_ping >= period:
                problems = self.healthy()
                if problems:
                    notifier.status("unhealthy: " + "; ".join(problems))
                else:
                    notifier.ping()
                    last_ping = now
            if ready and period is None:
                return
            # Until ready, look often (the start is what is waited for); then at the
            # watchdog's pace.
            await asyncio.sleep(0.05 if not ready else period or 0.05)

    def _keep_last_good(self, config: Config) -> None:
        try:
            save_last_good(config)
        except OSError as exc:
            self.faults.raise_("config:copy", "config_not_saved", error=str(exc))
        else:
            self.faults.clear("config:copy")

    async def _watch_files(self) -> None:
        """Edits to config.toml and the scenarios are checked at once: an invalid edit
        is a fault now, not a refused start later."""
        while True:
            await asyncio.sleep(WATCH_PERIOD)
            files = await asyncio.to_thread(_fingerprint, self.config.source)
            if files == self._files:
                continue
            self._files = files
            try:
                await asyncio.to_thread(load_site, self.config.source)
            except ConfigurationError as exc:
                self.faults.raise_(CONFIG_FAULT, "config_invalid", problems=exc.problems)
                continue
            current = self.faults.active.get(CONFIG_FAULT)
            if current is not None and current.code == "config_invalid":
                self.faults.clear(CONFIG_FAULT, "the site's files are valid again")
            self.bus.publish("config_changed", valid=True, source=str(self.config.source))

    async def reload(self, operator: str) -> dict[str, Any]:
        """Apply edited files that pass every check, keeping every open activation (each
        goes on with the scenario it started with)."""
        try:
            config, library = await asyncio.to_thread(load_site, self.config.source)
        except ConfigurationError as exc:
            self.faults.raise_(CONFIG_FAULT, "config_invalid", problems=exc.problems)
            more = f" (and {len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
            raise RequestInvalid(f"nothing reloaded: {exc.problems[0]}{more}") from None
        restart = [name for name in RESTART_SECTIONS
                   if getattr(config, name) != getattr(self.config, name)]
        if config.site.languages != self.config.site.languages:
            restart.append("site.languages")
        if restart:
            raise RequestInvalid(f"nothing reloaded: {', '.join(restart)} changed, and take "
                                 "effect at a restart of the controller")
        self.config, self.library = config, library
        for part in (self.engine, self.announcer):
            part.config, part.library = config, library
        self.schedule.stop()
        self.schedule = Schedule(config, self._scheduled)
        self.schedule.start()
        self.config_problems = []
        self._files = await asyncio.to_thread(_fingerprint, config.source)
        self.faults.clear(CONFIG_FAULT, f"reloaded by {operator}")
        self._keep_last_good(config)
        self.bus.publish("reloaded", by=operator, scenarios=len(library.scenarios))
        self.rendered.clear()
        self._spawn(self._prerender(), "prerender")
        return {"reloaded": True, "scenarios": len(library.scenarios),
                "open_activations": len(self.engine.activations)}

    async def _prerender(self) -> None:
        started = time.monotonic()
        try:
            count = await self.announcer.prerender_async()
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
            real = [a for a in self.engine.activations.values() if not a.drill]
            if entry.action == "drill" and real:
                # No drill while a real alarm is open: people must never wonder which
                # of the two they are hearing. The inspector sees why it did not run.
                self.bus.publish("schedule_skipped", real[0].id, entry=entry.id,
                                 scenario=entry.scenario)
                self.faults.raise_(f"notice:skipped:{entry.id}", "schedule_skipped",
                                   entry=entry.id, activation=real[0].id)
            elif entry.action == "drill":
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
        self.notifier.stopping()
        self.schedule.stop()
        await self.server.stop()
        await self._tasks.cancel_all()
        await self.engine.stop()
        await self.devices.stop()
        await self.announcer.close()
        self.bus.publish("controller_stopped")
        self.reader.close()
        # Its own thread, not the default executor: a stuck audio call cannot hold it up.
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def close() -> None:
            lost = self.journal.close()
            loop = done.get_loop()
            if not loop.is_closed():
                loop.call_soon_threadsafe(lambda: done.done() or done.set_result(lost))

        threading.Thread(target=close, name="journal-close", daemon=True).start()
        self.journal_lost = await done
        self.site_lock.release()

    # -- requests from the control socket (and from the in-process UI) ---------------
    async def handle(self, request: Any, operator: str) -> dict[str, Any]:
        reply = await self._handle(request, operator)
        if isinstance(request, STATE_CHANGING):
            reply.update(await self.durable())
        return reply

    async def durable(self, timeout: float = DURABLE_WAIT) -> dict[str, Any]:
        """Wait until every row appended so far survives kill -9, without a thread of the
        default executor. {"journaled": True} when the rows are in the journal."""
        try:
            async with asyncio.timeout(timeout):
                where = await asyncio.wrap_future(self.journal.durable())
        except TimeoutError:
            where = None
        if where == "journal":
            return {"journaled": True}
        if where == "spill":
            kept = (f"kept in the spill file {journal_mod.spill_path(self.journal.path)}, "
                    "written into the journal as soon as it can be")
        else:
            kept = "held in memory only: lost if the controller stops now"
        return {"journaled": False,
                "journal_warning": f"done, but not in the journal ({self.journal.fault_text()}); "
                                   f"{kept}"}

    async def _handle(self, request: Any, operator: str) -> dict[str, Any]:
        engine = self.engine
        if isinstance(request, api.Ping):
            return {"pong": True}
        if isinstance(request, api.Reload):
            return await self.reload(operator)
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
            await self.durable()  # the drill may have ended a moment ago
            start = await self._journal_read(journal_mod.find_triggered, request.activation)
            if start is None:
                raise RequestInvalid(code="not_in_journal", activation=request.activation)
            if not start.data.get("drill"):
                raise RequestInvalid(code="not_a_drill", activation=request.activation)
            # The journal cannot edit a row: a second record is refused unless it says
            # it is a correction, and then it names the row it supersedes.
            earlier = await self._journal_read(_drill_records, request.activation)
            if earlier and not request.correct:
                raise RequestInvalid(code="drill_recorded", activation=request.activation,
                                     participants=earlier[-1].data.get("participants"))
            scenario = self.library.scenarios.get(start.data.get("scenario", ""))
            corrects = ({"seq": earlier[-1].seq,
                         "participants": earlier[-1].data.get("participants")}
                        if earlier else None)
            self.bus.publish("drill_record", request.activation, participants=request.participants,
                             remarks=request.remarks, by=operator,
                             training_topics=scenario.training_topics if scenario else [],
                             **({"corrects": corrects} if corrects else {}))
            return {"corrects": corrects} if corrects else {}
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
            # The alarm is already under way; the reply waits (in handle) until the
            # trigger is durable, so an acknowledged alarm survives a crash.
            return {"activation": act.id, "state": act.state}
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
            engine.record_form(request.activation, self._form_answers(request), operator)
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
                "lanes": {name: {"title": lane.title}
                          for name, lane in self.config.lanes().items()},
            }
        if isinstance(request, api.JournalQuery):
            if request.activation is None:
                return await self._journal_read(journal_mod.list_activations, request.limit,
                                                request.before, request.drill)
            try:
                return await self._journal_read(journal_mod.activation_rows, request.activation,
                                                request.limit, request.after or 0,
                                                self._may_switch)
            except KeyError:
                raise RequestInvalid(
                    f"no activation {request.activation!r} in the journal") from None
        if isinstance(request, api.Press):
            await self.press(request.input, request.hold, operator)
            return {"pressed": request.input}
        raise OperationFailed(f"unsupported request {request!r}")

    def _form_answers(self, request: api.Form) -> dict[str, str]:
        """A choice is kept as its id, in whatever language a console picked it; an
        answer that is none of the field's choices is refused, and nothing is saved."""
        act = self.engine.activations.get(request.activation)
        if act is None:
            return request.answers  # the engine says why it refuses
        fields = {f.id: f for f in act.scenario.form}
        answers = dict(request.answers)
        for name, answer in request.answers.items():
            field = fields.get(name)
            if field is None or field.choices is None:
                continue
            chosen = field.choice(answer)
            if chosen is None:
                raise RequestInvalid(code="form_bad_choice", field=name, answer=answer[:80],
                                     choices=", ".join(field.ids()))
            answers[name] = chosen
        return answers

    def status(self) -> dict[str, Any]:
        """What `dabyl status` and every console show."""
        return {**self.engine.status(), "threat_level": self.threat_level}

    async def selftest(self, who: str) -> list[dict[str, Any]]:
        """Devices channel by channel, then the audio path and the voices."""
        quiet = not self.engine.activations
        results = await self.devices.selftest(pulse=quiet)
        for output, sink in self.announcer.sinks.items():
            fault = self.faults.active.get(self.announcer.fault_key(output))
            results.append({"device": "audio", "kind": "audio", "name": sink["sink"] or "none",
                            "channel": 0, "ok": sink["sink"] is not None and fault is None,
                            "detail": fault.message if fault else f"sound output {output} open"})
        if not self.announcer.sinks:
            results.append({"device": "audio", "kind": "audio", "name": "none", "channel": 0,
                            "ok": False, "detail": "the audio worker has not reported"})
        for lang, voice in self.announcer.voices.items():
            results.append({"device": "audio", "kind": "voice", "name": lang, "channel": 0,
                            "ok": voice.engine is not None, "detail": voice.description})
        failed = [r for r in results if not r["ok"]]
        self.bus.publish("selftest", by=who, checked=len(results), failed=len(failed),
                         failures=[f"{r['device']}/{r['name']}: {r['detail']}" for r in failed])
        return results

    async def _journal_read(self, fn, *args: Any) -> Any:
        """A journal query on the reader's own worker, paged and bounded."""
        try:
            return await self.reader.run(fn, *args)
        except journal_mod.JournalDamaged as exc:
            raise OperationFailed(code="journal_unreadable", detail=str(exc)) from None

    async def press(self, input_id: str, hold: float, operator: str) -> None:
        """Press a simulated input like a person would: hold it, then let go."""
        sim, cfg = self.devices.simulator_for_input(input_id)
        if cfg is None:
            known = ", ".join(i.id for i in self.config.inputs) or "none"
            raise RequestInvalid(code="unknown_input", input=input_id, known=known)
        if sim is None:
            raise RequestInvalid(code="input_not_simulated", input=input_id)
        self.bus.publish("simulated_press", input=input_id, operator=operator)
        hold = max(hold, cfg.debounce * 2 + 0.15)
        self.devices.set_simulated_input(cfg, True)
        try:
            await asyncio.sleep(hold)  # the press itself: a person holds the button
        finally:
            self.devices.set_simulated_input(cfg, False)


def _fingerprint(source: Path) -> list[tuple[str, int, int]]:
    """What says the site's files changed: config and scenario files, size and time, as
    the installer edits them (the controller may be running on their last good copy)."""
    out = []
    for path in [source, *sorted(_edited_scenarios(source).glob("*.toml"))]:
        try:
            info = path.stat()
            out.append((str(path), info.st_size, info.st_mtime_ns))
        except OSError:
            out.append((str(path), -1, -1))
    return out


def _edited_scenarios(source: Path) -> Path:
    """The scenario folder the edited config names (it may differ from the copy's)."""
    try:
        return load_config(source).scenarios_dir
    except ConfigurationError:
        return source.parent / "scenarios"


def _private(journal: Path) -> None:
    """Journal files are for the controller and its operators' group (0640), also
    those written by an older version or under a loose umask."""
    for path in journal.parent.glob(journal.name + "*"):
        try:
            mode = path.stat().st_mode & 0o7777
            if mode & 0o027:
                os.chmod(path, mode & ~0o027)
        except OSError:
            pass  # a file that cannot be tightened is the journal's own fault to report


async def serve(config_path: Path | str | None, stop: asyncio.Event | None = None) -> None:
    controller = Controller.from_path(config_path)
    stop = stop or asyncio.Event()
    await controller.start()
    try:
        await stop.wait()
    finally:
        await controller.stop()


def _drill_records(path: Path, activation: str) -> list[journal_mod.Row]:
    """The drill records of one activation, oldest first (the journal reader's worker)."""
    return list(journal_mod.iter_rows(path, "activation=? AND kind='drill_record'",
                                      (activation,)))
