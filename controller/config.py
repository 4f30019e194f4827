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
    audio_channel: int = Field(default=0, ge=0, le=63)
    title: str = ""


class PanicInput(Strict):
    id: Name
    device: Name
    channel: int = Field(ge=0, le=255)
    contact: Literal["normally_open", "normally_closed"] = "normally_open"
    debounce: float = Field(default=0.03, ge=0, le=5)
    scenario: Name
    latching: bool = True
    zones: list[Name] | None = None
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
    pause: float = Field(default=0.8, ge=0, le=10)


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
    socket: str = ".dabyl/dabyl.sock"
    journal: str = ".dabyl/journal.sqlite"


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

    def staff_zones(self) -> list[str]:
        return [name for name, zone in self.zones.items() if zone.staff]

    def public_zones(self) -> list[str]:
        return [name for name, zone in self.zones.items() if not zone.staff]

    def device(self, device_id: str) -> Device:
        return next(d for d in self.devices if d.id == device_id)


def default_config_path() -> Path:
    return Path(os.environ.get("DABYL_CONFIG", "config.toml"))


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
    except UnicodeDecodeError as exc:
        raise ConfigurationError([f"{path}: not UTF-8 text ({exc.reason})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError([f"{path}: TOML syntax error: {exc}"]) from None


def load_config(path: Path | str | None = None) -> Config:
    """Load and validate config.toml (both passes). Scenario checks live in `site`."""
    path = Path(path) if path is not None else default_config_path()
    data = read_toml(path)
    data.pop("base_dir", None)
    data.pop("source", None)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(format_pydantic(str(path), exc)) from None
    config = config.model_copy(update={"base_dir": path.resolve().parent,
                                       "source": path.resolve()})
    problems = cross_check(config, str(path))
    if problems:
        raise ConfigurationError(problems)
    return config


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

    for name, zone in config.zones.items():
        if zone.audio_channel >= config.audio.channels:
            problems.append(
                f"{source}: zones.{name}.audio_channel: channel {zone.audio_channel} does not "
                f"exist (audio.channels = {config.audio.channels})"
            )
        for j, out in enumerate(zone.outputs):
            if out not in config.outputs:
                problems.append(f"{source}: zones.{name}.outputs[{j}]: unknown output {out!r}")
    if not config.zones:
        problems.append(f"{source}: zones: at least one zone is needed")

    inputs_used: dict[tuple[str, int], str] = {}
    seen_inputs: set[str] = set()
    for i, inp in enumerate(config.inputs):
        where = f"{source}: inputs[{i}]"
        if inp.id in seen_inputs:
            problems.append(f"{where}.id: duplicate input id {inp.id!r}")
        seen_inputs.add(inp.id)
        device = devices.get(inp.device)
        if device is None:
            problems.append(f"{where}.device: unknown device {inp.device!r}")
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
        except ValueError as exc:
            problems.append(f"{where}.cron: {exc}")
    return problems
