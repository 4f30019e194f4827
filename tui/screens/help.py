"""Every key of the main screen, in the console's language."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from tui.keys import MAIN, letter
from tui.screens.confirm import DIALOG_CSS

if TYPE_CHECKING:
    from tui.site import Site


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = "HelpScreen { align: center middle; }\n" + DIALOG_CSS
    BINDINGS = [Binding(",".join(["escape", "question_mark", "f1", *letter("h"), *letter("q")]),
                        "dismiss(None)", show=False)]

    def __init__(self, site: Site) -> None:
        super().__init__()
        self.site = site

    def compose(self) -> ComposeResult:
        site, s = self.site, self.site.s
        text = Text()
        for i, sid in enumerate(site.scenario_keys[:10], 1):
            text.append(f"{'F' + str(i):<9}", style="bold")
            text.append(f"{site.scenario_title(sid)}\n")
        text.append("\n")
        for key in MAIN:
            text.append(f"{key.shown():<9}", style="bold")
            text.append(f"{s[key.label]}\n")
        for shown, label in (("Tab", "k_tab"), ("↑ ↓", "k_arrows"), ("Space", "k_space"),
                             ("Enter", "k_enter"), ("Esc", "k_escape")):
            text.append(f"{shown:<9}", style="bold")
            text.append(f"{s[label]}\n")
        with VerticalScroll(classes="dialog"):
            yield Label(s["help"], classes="title")
            yield Static(text)
