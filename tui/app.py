"""The duty officer's terminal UI: a client of the control socket.

One glance tells the site, the time, the mode (in colour), each device's health,
each zone's state and the newest events. F1–F10 start the ten scenarios (a dialog
says exactly what will happen and defaults to "no"); the active alarm shows its
elapsed time, zones, what is playing, the numbers to call and the Annex 4 checklist
for the duty officer's role, tickable. Every action goes through the controller, so
several UIs see the same thing and closing one never stops the controller.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import ModalScreen, Screen
from textual.widgets import (
    Button,
    DataTable,
    Footer,
    Input,
    Label,
    RichLog,
    Select,
    SelectionList,
    Static,
)
from textual.widgets.selection_list import Selection

from controller.client import AsyncClient
from controller.errors import DabylError
from tui.strings import strings, text_language

SCENARIO_ORDER = (
    "suspicious_object", "phone_threat", "written_threat", "armed_attack", "hostage",
    "shooting", "explosion", "terrorist_attack", "fire", "collapse",
)
MODE_STYLE = {
    "QUIESCENT": "bold black on green",
    "ALARM": "bold white on red",
    "DRILL": "bold black on yellow",
    "FAULT": "bold black on dark_orange",
}
QUIET_EVENTS = {"outputs_applied", "output", "announcement_ended", "voice"}


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question whose safe answer ("no") has the focus."""

    BINDINGS = [Binding("escape", "dismiss(False)", "No")]

    def __init__(self, question: str, s: dict[str, str]) -> None:
        super().__init__()
        self.question = question
        self.s = s

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="question")
            with Horizontal(classes="buttons"):
                yield Button(self.s["no"], id="no", variant="primary")
                yield Button(self.s["yes"], id="yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _answer(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class TriggerScreen(ModalScreen[dict | None]):
    """Says what will happen (real or drill, zones, outputs) before anything does."""

    BINDINGS = [Binding("escape", "dismiss(None)", "No")]

    def __init__(self, app_: DabylApp, scenario: dict[str, Any], drill: bool) -> None:
        super().__init__()
        self.dapp = app_
        self.scenario = scenario
        self.drill = drill

    def _zones(self) -> list[str]:
        sc, zones = self.scenario, self.dapp.zones_cfg
        if isinstance(sc["zones"], list):
            return list(sc["zones"])
        if sc["zones"] == "staff" or sc["audience"] == "staff":
            return [z for z, c in zones.items() if c["staff"]]
        if sc["zones"] == "public":
            return [z for z, c in zones.items() if not c["staff"]]
        return list(zones)

    def _outputs(self) -> list[str]:
        outs = [o for o in self.scenario["outputs"] if o in self.dapp.outputs_cfg]
        if self.drill:
            outs = [o for o in outs if o not in self.dapp.drill_suppress]
        return outs

    def compose(self) -> ComposeResult:
        s, lang, sc = self.dapp.s, self.dapp.lang, self.scenario
        kind = s["drill"] if self.drill else s["real_alarm"]
        with Vertical(classes="dialog"):
            yield Label(f"{sc['title'][lang]}", classes="title")
            yield Label(kind, classes="drill-banner" if self.drill else "real-banner")
            yield Label(f"{s['outputs']}: {', '.join(self._outputs()) or s['none']}")
            for param in sc["parameters"]:
                options = [(c["title"][lang], c["id"]) for c in param["choices"]]
                yield Label(f"{param['title'][lang]}:")
                yield Select(options, value=param["default"], allow_blank=False,
                             id=f"param-{param['name']}")
            yield Label(f"{s['zones']} ({s['zones_hint']}):")
            allowed = self._zones()
            yield SelectionList[str](
                *[Selection(self.dapp.zone_title(z), z, True) for z in allowed], id="zones"
            )
            with Horizontal(classes="buttons"):
                yield Button(s["cancel"], id="no", variant="primary")
                yield Button(s["start"], id="yes", variant="warning" if self.drill else "error")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _answer(self, event: Button.Pressed) -> None:
        if event.button.id != "yes":
            self.dismiss(None)
            return
        params = {
            p["name"]: str(self.query_one(f"#param-{p['name']}", Select).value)
            for p in self.scenario["parameters"]
        }
        zones = list(self.query_one("#zones", SelectionList).selected)
        if not zones:
            self.notify(self.dapp.s["zones"] + ": " + self.dapp.s["none"], severity="error")
            return
        self.dismiss({"zones": zones, "parameters": params})


class HeldScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Later")]

    def __init__(self, app_: DabylApp, activation: dict[str, Any]) -> None:
        super().__init__()
        self.dapp = app_
        self.activation = activation

    def compose(self) -> ComposeResult:
        s = self.dapp.s
        with Vertical(classes="dialog held"):
            yield Label(s["held_title"], classes="real-banner")
            yield Label(f"{self.activation['title'][self.dapp.lang]} — "
                        f"{s['source']}: {self.activation['origin']}", classes="title")
            yield Label(s["held_text"], classes="question")
            with Horizontal(classes="buttons"):
                yield Button(s["decline_evac"], id="decline", variant="primary")
                yield Button(s["confirm_evac"], id="confirm", variant="error")

    def on_mount(self) -> None:
        self.query_one("#decline", Button).focus()

    @on(Button.Pressed)
    def _answer(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id)


class FormModal(ModalScreen[dict | None]):
    """A form that answers a dict on Save (button or Ctrl+S) and None on Cancel/Escape.
    Subclasses yield their fields and implement `action_save`."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Close"), Binding("ctrl+s", "save", "Save")]

    def __init__(self, app_: DabylApp) -> None:
        super().__init__()
        self.dapp = app_

    def buttons(self) -> ComposeResult:
        with Horizontal(classes="buttons"):
            yield Button(self.dapp.s["cancel"], id="no")
            yield Button(self.dapp.s["save"], id="yes", variant="success")

    @on(Button.Pressed)
    def _answer(self, event: Button.Pressed) -> None:
        if event.button.id == "yes":
            self.action_save()
        else:
            self.dismiss(None)

    def action_save(self) -> None:
        raise NotImplementedError


class FormScreen(FormModal):
    """The caller form of Annex 4 §2 (item 13)."""

    def __init__(self, app_: DabylApp, fields: list[dict[str, Any]]) -> None:
        super().__init__(app_)
        self.fields = fields

    def compose(self) -> ComposeResult:
        lang = self.dapp.lang
        with VerticalScroll(classes="dialog form"):
            yield Label(self.dapp.s["form"], classes="title")
            for f in self.fields:
                yield Label(f["title"][lang])
                if f.get("choices"):
                    options = [(c, c) for c in f["choices"][lang]]
                    yield Select(options, id=f"f-{f['id']}")
                else:
                    yield Input(id=f"f-{f['id']}")
            yield from self.buttons()

    def action_save(self) -> None:
        answers = {}
        for f in self.fields:
            widget = self.query_one(f"#f-{f['id']}")
            if isinstance(widget, Input):
                value = widget.value.strip()
            else:
                value = "" if widget.is_blank() else str(widget.value)
            if value:
                answers[f["id"]] = value
        self.dismiss(answers)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss(None)", "Close")]

    def __init__(self, app_: DabylApp) -> None:
        super().__init__()
        self.dapp = app_

    def compose(self) -> ComposeResult:
        lines = []
        for i, sid in enumerate(self.dapp.scenario_keys, 1):
            lines.append(f"F{i:<3} {self.dapp.scenarios[sid]['title'][self.dapp.lang]}")
        for binding in DabylApp.BINDINGS:
            if isinstance(binding, Binding) and binding.show:
                lines.append(f"{binding.key:<4} {binding.description}")
        lines += ["tab  next panel", "space  tick a checklist item / toggle a zone",
                  "enter  press a button", "escape  close a dialog"]
        with VerticalScroll(classes="dialog"):
            yield Label(self.dapp.s["help"], classes="title")
            yield Static("\n".join(lines))


class DrillRecordScreen(FormModal):
    """Participants and remarks of a drill (Annex 2, section 2)."""

    def __init__(self, app_: DabylApp, activation: str) -> None:
        super().__init__(app_)
        self.activation = activation

    def compose(self) -> ComposeResult:
        s = self.dapp.s
        with Vertical(classes="dialog"):
            yield Label(f"{s['drill_record']}: {self.activation}", classes="title")
            yield Label(s["participants"])
            yield Input(id="participants", type="integer")
            yield Label(s["remarks"])
            yield Input(id="remarks")
            yield from self.buttons()

    def action_save(self) -> None:
        value = self.query_one("#participants", Input).value.strip()
        if not value.isdigit():
            self.notify(self.dapp.s["participants"], severity="error")
            return
        self.dismiss({"participants": int(value),
                      "remarks": self.query_one("#remarks", Input).value.strip()})


class BriefingScreen(FormModal):
    """A briefing for section 1 of the Annex 2 journal."""

    def compose(self) -> ComposeResult:
        s = self.dapp.s
        with Vertical(classes="dialog"):
            yield Label(s["briefing"], classes="title")
            yield Label(s["person"])
            yield Input(id="person")
            yield Label(s["position"])
            yield Input(id="position")
            yield Label(s["briefing_kind"])
            yield Select([(s["planned"], "planned"), (s["unplanned"], "unplanned")],
                         value="planned", allow_blank=False, id="kind")
            yield Label(s["instructor"])
            yield Input(id="by")
            yield from self.buttons()

    def action_save(self) -> None:
        person = self.query_one("#person", Input).value.strip()
        by = self.query_one("#by", Input).value.strip()
        if not person or not by:
            self.notify(f"{self.dapp.s['person']}, {self.dapp.s['instructor']}", severity="error")
            return
        self.dismiss({"person": person, "by": by,
                      "position": self.query_one("#position", Input).value.strip(),
                      "kind": str(self.query_one("#kind", Select).value)})


class JournalScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,j", "app.pop_screen", "Back"),
        Binding("r", "filter(True)", "Real"),
        Binding("d", "filter(False)", "Drills"),
        Binding("a", "filter(None)", "All"),
        Binding("e", "record", "Drill record"),
        Binding("b", "briefing", "Briefing"),
    ]

    def action_briefing(self) -> None:
        async def done(answer: dict | None) -> None:
            if answer and await self.dapp._request("briefing", **answer) is not None:
                self.notify(self.dapp.s["saved"])

        self.app.push_screen(BriefingScreen(self.dapp), done)

    def action_record(self) -> None:
        table = self.query_one("#activations", DataTable)
        if table.row_count == 0:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

        async def done(answer: dict | None) -> None:
            if answer and await self.dapp._request("drill_record", activation=str(key), **answer):
                self.notify(self.dapp.s["saved"])

        self.app.push_screen(DrillRecordScreen(self.dapp, str(key)), done)

    def __init__(self, app_: DabylApp) -> None:
        super().__init__()
        self.dapp = app_
        self.drill_filter: bool | None = None

    def compose(self) -> ComposeResult:
        yield Static(self.dapp.s["journal"], classes="title")
        yield DataTable(id="activations", cursor_type="row")
        yield DataTable(id="timeline", cursor_type="row")
        yield Footer()

    async def on_mount(self) -> None:
        table = self.query_one("#activations", DataTable)
        table.add_columns("time", "activation", "", "source", "outcome")
        self.query_one("#timeline", DataTable).add_columns("time", "event", "details")
        await self.load()

    async def action_filter(self, drill: bool | None) -> None:
        # `drill` here means "show only these": True real, False drills, None all.
        self.drill_filter = None if drill is None else (not drill)
        await self.load()

    async def load(self) -> None:
        fields: dict[str, Any] = {}
        if self.drill_filter is not None:
            fields["drill"] = self.drill_filter
        reply = await self.dapp.client.request("journal", **fields)
        table = self.query_one("#activations", DataTable)
        table.clear()
        for a in reply["activations"]:
            table.add_row(self.dapp.local(a["started"]), a["activation"],
                          "drill" if a["drill"] else "REAL", f"{a['source']}:{a['origin']}",
                          a["outcome"], key=a["activation"])
        table.focus()

    @on(DataTable.RowSelected, "#activations")
    async def _open(self, event: DataTable.RowSelected) -> None:
        reply = await self.dapp.client.request("journal", activation=str(event.row_key.value))
        table = self.query_one("#timeline", DataTable)
        table.clear()
        for row in reply["timeline"]:
            details = {k: v for k, v in row.items()
                       if k not in ("seq", "ts", "kind", "activation", "title")}
            table.add_row(self.dapp.local(row["ts"]), row["kind"],
                          " ".join(f"{k}={v}" for k, v in details.items())[:200])
        table.focus()


class DabylApp(App[None]):
    CSS = """
    Screen { layout: vertical; }
    #top { height: 1; background: $boost; }
    #body { height: 1fr; }
    #left { width: 30; border-right: solid $primary; padding: 0 1; }
    #main { width: 1fr; padding: 0 1; }
    #checklist { height: auto; max-height: 12; border: none; padding: 0; }
    #log { height: 4; border-top: solid $primary; }
    #scenarios { grid-size: 5 2; grid-gutter: 0 1; height: 2; }
    #scenarios Button { width: 100%; min-width: 8; height: 1; border: none;
                        text-wrap: nowrap; text-overflow: ellipsis; content-align: left middle; }
    .dialog { width: 70; height: auto; max-height: 90%; border: thick $error; background: $surface;
              padding: 1 2; }
    ConfirmScreen, TriggerScreen, HeldScreen, FormModal, HelpScreen { align: center middle; }
    .title { text-style: bold; }
    .real-banner { background: red; color: white; text-style: bold; width: 100%;
                   content-align: center middle; }
    .drill-banner { background: yellow; color: black; text-style: bold; width: 100%;
                    content-align: center middle; }
    .buttons { height: auto; margin-top: 1; align-horizontal: right; }
    .question { margin: 1 0; }
    #zones { height: auto; max-height: 8; }
    JournalScreen DataTable { height: 1fr; }
    """
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("d", "toggle_drill", "Drill mode"),
        Binding("s", "silence", "Silence"),
        Binding("c", "clear", "Clear"),
        Binding("r", "role", "Role"),
        Binding("p", "form", "Form"),
        Binding("a", "ack", "Ack faults"),
        Binding("j", "journal", "Journal"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ] + [Binding(f"f{i}", f"trigger({i - 1})", f"F{i}", show=False) for i in range(1, 11)]

    def __init__(self, socket_path: Path) -> None:
        super().__init__()
        self.client = AsyncClient(socket_path)
        self.status: dict[str, Any] = {}
        self.scenarios: dict[str, dict[str, Any]] = {}
        self.scenario_keys: list[str] = []
        self.zones_cfg: dict[str, Any] = {}
        self.outputs_cfg: dict[str, Any] = {}
        self.drill_suppress: list[str] = []
        self.drill_mode = False
        self.role = "staff"
        self.s = strings("en")
        self.lang = "ru"
        self.tz = ZoneInfo("Asia/Almaty")
        self._checklist_key: tuple[str, str] | None = None
        self._refreshing = False
        self._refresh_again = False
        self._held_shown: set[str] = set()
        self.connected = asyncio.Event()

    # -- layout ---------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="top")
        with Horizontal(id="body"):
            with VerticalScroll(id="left"):
                yield Static(id="devices")
                yield Static(id="zones-state")
                yield Static(id="faults")
            with VerticalScroll(id="main"):
                yield Static(id="act-head")
                yield SelectionList[int](id="checklist")
                yield Static(id="info")
        yield RichLog(id="log", max_lines=200, markup=False, wrap=False)
        yield Grid(id="scenarios")
        yield Footer()

    async def on_mount(self) -> None:
        try:
            await self.client.connect()
            details = await self.client.request("scenarios")
        except DabylError as exc:
            self.exit(message=f"dabyl: {exc}")
            return
        self.scenarios = {s["id"]: s for s in details["scenarios"]}
        self.scenario_keys = [sid for sid in SCENARIO_ORDER if sid in self.scenarios] + sorted(
            set(self.scenarios) - set(SCENARIO_ORDER))
        self.zones_cfg = details["zones"]
        self.outputs_cfg = details["outputs"]
        self.drill_suppress = details["drill_suppress"]
        await self.refresh_status()
        grid = self.query_one("#scenarios", Grid)
        for i, sid in enumerate(self.scenario_keys[:10], 1):
            title = self.scenarios[sid]["title"][self.lang]
            await grid.mount(Button(f"F{i} {title}", id=f"sc-{sid}", compact=True))
        self.query_one("#checklist", SelectionList).border_title = ""
        self.listen()
        self.set_interval(1.0, self._tick_clock)
        self.connected.set()

    # -- controller events ------------------------------------------------------------
    @work(exclusive=True, group="events")
    async def listen(self) -> None:
        await self.client.request("subscribe")
        while True:
            event = await self.client.events.get()
            if event.get("kind") == "disconnected":
                self.notify(self.s["connection_lost"], severity="error", timeout=30)
                self.status["mode"] = "?"
                self._render_top()
                return
            try:
                self._log_event(event)
            except NoMatches:
                return  # the UI is closing
            kind = event.get("kind")
            if kind == "triggered" and event.get("source") == "input":
                self.notify(f"{self.s['panic']}: {event.get('origin')}", severity="error",
                            timeout=10)
                self.bell()
            if kind == "fault":
                self.notify(event.get("message", ""), severity="warning", timeout=10)
            if kind != "output":  # one refresh per batch of outputs, not per relay
                self.schedule_refresh()

    def _log_event(self, event: dict[str, Any]) -> None:
        kind = event.get("kind", "")
        if kind in QUIET_EVENTS:
            return
        detail = ""
        for key in ("scenario", "label", "message", "origin", "input", "device", "reason"):
            if event.get(key):
                detail += f" {event[key]}"
        act = event.get("activation") or ""
        style = "bold red" if kind in ("fault", "triggered", "held") else ""
        self.query_one("#log", RichLog).write(
            Text(f"{self.local(event.get('ts', ''))[11:]} {kind} {act}{detail}", style=style)
        )

    def schedule_refresh(self) -> None:
        if self._refreshing:
            self._refresh_again = True
            return
        self.run_worker(self.refresh_status(), group="refresh")

    async def refresh_status(self) -> None:
        self._refreshing = True
        try:
            while True:
                self._refresh_again = False
                try:
                    self.status = (await self.client.request("status"))["status"]
                except DabylError:
                    return
                if not self.is_running or self.screen_stack == []:
                    return
                try:
                    self._apply_status()
                except NoMatches:
                    return  # the UI is closing
                if not self._refresh_again:
                    break
        finally:
            self._refreshing = False

    # -- rendering --------------------------------------------------------------------
    def _apply_status(self) -> None:
        st = self.status
        self.s = strings(st.get("ui_language", "en"))
        self.lang = text_language(st.get("ui_language", "ru"))
        self.tz = ZoneInfo(st.get("timezone", "Asia/Almaty"))
        self._render_top()
        self._render_left()
        self._render_main()
        for act in st.get("activations", []):
            if act["state"] == "held" and act["id"] not in self._held_shown:
                self._held_shown.add(act["id"])
                self.push_screen(HeldScreen(self, act), self._held_answer(act["id"]))

    def _render_top(self) -> None:
        st, s = self.status, self.s
        mode = st.get("mode", "?")
        now = datetime.now(self.tz).strftime("%H:%M:%S")
        text = Text()
        text.append(f" {mode if mode == '?' else s[mode]} ", style=MODE_STYLE.get(mode, "reverse"))
        text.append(f" {now} ", style="bold")
        text.append(st.get("site", ""), style="bold")
        text.append("  ")
        if st.get("threat_level") == "raised":
            text.append(f" {s['threat_raised']} ", style="bold white on dark_red")
            text.append(" ")
        if self.drill_mode:
            text.append(f" {s['drill_mode']} ", style="black on yellow")
        else:
            text.append(s["real_mode"], style="dim")
        self.query_one("#top", Static).update(text, layout=False)

    def _render_left(self) -> None:
        st, s = self.status, self.s
        dev = Text(s["devices"] + "\n", style="bold")
        for d in st.get("devices", []):
            state = {True: (s["online"], "green"), False: (s["lost"], "bold red"),
                     None: (s["unknown"], "yellow")}[d["online"]]
            sim = f" ({s['simulated']})" if d["simulated"] else ""
            dev.append(f" {d['id']}{sim}: ")
            dev.append(state[0] + "\n", style=state[1])
        audio = st.get("audio", {})
        if audio:
            dev.append(f" {s['audio']}: ", style="")
            dev.append(f"{audio.get('sink')}\n", style="green" if audio.get("sink") == "sounddevice"
                       else "bold dark_orange")
            for lang, voice in audio.get("voices", {}).items():
                engine = voice.split(":")[0]
                dev.append(f" {lang}: ")
                dev.append(f"{engine}\n", style="green" if engine == "piper" else
                           ("yellow" if engine == "espeak-ng" else "bold red"))
        self.query_one("#devices", Static).update(dev)
        zones = Text(s["zones"] + "\n", style="bold")
        for name, z in st.get("zones", {}).items():
            holder = z["holder"]
            zones.append(f" {self.zone_title(name)[:14]:<14} ")
            if holder:
                zones.append(holder.split("-")[0][:10], style="bold red")
            else:
                zones.append(s["free"], style="green")
            if z["routed"]:
                zones.append(" ♪", style="bold")
            zones.append("\n")
        self.query_one("#zones-state", Static).update(zones)
        faults = Text(s["faults"] + "\n", style="bold")
        if not st.get("faults"):
            faults.append(" " + s["no_faults"], style="green")
        width = 23
        for f in st.get("faults", []):
            mark = "✓ " if f["acknowledged"] else "! "
            shown = f.get("text", {}).get(st.get("ui_language", "kk")) or f["message"]
            message = shown if len(shown) <= width else shown[:width - 1] + "…"
            faults.append(f" {mark}{message}\n",
                          style="dim" if f["acknowledged"] else "bold dark_orange")
        self.query_one("#faults", Static).update(faults)

    def current(self) -> dict[str, Any] | None:
        acts = self.status.get("activations", [])
        return acts[0] if acts else None

    def _render_main(self) -> None:
        s, act = self.s, self.current()
        head = self.query_one("#act-head", Static)
        checklist = self.query_one("#checklist", SelectionList)
        info = self.query_one("#info", Static)
        if act is None:
            head.update(Text(s["idle"], style="dim"))
            checklist.clear_options()
            checklist.display = False
            info.update("")
            self._checklist_key = None
            return
        checklist.display = True
        sc = self.scenarios.get(act["scenario"], {})
        text = Text()
        text.append(f"{act['title'][self.lang]}", style="bold red" if not act["drill"] else "bold")
        flags = [s["drill"] if act["drill"] else s["real_alarm"]]
        for flag in ("silenced", "suspended"):
            if act[flag]:
                flags.append(s[flag])
        if act["state"] == "held":
            flags.append(s["held"])
        text.append("  [" + ", ".join(flags) + "]\n")
        mins, secs = divmod(int(act["elapsed_s"]), 60)
        playing = self.status.get("audio", {}).get("playing") if act["playing"] else None
        text.append(f"{s['elapsed']} {mins:02d}:{secs:02d}   {s['zones']}: "
                    f"{', '.join(self.zone_title(z) for z in act['zones'])}\n")
        text.append(f"{s['playing']}: {playing or s['nothing']}   ")
        text.append(f"{s['call']}: {', '.join(act['calls'])}\n", style="bold")
        if len(self.status.get("activations", [])) > 1:
            others = [a["id"] for a in self.status["activations"][1:]]
            text.append(f"+ {', '.join(others)}\n", style="dim")
        text.append(f"{s[self.role]}:", style="bold underline")
        head.update(text)
        key = (act["id"], self.role)
        items = sc.get("checklist", {}).get(self.role, {}).get(self.lang, [])
        ticked = set(act["ticks"].get(self.role, []))
        if self._checklist_key != key:
            self._checklist_key = key
            checklist.clear_options()
            checklist.add_options([Selection(t, i, i in ticked) for i, t in enumerate(items)])
        else:
            with checklist.prevent(SelectionList.SelectedChanged, SelectionList.SelectionToggled):
                for i in range(len(items)):
                    if (i in ticked) != (i in checklist.selected):
                        checklist.toggle(i)
        blocks = Text()
        for block in sc.get("info", []):
            blocks.append(block["title"][self.lang] + "\n", style="bold")
            for item in block["items"][self.lang]:
                blocks.append(f" • {item}\n")
        info.update(blocks)

    def _tick_clock(self) -> None:
        if self.status:
            for act in self.status.get("activations", []):
                act["elapsed_s"] += 1.0
            self._render_top()
            if self.current() is not None:
                self._render_main()

    # -- helpers ----------------------------------------------------------------------
    def zone_title(self, name: str) -> str:
        title = self.zones_cfg.get(name, {}).get("title") or name
        parts = [p.strip() for p in title.split("/")]
        if len(parts) == 2:
            return parts[0] if self.lang == "kk" else parts[1]
        return title

    def local(self, ts: str) -> str:
        try:
            return datetime.fromisoformat(ts).astimezone(self.tz).strftime("%Y-%m-%d %H:%M:%S")
        except ValueError:
            return ts

    async def _request(self, op: str, **fields: Any) -> dict[str, Any] | None:
        try:
            return await self.client.request(op, **fields)
        except DabylError as exc:
            self.notify(str(exc), severity="error", timeout=10)
            return None

    # -- actions ------------------------------------------------------------------------
    @on(Button.Pressed, "#scenarios Button")
    def _scenario_button(self, event: Button.Pressed) -> None:
        sid = (event.button.id or "")[3:]
        self.start_trigger(sid)

    def action_trigger(self, index: int) -> None:
        if index < len(self.scenario_keys):
            self.start_trigger(self.scenario_keys[index])

    def start_trigger(self, sid: str) -> None:
        drill = self.drill_mode

        async def done(choice: dict | None) -> None:
            if choice is None:
                return
            reply = await self._request("trigger", scenario=sid, drill=drill, **choice)
            if reply:
                self.schedule_refresh()

        self.push_screen(TriggerScreen(self, self.scenarios[sid], drill), done)

    def action_toggle_drill(self) -> None:
        self.drill_mode = not self.drill_mode
        self._render_top()

    def action_role(self) -> None:
        self.role = "leader" if self.role == "staff" else "staff"
        self._render_main()

    def _ask(self, question: str, op: str, **fields: Any) -> None:
        async def done(yes: bool | None) -> None:
            if yes:
                await self._request(op, **fields)
                self.schedule_refresh()

        self.push_screen(ConfirmScreen(question, self.s), done)

    def action_silence(self) -> None:
        act = self.current()
        if act is None:
            self.notify(self.s["no_active"])
            return
        self._ask(f"{act['title'][self.lang]}\n\n{self.s['silence_q']}", "silence",
                  activation=act["id"])

    def action_clear(self) -> None:
        act = self.current()
        if act is None:
            self.notify(self.s["no_active"])
            return
        self._ask(f"{act['title'][self.lang]}\n\n{self.s['clear_q']}", "clear",
                  activation=act["id"])

    def _held_answer(self, act_id: str):
        async def done(answer: str | None) -> None:
            if answer in ("confirm", "decline"):
                await self._request(answer, activation=act_id)
            else:
                self._held_shown.discard(act_id)
            self.schedule_refresh()

        return done

    def action_form(self) -> None:
        act = self.current()
        if act is None:
            self.notify(self.s["no_active"])
            return
        fields = self.scenarios.get(act["scenario"], {}).get("form", [])
        if not fields:
            self.notify(self.s["no_form"])
            return

        async def done(answers: dict | None) -> None:
            if answers:
                if await self._request("form", activation=act["id"], answers=answers):
                    self.notify(self.s["saved"])

        self.push_screen(FormScreen(self, fields), done)

    async def action_ack(self) -> None:
        for fault in self.status.get("faults", []):
            if not fault["acknowledged"]:
                await self._request("ack", fault=fault["key"])
        self.notify(self.s["ack_done"])
        self.schedule_refresh()

    def action_journal(self) -> None:
        self.push_screen(JournalScreen(self))

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self))

    @on(SelectionList.SelectionToggled, "#checklist")
    async def _ticked(self, event: SelectionList.SelectionToggled) -> None:
        act = self.current()
        if act is None:
            return
        index = int(event.selection.value)
        done = index in event.selection_list.selected
        await self._request("tick", activation=act["id"], role=self.role, item=index, done=done)

    async def on_unmount(self) -> None:
        await self.client.close()


async def run_ui(socket_path: Path, stop: asyncio.Event | None) -> None:
    """Run the UI until the operator quits; in `dabyl run` that also ends the process."""
    app = DabylApp(Path(socket_path))
    try:
        await app.run_async()
    finally:
        if stop is not None:
            stop.set()
