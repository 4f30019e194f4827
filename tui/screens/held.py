"""An automatic evacuation held during a lockdown: the officer confirms or declines.

The prompt says everything (it wraps to the terminal), names the source as the site
calls it, and closes by itself, with a note, when the evacuation is decided or the
alarm ended elsewhere. It opens by itself, in the middle of whatever the officer is
typing: so "Later" has the focus (both other answers are final), and a key typed before
the prompt was in front of the officer, or in the half second after it appeared, never
reaches it (see `keys_from`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from tui.screens.confirm import ARROWS, DIALOG_CSS

if TYPE_CHECKING:
    from tui.site import Site


# The officer needs a moment to see a prompt that opened by itself: keys that arrive
# sooner were meant for what was on the screen a moment ago (typing, a checklist).
READ_SECONDS = 0.5


class HeldScreen(ModalScreen[str | None]):
    DEFAULT_CSS = "HeldScreen { align: center middle; }\n" + DIALOG_CSS
    BINDINGS = [Binding("escape", "dismiss(None)", show=False), *ARROWS]

    def __init__(self, site: Site, activation: dict[str, Any]) -> None:
        super().__init__()
        self.site = site
        self.activation = activation
        self.activation_id: str = activation["id"]
        self.closing_note: str | None = None
        # Keys older than this (Textual stamps each event with the monotonic clock) were
        # typed for another screen: the app drops them (DabylApp.on_event). The prompt is
        # made the moment it is pushed; it is stamped again when it comes back on top.
        self.keys_from = time.monotonic() + READ_SECONDS
        self._shown = False

    def compose(self) -> ComposeResult:
        s, act = self.site.s, self.activation
        with VerticalScroll(classes="dialog"):
            yield Label(s["held_title"], classes="real-banner")
            yield Label(act["title"][self.site.lang], classes="title")
            yield Label(f"{s['source']}: {self.site.source(act)}", id="held-source")
            yield Label(s["held_text"], classes="question", id="held-text")
            with Horizontal(classes="buttons"):
                yield Button(s["decline_evac"], id="decline", variant="primary")
                yield Button(s["confirm_evac"], id="confirm", variant="error")
                yield Button(s["later"], id="later")

    def on_mount(self) -> None:
        self.query_one("#later", Button).focus()

    @on(Button.Pressed)
    def _answer(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id if event.button.id in ("confirm", "decline") else None)

    def close_because(self, note: str) -> None:
        """Decided or ended elsewhere: close, and say why (now, or as soon as this
        prompt comes back on top)."""
        if self.closing_note is not None:
            return
        self.closing_note = note
        if self.app.screen is self:
            self._close()

    def on_screen_resume(self) -> None:
        if self._shown:
            self.keys_from = time.monotonic() + READ_SECONDS
        self._shown = True
        if self.closing_note is not None:
            self._close()

    def _close(self) -> None:
        self.app.notify(self.closing_note or "", severity="warning", timeout=10)
        self.dismiss(None)
