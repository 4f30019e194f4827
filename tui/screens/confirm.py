"""A yes/no question whose safe answer ("no") has the focus."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

DIALOG_CSS = """
.dialog { width: 76; max-width: 95%; height: auto; max-height: 95%; border: thick $error;
          background: $surface; padding: 0 1; }
.dialog Label { width: 100%; }
.dialog .title { text-style: bold; }
.dialog .question { margin: 1 0; }
.dialog .hint { color: $text-muted; }
.dialog .buttons { height: auto; margin-top: 1; align-horizontal: right; }
.dialog Button { margin-left: 1; }
.dialog Button:focus { text-style: bold reverse; }
.real-banner { background: red; color: white; text-style: bold; width: 100%;
               content-align: center middle; }
.drill-banner { background: yellow; color: black; text-style: bold; width: 100%;
                content-align: center middle; }
"""

# Left and Right move between a dialog's buttons, as on any desktop.
ARROWS = [Binding("left", "app.focus_previous", show=False),
          Binding("right", "app.focus_next", show=False)]


class ConfirmScreen(ModalScreen[bool]):
    DEFAULT_CSS = "ConfirmScreen { align: center middle; }\n" + DIALOG_CSS
    BINDINGS = [Binding("escape", "dismiss(False)", show=False), *ARROWS]

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
