"""The duty officer's screen: mode, faults, every open alarm (one of them selected), its
checklist, the devices and zones, the newest events, the ten scenarios.

Every action applies to the selected alarm and goes through the controller, so every
console sees the same thing. The layout grows with the terminal: at 80×24 the mode,
every fault and every open alarm fit without scrolling; a larger terminal gives the
room to the checklist and the event log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import OptionList, Static

from tui.keys import MAIN, bindings, scenario_bindings
from tui.screens.confirm import ConfirmScreen
from tui.screens.forms import FormScreen
from tui.screens.help import HelpScreen
from tui.screens.journal import JournalScreen
from tui.screens.trigger import TriggerScreen
from tui.widgets import (
    AlarmHead,
    AlarmList,
    DevicesPanel,
    EventLog,
    FaultsPanel,
    KeyBar,
    ScenarioBar,
    TickList,
    TopBar,
    ZonesPanel,
)

if TYPE_CHECKING:
    from tui.app import DabylApp

# The keys the bar at the bottom shows (all of them are in the help).
BAR = tuple(k for k in MAIN if k.action in (
    "silence", "clear", "form", "decide", "next_alarm", "help", "quit"))
ROLES = ("staff", "leader")


class MainScreen(Screen[None]):
    DEFAULT_CSS = """
    MainScreen { layout: vertical; }
    #top { height: 1; background: $boost; }
    #faults { height: auto; padding: 0 1; background: $panel; }
    #offline { height: auto; padding: 0 1; background: darkred; color: white;
               text-style: bold; display: none; }
    #body { height: 1fr; }
    #left { width: 30; border-right: solid $primary; }
    #alarms { height: auto; max-height: 12; border: none; border-top: solid $error;
              border-left: blank; padding: 0; }
    #alarms:focus { border-left: thick $warning; }
    #devices, #zones-state { padding: 0 1; }
    #main { width: 1fr; }
    #act-head { height: auto; padding: 0 1; }
    #checklist { height: 1fr; border: none; border-top: solid $primary; border-left: blank;
                 padding: 0; }
    #checklist:focus { border-left: thick $warning; }
    #log { height: 4; border: none; border-top: solid $primary; padding: 0 1;
           scrollbar-gutter: stable; }
    #scenarios, #keys { height: auto; }
    """
    AUTO_FOCUS = "#checklist"
    BINDINGS = bindings(MAIN) + scenario_bindings()

    def __init__(self, dapp: DabylApp) -> None:
        super().__init__()
        self.dapp = dapp
        self.site = dapp.site
        self.wide = False

    def compose(self) -> ComposeResult:
        yield TopBar(id="top")
        yield Static(self.site.s["offline_banner"], id="offline")
        yield FaultsPanel(id="faults")
        with Horizontal(id="body"):
            with VerticalScroll(id="left"):
                yield AlarmList(id="alarms")
                yield DevicesPanel(id="devices")
                yield ZonesPanel(id="zones-state")
            with Vertical(id="main"):
                yield AlarmHead(id="act-head")
                yield TickList(id="checklist")
        yield EventLog(id="log", max_lines=500, wrap=True, markup=False, min_width=20)
        yield ScenarioBar(id="scenarios")
        yield KeyBar(id="keys")

    def on_mount(self) -> None:
        self.query_one("#scenarios", ScenarioBar).show(self.site)
        self.query_one("#keys", KeyBar).show(self.site, BAR)
        self.query_one("#log", EventLog).border_title = self.site.s["events"]
        self.show()

    def on_resize(self, event: events.Resize) -> None:
        """Room follows the terminal: a wider left column, then a taller event log."""
        width, height = event.size
        self.wide = width >= 120
        self.query_one("#left").styles.width = 44 if self.wide else 30
        self.query_one("#log").styles.height = max(8, height // 3) if height >= 32 else 4
        self.query_one("#devices", DevicesPanel).wide = self.wide
        self.show()

    # -- showing the status ------------------------------------------------------------
    def show(self) -> None:
        try:
            self._show()
        except NoMatches:
            pass  # the console is closing

    def _show(self) -> None:
        dapp, site = self.dapp, self.site
        status = dapp.status
        acts = status.get("activations", [])
        self.query_one("#top", TopBar).show(site, status, dapp.drill_mode, dapp.online)
        # Cut off from the controller, nothing may look live: the panels below show the
        # last known state as unknown, and the banner says why and what to do.
        self.query_one("#offline").display = not dapp.online
        self.query_one("#faults", FaultsPanel).show(site, status.get("faults", []))
        alarms = self.query_one("#alarms", AlarmList)
        alarms.border_title = f"{site.s['alarms']}: {len(acts)}"
        alarms.show(site, acts, dapp.selected)
        self.query_one("#devices", DevicesPanel).show(site, status, dapp.online)
        self.query_one("#zones-state", ZonesPanel).show(site, status, dapp.online)
        act = dapp.current()
        self.query_one("#act-head", AlarmHead).show(site, act, status, dapp.lost_at)
        self._show_checklist(act)

    def _show_checklist(self, act: dict[str, Any] | None) -> None:
        site, role = self.site, self.dapp.role
        checklist = self.query_one("#checklist", TickList)
        checklist.display = act is not None
        if act is None:
            checklist.set_items(None, [], set())
            return
        checklist.border_title = site.s[role] + (f" · {site.s['tick_hint']}" if self.wide else "")
        scenario = site.scenarios.get(act["scenario"], {})
        texts = scenario.get("checklist", {}).get(role, {}).get(site.lang, [])
        items: list[tuple[str, str | Text]] = [(f"tick:{i}", f"{i + 1}. {t}")
                                               for i, t in enumerate(texts)]
        for j, block in enumerate(scenario.get("info", [])):
            info = Text(block["title"][site.lang], style="bold")
            for line in block["items"][site.lang]:
                info.append(f"\n • {line}", style="")
            items.append((f"info:{j}", info))
        ticked = {f"tick:{i}" for i in (act.get("ticks") or {}).get(role, [])}
        checklist.set_items((act["id"], role, site.lang), items, ticked)

    def tick(self) -> None:
        """Once a second: the clock and the elapsed time."""
        try:
            self.query_one("#top", TopBar).show(self.site, self.dapp.status, self.dapp.drill_mode,
                                                self.dapp.online)
            self.query_one("#act-head", AlarmHead).show(self.site, self.dapp.current(),
                                                        self.dapp.status, self.dapp.lost_at)
        except NoMatches:
            pass

    def log_event(self, event: dict[str, Any]) -> None:
        try:
            self.query_one("#log", EventLog).add(self.site, event)
        except NoMatches:
            pass

    # -- choosing an alarm ---------------------------------------------------------------
    @on(OptionList.OptionHighlighted, "#alarms")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id and event.option.id != self.dapp.selected:
            self.dapp.select(event.option.id)

    def _step(self, delta: int) -> None:
        ids = [a["id"] for a in self.dapp.status.get("activations", [])]
        if not ids:
            self.notify(self.site.s["no_active"])
            return
        index = ids.index(self.dapp.selected) if self.dapp.selected in ids else 0
        self.dapp.select(ids[(index + delta) % len(ids)])

    def action_previous_alarm(self) -> None:
        self._step(-1)

    def action_next_alarm(self) -> None:
        self._step(1)

    # -- actions on the selected alarm ----------------------------------------------------
    def _selected_or_say(self) -> dict[str, Any] | None:
        act = self.dapp.current()
        if act is None:
            self.notify(self.site.s["no_active"])
        return act

    def _ask(self, act: dict[str, Any], question: str, op: str) -> None:
        async def done(yes: bool | None) -> None:
            if yes:
                await self.dapp.request(op, activation=act["id"])

        self.app.push_screen(ConfirmScreen(f"{act['title'][self.site.lang]}\n\n{question}",
                                           self.site.s), done)

    def action_silence(self) -> None:
        if act := self._selected_or_say():
            self._ask(act, self.site.s["silence_q"], "silence")

    def action_clear(self) -> None:
        if act := self._selected_or_say():
            self._ask(act, self.site.s["clear_q"], "clear")

    def action_decide(self) -> None:
        acts = self.dapp.status.get("activations", [])
        held = [a for a in acts if a.get("state") == "held"]
        chosen = next((a for a in held if a["id"] == self.dapp.selected), None)
        if chosen is None and held:
            chosen = held[0]
        if chosen is None:
            self.notify(self.site.s["no_held"])
            return
        self.dapp.prompt_held(chosen)

    def action_form(self) -> None:
        """The form of the selected alarm; under another alarm, the open one that has a
        form (the phone threat), so a call is never lost to a higher alarm."""
        acts = self.dapp.status.get("activations", [])
        current = self.dapp.current()
        with_form = [a for a in acts if self.site.scenarios.get(a["scenario"], {}).get("form")]
        act = current if current in with_form else (with_form[0] if with_form else None)
        if act is None:
            self.notify(self.site.s["no_form"])
            return
        fields = self.site.scenarios[act["scenario"]]["form"]

        async def done(answers: dict | None) -> None:
            if answers and await self.dapp.request("form", activation=act["id"],
                                                   answers=answers):
                self.notify(self.site.s["saved"])

        self.app.push_screen(FormScreen(self.site, act, fields), done)

    @on(TickList.Toggled, "#checklist")
    async def _ticked(self, event: TickList.Toggled) -> None:
        act = self.dapp.current()
        if act is None or not event.item.startswith("tick:"):
            return
        reply = await self.dapp.request("tick", activation=act["id"], role=self.dapp.role,
                                        item=int(event.item[5:]), done=event.done)
        if reply is None:
            event.tick_list.mark(event.item, not event.done)

    def action_role(self) -> None:
        self.dapp.role = ROLES[(ROLES.index(self.dapp.role) + 1) % len(ROLES)]
        self.show()

    async def action_ack(self) -> None:
        for fault in self.dapp.status.get("faults", []):
            if not fault.get("acknowledged"):
                await self.dapp.request("ack", fault=fault["key"])
        self.notify(self.site.s["ack_done"])

    def action_toggle_drill(self) -> None:
        self.dapp.drill_mode = not self.dapp.drill_mode
        self.show()

    def action_journal(self) -> None:
        self.app.push_screen(JournalScreen(self.dapp))

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.site))

    async def action_quit(self) -> None:
        await self.app.action_quit()

    # -- starting a scenario ---------------------------------------------------------------
    def action_trigger(self, index: int) -> None:
        if index < len(self.site.scenario_keys):
            self.start(self.site.scenario_keys[index])

    def start(self, sid: str) -> None:
        drill = self.dapp.drill_mode

        async def done(choice: dict | None) -> None:
            if choice is not None:
                reply = await self.dapp.request("trigger", scenario=sid, drill=drill, **choice)
                if reply:
                    await self.dapp.until_shown(reply["activation"])
                    self.dapp.select(reply["activation"])

        self.app.push_screen(TriggerScreen(self.site, self.site.scenarios[sid], drill), done)
