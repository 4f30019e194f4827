"""The site configuration (config.toml): pydantic models and two-pass validation.

Pass one validates each item on its own (types, ranges, required keys); pass two
looks across items (unknown devices, zones, outputs and scenarios; duplicate
channels). Every problem is one line naming the file, the key path and the reason.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from controller.errors import ConfigurationError

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Language = Literal["kk", "ru"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Site(Strict):
    name: str = Field(min_length=1)
    address: str = ""
    timezone: str = "Asia/Almaty"
    languages: list[Language] = Field(default=["kk", "ru"], min_length=1)
    ui_language: Literal["kk", "ru", "en"] = "kk"
    # The clock must be synchronised (NTP): a fault while the kernel says it is not.
    clock_sync: bool = True

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class Device(Strict):
    id: Name
    driver: str = Field(min_length=1)
    transport: Literal["tcp", "serial"] = "tcp"
    host: str = "127.0.0.1"
    port: int | str = 502
    baudrate: int = Field(default=9600, gt=0)
    parity: Literal["N", "E", "O"] = "N"
    unit: int = Field(default=1, ge=0, le=247)
    poll_period: float = Field(default=1.0, gt=0, le=60)
    timeout: float = Field(default=0.5, gt=0, le=30)
    coil_offset: int = Field(default=0, ge=0, le=65535)
    input_offset: int = Field(default=0, ge=0, le=65535)
    channels: int = Field(default=8, ge=0, le=256)
    inputs: int = Field(default=8, ge=0, le=256)
    simulate: bool = False
    # Serial lines: the largest share of the line's time polls may take (devices on
    # one line share it; the smallest value wins). Relay writes are never held back.
    poll_share: float = Field(default=0.25, gt=0, le=1)
    # modbus-analog: read input registers (FC04) or holding registers (FC03).
    registers: Literal["input", "holding"] = "input"

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        # A name or an address (IPv6 too); anything else breaks the driver at start.
        if not value or not all(ch.isascii() and (ch.isalnum() or ch in ".-_:") for ch in value):
            raise ValueError("host must be a host name or an IP address")
        return value
    # What the duty officer calls it ("kk / ru"); consoles show it instead of the id.
    title: str = ""

    @field_validator("port")
    @classmethod
    def _port(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 0 < value < 65536:
            raise ValueError("TCP port must be 1..65535")
        if isinstance(value, str) and not value:
            raise ValueError("serial port must not be empty")
        return value


OutputKind = Literal["amplifier", "zone", "visual", "sounder", "lock", "power", "other"]


class Output(Strict):
    device: Name
    channel: int = Field(ge=0, le=255)
    kind: OutputKind = "other"
    title: str = ""


class Zone(Strict):
    outputs: list[Name] = Field(min_length=1)
    staff: bool = False
    # The audio lane that feeds this zone's loudspeakers, and the channel of that
    # lane's sound output the zone's amplifier listens to.
    lane: Name = "main"
    audio_channel: int = Field(default=0, ge=0, le=63)
    title: str = ""


Reading = Annotated[int, Field(ge=0, le=65535)]


class EndOfLine(Strict):
    """A supervised loop read by an analog module: the raw reading (as the module
    reports it) that means each state, as [lowest, highest]."""

    normal: tuple[Reading, Reading]
    active: tuple[Reading, Reading]
    open: tuple[Reading, Reading]
    short: tuple[Reading, Reading]

    @field_validator("normal", "active", "open", "short")
    @classmethod
    def _ordered(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[0] > value[1]:
            raise ValueError("give the range as [lowest, highest]")
        return value

    def ranges(self) -> dict[str, tuple[int, int]]:
        return {"normal": self.normal, "active": self.active, "open": self.open,
                "short": self.short}


class PanicInput(Strict):
    id: Name
    device: Name
    channel: int = Field(ge=0, le=255)
    # panic: starts `scenario`; fault: raises the named fault while active (an
    # amplifier's fault contact, a UPS on battery or with a low battery, a tamper switch).
    kind: Literal["panic", "fault"] = "panic"
    fault: Literal["amplifier", "ups_on_battery", "ups_battery_low", "tamper", "other"] = "other"
    contact: Literal["normally_open", "normally_closed"] = "normally_open"
    debounce: float = Field(default=0.03, ge=0, le=5)
    scenario: Name | None = None
    latching: bool = True
    zones: list[Name] | None = None
    title: str = ""
    # Supervised inputs (on a modbus-analog device): what each reading means.
    eol: EndOfLine | None = None


class Lane(Strict):
    """An audio lane: one announcement at a time, on its own sound output (or on its
    own channels of a multichannel output shared with other lanes). Lanes play at the
    same time: the office hears the staff message while the hall hears the public one."""

    # The sound output (device name or index); by default the [audio] output.
    output: str | int | None = None
    # Channels of that output (by default [audio] channels).
    channels: int | None = Field(default=None, ge=1, le=64)
    # Amplifier outputs that must be on for this lane to be heard (by default every
    # output of kind "amplifier").
    amplifiers: list[Name] | None = None
    title: str = ""


class Audio(Strict):
    output: str | int = "default"
    sample_rate: int = Field(default=22050, ge=8000, le=96000)
    # A multichannel card feeds each zone's amplifier from its own channel.
    channels: int = Field(default=1, ge=1, le=64)
    level_db: float = Field(default=-3.0, ge=-60, le=0)
    voices: dict[Language, str] = Field(default_factory=lambda: {"kk": "auto", "ru": "auto"})
    cache_dir: str = ".dabyl/cache"
    wav_dir: str = ".dabyl/wav"
    # 1.0 paces the WAV sink like a sound card; 0 writes as fast as possible (tests).
    wav_pace: float = Field(default=1.0, ge=0, le=100)
    # The WAV folder keeps at most this many megabytes (oldest files go first).
    wav_keep_mb: float = Field(default=200.0, gt=0, le=100000)
    pause: float = Field(default=0.8, ge=0, le=10)
    # Sound starts when a lane's zone and amplifier relays are acknowledged, or after
    # this many seconds with a fault (a loudspeaker left off is a silent alarm).
    relay_wait: float = Field(default=0.5, ge=0, le=5)
    # Lanes besides "main" (which always exists and plays on `output`).
    lanes: dict[Name, Lane] = Field(default_factory=dict)


class Drill(Strict):
    suppress_outputs: list[Name] = Field(default_factory=list)


class Engine(Strict):
    hold_automatic_evacuation_during_lockdown: bool = True


class ScheduleEntry(Strict):
    id: Name
    cron: str = Field(min_length=9, max_length=200)
    action: Literal["drill", "selftest", "reminder"] = "drill"
    scenario: Name | None = None
    zones: list[Name] | None = None
    parameters: dict[str, str] = Field(default_factory=dict)
    text: str = ""


class Control(Strict):
    socket: str = Field(default=".dabyl/dabyl.sock", min_length=1)
    journal: str = Field(default=".dabyl/journal.sqlite", min_length=1)
    # The journal's signing key: outside the journal's directory, so whoever can write
    # the journal files cannot sign them (created at first start, mode 0600).
    key: str = ".dabyl-key/journal.key"
    # The journal goes on in a new segment when the live one reaches this size (and at
    # the turn of each year); a start reads only the live segment.
    journal_segment_mb: float = Field(default=16.0, ge=0.01, le=4096)
    # The operators' group: its members may use the control socket (and read the journal).
    group: str | None = Field(default=None, min_length=1, max_length=32)
    # Connections at once; at the cap the one idle longest makes room.
    max_clients: int = Field(default=64, ge=4, le=1024)
    # Seconds a client may take to finish a request line it has begun.
    line_timeout: float = Field(default=5.0, gt=0, le=60)


class CodePhrase(Strict):
    """A neutral phrase agreed with staff in advance, spoken in staff zones instead of
    plain words for a covert scenario (hostage)."""

    kk: str = Field(min_length=1)
    ru: str = Field(min_length=1)


class Config(Strict):
    site: Site
    scenarios: str = "scenarios"
    devices: list[Device] = Field(default_factory=list)
    outputs: dict[Name, Output] = Field(default_factory=dict)
    zones: dict[Name, Zone] = Field(default_factory=dict)
    inputs: list[PanicInput] = Field(default_factory=list)
    audio: Audio = Audio()
    drill: Drill = Drill()
    engine: Engine = Engine()
    schedule: list[ScheduleEntry] = Field(default_factory=list)
    control: Control = Control()
    # Scenario id -> code phrase; a covert scenario without one speaks nothing.
    code_phrases: dict[Name, CodePhrase] = Field(default_factory=dict)

    # Set by load_config: the file, and where relative paths are anchored.
    base_dir: Path = Path(".")
    source: Path = Path("config.toml")

    def path(self, relative: str) -> Path:
        """A config path resolved against the config file's directory."""
        p = Path(os.path.expanduser(relative))
        return p if p.is_absolute() else self.base_dir / p

    @property
    def voices_dir(self) -> Path:
        """Where Piper voices are looked for (beside the audio cache)."""
        return self.path(self.audio.cache_dir).parent / "voices"

    @property
    def scenarios_dir(self) -> Path:
        return self.path(self.scenarios)

    def lanes(self) -> dict[str, Lane]:
        """Every audio lane: "main" and those configured."""
        return {"main": Lane(), **self.audio.lanes}

    def lane_output(self, lane: str) -> str | int:
        configured = self.lanes()[lane].output
        return self.audio.output if configured is None else configured

    def output_channels(self, output: str | int) -> int:
        """Channels of a sound output: the largest any lane on it asks for."""
        counts = [lane.channels or self.audio.channels for name, lane in self.lanes().items()
                  if self.lane_output(name) == output]
        return max(counts or [self.audio.channels])

    def lane_amplifiers(self, lane: str) -> list[str]:
        chosen = self.lanes()[lane].amplifiers
        if chosen is not None:
            return list(chosen)
        return [n for n, o in self.outputs.items() if o.kind == "amplifier"]

    def staff_zones(self) -> list[str]:
        return [name for name, zone in self.zones.items() if zone.staff]

    def public_zones(self) -> list[str]:
        return [name for name, zone in self.zones.items() if not zone.staff]

    def device(self, device_id: str) -> Device:
        return next(d for d in self.devices if d.id == device_id)


SERVICE_CONFIG = Path("/etc/dabyl/config.toml")


def default_config_path() -> Path:
    """$DABYL_CONFIG, else ./config.toml, else the service's /etc/dabyl/config.toml."""
    if "DABYL_CONFIG" in os.environ:
        return Path(os.environ["DABYL_CONFIG"])
    here = Path("config.toml")
    return SERVICE_CONFIG if not here.exists() and SERVICE_CONFIG.exists() else here


def format_pydantic(source: str, error: ValidationError, prefix: tuple = ()) -> list[str]:
    """One line per problem: `file: key.path: reason`."""
    lines = []
    for item in error.errors():
        loc = ".".join(_loc_part(p) for p in (*prefix, *item["loc"])).replace(".[", "[")
        msg = item["msg"]
        if item["type"] == "extra_forbidden":
            msg = "unknown key"
        elif item["type"] == "missing":
            msg = "required key is missing"
        lines.append(f"{source}: {loc or '(top level)'}: {msg}")
    return lines


def _loc_part(part: object) -> str:
    return f"[{part}]" if isinstance(part, int) else str(part)


def read_toml(path: Path) -> dict:
    """Read a TOML file or raise ConfigurationError with one clear line."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigurationError([f"{path}: file not found"]) from None
    except IsADirectoryError:
        raise ConfigurationError([f"{path}: is a directory, not a file"]) from None
    except PermissionError:
        raise ConfigurationError([f"{path}: permission denied"]) from None
    except OSError as exc:  # a symlink loop, an I/O error: the file cannot be read
        raise ConfigurationError([f"{path}: cannot be read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigurationError([f"{path}: not UTF-8 text ({exc.reason})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError([f"{path}: TOML syntax error: {exc}"]) from None


def load_config(path: Path | str | None = None, *, source: Path | None = None) -> Config:
    """Load and validate config.toml (both passes). Scenario checks live in `site`.

    `source` is the file this one is a copy of (the last good copy): its paths are
    anchored where the original lives."""
    path = Path(path) if path is not None else default_config_path()
    data = read_toml(path)
    data.pop("base_dir", None)
    data.pop("source", None)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(format_pydantic(str(path), exc)) from None
    original = (source or path).resolve()
    config = config.model_copy(update={"base_dir": original.parent, "source": original})
    problems = cross_check(config, str(path))
    if problems:
        raise ConfigurationError(problems)
    return config


def _overlaps(eol: EndOfLine) -> list[str]:
    ranges = sorted((low, high, state) for state, (low, high) in eol.ranges().items())
    return [f"{a} and {b} overlap ({a_high} ≥ {b_low})"
            for (_, a_high, a), (b_low, _, b) in zip(ranges, ranges[1:], strict=False)
            if a_high >= b_low]


def cross_check(config: Config, source: str) -> list[str]:
    """Pass two: references between items and duplicates."""
    problems: list[str] = []
    devices = {}
    for i, device in enumerate(config.devices):
        if device.id in devices:
            problems.append(f"{source}: devices[{i}].id: duplicate device id {device.id!r}")
        devices[device.id] = device
    endpoints: dict[tuple, str] = {}
    for i, device in enumerate(config.devices):
        if device.transport == "tcp":
            key = ("tcp", device.host, device.port, device.unit)
        else:
            key = ("serial", str(device.port), device.unit)
        if key in endpoints:
            problems.append(
                f"{source}: devices[{i}]: same bus address as device {endpoints[key]!r}"
            )
        endpoints.setdefault(key, device.id)
        if device.transport == "tcp" and not isinstance(device.port, int):
            problems.append(f"{source}: devices[{i}].port: TCP transport needs a port number")
        if device.transport == "serial" and not isinstance(device.port, str):
            problems.append(f"{source}: devices[{i}].port: serial transport needs a device path")

    used: dict[tuple[str, int], str] = {}
    for name, output in config.outputs.items():
        where = f"{source}: outputs.{name}"
        device = devices.get(output.device)
        if device is None:
            problems.append(f"{where}.device: unknown device {output.device!r}")
            continue
        if output.channel >= device.channels:
            problems.append(
                f"{where}.channel: channel {output.channel} does not exist on "
                f"{device.id!r} ({device.channels} channels)"
            )
        key = (output.device, output.channel)
        if key in used:
            problems.append(
                f"{where}.channel: {output.device} channel {output.channel} "
                f"is already used by output {used[key]!r}"
            )
        used.setdefault(key, name)

    lanes = config.lanes()
    channel_users: dict[tuple[str, int], str] = {}
    for name, zone in config.zones.items():
        for j, out in enumerate(zone.outputs):
            if out not in config.outputs:
                problems.append(f"{source}: zones.{name}.outputs[{j}]: unknown output {out!r}")
        if zone.lane not in lanes:
            problems.append(f"{source}: zones.{name}.lane: unknown lane {zone.lane!r} "
                            f"(lanes: {', '.join(lanes)})")
            continue
        output = config.lane_output(zone.lane)
        channels = config.output_channels(output)
        if zone.audio_channel >= channels:
            problems.append(
                f"{source}: zones.{name}.audio_channel: channel {zone.audio_channel} does not "
                f"exist (the sound output of lane {zone.lane!r} has {channels})"
            )
        key = (str(output), zone.audio_channel)
        other = channel_users.setdefault(key, zone.lane)
        if other != zone.lane:
            problems.append(
                f"{source}: zones.{name}.audio_channel: channel {zone.audio_channel} of "
                f"{output!r} already carries lane {other!r}; lanes sharing an output need "
                "channels of their own"
            )
    for lane_name, lane in config.audio.lanes.items():
        for j, out in enumerate(lane.amplifiers or []):
            if out not in config.outputs:
                problems.append(f"{source}: audio.lanes.{lane_name}.amplifiers[{j}]: "
                                f"unknown output {out!r}")
    if not config.zones:
        problems.append(f"{source}: zones: at least one zone is needed")

    inputs_used: dict[tuple[str, int], str] = {}
    seen_inputs: set[str] = set()
    for i, inp in enumerate(config.inputs):
        where = f"{source}: inputs[{i}]"
        if inp.id in seen_inputs:
            problems.append(f"{where}.id: duplicate input id {inp.id!r}")
        seen_inputs.add(inp.id)
        if inp.kind == "panic" and not inp.scenario:
            problems.append(f"{where}.scenario: a panic input needs a scenario")
        if inp.kind == "fault" and inp.scenario:
            problems.append(f"{where}.scenario: a fault input raises a fault, it starts no "
                            "scenario")
        if inp.eol is not None:
            problems += [f"{where}.eol: {p}" for p in _overlaps(inp.eol)]
        device = devices.get(inp.device)
        if device is None:
            problems.append(f"{where}.device: unknown device {inp.device!r}")
        elif (device.driver == "modbus-analog") != (inp.eol is not None):
            problems.append(
                f"{where}.eol: " + ("an input on an analog module needs its eol ranges"
                                    if inp.eol is None else
                                    f"only inputs on a modbus-analog device are supervised "
                                    f"({device.id!r} is {device.driver})"))
        elif inp.channel >= device.inputs:
            problems.append(
                f"{where}.channel: input {inp.channel} does not exist on "
                f"{device.id!r} ({device.inputs} inputs)"
            )
        key = (inp.device, inp.channel)
        if key in inputs_used:
            problems.append(
                f"{where}.channel: {inp.device} input {inp.channel} is already used "
                f"by input {inputs_used[key]!r}"
            )
        inputs_used.setdefault(key, inp.id)
        for j, zone in enumerate(inp.zones or []):
            if zone not in config.zones:
                problems.append(f"{where}.zones[{j}]: unknown zone {zone!r}")

    journal, key = config.path(config.control.journal), config.path(config.control.key)
    if key.resolve().parent == journal.resolve().parent:
        problems.append(f"{source}: control.key: the signing key must not lie in the "
                        f"journal's directory {journal.parent}")
    for j, out in enumerate(config.drill.suppress_outputs):
        if out not in config.outputs:
            problems.append(f"{source}: drill.suppress_outputs[{j}]: unknown output {out!r}")

    ids = set()
    for i, entry in enumerate(config.schedule):
        where = f"{source}: schedule[{i}]"
        if entry.id in ids:
            problems.append(f"{where}.id: duplicate schedule id {entry.id!r}")
        ids.add(entry.id)
        if entry.action == "drill" and not entry.scenario:
            problems.append(f"{where}.scenario: a drill needs a scenario")
        for j, zone in enumerate(entry.zones or []):
            if zone not in config.zones:
                problems.append(f"{where}.zones[{j}]: unknown zone {zone!r}")
        from controller.schedule import cron_trigger

        try:
            cron_trigger(entry.cron, config.site.timezone)
        except (ValueError, TypeError, KeyError) as exc:
            problems.append(f"{where}.cron: {exc}")
    return problems
