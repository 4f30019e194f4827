"""The journal browser: activations (real, drills or all) and, for the one chosen, a
readable timeline of what happened; drill records and briefings for Annex 2."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import DataTable, Static

from tui.keys import JOURNAL, bindings
from tui.screens.forms import BriefingScreen, DrillRecordScreen
from tui.widgets import KeyBar, TopBar

if TYPE_CHECKING:
    from tui.app import DabylApp


class JournalScreen(Screen[None]):
    DEFAULT_CSS = """
    JournalScreen #top { height: 1; background: $boost; }
    JournalScreen .title { text-style: bold; height: 1; }
    JournalScreen DataTable { height: 1fr; }
    JournalScreen DataTable:focus { border-left: thick $warning; }
    JournalScreen #keys { height: auto; }
    """
    BINDINGS = bindings(JOURNAL)

    def __init__(self, dapp: DabylApp) -> None:
        super().__init__()
        self.dapp = dapp
        self.site = dapp.site
        self.shown = "all"

    def compose(self) -> ComposeResult:
        s = self.site.s
        # The mode bar stays in view: a new alarm is not hidden behind the journal.
        yield TopBar(id="top")
        yield Static(f"{s['journal']} · {s['j_open']}", classes="title")
        yield DataTable(id="activations", cursor_type="row")
        yield DataTable(id="timeline", cursor_type="row")
        yield KeyBar(id="keys")

    async def on_mount(self) -> None:
        # Columns fit the terminal; long titles and lines wrap in their rows.
        s, width = self.site.s, self.app.size.width
        free = max(20, width - 52)
        table = self.query_one("#activations", DataTable)
        for label, size in ((s["col_time"], 16), (s["col_alarm"], free - free // 2),
                            (s["col_kind"], 11), (s["col_source"], free // 2),
                            (s["col_outcome"], 12)):
            table.add_column(label, width=size)
        timeline = self.query_one("#timeline", DataTable)
        timeline.add_column(s["col_time"], width=8)
        timeline.add_column(s["col_what"], width=max(20, width - 15))
        self.query_one("#keys", KeyBar).show(self.site, JOURNAL)
        self.show()
        await self.load()

    def show(self) -> None:
        dapp = self.dapp
        try:
            self.query_one("#top", TopBar).show(self.site, dapp.status, dapp.drill_mode,
                                                dapp.online)
        except NoMatches:
            pass  # not composed yet, or closing

    def tick(self) -> None:
        self.show()

    async def action_filter(self, shown: str) -> None:
        self.shown = shown
        await self.load()

    async def load(self) -> None:
        fields: dict[str, Any] = {}
        if self.shown != "all":
            fields["drill"] = self.shown == "drills"
        reply = await self.dapp.request("journal", **fields)
        if reply is None:
            return
        site, s = self.site, self.site.s
        table = self.query_one("#activations", DataTable)
        table.clear()
        for a in reply["activations"]:
            source = site.source(a)
            outcome = s.get(f"outcome_{a['outcome']}", s["outcome_cleared"])
            table.add_row(site.local(a["started"])[:16],
                          site.scenario_title(a.get("scenario") or ""),
                          s["drill"] if a["drill"] else s["real_alarm"], source, outcome,
                          key=a["activation"], height=None)
        table.focus()

    @on(DataTable.RowSelected, "#activations")
    async def _open(self, event: DataTable.RowSelected) -> None:
        reply = await self.dapp.request("journal", activation=str(event.row_key.value))
        if reply is None:
            return
        table = self.query_one("#timeline", DataTable)
        table.clear()
        for row in reply["timeline"]:
            table.add_row(self.site.local(row["ts"], with_date=False),
                          self.site.event_line(row), height=None)
        table.focus()

    def _chosen(self) -> str | None:
        table = self.query_one("#activations", DataTable)
        if table.row_count == 0:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def action_record(self) -> None:
        chosen = self._chosen()
        if chosen is None:
            return

        async def done(answer: dict | None) -> None:
            if answer and await self.dapp.request("drill_record", activation=chosen, **answer):
                self.notify(self.site.s["saved"])

        self.app.push_screen(DrillRecordScreen(self.site, chosen), done)

    def action_briefing(self) -> None:
        async def done(answer: dict | None) -> None:
            if answer and await self.dapp.request("briefing", **answer) is not None:
                self.notify(self.site.s["saved"])

        self.app.push_screen(BriefingScreen(self.site), done)
