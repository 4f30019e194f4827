"""Starting a scenario: the dialog says what will happen (real or drill, outputs,
zones, parameters) before anything does, and defaults to "no"."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Select

from tui.screens.confirm import ARROWS, DIALOG_CSS
from tui.widgets import TickList

if TYPE_CHECKING:
    from tui.site import Site


class TriggerScreen(ModalScreen[dict | None]):
    DEFAULT_CSS = """
    TriggerScreen { align: center middle; }
    TriggerScreen #zones { height: auto; max-height: 8; border: none; }
    TriggerScreen #zones:focus { border-left: thick $warning; }
    """ + DIALOG_CSS
    BINDINGS = [Binding("escape", "dismiss(None)", show=False), *ARROWS]

    def __init__(self, site: Site, scenario: dict[str, Any], drill: bool) -> None:
        super().__init__()
        self.site = site
        self.scenario = scenario
        self.drill = drill

    def _zones(self) -> list[str]:
        sc, zones = self.scenario, self.site.zones
        if isinstance(sc["zones"], list):
            return list(sc["zones"])
        if sc["zones"] == "staff" or sc["audience"] == "staff":
            return [z for z, c in zones.items() if c.get("staff")]
        if sc["zones"] == "public":
            return [z for z, c in zones.items() if not c.get("staff")]
        return list(zones)

    def _outputs(self) -> list[str]:
        outs = [o for o in self.scenario["outputs"] if o in self.site.outputs]
        if self.drill:
            outs = [o for o in outs if o not in self.site.drill_suppress]
        return [self.site.titled(self.site.outputs, o) for o in outs]

    def compose(self) -> ComposeResult:
        site, s, sc = self.site, self.site.s, self.scenario
        with VerticalScroll(classes="dialog"):
            yield Label(sc["title"][site.lang], classes="title")
            yield Label(s["drill"] if self.drill else s["real_alarm"],
                        classes="drill-banner" if self.drill else "real-banner")
            yield Label(f"{s['outputs']}: {', '.join(self._outputs()) or s['none']}")
            if self._silent():
                # Nothing is spoken anywhere: a ticked zone would read as "they will hear".
                yield Label(s["nothing_broadcast"], classes="title", id="silent")
            for param in sc["parameters"]:
                options = [(c["title"][site.lang], c["id"]) for c in param["choices"]]
                yield Label(f"{param['title'][site.lang]}:")
                yield Select(options, value=param["default"], allow_blank=False,
                             prompt=s["choose"], id=f"param-{param['name']}")
            if self._silent():
                zones = ", ".join(site.titled(site.zones, z) for z in self._zones())
                yield Label(f"{s['zones_held']}: {zones}")
            else:
                yield Label(f"{s['zones']} ({s['zones_hint']}):")
            yield TickList(id="zones")
            with Horizontal(classes="buttons"):
                yield Button(s["cancel"], id="no", variant="primary")
                yield Button(s["start"], id="yes", variant="warning" if self.drill else "error")

    def _silent(self) -> bool:
        """No message for anyone and no attention signal: nothing is broadcast."""
        message = self.scenario.get("message") or {}
        signal = (self.scenario.get("attention") or {}).get("signal", "none")
        return not any(message.values()) and signal == "none"

    def on_mount(self) -> None:
        self.query_one("#zones", TickList).display = not self._silent()
        zones = self._zones()
        self.query_one("#zones", TickList).set_items(
            "zones", [(z, self.site.titled(self.site.zones, z)) for z in zones], set(zones))
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
        ticks = self.query_one("#zones", TickList).ticked
        zones = [z for z in self._zones() if z in ticks]
        if not zones:
            self.notify(f"{self.site.s['zones']}: {self.site.s['none']}", severity="error")
            return
        self.dismiss({"zones": zones, "parameters": params})
