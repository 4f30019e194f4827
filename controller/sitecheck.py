"""Everything `serve` relies on, checked before it touches anything.

`load_site` is the one validation: `dabyl check`, `dabyl serve`, `dabyl reload` and the
watcher of a running controller all use it, so a site that passes `check` starts.
Beyond the models' own two passes it looks at what the files meet on this machine:
the socket's path and directory, the journal, the audio folders, the operators'
group, and the drivers' own rules (a board constructed and let go, as `serve` will).

`serve` keeps a copy of the last site that passed (config and scenarios) in the
state folder. When the files are broken at a start, it runs on that copy and raises
a fault naming every problem: a typo never costs a resumed alarm or the panic inputs.
"""

from __future__ import annotations

import grp
import os
import shutil
import socket
import stat
from pathlib import Path

from controller.config import Config, load_config
from controller.errors import ConfigurationError
from controller.scenarios import Library, load_library

SOCKET_PATH_MAX = 107  # sun_path holds 108 bytes with its terminating NUL


def load_site(path: Path | str | None) -> tuple[Config, Library]:
    """Config, scenarios and the machine they meet; ConfigurationError lists every problem."""
    config = load_config(path)
    library = load_library(config.scenarios_dir, config)
    problems = site_problems(config)
    if problems:
        raise ConfigurationError(problems)
    return config, library


def site_problems(config: Config) -> list[str]:
    src = str(config.source)
    problems: list[str] = []
    control = config.control
    sock = config.path(control.socket)
    scenario_files = {p.resolve() for p in config.scenarios_dir.glob("*.toml")}
    size = len(os.fsencode(str(sock)))
    if size > SOCKET_PATH_MAX:
        problems.append(f"{src}: control.socket: the path is {size} bytes; a socket path "
                        f"may have at most {SOCKET_PATH_MAX}")
    if os.path.lexists(sock) and not stat.S_ISSOCK(sock.lstat().st_mode):
        what = "the journal" if sock == config.path(control.journal) else \
            "the config" if sock.resolve() == config.source else \
            "a scenario file" if sock.resolve() in scenario_files else _kind(sock)
        problems.append(f"{src}: control.socket: {sock} is not a socket ({what}); "
                        "name a socket or a new path")
    problems += _folder(src, "control.socket", sock.parent)
    if sock.parent.is_dir() and sock.parent.stat().st_mode & (stat.S_IWOTH | stat.S_ISVTX):
        problems.append(f"{src}: control.socket: every user may write in {sock.parent}; "
                        "give the socket a directory of its own")
    journal = config.path(control.journal)
    if os.path.lexists(journal) and not journal.is_file():
        problems.append(f"{src}: control.journal: {journal} is not a file ({_kind(journal)})")
    problems += _folder(src, "control.journal", journal.parent)
    if control.group is not None:
        try:
            grp.getgrnam(control.group)
        except KeyError:
            problems.append(f"{src}: control.group: no group {control.group!r} on this machine")
    for key in ("cache_dir", "wav_dir"):
        problems += _folder(src, f"audio.{key}", config.path(getattr(config.audio, key)))
    problems += _device_problems(config, src)
    return problems


def _kind(path: Path) -> str:
    if path.is_dir():
        return "a directory"
    if path.is_file():
        return "a file"
    return "something else"


def _folder(src: str, key: str, folder: Path) -> list[str]:
    """A folder dabyl writes in: it is one, or can be made, and can be written."""
    existing = folder
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return [f"{src}: {key}: {existing} is {_kind(existing)}, not a directory"]
    if not os.access(existing, os.W_OK | os.X_OK):
        return [f"{src}: {key}: {existing} cannot be written by this user"]
    return []


def _device_problems(config: Config, src: str) -> list[str]:
    from controller.devices import settings_for
    from drivers import create_board
    from drivers.errors import DeviceConfigError

    problems: list[str] = []
    lines: dict[str, tuple[int, str, str]] = {}
    for i, device in enumerate(config.devices):
        where = f"{src}: devices[{i}]"
        if device.transport == "serial":
            line = str(device.port)
            speed = (device.baudrate, device.parity, device.id)
            first = lines.setdefault(line, speed)
            if first[:2] != speed[:2]:
                problems.append(
                    f"{where}: {device.id} and {first[2]} share the line {line} and must share "
                    f"its speed ({first[0]} {first[1]} vs {speed[0]} {speed[1]})")
                continue
        try:
            board = create_board(settings_for(device))
        except DeviceConfigError as exc:
            problems.append(f"{where}.driver: {exc}")
            continue
        board._release()  # constructed to hear its rules, not to be used
        if (device.simulate or device.driver == "simulator") and device.transport == "tcp":
            try:
                socket.getaddrinfo(device.host, None)
            except (OSError, UnicodeError) as exc:
                problems.append(f"{where}.host: the simulated board cannot listen on "
                                f"{device.host!r}: it does not resolve ({exc})")
    return problems


# -- the last good site ---------------------------------------------------------------

def last_good_dir(source: Path) -> Path:
    """Where the last good copy of this config lives: the service's state folder, or
    `.dabyl/` beside the config (the demo's own state folder)."""
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    base = Path(state) if state else source.parent / ".dabyl"
    return base / "last-good" / source.name


def save_last_good(config: Config) -> None:
    """Keep a copy of a site that passed, replacing the previous copy in one step."""
    target = last_good_dir(config.source)
    fresh = target.with_name(target.name + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    (fresh / "scenarios").mkdir(parents=True)
    shutil.copy2(config.source, fresh / "config.toml")
    for path in config.scenarios_dir.glob("*.toml"):
        shutil.copy2(path, fresh / "scenarios" / path.name)
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    fresh.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def load_last_good(source: Path) -> tuple[Config, Library] | None:
    """The last good copy, validated again against this machine; None if there is none
    or it no longer passes."""
    copy = last_good_dir(source)
    if not (copy / "config.toml").is_file():
        return None
    try:
        config = load_config(copy / "config.toml", source=source)
        config = config.model_copy(update={"scenarios": str(copy / "scenarios")})
        library = load_library(config.scenarios_dir, config)
    except ConfigurationError:
        return None
    if site_problems(config):
        return None
    return config, library


def load_for_start(path: Path | str | None) -> tuple[Config, Library, list[str]]:
    """The site `serve` runs: the files if they pass, else the last good copy and the
    files' problems (which become a fault). Raises when neither can run."""
    from controller.config import default_config_path

    source = Path(path) if path is not None else default_config_path()
    try:
        config, library = load_site(source)
        return config, library, []
    except ConfigurationError as exc:
        fallback = load_last_good(source.resolve())
        if fallback is None:
            raise
        return fallback[0], fallback[1], exc.problems
