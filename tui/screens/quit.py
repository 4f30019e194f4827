"""Leaving the console: it asks first, and the safe answer keeps the controller running."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from tui.screens.confirm import ARROWS, DIALOG_CSS


class QuitScreen(ModalScreen[str | None]):
    """Answers "leave" (the default), "stop" (only offered when this console started the
    controller and nothing is open) or None (stay)."""

    DEFAULT_CSS = ("QuitScreen { align: center middle; }\n"
                   "QuitScreen .answers { height: auto; }\n"
                   "QuitScreen .answers Button { width: 100%; }\n" + DIALOG_CSS)
    BINDINGS = [Binding("escape", "dismiss(None)", show=False), *ARROWS]

    def __init__(self, s: dict[str, str], open_titles: list[str], can_stop: bool) -> None:
        super().__init__()
        self.s = s
        self.open_titles = open_titles
        self.can_stop = can_stop and not open_titles

    def compose(self) -> ComposeResult:
        s = self.s
        with Vertical(classes="dialog"):
            yield Label(s["quit_title"], classes="title")
            if self.open_titles:
                yield Label(s["quit_open"].format(count=len(self.open_titles)),
                            classes="question")
                for title in self.open_titles:
                    yield Label(f" • {title}")
            else:
                yield Label(s["quit_idle"], classes="question")
            yield Label(s["quit_reattach"], classes="question")
            # Three answers do not fit side by side on 80 columns: one under another.
            with (Vertical(classes="answers") if self.can_stop else Horizontal(classes="buttons")):
                yield Button(s["quit_stay"], id="stay")
                if self.can_stop:
                    yield Button(s["quit_stop"], id="stop", variant="error")
                yield Button(s["quit_leave"], id="leave", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#leave", Button).focus()

    @on(Button.Pressed)
    def _answer(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id if event.button.id in ("leave", "stop") else None)
