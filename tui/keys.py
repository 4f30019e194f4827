"""Keys that work on the officer's keyboard, whatever layout is switched on.

A letter binding answers to its key on the Latin layout, to the letter the same
physical key types on the Russian and Kazakh layouts (both ЙЦУКЕН: the Kazakh layout
keeps the Russian letters there and puts its own on the number row), and to all of
them with Shift (or Caps Lock). Every main action also has a function key, which no
layout changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding

# The same physical keys, row by row: US QWERTY and Russian/Kazakh ЙЦУКЕН.
LATIN = "qwertyuiop[]asdfghjkl;'zxcvbnm,."
CYRILLIC = "йцукенгшщзхъфывапролджэячсмитьбю"
PHYSICAL = dict(zip(LATIN, CYRILLIC, strict=True))


def letter(latin: str) -> list[str]:
    """Every key name a terminal reports for the physical key of `latin`."""
    cyrillic = PHYSICAL[latin]
    return list(dict.fromkeys([latin, latin.upper(), cyrillic, cyrillic.upper()]))


@dataclass(frozen=True)
class Key:
    """One action of a screen: its letter, its function key, its words (in strings)."""

    action: str
    label: str
    letter: str | None = None
    fkey: str | None = None
    extra: tuple[str, ...] = ()

    def names(self) -> str:
        names = letter(self.letter) if self.letter else []
        if self.fkey:
            names.append(self.fkey)
            if self.fkey.startswith("shift+f"):
                # Some terminals send Shift+F1…F10 as F13…F22.
                names.append(f"f{int(self.fkey[7:]) + 12}")
        names += self.extra
        return ",".join(names)

    def shown(self) -> str:
        """The key as printed on the keyboard: `S ⇧F1`."""
        parts = [self.letter.upper()] if self.letter else []
        if self.fkey:
            parts.append(self.fkey.replace("shift+", "⇧").upper())
        return " ".join(parts)

    def binding(self) -> Binding:
        return Binding(self.names(), self.action, self.label, show=False)


# The main screen. F1–F10 start the ten scenarios; Shift+F1…F10 do what the letters do.
MAIN = (
    Key("silence", "k_silence", "s", "shift+f1"),
    Key("clear", "k_clear", "c", "shift+f2"),
    Key("form", "k_form", "p", "shift+f3"),
    Key("decide", "k_decide", "e", "shift+f4"),
    Key("ack", "k_ack", "a", "shift+f5"),
    Key("role", "k_role", "r", "shift+f6"),
    Key("toggle_drill", "k_drill", "d", "shift+f7"),
    Key("journal", "k_journal", "j", "shift+f8"),
    Key("help", "k_help", "h", "shift+f9", ("question_mark",)),
    Key("quit", "k_quit", "q", "shift+f10"),
    Key("previous_alarm", "k_prev", None, "f11"),
    Key("next_alarm", "k_next", None, "f12"),
)

# The journal browser.
JOURNAL = (
    Key("filter('all')", "j_all", "a", "f1"),
    Key("filter('real')", "j_real", "r", "f2"),
    Key("filter('drills')", "j_drills", "d", "f3"),
    Key("record", "j_record", "e", "f4"),
    Key("briefing", "j_briefing", "b", "f5"),
    Key("app.pop_screen", "j_back", "j", "f10", ("escape",)),
)


def bindings(keys: tuple[Key, ...]) -> list[Binding]:
    return [k.binding() for k in keys]


def scenario_bindings() -> list[Binding]:
    return [Binding(f"f{i}", f"trigger({i - 1})", f"F{i}", show=False) for i in range(1, 11)]
