"""The config reference (docs/config-reference.md), generated from the models.

Keys, types, defaults and limits come from the pydantic models in controller/config.py;
the meaning of each key is kept here, and a test fails when a key has none or when the
checked-in reference differs from what this module generates
(`python -m controller.configref > docs/config-reference.md`).
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from controller import config as c

SECTIONS: list[tuple[str, type[BaseModel], str]] = [
    ("(top level)", c.Config, ""),
    ("[site]", c.Site, "The building."),
    ("[[devices]]", c.Device, "One entry per relay board or input device."),
    ("[outputs.NAME]", c.Output, "A named relay channel."),
    ("[zones.NAME]", c.Zone, "A named area and the outputs that select its loudspeakers."),
    ("[[inputs]]", c.PanicInput, "A panic button, a call point, or a fault contact."),
    ("[inputs.eol]", c.EndOfLine,
     "A supervised loop on an analog module: the raw reading that means each state."),
    ("[audio]", c.Audio, "Sound output, voices and the announcement cache."),
    ("[audio.lanes.NAME]", c.Lane,
     "An audio lane besides \"main\": it plays at the same time as the others."),
    ("[drill]", c.Drill, "What a drill leaves out."),
    ("[engine]", c.Engine, "How the engine decides."),
    ("[[schedule]]", c.ScheduleEntry, "Drills, self-tests and reminders by cron."),
    ("[control]", c.Control, "The control socket and the journal."),
    ("[code_phrases.SCENARIO]", c.CodePhrase,
     "A neutral phrase staff zones hear instead of plain words for a covert scenario."),
]

MEANINGS: dict[str, str] = {
    "Device.title": "what the duty officer calls it (\"kk / ru\"); consoles show it, not the id",
    "Output.title": "what the duty officer calls it (\"kk / ru\"); consoles show it, not the id",
    "Config.code_phrases": "scenario id → the code phrase its staff zones hear (covert "
                           "scenarios only; by default nothing is spoken)",
    "Device.poll_share": "the share of a serial line's time input polling may take",
    "Device.registers": "modbus-analog: input registers (FC04) or holding registers (FC03)",
    "Zone.lane": "the audio lane that feeds this zone's loudspeakers",
    "PanicInput.kind": "panic (starts `scenario`) or fault (raises the named fault)",
    "PanicInput.fault": "for kind = fault: amplifier, ups_on_battery, ups_battery_low, "
                        "tamper or other",
    "PanicInput.eol": "the [inputs.eol] ranges of a supervised loop",
    "EndOfLine.normal": "[lowest, highest] reading of a loop at rest",
    "EndOfLine.active": "[lowest, highest] reading of a pressed button",
    "EndOfLine.open": "[lowest, highest] reading of a cut wire (a fault)",
    "EndOfLine.short": "[lowest, highest] reading of a short circuit (a fault)",
    "Audio.wav_keep_mb": "the WAV folder keeps at most this many megabytes, oldest first out",
    "Audio.relay_wait": "seconds sound waits for a lane's zone and amplifier relays to be "
                        "acknowledged; longer is a fault, and it plays anyway",
    "Audio.lanes": "the [audio.lanes.NAME] tables: lanes besides \"main\"",
    "Lane.output": "its sound output (default: [audio] output; lanes sharing an output "
                   "take channels of their own)",
    "Lane.channels": "channels of that output (default: [audio] channels)",
    "Lane.amplifiers": "outputs that must be on for this lane to be heard (default: every "
                       "amplifier)",
    "Lane.title": "the lane's name on the console",
    "Control.key": "the journal's signing key (Ed25519, mode 0600), outside the journal's "
                   "folder",
    "Control.journal_segment_mb": "the journal goes on in a new segment at this size (and "
                                  "each new year)",
    "CodePhrase.kk": "the phrase in Kazakh",
    "CodePhrase.ru": "the phrase in Russian",
    "Config.site": "the [site] table (required)",
    "Config.scenarios": "folder of the scenario files, relative to this file",
    "Config.devices": "the [[devices]] entries",
    "Config.outputs": "the [outputs] table: output name → device and channel",
    "Config.zones": "the [zones] table: zone name → outputs (at least one zone)",
    "Config.inputs": "the [[inputs]] entries",
    "Config.audio": "the [audio] table",
    "Config.drill": "the [drill] table",
    "Config.engine": "the [engine] table",
    "Config.schedule": "the [[schedule]] entries",
    "Config.control": "the [control] table",
    "Site.name": "the building's name, shown on every console and document",
    "Site.address": "its address, which staff read out to 101/102/112",
    "Site.timezone": "IANA time zone of the site (schedule, documents)",
    "Site.languages": "announcement languages in speaking order",
    "Site.ui_language": "the console's language",
    "Site.clock_sync": "a fault while the kernel says the clock is not synchronised (NTP)",
    "Device.id": "the device's name, used by outputs and inputs",
    "Device.driver": "modbus-coils, waveshare, eletechsup, lcus, numato, kmtronic, "
                     "kmtronic-rs485, modbus-analog, serial-lines or simulator",
    "Device.transport": "tcp (host and port) or serial (port is a device path)",
    "Device.host": "host name or IP address (tcp)",
    "Device.port": "TCP port number, or a serial device path such as /dev/ttyUSB0",
    "Device.baudrate": "serial speed; devices on one line share it",
    "Device.parity": "serial parity: N, E or O; devices on one line share it",
    "Device.unit": "Modbus unit id (RS-485 address)",
    "Device.poll_period": "seconds between polls of outputs (inputs are polled faster)",
    "Device.timeout": "seconds to wait for each reply",
    "Device.coil_offset": "address of channel 0 among the device's coils",
    "Device.input_offset": "address of input 0 among the device's discrete inputs",
    "Device.channels": "number of relay channels",
    "Device.inputs": "number of inputs",
    "Device.simulate": "dabyl runs this board itself (demo, tests)",
    "Output.device": "the device id",
    "Output.channel": "channel on that device, from 0",
    "Output.kind": "amplifier, zone, visual, sounder, lock, power or other (what a drill, "
                   "silence or self-test may do with it)",
    "Zone.outputs": "outputs that switch this zone's loudspeakers on",
    "Zone.staff": "a staff zone (staff-only messages go here)",
    "Zone.audio_channel": "channel of a multichannel sound card feeding this zone",
    "Zone.title": "the zone's name on the console",
    "PanicInput.id": "the input's name",
    "PanicInput.device": "the device id",
    "PanicInput.channel": "input on that device, from 0",
    "PanicInput.contact": "normally_open or normally_closed (a cut wire then looks like a "
                          "press)",
    "PanicInput.debounce": "seconds a change must last to count",
    "PanicInput.scenario": "the scenario a press starts",
    "PanicInput.latching": "the alarm stays until an operator clears it",
    "PanicInput.zones": "zones to address instead of the scenario's own",
    "PanicInput.title": "the input's name on the console",
    "Audio.output": "sound card name or number, default, or wav (files only)",
    "Audio.sample_rate": "output sample rate (Hz)",
    "Audio.channels": "channels of the sound card (a multichannel card feeds zones)",
    "Audio.level_db": "announcement level below full scale (dB)",
    "Audio.voices": "per language: auto, espeak[:voice], piper:FILE.onnx[#speaker] or tones",
    "Audio.cache_dir": "rendered announcements; voices live beside it in ../voices",
    "Audio.wav_dir": "where the WAV sink writes when there is no sound card",
    "Audio.wav_pace": "1 paces WAV output like a sound card; 0 writes at once (tests)",
    "Audio.pause": "seconds of silence between the languages",
    "Drill.suppress_outputs": "outputs a drill never switches (siren, locks, power)",
    "Engine.hold_automatic_evacuation_during_lockdown": "during a lockdown an automatic "
        "evacuation waits for an operator's confirmation",
    "ScheduleEntry.id": "the entry's name",
    "ScheduleEntry.cron": "minute hour day month weekday (Sunday 0 or 7), optional seconds "
                          "first, in the site's time zone",
    "ScheduleEntry.action": "drill, selftest or reminder",
    "ScheduleEntry.scenario": "the scenario a drill runs",
    "ScheduleEntry.zones": "zones of the drill (default: the scenario's)",
    "ScheduleEntry.parameters": "scenario parameters of the drill",
    "ScheduleEntry.text": "the reminder's text",
    "Control.socket": "the control socket: a socket or a new path, in a directory others "
                      "cannot write (dabyl makes new directories 0750)",
    "Control.journal": "the journal (SQLite); its lock, head and copies live beside it",
    "Control.group": "the operators' group: it owns the socket and its directory",
    "Control.max_clients": "connections at once; at the cap the one idle longest makes room",
    "Control.line_timeout": "seconds a client may take to finish a request line",
}

HIDDEN = {"base_dir", "source"}  # set by the loader, never written in a file


def _type(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return "name" if args[0] is str else _type(args[0])
    if origin is typing.Literal:
        return " \\| ".join(f'"{a}"' for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type(a) for a in args)
    if origin is not None:
        return f"{origin.__name__}[{', '.join(_type(a) for a in args)}]"
    if annotation is type(None):
        return "none"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: Any) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    if isinstance(value, BaseModel):
        return "(table)"
    return f"`{value!r}`".replace("'", '"') if value not in (None, "") else \
        ("—" if value is None else '`""`')


def _limits(field: Any) -> str:
    out = []
    for item in field.metadata:
        for name, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"),
                           ("min_length", "length ≥"), ("max_length", "length ≤")):
            value = getattr(item, name, None)
            if value is not None:
                out.append(f"{sign} {value}")
    return ", ".join(out)


def missing_meanings() -> list[str]:
    return [f"{model.__name__}.{name}" for _, model, _ in SECTIONS
            for name in model.model_fields
            if name not in HIDDEN and f"{model.__name__}.{name}" not in MEANINGS]


def generate() -> str:
    lines = ["# config.toml reference", "",
             "Generated from the models in `controller/config.py` by "
             "`python -m controller.configref`; a test keeps it current.",
             "Relative paths are taken from the folder of config.toml.", ""]
    for title, model, intro in SECTIONS:
        lines += [f"## {title}", ""]
        if intro:
            lines += [intro, ""]
        lines += ["| key | type | default | limits | meaning |", "|---|---|---|---|---|"]
        for name, field in model.model_fields.items():
            if name in HIDDEN:
                continue
            meaning = MEANINGS.get(f"{model.__name__}.{name}", "")
            lines.append(f"| `{name}` | {_type(field.annotation)} | {_default(field)} | "
                         f"{_limits(field)} | {meaning} |".replace("| |", "| |"))
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(generate(), end="")
