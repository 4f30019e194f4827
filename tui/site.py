"""The site as the console names it: titles instead of ids, the controller's words in
the console's language, local times.

Titles in the site config are written "Kazakh / Russian"; a Kazakh console shows the
first part, a Russian or English one the second. Anything the config gives no title
keeps its id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from controller import messages
from controller.errors import DabylError
from tui.strings import strings, text_language

SCENARIO_ORDER = (
    "suspicious_object", "phone_threat", "written_threat", "armed_attack", "hostage",
    "shooting", "explosion", "terrorist_attack", "fire", "collapse",
)


class Site:
    def __init__(self, details: dict[str, Any], status: dict[str, Any]) -> None:
        self.ui = status.get("ui_language", "kk")
        self.lang = text_language(self.ui)
        self.s = strings(self.ui)
        try:
            self.tz = ZoneInfo(status.get("timezone", "Asia/Almaty"))
        except (KeyError, ValueError):
            self.tz = ZoneInfo("UTC")
        self.name = self.part(status.get("site", ""))
        self.scenarios: dict[str, dict[str, Any]] = {s["id"]: s for s in details["scenarios"]}
        self.scenario_keys = [sid for sid in SCENARIO_ORDER if sid in self.scenarios] + sorted(
            set(self.scenarios) - set(SCENARIO_ORDER))
        self.zones: dict[str, Any] = details.get("zones", {})
        self.outputs: dict[str, Any] = details.get("outputs", {})
        self.inputs: dict[str, Any] = details.get("inputs", {})
        self.devices: dict[str, Any] = details.get("devices", {})
        self.schedule: dict[str, Any] = details.get("schedule", {})
        self.lanes: dict[str, Any] = details.get("lanes", {})
        self.drill_suppress: list[str] = details.get("drill_suppress", [])
        # What the console knows right now (set from each status).
        self.activations: dict[str, dict[str, Any]] = {}
        self.faults: dict[str, dict[str, Any]] = {}

    def follow(self, status: dict[str, Any]) -> None:
        self.activations = {a["id"]: a for a in status.get("activations", [])}
        self.faults.update({f["key"]: f for f in status.get("faults", [])})

    # -- names ------------------------------------------------------------------------
    def part(self, title: str) -> str:
        """The console's language part of a "kk / ru" title."""
        parts = [p.strip() for p in title.split(" / ")]
        if len(parts) == 2:
            return parts[0] if self.lang == "kk" else parts[1]
        return title.strip()

    def titled(self, table: dict[str, Any], key: str) -> str:
        title = (table.get(key) or {}).get("title") or ""
        return self.part(title) if title else key

    def scenario_title(self, sid: str) -> str:
        sc = self.scenarios.get(sid)
        return sc["title"][self.lang] if sc else sid

    def short_title(self, sid: str) -> str:
        """A scenario as the F-key bar names it: the console's short name for the ten
        scenarios of the law, else its title."""
        return self.s.get(f"short_{sid}") or self.scenario_title(sid)

    def activation_title(self, act_id: str) -> str:
        act = self.activations.get(act_id)
        if act is not None:
            return act["title"][self.lang]
        return self.scenario_title(act_id.rsplit("-", 1)[0])

    def entry_title(self, entry_id: str) -> str:
        entry = self.schedule.get(entry_id)
        if entry is None:
            return self.s["schedule"]
        if entry.get("action") == "drill" and entry.get("scenario"):
            return f"{self.scenario_title(entry['scenario'])} ({self.s['drill'].lower()})"
        if entry.get("action") == "reminder":
            return self.part(entry["text"]) if entry.get("text") else self.s["reminder"]
        return self.s["selftest"]

    def lane_title(self, lane: str) -> str:
        """An audio lane by its title, or by the zones it feeds."""
        title = (self.lanes.get(lane) or {}).get("title")
        if title:
            return self.part(title)
        zones = [z for z, zone in self.zones.items() if zone.get("lane", "main") == lane]
        return ", ".join(self.titled(self.zones, z) for z in zones) or lane

    def fault_text(self, fault: dict[str, Any]) -> str:
        """A fault in the console's language, with titles for what it names."""
        code = fault.get("code")
        if code in messages.MESSAGES:
            return messages.render(code, self.ui, fault.get("params") or {}, self.named)
        return (fault.get("text") or {}).get(self.ui) or fault.get("message", "")

    def named(self, kind: str, value: str) -> str:
        """messages.Namer: the title of what an id names."""
        if kind == "scenario":
            return self.scenario_title(value)
        if kind == "activation":
            return self.activation_title(value)
        if kind == "zone":
            return self.titled(self.zones, value)
        if kind == "input":
            return self.titled(self.inputs, value)
        if kind == "output":
            return self.titled(self.outputs, value)
        if kind == "device":
            return self.titled(self.devices, value)
        if kind == "entry":
            return self.entry_title(value)
        if kind == "lane":
            return self.lane_title(value)
        if kind == "fault":
            fault = self.faults.get(value)
            return self.fault_text(fault) if fault else ""
        return value

    def source(self, act: dict[str, Any]) -> str:
        """Where an activation came from, as the officer knows it."""
        source, origin = act.get("source", ""), act.get("origin", "")
        if source == "input":
            return self.titled(self.inputs, origin)
        if source == "schedule":
            return self.entry_title(origin)
        return self.s["operator"]

    def event_line(self, event: dict[str, Any]) -> str:
        """An event in words, after the title of its alarm (unless the words name the
        alarm themselves: "Fire: still open: Fire")."""
        text = messages.event_text(event, self.ui, self.named)
        act = event.get("activation")
        template = messages.EVENTS.get(str(event.get("kind")), {}).get(self.ui, "")
        if not act or "{activation" in template:
            return text
        return f"{self.activation_title(act)}: {text}"

    def error_text(self, exc: DabylError) -> str:
        """A controller's refusal in the console's language; never an English line in a
        Kazakh or Russian console."""
        if exc.code in messages.MESSAGES:
            return messages.render(exc.code, self.ui, exc.params, self.named)
        if self.ui == "en":
            return str(exc)
        return messages.render("refused", self.ui, {"detail": str(exc)})

    # -- time ---------------------------------------------------------------------------
    def local(self, ts: str, with_date: bool = True) -> str:
        try:
            moment = datetime.fromisoformat(ts).astimezone(self.tz)
        except (TypeError, ValueError):
            return ts
        return moment.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")

    def now(self) -> str:
        return datetime.now(self.tz).strftime("%H:%M:%S")

    @staticmethod
    def elapsed(act: dict[str, Any], until: datetime | None = None) -> str:
        """Time since the trigger, from its wall-clock start (so a restart of the
        controller or of the console never restarts it); up to `until`, when the
        controller was last heard, if it is not heard now."""
        try:
            started = datetime.fromisoformat(act["started"])
            seconds = max(0, int(((until or datetime.now(UTC)) - started).total_seconds()))
        except (KeyError, TypeError, ValueError):
            seconds = int(act.get("elapsed_s", 0))
        hours, rest = divmod(seconds, 3600)
        mins, secs = divmod(rest, 60)
        return f"{hours}:{mins:02d}:{secs:02d}" if hours else f"{mins:02d}:{secs:02d}"
