"""Forms saved with Ctrl+S (shown on the form) or the Save button; Escape closes, and
asks first when something typed is not saved.

The caller form of Annex 4 §2 item 13 (the phone threat), and the two entries of the
Annex 2 journal: a drill's record and a briefing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from controller.scenarios import FormField
from tui.screens.confirm import DIALOG_CSS, ConfirmScreen

if TYPE_CHECKING:
    from tui.site import Site


class FormModal(ModalScreen[dict | None]):
    """Subclasses yield their fields in `fields()` and build the answer in `answer()`
    (None keeps the form open)."""

    DEFAULT_CSS = """
    FormModal { align: center middle; }
    FormModal .dialog { border: thick $primary; }
    FormModal Input, FormModal Select { margin-bottom: 1; }
    FormModal Input { background: $panel; }
    FormModal Input:focus { background: $primary-muted; text-style: bold; }
    FormModal Select:focus > SelectCurrent { background: $primary-muted; }
    """ + DIALOG_CSS
    BINDINGS = [Binding("escape", "close", show=False),
                Binding("ctrl+s", "save", show=False)]

    def __init__(self, site: Site, title: str) -> None:
        super().__init__()
        self.site = site
        self.title_text = title

    def compose(self) -> ComposeResult:
        s = self.site.s
        with VerticalScroll(classes="dialog"):
            yield Label(self.title_text, classes="title")
            yield Label(s["form_keys"], classes="hint")
            yield from self.fields()
            with Horizontal(classes="buttons"):
                yield Button(s["cancel"], id="no")
                yield Button(f"{s['save']} (Ctrl+S)", id="yes", variant="success")

    def fields(self) -> ComposeResult:
        raise NotImplementedError

    def answer(self) -> dict[str, Any] | None:
        raise NotImplementedError

    def on_mount(self) -> None:
        # A field keeps what it holds when it gets the focus: the cursor goes to the end,
        # the text is never selected (one key would replace a saved answer).
        for field in self.query(Input):
            field.select_on_focus = False
            field.cursor_position = len(field.value)
        # The first field has the focus: the officer's first keystroke is never lost.
        first = self.query("Input, Select").first()
        first.focus()
        self.opened_with = self._values()

    def _values(self) -> list[object]:
        return [w.value for w in self.query("Input, Select")]

    def action_close(self) -> None:
        """Close; when something typed is not saved, ask first (staying is the default)."""
        if self._values() == self.opened_with:
            self.dismiss(None)
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss(None)

        self.app.push_screen(ConfirmScreen(self.site.s["discard_q"], self.site.s), answered)

    def action_save(self) -> None:
        answer = self.answer()
        if answer is not None:
            self.dismiss(answer)

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        if event.button.id == "yes":
            self.action_save()
        else:
            self.action_close()


class FormScreen(FormModal):
    """The phone-threat caller form: every question in full, answers kept as given."""

    def __init__(self, site: Site, activation: dict[str, Any],
                 fields: list[dict[str, Any]]) -> None:
        super().__init__(site, f"{activation['title'][site.lang]}: {site.s['form']}")
        self.activation_id: str = activation["id"]
        self.form = fields
        self.known: dict[str, str] = dict(activation.get("answers") or {})

    def fields(self) -> ComposeResult:
        lang, s = self.site.lang, self.site.s
        for f in self.form:
            yield Label(f["title"][lang], id=f"q-{f['id']}")
            known = self.known.get(f["id"], "")
            if f.get("choices"):
                # The controller keeps a choice by its id; the officer reads its words.
                field = FormField.model_validate(f)
                options = list(zip(f["choices"][lang], field.ids(), strict=True))
                chosen = field.choice(known) if known else None
                if known and chosen is None:  # an answer kept from before choices had ids
                    options.append((known, known))
                    chosen = known
                self.known[f["id"]] = chosen or ""
                yield Select(options, prompt=s["choose"], id=f"f-{f['id']}", compact=True,
                             value=chosen if chosen else Select.NULL)
            else:
                yield Input(value=known, id=f"f-{f['id']}", compact=True)

    def answer(self) -> dict[str, Any] | None:
        answers = {}
        for f in self.form:
            widget = self.query_one(f"#f-{f['id']}")
            if isinstance(widget, Input):
                value = widget.value.strip()
            else:
                value = "" if widget.is_blank() else str(widget.value)
            if value and value != self.known.get(f["id"]):
                answers[f["id"]] = value
        return answers


class DrillRecordScreen(FormModal):
    """Participants and remarks of a drill (Annex 2, section 2)."""

    def __init__(self, site: Site, activation: str) -> None:
        super().__init__(site, f"{site.s['drill_record']}: {site.activation_title(activation)}")
        self.activation = activation

    def fields(self) -> ComposeResult:
        s = self.site.s
        yield Label(s["participants"])
        yield Input(id="participants", type="integer")
        yield Label(s["remarks"])
        yield Input(id="remarks")

    def answer(self) -> dict[str, Any] | None:
        value = self.query_one("#participants", Input).value.strip()
        if not value.isdigit():
            self.notify(self.site.s["participants_needed"], severity="error")
            return None
        return {"participants": int(value),
                "remarks": self.query_one("#remarks", Input).value.strip()}


class BriefingScreen(FormModal):
    """A briefing for section 1 of the Annex 2 journal."""

    def __init__(self, site: Site) -> None:
        super().__init__(site, site.s["briefing"])

    def fields(self) -> ComposeResult:
        s = self.site.s
        yield Label(s["person"])
        yield Input(id="person")
        yield Label(s["position"])
        yield Input(id="position")
        yield Label(s["briefing_kind"])
        yield Select([(s["planned"], "planned"), (s["unplanned"], "unplanned")],
                     value="planned", allow_blank=False, prompt=s["choose"], id="kind")
        yield Label(s["instructor"])
        yield Input(id="by")

    def answer(self) -> dict[str, Any] | None:
        person = self.query_one("#person", Input).value.strip()
        by = self.query_one("#by", Input).value.strip()
        if not person or not by:
            self.notify(f"{self.site.s['person']}; {self.site.s['instructor']}",
                        severity="error")
            return None
        return {"person": person, "by": by,
                "position": self.query_one("#position", Input).value.strip(),
                "kind": str(self.query_one("#kind", Select).value)}
