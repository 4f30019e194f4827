"""The duty officer's console: a client of the control socket.

The app holds the connection and what the controller last said. It draws from the
controller's coalesced `status` events (it never asks for the status on each event),
writes every other event to the log in words, rings and notes what needs the
officer at once (a panic input, a fault), prompts for an evacuation held during a
lockdown and closes that prompt when it is decided elsewhere. Quitting asks first;
the controller keeps running unless the officer who started it stops it.

Where things are: the main screen and every dialog in tui/screens/, the pieces of the
main screen in tui/widgets.py, the keys in tui/keys.py, the words in tui/strings.py,
titles and the controller's words in tui/site.py.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from textual import events, work
from textual.app import App
from textual.binding import Binding

from controller.client import AsyncClient
from controller.errors import ConnectionFailed, DabylError
from tui.screens.held import HeldScreen
from tui.screens.journal import JournalScreen
from tui.screens.main import MainScreen
from tui.screens.quit import QuitScreen
from tui.site import Site

RECONNECT_PERIOD = 1.0  # seconds between attempts to reach a controller that went away
# The note shown when a held evacuation was decided elsewhere, by what ended it.
HELD_NOTES = {"confirmed": "held_confirmed", "declined": "held_declined", "cleared": "held_ended"}


class DabylApp(App[str | None]):
    """Returns "leave" (the controller keeps running), "stop" (the officer asked to stop
    the controller this console started) or "signal" (ended by SIGTERM/SIGINT)."""

    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("ctrl+q,ctrl+c", "quit", show=False, priority=True)]

    def __init__(self, socket_path: Path, *, owned: bool = False) -> None:
        super().__init__()
        self.client = AsyncClient(socket_path)
        self.owned = owned
        self.status: dict[str, Any] = {}
        self.site: Site
        self.main: MainScreen | None = None
        self.online = False
        # When the controller stopped answering: what the console shows from then on is
        # the last known state, and the elapsed times stop there.
        self.lost_at: datetime | None = None
        self.drill_mode = False
        self.role = "staff"
        self.selected: str | None = None
        self.chosen = False  # the officer chose the selected alarm; else it follows the top
        self._held_prompted: set[str] = set()
        self.connected = asyncio.Event()
        self._new_status = asyncio.Event()
        self.failure: DabylError | None = None

    async def on_mount(self) -> None:
        try:
            await self.client.connect()
            details = await self.client.request("scenarios")
            status = (await self.client.request("status"))["status"]
        except DabylError as exc:
            self.failure = exc
            self.exit(None)
            return
        self.site = Site(details, status)
        self.online = True
        self.main = MainScreen(self)
        await self.push_screen(self.main)
        self.apply_status(status)
        self.listen()
        self.set_interval(1.0, self.tick)
        self.connected.set()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and event.time < getattr(self.screen, "keys_from", 0):
            return  # typed before this prompt was in front of the officer
        await super().on_event(event)

    async def on_unmount(self) -> None:
        await self.client.close()

    # -- the controller's events ---------------------------------------------------------
    @work(exclusive=True, group="events")
    async def listen(self) -> None:
        """The controller's events; when the controller goes away (a restart, say),
        say so at once and attach again as soon as it answers."""
        while True:
            try:
                await self.client.request("subscribe", status=True)
            except DabylError:
                pass
            else:
                await self._follow()
            self.online = False
            self.lost_at = datetime.now(UTC)
            self.notify(self.site.s["connection_lost"], severity="error", timeout=30)
            self.show()
            await self._reconnect()

    async def _follow(self) -> None:
        while True:
            event = await self.client.events.get()
            kind = event.get("kind")
            if kind == "disconnected":
                return
            if kind == "status":
                self.apply_status(event["status"])
            else:
                self.controller_event(event)

    async def _reconnect(self) -> None:
        await self.client.close()
        while True:
            await asyncio.sleep(RECONNECT_PERIOD)
            client = AsyncClient(self.client.path)
            try:
                await client.connect()
                status = (await client.request("status"))["status"]
            except DabylError:
                await client.close()
                continue
            self.client = client
            self.online = True
            self.lost_at = None
            self.apply_status(status)
            return

    def controller_event(self, event: dict[str, Any]) -> None:
        assert self.main is not None
        self.main.log_event(event)
        kind, act_id = event.get("kind"), event.get("activation")
        if kind == "triggered":
            # Every new alarm, from wherever it came (a panic button, another console, the
            # command line, the schedule), on whatever screen is open: by its source, with
            # the bell.
            title = self.site.scenario_title(event.get("scenario", ""))
            if event.get("drill"):
                title += f" ({self.site.s['drill'].lower()})"
            self.notify(f"{self.site.source(event)}: {title}", severity="error", timeout=10)
            self.bell()
        elif kind == "fault":
            self.notify(self.site.fault_text(event), severity="warning", timeout=10)
        elif kind in HELD_NOTES and act_id:
            self._close_held(act_id, HELD_NOTES[kind])
        if kind in ("cleared", "declined") and act_id:
            # Gone now, not at the next status: the next key must not act on it.
            acts = [a for a in self.status.get("activations", []) if a["id"] != act_id]
            self.apply_status({**self.status, "activations": acts})

    def apply_status(self, status: dict[str, Any]) -> None:
        self.status = status
        self._new_status.set()
        self._new_status = asyncio.Event()
        self.site.follow(status)
        acts = status.get("activations", [])
        ids = [a["id"] for a in acts]
        if self.selected not in ids:
            self.chosen = False
        if not self.chosen:
            self.selected = ids[0] if ids else None
        self.show()
        for act in acts:
            if act.get("state") == "held" and act["id"] not in self._held_prompted:
                self.prompt_held(act)
        for screen in self.screen_stack:
            if isinstance(screen, HeldScreen):
                act = self.site.activations.get(screen.activation_id)
                if act is None or act.get("state") != "held":
                    self._close_held(screen.activation_id, "held_ended")

    def show(self) -> None:
        """Every screen that shows the controller's state draws it again."""
        for screen in self.screen_stack:
            if isinstance(screen, (MainScreen, JournalScreen)):
                screen.show()

    def tick(self) -> None:
        """Once a second: the clocks and the elapsed times."""
        for screen in self.screen_stack:
            if isinstance(screen, (MainScreen, JournalScreen)):
                screen.tick()

    # -- the selected alarm -----------------------------------------------------------
    def current(self) -> dict[str, Any] | None:
        """The alarm the officer's actions apply to."""
        for act in self.status.get("activations", []):
            if act["id"] == self.selected:
                return act
        return None

    async def until_shown(self, act_id: str, timeout: float = 2.0) -> None:
        """Wait (briefly) until the controller's status shows this activation: the
        reply to a trigger comes before the status that draws it."""
        try:
            async with asyncio.timeout(timeout):
                while not any(a["id"] == act_id for a in self.status.get("activations", [])):
                    await self._new_status.wait()
        except TimeoutError:
            pass

    def select(self, act_id: str) -> None:
        self.selected = act_id
        self.chosen = True
        self.show()

    # -- held evacuations ---------------------------------------------------------------
    def prompt_held(self, act: dict[str, Any]) -> None:
        if any(isinstance(s, HeldScreen) and s.activation_id == act["id"]
               for s in self.screen_stack):
            return
        self._held_prompted.add(act["id"])
        act_id = act["id"]

        async def answered(answer: str | None) -> None:
            if answer in ("confirm", "decline"):
                await self.request(answer, activation=act_id)

        # Nothing may cover the prompt: earlier notes are in the event log anyway.
        self.clear_notifications()
        self.push_screen(HeldScreen(self.site, act), answered)

    def _close_held(self, act_id: str, note: str) -> None:
        for screen in list(self.screen_stack):
            if isinstance(screen, HeldScreen) and screen.activation_id == act_id:
                screen.close_because(self.site.s[note])

    # -- requests ---------------------------------------------------------------------
    async def request(self, op: str, **fields: Any) -> dict[str, Any] | None:
        """A request to the controller; a refusal is shown in the console's language."""
        try:
            return await self.client.request(op, **fields)
        except ConnectionFailed:
            self.notify(self.site.s["connection_lost"], severity="error", timeout=10)
        except DabylError as exc:
            self.notify(self.site.error_text(exc), severity="error", timeout=10)
        return None

    # -- leaving ----------------------------------------------------------------------
    async def action_quit(self) -> None:
        """Never one keystroke from leaving an alarm unattended: ask first, and let the
        safe answer keep the controller running."""
        if isinstance(self.screen, QuitScreen):
            return
        if not self.connected.is_set():
            self.exit("leave")
            return
        open_titles = [a["title"][self.site.lang] for a in self.status.get("activations", [])]
        if not open_titles and not self.owned:
            self.exit("leave")
            return

        def answered(answer: str | None) -> None:
            if answer is not None:
                self.exit(answer)

        self.push_screen(QuitScreen(self.site.s, open_titles, can_stop=self.owned), answered)


async def run_ui(socket_path: Path, stop: asyncio.Event | None = None,
                 owned: bool = False) -> str | None:
    """Run the console until the officer leaves, or until `stop` is set (a signal).

    Returns the app's answer ("leave", "stop", "signal"); raises ConnectionFailed when
    there is no controller to attach to.
    """
    app = DabylApp(Path(socket_path), owned=owned)

    async def on_stop() -> None:
        assert stop is not None
        await stop.wait()
        app.exit("signal")

    waiter = asyncio.ensure_future(on_stop()) if stop is not None else None
    try:
        result = await app.run_async()
    finally:
        if waiter is not None:
            waiter.cancel()
    if app.failure is not None:
        raise app.failure
    return result
