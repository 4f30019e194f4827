"""The pieces of the main screen. Each shows one part of the controller's status and
knows nothing of the socket: the screen hands it the status and the site's names."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList, RichLog, Static
from textual.widgets.option_list import Option

from controller.messages import label
from tui.keys import Key
from tui.site import Site

MODE_STYLE = {
    "QUIESCENT": "bold black on green",
    "ALARM": "bold white on red",
    "DRILL": "bold black on yellow",
    "FAULT": "bold black on dark_orange",
    "OFFLINE": "bold white on dark_red",
}
TICKED, UNTICKED = "☑", "☐"
# Events the log leaves out: the status itself, and relay-by-relay detail (the journal
# browser shows that).
QUIET_EVENTS = {"status", "output", "outputs_applied", "announcement_ended", "voice"}


class TopBar(Static):
    """The mode (in colour) and how many alarms are open, what a trigger will be (real or
    drill), a held evacuation, a raised threat level, the clock, the site. It always fits
    one line: the site's name goes first, then the long wordings, then the clock; the
    mode and what a trigger will be never go."""

    def show(self, site: Site, status: dict[str, Any], drill_mode: bool, online: bool) -> None:
        s = site.s
        mode = status.get("mode", "QUIESCENT") if online else "OFFLINE"
        count = len(status.get("activations", [])) if online else 0
        raised = status.get("threat_level") == "raised"
        held = any(a.get("state") == "held" for a in status.get("activations", []))
        width = self.size.width or self.app.size.width
        for name, short, clock in ((True, False, True), (False, False, True),
                                   (False, True, True), (False, True, False)):
            text = Text()
            text.append(f" {s.get(mode, mode)}" + (f": {count} " if count else " "),
                        style=MODE_STYLE.get(mode, "reverse"))
            if clock:
                text.append(f" {site.now()}", style="bold")
            if name:
                text.append(f" {site.name}", style="bold")
            text.append("  ")
            if raised:
                text.append(f" {s['threat_short' if short else 'threat_raised']} ",
                            style="bold white on dark_red")
                text.append(" ")
            if held:
                text.append(f" {s['held_waiting']} ", style="bold white on red")
                text.append(" ")
            if drill_mode:
                text.append(f" {s['drill_mode_short' if short else 'drill_mode']} ",
                            style="black on yellow")
            else:
                text.append(s["real_mode_short" if short else "real_mode"], style="bold")
            if text.cell_len <= width:
                break
        self.update(text)


class FaultsPanel(Static):
    """Every fault, in full, across the whole width: hidden only when there is none."""

    def show(self, site: Site, faults: list[dict[str, Any]]) -> None:
        self.display = bool(faults)
        text = Text()
        text.append(site.s["faults"] + ": ", style="bold")
        for i, fault in enumerate(faults):
            mark = "✓ " if fault.get("acknowledged") else "! "
            style = "dim" if fault.get("acknowledged") else "bold dark_orange"
            text.append(("\n" if i else "") + mark + site.fault_text(fault), style=style)
        self.update(text)


class AlarmList(OptionList):
    """Every open activation, one line each; the highlighted one is the one acted on."""

    _shown: dict[str | None, str] = {}

    def show(self, site: Site, activations: list[dict[str, Any]], selected: str | None) -> None:
        s = site.s
        options = []
        for act in activations:
            real = not act.get("drill")
            # Short words, not colour alone: a real alarm is the default and says nothing.
            flags = [] if real else [s["f_drill"]]
            for flag in ("held", "silenced", "suspended"):
                if act.get(flag) or (flag == "held" and act.get("state") == "held"):
                    flags.append(s[f"f_{flag}"])
            prompt = Text(act["title"][site.lang], style="bold red" if real else "bold yellow")
            if flags:
                prompt.append(f" ({', '.join(flags)})", style="bold" if real else "")
            options.append(Option(prompt, id=act["id"]))
        ids = [o.id for o in options]
        shown = {o.id: o.prompt.markup for o in options}
        # Only the officer moves the highlight by message: following the selection here
        # must not come back as a choice (the two would chase each other).
        with self.prevent(OptionList.OptionHighlighted):
            if ids != [self.get_option_at_index(i).id for i in range(self.option_count)]:
                self.clear_options()
                self.add_options(options)
            else:
                for option in options:
                    if self._shown.get(option.id) != shown[option.id]:
                        self.replace_option_prompt(option.id, option.prompt)
            self._shown = shown
            if selected in ids and self.highlighted != ids.index(selected):
                self.highlighted = ids.index(selected)
        self.display = bool(ids)


class AlarmHead(Static):
    """The selected activation: its title first, always in view, then what matters now."""

    def show(self, site: Site, act: dict[str, Any] | None, status: dict[str, Any],
             lost_at: datetime | None = None) -> None:
        """`lost_at`: when the controller stopped answering (nothing plays that we know
        of, and the time stops there)."""
        s = site.s
        if act is None:
            self.update(Text(s["idle"], style="dim"))
            return
        real = not act.get("drill")
        text = Text()
        text.append(f" {act['title'][site.lang]} ", style="bold white on red" if real
                    else "bold black on yellow")
        flags = [s["real_alarm"] if real else s["drill"]]
        for flag in ("silenced", "suspended"):
            if act.get(flag):
                flags.append(s[flag])
        if act.get("state") == "held":
            flags.append(s["held"])
        text.append("  " + " · ".join(flags) + "\n", style="bold")
        text.append(f"{s['elapsed']} {site.elapsed(act, lost_at)}   ")
        text.append(f"{s['source']}: {site.source(act)}\n")
        text.append(f"{s['zones']}: "
                    f"{', '.join(site.titled(site.zones, z) for z in act.get('zones', []))}\n")
        for line in _parameters(site, act):
            text.append(line + "\n", style="bold")
        playing = status.get("audio", {}).get("playing") if act.get("playing") else None
        if lost_at is not None:
            playing = None
        if playing:
            text.append(f"{s['playing']}: {label(playing, site.ui, site.named)}\n")
        text.append(f"{s['call']}: {', '.join(act.get('calls', []))}", style="bold")
        if act.get("state") == "held":
            text.append("\n" + s["held_hint"], style="bold white on red")
        self.update(text)


def _parameters(site: Site, act: dict[str, Any]) -> list[str]:
    """The chosen parameters: the object found, then each of its values under the title
    the scenario gives it (the visitors' distance and the cordon)."""
    lines = []
    for param in act.get("parameter_details") or []:
        lines.append(f"{param['title'][site.lang]}: {param['choice_title'][site.lang]}")
        lines += [f"{v['title'][site.lang]}: {v['value']}" for v in param.get("values", [])]
    return lines


class TickList(OptionList):
    """Items ticked with one key (Space or Enter); each reads ☐ or ☑ in text, wraps in
    full. Items whose id starts with "info" are there to be read, not ticked."""

    # OptionList counts each option's lines at the width it has before its scrollbar
    # appears, and draws them at the narrower width after: the last wrapped line of an
    # item was lost. A scrollbar's room kept at all times keeps the two widths one.
    DEFAULT_CSS = "TickList { scrollbar-gutter: stable; }"
    BINDINGS = [Binding("space", "select", show=False)]

    class Toggled(Message):
        def __init__(self, tick_list: TickList, item: str, done: bool) -> None:
            super().__init__()
            self.tick_list = tick_list
            self.item = item
            self.done = done

        @property
        def control(self) -> TickList:
            return self.tick_list

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.key: object = None
        self.texts: dict[str, str] = {}
        self.ticked: set[str] = set()

    def set_items(self, key: object, items: list[tuple[str, str | Text]],
                  ticked: set[str]) -> None:
        """Show these items (rebuilt only when `key` changes; else the ticks follow)."""
        if key != self.key:
            self.key = key
            self.texts = {i: t for i, t in items if isinstance(t, str)}
            self.ticked = set(ticked)
            highlighted = self.highlighted
            self.clear_options()
            self.add_options([Option(self._prompt(i, t), id=i) for i, t in items])
            if items:
                self.highlighted = min(highlighted or 0, len(items) - 1)
            return
        for item in self.texts:
            self.mark(item, item in ticked)

    def scroll_to_highlight(self, top: bool = False) -> None:
        """An item taller than the list is shown from its first line, not its last."""
        index = self.highlighted
        if index is not None and self._heights.get(index, 0) > self.scrollable_content_region.height:
            top = True
        super().scroll_to_highlight(top=top)

    def mark(self, item: str, done: bool) -> None:
        if (item in self.ticked) == done or item not in self.texts:
            return
        if done:
            self.ticked.add(item)
        else:
            self.ticked.discard(item)
        self.replace_option_prompt(item, self._prompt(item, self.texts[item]))

    def _prompt(self, item: str, text: str | Text) -> str | Text:
        if not isinstance(text, str):
            return text
        done = item in self.ticked
        prompt = Text(f"{TICKED if done else UNTICKED} ", style="bold green" if done else "bold")
        prompt.append(text, style="dim" if done else "")
        return prompt

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        item = event.option.id
        if item in self.texts:
            done = item not in self.ticked
            self.mark(item, done)
            self.post_message(self.Toggled(self, item, done))


class DevicesPanel(Static):
    """Each device's health and the sound output; on a wide terminal the voices too (a
    missing voice or sound card is a fault as well, shown in full above)."""

    wide = False

    def show(self, site: Site, status: dict[str, Any], live: bool = True) -> None:
        """`live`: the controller answers; else every state is unknown now."""
        s = site.s
        text = Text(s["devices"] + "\n", style="bold")
        for d in status.get("devices", []):
            online = d.get("online") if live else None
            mark, state, style = {True: ("✓", s["online"], "green"),
                                  False: ("✗", s["lost"], "bold red"),
                                  None: ("?", s["unknown"] if live else s["stale"],
                                         "yellow")}[online]
            text.append(f" {mark} ", style=style)
            text.append(site.titled(site.devices, d["id"]))
            if d.get("simulated") and self.wide:
                text.append(f" ({s['simulated']})", style="dim")
            if online is not True or self.wide:
                text.append(": ")
                text.append(state, style=style)
            text.append("\n")
        audio = status.get("audio", {})
        if audio and not live:
            text.append(" ? ", style="yellow")
            text.append(f"{s['audio']}: ")
            text.append(s["stale"], style="yellow")
        elif audio:
            card = audio.get("sink") == "sounddevice"
            text.append(" ✓ " if card else " ! ", style="green" if card else "bold dark_orange")
            text.append(f"{s['audio']}: ")
            text.append(s["sink_card"] if card else s["sink_file"],
                        style="green" if card else "bold dark_orange")
            if self.wide:
                for lang, voice in audio.get("voices", {}).items():
                    engine = str(voice).split(" ")[0].split(":")[0]
                    text.append(f"\n   {s.get('lang_' + lang, lang)}: ")
                    text.append(engine, style="green" if engine == "piper" else
                                ("yellow" if engine == "espeak-ng" else "bold red"))
        self.update(text)


class ZonesPanel(Static):
    def show(self, site: Site, status: dict[str, Any], live: bool = True) -> None:
        """`live`: the controller answers; else no zone is shown as held or sounding
        (what held it last is no longer known)."""
        s = site.s
        text = Text(s["zones"] + "\n", style="bold")
        for name, zone in status.get("zones", {}).items():
            holder = zone.get("holder")
            text.append(f" {site.titled(site.zones, name)}: ")
            if not live:
                text.append(s["stale"], style="yellow")
            elif holder:
                text.append(site.activation_title(holder), style="bold red")
            else:
                text.append(s["free"], style="green")
            if zone.get("routed") and live:
                text.append(" ♪", style="bold")
            text.append("\n")
        self.update(text)


class EventLog(RichLog):
    """The newest events, in words."""

    def add(self, site: Site, event: dict[str, Any]) -> None:
        kind = event.get("kind", "")
        if kind in QUIET_EVENTS:
            return
        style = "bold red" if kind in ("fault", "triggered", "held") else ""
        when = site.local(event.get("ts", ""), with_date=False)
        self.write(Text(f"{when} {site.event_line(event)}", style=style))


def packed(items: list[Text], width: int, gap: int = 2) -> Text:
    """Items on lines of at most `width` cells; an item is never split across two."""
    out, used = Text(), 0
    for item in items:
        if used and used + gap + item.cell_len > width:
            out.append("\n")
            used = 0
        elif used:
            out.append(" " * gap)
            used += gap
        out.append_text(item)
        used += item.cell_len
    return out


class PackedBar(Static):
    """A bar of items across the whole width, packed again when the width changes."""

    items: list[Text] = []

    def set_items(self, items: list[Text]) -> None:
        self.items = items
        self.update(packed(items, self.size.width or self.app.size.width))

    def on_resize(self) -> None:
        self.update(packed(self.items, self.size.width or self.app.size.width))


class ScenarioBar(PackedBar):
    """F1–F10: the ten scenarios by their short titles (a click works too)."""

    def show(self, site: Site) -> None:
        items = []
        for i, sid in enumerate(site.scenario_keys[:10], 1):
            item = Text(f"F{i}", style="bold")
            item.append(f" {site.short_title(sid)}")
            item.stylize(Style(meta={"@click": f"screen.trigger({i - 1})"}))
            items.append(item)
        self.set_items(items)


class KeyBar(PackedBar):
    """The main keys, in the console's language (all of them in the help)."""

    def show(self, site: Site, keys: tuple[Key, ...]) -> None:
        items = []
        for key in keys:
            item = Text(f" {key.shown()} ", style="bold reverse")
            # The bar's own shorter words where the help's would not fit.
            item.append(f" {site.s.get(key.label + '_short', site.s[key.label])}")
            items.append(item)
        self.set_items(items)
