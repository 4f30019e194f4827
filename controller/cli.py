"""The `dabyl` command. Errors are one clear line; exit codes mean something:

0 done · 1 refused or failed · 2 bad usage, config or scenarios · 3 no controller.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from controller.config import Config, default_config_path, load_config
from controller.errors import ConfigurationError, ConnectionFailed, DabylError, RequestInvalid
from controller.scenarios import load_library

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_CONTROLLER = 0, 1, 2, 3


def _whole(low: int, high: int | None = None):
    """An argparse type: a whole number in a sane range, refused at parse time."""
    return _in_range(int, "a whole number", low, high)


def _number(low: float, high: float):
    return _in_range(float, "a number", low, high)


def _in_range(kind, words: str, low, high):
    span = f"from {low:g} to {high:g}" if high is not None else f"of at least {low:g}"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or value != value or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{text!r} is not {words} {span}")
        return value

    parse.__name__ = words  # what argparse names in its own complaint
    return parse


def _limits(model, field: str) -> tuple[Any, Any]:
    """The range the control API accepts for a request field: the command line refuses
    the same numbers before it asks, with the same bounds (one place says them)."""
    low = high = None
    for rule in model.model_fields[field].metadata:
        low = getattr(rule, "ge", low)
        high = getattr(rule, "le", high)
    return low, high


def _config(args: argparse.Namespace) -> Config:
    return load_config(args.config)


def _socket(args: argparse.Namespace) -> Path:
    config = _config(args)
    return config.path(config.control.socket)


def _client(args: argparse.Namespace):
    from controller.client import Client

    return Client(_socket(args))


def _local_time(ts: str, tz: str) -> str:
    from datetime import datetime

    try:
        return datetime.fromisoformat(ts).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return ts


# -- controller ----------------------------------------------------------------------

def _run_controller(args: argparse.Namespace) -> int:
    """`dabyl serve`: the controller, until SIGTERM or SIGINT."""
    from controller.runtime import Controller

    # Whatever the controller creates (journal, head, spill, WAV files, cache) is for
    # it and its operators' group only, whatever umask it was started with.
    os.umask(os.umask(0o027) | 0o027)

    controller = Controller.from_path(args.config)
    _setup_logging(controller.config)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await controller.start()
        print(f"dabyl: controller running for {controller.config.site.name}; "
              f"socket {controller.server.path}", file=sys.stderr, flush=True)
        _say_ready()
        try:
            await stop.wait()
        finally:
            await controller.stop()

    asyncio.run(main())
    if controller.journal_lost:
        print(f"dabyl: {controller.journal_lost} journal rows could be written neither to the "
              "journal nor to its spill file and are lost", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


READY_FD = "DABYL_READY_FD"


def _say_ready() -> None:
    """Tell the `dabyl run` that started this controller that it listens."""
    fd = os.environ.pop(READY_FD, None)
    if fd is None:
        return
    try:
        os.write(int(fd), b"ready\n")
        os.close(int(fd))
    except (OSError, ValueError):
        pass


def _frontend():
    """The terminal UI, found as a plug-in so the core never depends on it."""
    from importlib.metadata import entry_points

    for ep in entry_points(group="dabyl.frontends", name="tui"):
        try:
            return ep.load()
        except ImportError:
            return None
    return None


def _setup_logging(config: Config) -> None:
    """Diagnostics for the installer, on stderr: the journal of systemd, or the log
    file `dabyl run` gives the controller it starts."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("dabyl")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False


def _controller_answers(sock: Path) -> bool:
    from controller.client import Client

    try:
        with Client(sock, timeout=2.0) as client:
            client.request("ping")
        return True
    except DabylError:
        return False


class ControllerProcess:
    """A `dabyl serve` that `dabyl run` started: its own process and session, so the
    console can come and go (and a closed terminal never takes the controller with
    it); its diagnostics go to dabyl.log beside the journal."""

    def __init__(self, config: Config, config_path: Path) -> None:
        import subprocess

        self.log = config.path(config.control.journal).with_name("dabyl.log")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        read, write = os.pipe()
        env = dict(os.environ, **{READY_FD: str(write)})
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "controller.cli", "--config", str(config_path), "serve"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, pass_fds=(write,),
                start_new_session=True)
        os.close(write)
        self._ready = read

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = 120.0) -> bool:
        """True once the controller listens; False if it ended first."""
        import select

        try:
            if not select.select([self._ready], [], [], timeout)[0]:
                return False
            return os.read(self._ready, 16).startswith(b"ready")
        finally:
            os.close(self._ready)

    def why(self) -> str:
        try:
            lines = [line for line in self.log.read_text(errors="replace").splitlines()
                     if line.strip()]
        except OSError:
            lines = []
        return lines[-1].removeprefix("dabyl: ") if lines else f"see {self.log}"

    def stop(self, timeout: float = 30.0) -> None:
        import subprocess

        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _find_or_start(args: argparse.Namespace) -> tuple[Config, ControllerProcess | None]:
    """The controller of this config: the running one, or a new `dabyl serve`."""
    config = _config(args)
    load_library(config.scenarios_dir, config)  # a broken scenario is one line here
    sock = config.path(config.control.socket)
    if _controller_answers(sock):
        return config, None
    path = Path(args.config or default_config_path()).resolve()
    process = ControllerProcess(config, path)
    if process.wait_ready():
        return config, process
    process.stop()
    if _controller_answers(sock):  # another `dabyl run` started it meanwhile
        return config, None
    raise DabylError(f"the controller did not start: {process.why()}")


def cmd_serve(args: argparse.Namespace) -> int:
    return _run_controller(args)


def cmd_run(args: argparse.Namespace) -> int:
    """The controller in its own process (started here, or found running) and the
    console attached to it; SIGTERM or SIGINT end both."""
    run_ui = _frontend() if sys.stdout.isatty() and sys.stdin.isatty() else None
    config, process = _find_or_start(args)
    sock = config.path(config.control.socket)
    if process is not None:
        print(f"dabyl: controller started for {config.site.name} (pid {process.pid}); "
              f"log {process.log}", file=sys.stderr)

    async def main() -> str | None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if run_ui is not None:
            return await run_ui(sock, stop, owned=process is not None)
        await _print_events(sock, stop, config.site.timezone)
        return "signal"

    try:
        answer = asyncio.run(main())
    except BaseException:
        if process is not None and process.proc.poll() is None:
            _say_still_running(process, args)
        raise
    if process is not None:
        if answer in ("stop", "signal"):
            process.stop()
        else:
            _say_still_running(process, args)
    return EXIT_OK


def _say_still_running(process: ControllerProcess, args: argparse.Namespace) -> None:
    where = f" --config {args.config}" if args.config else ""
    print(f"dabyl: the controller keeps running (pid {process.pid}). Attach again with "
          f"`dabyl tui{where}` (or `make run`); stop it with `kill {process.pid}`.",
          file=sys.stderr)


async def _print_events(sock: Path, stop: asyncio.Event, tz: str) -> None:
    """Without a terminal: the event stream, one line each, until stopped."""
    from controller.client import AsyncClient

    client = AsyncClient(sock)
    await client.connect()
    stream = client.stream()
    waiter = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            getter = asyncio.ensure_future(anext(stream))
            done, _ = await asyncio.wait({getter, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            event = getter.result()
            if event.get("kind") == "disconnected":
                break
            print(_event_line(event, tz), flush=True)
    finally:
        waiter.cancel()
        await client.close()


def _event_line(event: dict[str, Any], tz: str) -> str:
    skip = {"ts", "kind", "activation"}
    details = " ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in event.items()
                       if k not in skip)
    act = f" [{event['activation']}]" if event.get("activation") else ""
    return f"{_local_time(event['ts'], tz)} {event['kind']}{act} {details}".rstrip()


def cmd_tui(args: argparse.Namespace) -> int:
    run_ui = _frontend()
    if run_ui is None:
        print("dabyl: the terminal UI is not installed in this build", file=sys.stderr)
        return EXIT_FAILED

    sock = _socket(args)
    if not _controller_answers(sock):
        raise ConnectionFailed(f"no controller is running at {sock}; start `dabyl serve` "
                               "or `dabyl run`")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_ui(sock, stop)

    asyncio.run(main())
    return EXIT_OK


# -- requests --------------------------------------------------------------------------

def _durable(reply: dict[str, Any], code: int = EXIT_OK) -> int:
    """An action the controller did but could not journal is not a silent success."""
    if reply.get("journaled") is False:
        print(f"dabyl: warning: {reply.get('journal_warning') or 'not in the journal'}",
              file=sys.stderr)
        return EXIT_FAILED
    return code


def _params(pairs: list[str], option: str = "--param") -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or not value.strip():
            raise ConfigurationError([f"{option} {pair!r}: expected NAME=VALUE"])
        out[key.strip()] = value.strip()
    return out


def cmd_trigger(args: argparse.Namespace) -> int:
    fields: dict[str, Any] = {"scenario": args.scenario, "drill": args.drill,
                              "parameters": _params(args.param)}
    if args.zones is not None:
        fields["zones"] = [z.strip() for z in args.zones.split(",") if z.strip()]
        if not fields["zones"]:
            raise ConfigurationError(["--zones: name at least one zone (or leave it out for "
                                      "the scenario's own zones)"])
    with _client(args) as client:
        reply = client.request("trigger", **fields)
    print(reply["activation"])
    if reply.get("state") == "held":
        print("held: waiting for an operator to confirm (dabyl confirm ID)", file=sys.stderr)
    return _durable(reply)


def cmd_silence(args: argparse.Namespace) -> int:
    with _client(args) as client:
        reply = client.request("silence", activation=args.activation)
    print("silenced: " + (", ".join(reply["silenced"]) or "nothing"))
    return _durable(reply)


def cmd_clear(args: argparse.Namespace) -> int:
    if not args.activation and not args.all:
        print("dabyl: name an activation or use --all", file=sys.stderr)
        return EXIT_USAGE
    with _client(args) as client:
        reply = client.request("clear", activation=args.activation, all=args.all)
    print("cleared: " + (", ".join(reply["cleared"]) or "nothing"))
    return _durable(reply)


def cmd_confirm(args: argparse.Namespace) -> int:
    with _client(args) as client:
        reply = client.request(args.command, activation=args.activation)
    print(f"{ {'confirm': 'confirmed', 'decline': 'declined'}[args.command]}: {args.activation}")
    return _durable(reply)


def cmd_form(args: argparse.Namespace) -> int:
    """The caller form of an open alarm (the phone threat): fill in answers with --set,
    or, without, show its fields and the answers so far, in the reader's language (a
    choice is set by its id or its words in either language; the controller keeps the id)."""
    answers = _params(args.answers, "--set")
    with _client(args) as client:
        if answers:
            client.request("form", activation=args.activation, answers=answers)
            print(f"saved: {', '.join(answers)}")
            return EXIT_OK
        status = client.request("status")["status"]
        act = next((a for a in status["activations"] if a["id"] == args.activation), None)
        if act is None:
            raise DabylError(f"no open activation {args.activation!r}")
        scenarios = {s["id"]: s for s in client.request("scenarios")["scenarios"]}
    fields = scenarios.get(act["scenario"], {}).get("form", [])
    if not fields:
        raise DabylError(f"{act['scenario']!r} has no form")
    from controller.scenarios import FormField

    if args.lang is None:  # the site's console language (kk or ru; English sites read ru)
        ui = _config(args).site.ui_language
        args.lang = ui if ui in ("kk", "ru") else "ru"
    for field in map(FormField.model_validate, fields):
        words = field.choices[args.lang] if field.choices else []
        pairs = zip(field.ids(), words, strict=True)
        choices = "  [" + " | ".join(f"{i}: {w}" for i, w in pairs) + "]" if words else ""
        answer = act.get("answers", {}).get(field.id, "")
        print(f"{field.id:<16} {field.title[args.lang]}{choices}")
        if answer:
            print(f"{'':<16} = {field.shown(answer, args.lang)}")
    print(f"fill in: dabyl form {args.activation} --set FIELD=ANSWER …")
    return EXIT_OK


def cmd_ack(args: argparse.Namespace) -> int:
    with _client(args) as client:
        reply = client.request("ack", fault=args.fault)
    print(f"acknowledged: {args.fault}")
    return _durable(reply)


def cmd_init(args: argparse.Namespace) -> int:
    from controller.siteinit import init_site

    config = init_site(Path(args.directory), service=args.service, group=args.group)
    print(f"wrote {config} and {config.parent / 'scenarios'}")
    print(f"next: dabyl check --config {config}")
    return EXIT_OK


def cmd_backup(args: argparse.Namespace) -> int:
    from controller.backup import backup

    config = _config(args)
    for line in backup(config, Path(args.out)):
        print(line)
    return EXIT_OK


def cmd_service(args: argparse.Namespace) -> int:
    from controller.systemd import unit_text

    config = Path(args.config or "/etc/dabyl/config.toml").absolute()
    unit_dir = Path(args.unit_dir)
    unit_dir.mkdir(parents=True, exist_ok=True)
    unit = unit_dir / "dabyl.service"
    unit.write_text(unit_text(config, args.user, args.group))
    print(f"wrote {unit}")
    print("then, as root (README, \"Running as a service\"):")
    print(f"  useradd --system --user-group --home-dir /var/lib/dabyl --shell /usr/sbin/nologin "
          f"{args.user}")
    print(f"  groupadd --system {args.group}    # and: usermod -aG {args.group} OPERATOR")
    print(f"  dabyl init {config.parent} --service    # unless the site is there already")
    print("  systemctl daemon-reload && systemctl enable --now dabyl")
    return EXIT_OK


def cmd_reload(args: argparse.Namespace) -> int:
    with _client(args) as client:
        reply = client.request("reload")
    print(f"reloaded: {reply['scenarios']} scenarios; "
          f"{reply['open_activations']} open activation(s) go on")
    return EXIT_OK


def cmd_press(args: argparse.Namespace) -> int:
    with _client(args) as client:
        client.request("press", input=args.input, hold=args.hold)
    print(f"pressed: {args.input}")
    return EXIT_OK


def cmd_selftest(args: argparse.Namespace) -> int:
    with _client(args) as client:
        results = client.request("selftest")["results"]
    for r in results:
        mark = "ok  " if r["ok"] else "FAIL"
        both = ""
        if "wanted" in r:  # an output: the engine's wish beside what the board reports
            board = {True: "on", False: "off", None: "cannot report"}[r.get("reported")]
            both = f"  [wanted {'on' if r['wanted'] else 'off'}, board {board}]"
        print(f"{mark} {r['device']:<10} {r['kind']:<7} {r['name']:<18} {r['channel']:>3}  "
              f"{r['detail']}{both}")
    failed = sum(not r["ok"] for r in results)
    print(f"{len(results)} checked, {failed} failed")
    return EXIT_FAILED if failed else EXIT_OK


def cmd_simulate(args: argparse.Namespace) -> int:
    """Run the config's simulated devices on their own (for a separate controller)."""
    from drivers.simulator import PtyBridge, SimulatedBoard

    config = _config(args)
    devices = [d for d in config.devices if d.simulate or d.driver == "simulator"]
    if not devices:
        print("dabyl: no device in this config has simulate = true", file=sys.stderr)
        return EXIT_USAGE

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        boards, bridges = [], []
        for d in devices:
            if d.transport == "serial":
                bridge = PtyBridge()
                bridges.append(bridge)
                board = SimulatedBoard(unit=d.unit, coils=d.channels, inputs=d.inputs,
                                       serial_port=bridge.a_path, baudrate=d.baudrate,
                                       coil_offset=d.coil_offset, input_offset=d.input_offset)
                where = f"Modbus RTU at {bridge.b_path} ({d.baudrate} 8N1, unit {d.unit})"
            else:
                board = SimulatedBoard(unit=d.unit, coils=d.channels, inputs=d.inputs,
                                       host=d.host, port=int(d.port), coil_offset=d.coil_offset,
                                       input_offset=d.input_offset)
                where = f"Modbus TCP at {d.host}:{d.port} (unit {d.unit})"
            try:
                await board.start()
            except (OSError, RuntimeError) as exc:  # the port is taken (pymodbus: RuntimeError)
                raise DabylError(f"{d.id}: cannot simulate a board at {where}: {exc} (is a "
                                 "controller with simulate = true or another simulator "
                                 "running?)") from None
            boards.append(board)
            print(f"simulating {d.id}: {where}", flush=True)
        try:
            await stop.wait()
        finally:
            for board in boards:
                await board.stop()
            for bridge in bridges:
                bridge.close()

    asyncio.run(main())
    return EXIT_OK


def cmd_threat_level(args: argparse.Namespace) -> int:
    with _client(args) as client:
        reply = client.request("threat_level", level=args.level)
    print(f"threat level: {reply['level']}")
    if reply.get("selftest") is not None:
        failed = [r for r in reply["selftest"] if not r["ok"]]
        print(f"self-test of the notification system: {len(reply['selftest'])} checked, "
              f"{len(failed)} failed")
        for r in failed:
            print(f"FAIL {r['device']} {r['name']}: {r['detail']}")
    return _durable(reply)


def cmd_drill_record(args: argparse.Namespace) -> int:
    with _client(args) as client:
        reply = client.request("drill_record", activation=args.activation,
                               participants=args.participants, remarks=args.remarks,
                               correct=args.correct)
    corrects = reply.get("corrects")
    print(f"recorded: {args.activation}, {args.participants} participants"
          + (f" (a correction of the record of {corrects['participants']}; both stay in the "
             "journal, the documents show the correction)" if corrects else ""))
    return _durable(reply)


def cmd_briefing(args: argparse.Namespace) -> int:
    fields = {"person": args.person, "position": args.position, "kind": args.kind,
              "by": args.by}
    if args.date:
        fields["date"] = args.date
    with _client(args) as client:
        reply = client.request("briefing", **fields)
    print(f"briefing recorded: {args.person}")
    return _durable(reply)


def _library(config: Config):
    return load_library(config.scenarios_dir, config)


def _journal_path(config: Config) -> Path:
    return config.path(config.control.journal)


def cmd_report(args: argparse.Namespace) -> int:
    from controller.journal import JournalDamaged
    from controller.records import after_action, human_duration, may_switch, write_report

    config = _config(args)
    try:
        report = after_action(_journal_path(config), args.activation,
                              may_switch(config, _library(config)))
    except KeyError:
        raise DabylError(f"no activation {args.activation!r} in the journal") from None
    except JournalDamaged as exc:
        raise DabylError(f"the journal cannot be read: {exc}") from None
    if args.format in ("docx", "pdf") and not args.json:
        out = Path(args.out or f"report-{args.activation}.{args.format}")
        write_report(out, report, config, args.lang, args.format)
        print(f"wrote {out}")
        return EXIT_OK
    with _output(args.out):
        if args.json:
            print(json.dumps(report, ensure_ascii=False, indent=2))
        else:
            _report_text(report, config.site.timezone, human_duration)
    return EXIT_OK


@contextlib.contextmanager
def _output(out: str | None):
    """Standard output, or the file `--out` names (written whole, or not at all)."""
    if out is None:
        yield
        return
    path = Path(out)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        yield
    tmp = path.with_name(path.name + ".part")
    try:
        tmp.write_text(buffer.getvalue(), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise type(exc)(exc.errno, exc.strerror, str(path)) from None
    print(f"wrote {path}")


def _report_text(report: dict, tz: str, human_duration) -> None:
    kind = "drill" if report["drill"] else "REAL ALARM"
    print(f"{report['activation']}: {report['scenario']} ({kind}) from {report['source']}, "
          f"{_local_time(report['started'], tz)}")
    for name, value in report["key_times_s"].items():
        print(f"  {name.replace('_', ' ')}: {human_duration(value)}")
    if report["participants"] is not None:
        first = report.get("first_recorded")
        corrected = f" (corrected; first recorded: {first})" if first is not None else ""
        print(f"  participants: {report['participants']}{corrected}  "
              f"remarks: {report['remarks'] or '—'}")
    for row in report["timeline"]:
        print("  " + _event_line({**row, "activation": None}, tz))


def _date(text: str | None):
    from datetime import date

    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigurationError([f"{text!r}: expected a date as YYYY-MM-DD"]) from None


def cmd_schedule(args: argparse.Namespace) -> int:
    from controller.schedule import next_runs

    config = _config(args)
    if args.schedule_command == "export":
        from controller.records import write_annex3

        year = args.year or datetime_now_year(config)
        out = Path(args.out or f"annex3-{year}-{args.lang}.docx")
        count = write_annex3(out, config, _library(config), year, args.lang)
        print(f"wrote {out} and {out.with_suffix('.csv')}: {count} scheduled drills in {year}")
        return EXIT_OK
    runs = next_runs(config, args.count)
    if not runs:
        print("no schedule entries in the config")
    for entry in config.schedule:
        what = f"{entry.action} {entry.scenario or ''}".strip()
        times = ", ".join(t.strftime("%Y-%m-%d %H:%M %Z") for t in runs[entry.id]) or "never"
        print(f"{entry.id:<22} {what:<22} {entry.cron:<16} next: {times}")
    return EXIT_OK


def datetime_now_year(config: Config) -> int:
    from controller.records import now_local

    return now_local(config.site.timezone).year


def cmd_bench(args: argparse.Namespace) -> int:
    from controller import bench

    only = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
    if only:
        unknown = sorted(set(only) - set(bench.suite_names()))
        if unknown:
            raise ConfigurationError([f"--only: unknown suite {unknown[0]!r} "
                                      f"(suites: {', '.join(bench.suite_names())})"])
    print("dabyl bench: measuring (a few minutes)…", file=sys.stderr)
    report = bench.run(args.config, args.rounds, args.idle, only)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(bench.format_report(report))
    return EXIT_OK if report["within_target"] else EXIT_FAILED


def cmd_status(args: argparse.Namespace) -> int:
    with _client(args) as client:
        status = client.request("status")["status"]
    if args.json:
        print(json.dumps(status, ensure_ascii=False, indent=2))
        return EXIT_OK
    print(f"{status['site']}: {status['mode']}")
    for act in status["activations"]:
        flags = [act["state"]]
        if act["drill"]:
            flags.append("drill")
        if act["silenced"]:
            flags.append("silenced")
        if act["suspended"]:
            flags.append("suspended")
        print(f"  {act['id']}  {act['title']['ru']}  [{', '.join(flags)}]  "
              f"zones {','.join(act['zones'])}  from {act['source']}:{act['origin']}")
    for dev in status["devices"]:
        state = {True: "online", False: "LOST", None: "unknown"}[dev["online"]]
        print(f"  device {dev['id']} ({dev['driver']}{', simulated' if dev['simulated'] else ''}): {state}")
    for fault in status["faults"]:
        print(f"  FAULT {fault['key']}: {fault['message']}")
    on = [name for name, v in status["outputs"].items() if v["wanted"]]
    print(f"  outputs on: {', '.join(on) or 'none'}")
    for name, v in status["outputs"].items():
        # The engine's wish beside what the board itself reports.
        board = {True: "on", False: "off", None: "unknown"}[v["reported"]]
        wanted = "on" if v["wanted"] else "off"
        flag = "  NOT AS WISHED" if v["reported"] is not None and v["reported"] != v["wanted"] else ""
        print(f"  output {name:<16} wanted {wanted:<3}  board {board:<7}{flag}")
    return EXIT_OK


# -- offline tools ---------------------------------------------------------------------

def cmd_check(args: argparse.Namespace) -> int:
    from controller.sitecheck import load_site

    # The same validation `serve` makes before it touches anything.
    config, library = load_site(args.config)
    print(f"config: {args.config or default_config_path()}: ok")
    print(f"scenarios: {len(library.scenarios)} loaded from {config.scenarios_dir}")
    problems = 0
    for warning in library.warnings:
        print(f"warning: {warning}")
    from controller.announcer import site_voices

    for problem in library.speech_problems:
        print(f"error: {problem}")
        problems += 1
    for lang, choice in site_voices(config).items():
        print(f"voice {lang}: {choice.description}")
        for note in choice.notes:
            print(f"warning: voice {lang}: {note}")
        if choice.engine is None:
            problems += 1
        # espeak-ng ignores U+0301: prove from its phonemes that each marked word is
        # stressed where the mark says.
        stress_problems = getattr(choice.engine, "stress_problems", None)
        if stress_problems is not None:
            for source, text_lang, text in library.spoken_texts():
                if text_lang == lang:
                    for problem in stress_problems(text):
                        print(f"error: {source}: {problem}")
                        problems += 1
    problems += asyncio.run(_check_devices(config))
    return EXIT_FAILED if problems else EXIT_OK


async def _check_devices(config: Config) -> int:
    from controller.devices import settings_for
    from drivers import create_board
    from drivers.errors import DeviceError

    problems = 0
    for device in config.devices:
        try:
            board = create_board(settings_for(device))
        except DeviceError as exc:
            print(f"error: device {device.id}: {exc}")
            problems += 1
            continue
        if device.simulate or device.driver == "simulator":
            print(f"device {device.id}: simulated by dabyl ({device.driver})")
            continue
        try:
            await board.connect()
            if board.can_read_back and device.channels:
                await board.read_outputs()
            else:  # inputs only, or a board that cannot report: a read or a port check
                await board.heartbeat()
            print(f"device {device.id}: answers")
        except DeviceError as exc:
            print(f"error: device {device.id}: {exc}")
            problems += 1
        finally:
            await board.close()
    return problems


def cmd_render(args: argparse.Namespace) -> int:
    from controller.timing import markdown, measure, offline_announcer

    config = _config(args)
    library = load_library(config.scenarios_dir, config)
    announcer = offline_announcer(config, library)
    for lang, voice in announcer.voices.items():
        print(f"voice {lang}: {voice.description}", file=sys.stderr if getattr(args, "report", False) else sys.stdout)
    total = len(announcer.all_requests())

    def progress(i: int, n: int) -> None:
        print(f"\rrendering {i}/{n}", end="", file=sys.stderr, flush=True)

    count = announcer.prerender(progress)
    if count:
        print(file=sys.stderr)
    print(f"rendered {count} new, {total - count} already cached, in "
          f"{config.path(config.audio.cache_dir)}", file=sys.stderr if getattr(args, "report", False) else sys.stdout)
    if not getattr(args, "report", False):
        return EXIT_OK
    timings = measure(announcer)
    print(markdown(timings, {lang: v.description for lang, v in announcer.voices.items()}), end="")
    problems = [p for t in timings for p in t.problems()]
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return EXIT_FAILED if problems else EXIT_OK


def cmd_voices(args: argparse.Namespace) -> int:
    from audio.tts import RECOMMENDED_PIPER
    from controller.announcer import site_voices

    config = _config(args)
    if getattr(args, "voices_command", None) == "install":
        return _install_voices(args, config)
    voices_dir = config.voices_dir
    for lang, choice in site_voices(config).items():
        print(f"{lang}: {choice.description}")
        for note in choice.notes:
            print(f"  note: {note}")
        print(f"  recommended: dabyl voices install {RECOMMENDED_PIPER[lang][0]} "
              f"(or --from a folder with {RECOMMENDED_PIPER[lang][0]}.onnx and "
              f".onnx.json), into {voices_dir}")
    return EXIT_OK


def _verify_keys(args: argparse.Namespace, config: Config):
    """The keys whose signatures count, and the site key's record of the last row it signed."""
    from controller.journal import signing

    if args.public_key:
        return [signing.load_public(Path(f)) for f in args.public_key], None
    key_path = config.path(config.control.key)
    try:
        signer = signing.Signer.load_or_create(key_path) if key_path.exists() else None
    except signing.KeyError_:
        signer = None
    if signer is None:
        return None, None  # the public key stored beside the journal, said so
    return [signer.public], signer.witness()


def _anchor(text: str | None) -> tuple[int, str] | None:
    if not text:
        return None
    seq, sep, digest = text.partition(":")
    if not sep or not seq.isdigit() or len(digest) < 16:
        raise ConfigurationError([f"--anchor {text!r}: expected SEQ:HASH (at least 16 hex digits)"])
    return int(seq), digest.strip()


def _print_verdict(path: Path, verdict) -> int:
    if verdict.first is None and verdict.problems:  # nothing read at all: say why, once
        raise DabylError(verdict.problems[0])
    for problem in verdict.problems:
        print(f"error: {problem}")
    for note in verdict.notes:
        print(f"note: {note}")
    print(f"journal {path}: {verdict.summary()}")
    return EXIT_OK if verdict.ok else EXIT_FAILED


def _install_voices(args: argparse.Namespace, config: Config) -> int:
    from audio.tts import RECOMMENDED_PIPER
    from controller import voices

    if bool(args.name) == bool(args.source):
        raise ConfigurationError(["voices install: name a voice or give --from DIR|FILE"])
    if args.source:
        installed = voices.install_from(Path(args.source), config.voices_dir)
    else:
        catalog = args.catalog or voices.CATALOG
        installed = [voices.install_from_catalog(args.name, config.voices_dir, catalog)]
    for model in installed:
        name = model.name.removesuffix(".onnx")
        lang = voices.language_of(name)
        print(f"installed {model} (it loads and speaks)")
        if lang in config.site.languages and config.audio.voices.get(lang) == "auto" \
                and name not in RECOMMENDED_PIPER.get(lang, []):
            print(f"  to use it: [audio] voices.{lang} = \"piper:{model.name}\"")
    if args.no_render:
        return EXIT_OK
    return cmd_render(args)


def cmd_journal(args: argparse.Namespace) -> int:
    from controller import journal as j
    from controller.journal import signing

    config = _config(args)
    path = _journal_path(config)
    tz = config.site.timezone
    if args.journal_command == "verify":
        target = Path(args.file) if args.file else path
        try:
            if args.file:
                # A copy (a backup): the public key beside it, or the one given; the
                # site key's record of its last row says nothing about a copy.
                keys = [signing.load_public(Path(f)) for f in args.public_key] or None
                witness = None
            else:
                keys, witness = _verify_keys(args, config)
        except signing.KeyError_ as exc:
            raise DabylError(str(exc)) from None
        return _print_verdict(target, j.verify(target, keys, _anchor(args.anchor), witness))
    if args.journal_command == "key":
        key_path = config.path(config.control.key)
        stored = j.public_key_path(path)
        try:
            public = (signing.Signer.load_or_create(key_path).public if key_path.exists()
                      else signing.load_public(stored))
        except signing.KeyError_ as exc:
            raise DabylError(f"no signing key yet ({exc}): it is made at the first start") from None
        print(f"fingerprint: {signing.fingerprint(public)}")
        print(f"public key: {stored}")
        print(f"private key: {key_path} (mode 0600, never copy it with the journal)")
        sys.stdout.write(signing.public_pem(public).decode())
        return EXIT_OK
    try:
        if args.journal_command == "list":
            return _journal_list(path, args, tz)
        if args.journal_command == "show":
            from controller.records import may_switch

            return _journal_show(path, args.activation, tz, may_switch(config, _library(config)))
        if args.journal_command == "export":
            if args.format == "csv":
                with _output(args.out):
                    for line in j.export_csv(path):
                        sys.stdout.write(line)
                return EXIT_OK
            from controller.records import write_annex2

            out = Path(args.out or f"annex2-{args.lang}.docx")
            s1, s2 = write_annex2(out, path, _library(config), config, args.lang,
                                  _date(args.since), _date(args.until))
            print(f"wrote {out} and {out.with_suffix('.csv')}: {s1} briefings, {s2} drills")
            return EXIT_OK
    except j.JournalDamaged as exc:
        raise DabylError(f"the journal cannot be read: {exc} (run `dabyl journal verify`)") from None
    return EXIT_USAGE


def _journal_list(path: Path, args: argparse.Namespace, tz: str) -> int:
    from controller import journal as j
    from controller.records import human_duration

    drill = {"all": None, "real": False, "drills": True}[args.show]
    page = j.list_activations(path, args.limit, args.before, drill)
    if not page["activations"]:
        print("no activations in the journal" + (" before that row" if args.before else ""))
    for a in page["activations"]:
        what = "drill" if a["drill"] else "REAL ALARM"
        line = (f"{_local_time(a['started'], tz)}  {a['activation']:<26} {what:<10} "
                f"from {a['source']}:{a['origin']}")
        if a["outcome"] == "open":
            line += "  — still open"
        else:
            from datetime import datetime

            took = (datetime.fromisoformat(a["ended"])
                    - datetime.fromisoformat(a["started"])).total_seconds()
            line += (f"  — {a['outcome']} at {_local_time(a['ended'], tz)}"
                     f"{' by ' + a['ended_by'] if a.get('ended_by') else ''}"
                     f", after {human_duration(took)}")
        print(line)
    if page["next_before"]:
        print(f"(older: dabyl journal list --before {page['next_before']})")
    return EXIT_OK


def _journal_show(path: Path, activation: str, tz: str, switches: dict[str, set[str]]) -> int:
    from controller import journal as j

    after = 0
    while True:
        try:
            page = j.activation_rows(path, activation, 500, after, switches)
        except KeyError:
            raise DabylError(f"no activation {activation!r} in the journal") from None
        for r in page["timeline"]:
            print(_event_line(r, tz).replace(f" [{activation}]", ""))
        if not page["next_after"]:
            return EXIT_OK
        after = page["next_after"]


# -- parser ---------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """Bad usage is one line: what was wrong, and where the help is (`--help` itself
    stays whole)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {self._words(message)} (see {self.prog} --help)\n")

    def _words(self, message: str) -> str:
        commands = next((list(a.choices) for a in self._actions
                         if isinstance(a, argparse._SubParsersAction)), [])
        message = message.replace("argument ", "", 1) if message.startswith("argument ") else message
        what, _, rest = message.partition(": ")
        if commands and what.endswith("command") and rest.startswith("invalid choice: "):
            name = rest.removeprefix("invalid choice: ").split(" (choose", 1)[0]
            return f"unknown command {name}"
        if commands and message.startswith("the following arguments are required"):
            return f"name one of {', '.join(commands)}"
        if rest.startswith("invalid choice: "):
            name, _, choices = rest.removeprefix("invalid choice: ").partition(" (choose from ")
            return f"{what}: {name} is not one of {choices.rstrip(')').replace(chr(39), '')}"
        if message.startswith("the following arguments are required: "):
            return "give " + message.removeprefix("the following arguments are required: ")
        return message


def build_parser() -> argparse.ArgumentParser:
    from controller import api

    # --config is accepted before or after the command.
    # (argparse lets a subcommand's default overwrite the main parser's value, so the
    # two get their own destinations and are merged in main()).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", dest="command_config", default=argparse.SUPPRESS,
                        help="site config (default ./config.toml or $DABYL_CONFIG)")
    parser = _Parser(prog="dabyl", description="Public-address alerting controller")
    parser.add_argument("--config", default=None,
                        help="site config (default ./config.toml or $DABYL_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)
    _add = sub.add_parser

    def add_parser(name: str, **kwargs):
        return _add(name, parents=[common], **kwargs)

    sub.add_parser = add_parser  # type: ignore[method-assign]

    sub.add_parser("run", help="start (or find) the controller and attach the terminal UI"
                   ).set_defaults(func=cmd_run)
    sub.add_parser("serve", help="headless controller").set_defaults(func=cmd_serve)
    sub.add_parser("tui", help="attach a UI to a running controller").set_defaults(func=cmd_tui)

    p = sub.add_parser("trigger", help="start a scenario; prints the activation id")
    p.add_argument("scenario")
    p.add_argument("--drill", action="store_true")
    p.add_argument("--zones", default=None)
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    p.set_defaults(func=cmd_trigger)

    p = sub.add_parser("silence", help="stop audio and sounders, keep the alarm")
    p.add_argument("activation", nargs="?")
    p.set_defaults(func=cmd_silence)

    p = sub.add_parser("clear", help="end an activation with the all-clear")
    p.add_argument("activation", nargs="?")
    p.add_argument("--all", action="store_true")
    p.set_defaults(func=cmd_clear)

    for name in ("confirm", "decline"):
        p = sub.add_parser(name, help=f"{name} an evacuation held during a lockdown")
        p.add_argument("activation")
        p.set_defaults(func=cmd_confirm)

    p = sub.add_parser("form", help="the caller form of an open alarm: show it, or fill it in")
    p.add_argument("activation")
    p.add_argument("--set", dest="answers", action="append", default=[],
                   metavar="FIELD=ANSWER")
    p.add_argument("--lang", default=None, choices=["kk", "ru"],
                   help="the language to show it in (default: the site's console language)")
    p.set_defaults(func=cmd_form)

    p = sub.add_parser("ack", help="acknowledge a fault")
    p.add_argument("fault")
    p.set_defaults(func=cmd_ack)

    p = sub.add_parser("status", help="what the controller is doing")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("press", help="press a simulated input")
    p.add_argument("input")
    p.add_argument("--hold", type=_number(*_limits(api.Press, "hold")), default=0.3)
    p.set_defaults(func=cmd_press)

    sub.add_parser("check", help="validate config, scenarios, voices, devices").set_defaults(func=cmd_check)
    p = sub.add_parser("init", help="create a site folder: config, scenarios, paths")
    p.add_argument("directory")
    p.add_argument("--service", action="store_true",
                   help="paths of a service: /var/lib/dabyl, /run/dabyl, the operators' group")
    p.add_argument("--group", default="dabyl-operators")
    p.set_defaults(func=cmd_init)
    p = sub.add_parser("backup", help="a consistent copy of journal, config and scenarios")
    p.add_argument("out", help="a new directory")
    p.set_defaults(func=cmd_backup)
    p = sub.add_parser("service", help="run dabyl as a systemd service")
    svc = p.add_subparsers(dest="service_command", required=True)
    inst = svc.add_parser("install", parents=[common], help="write the systemd unit")
    inst.add_argument("--unit-dir", default="/etc/systemd/system")
    inst.add_argument("--user", default="dabyl", help="the service's own user")
    inst.add_argument("--group", default="dabyl-operators",
                      help="the operators' group (as [control] group in the config)")
    p.set_defaults(func=cmd_service)
    sub.add_parser("reload", help="apply edited config and scenarios to the running controller"
                   ).set_defaults(func=cmd_reload)
    sub.add_parser("selftest", help="check every output, input and the audio path, silently"
                   ).set_defaults(func=cmd_selftest)
    sub.add_parser("simulate", help="run the config's simulated devices on their own"
                   ).set_defaults(func=cmd_simulate)
    render = sub.add_parser("render", help="pre-render every announcement")
    render.add_argument("--report", action="store_true",
                        help="print how long each announcement takes (markdown table)")
    render.set_defaults(func=cmd_render)
    p = sub.add_parser("bench", help="measure latency and footprint against SPEC §11")
    p.add_argument("--json", action="store_true")
    p.add_argument("--rounds", type=_whole(1, 100_000), default=200)
    p.add_argument("--idle", type=_number(0.1, 3600), default=10.0,
                   help="seconds of idle measurement")
    p.add_argument("--only", default="", help="comma-separated suites to run (default: all)")
    p.set_defaults(func=cmd_bench)
    p = sub.add_parser("voices", help="which voices are installed and used; install one")
    vsub = p.add_subparsers(dest="voices_command")
    vin = vsub.add_parser("install", parents=[common],
                          help="install a Piper voice from the catalog or a folder, then render")
    vin.add_argument("name", nargs="?", help="a voice of the catalog, e.g. kk_KZ-issai-high")
    vin.add_argument("--from", dest="source", default=None,
                     help="a folder or .onnx file (a USB stick) instead of a download")
    vin.add_argument("--catalog", default=None, help="voices.json of the voices catalog")
    vin.add_argument("--no-render", action="store_true")
    p.set_defaults(func=cmd_voices)

    p = sub.add_parser("journal", help="read and verify the journal")
    jsub = p.add_subparsers(dest="journal_command", required=True)
    lst = jsub.add_parser("list", parents=[common], help="activations, newest first")
    lst.add_argument("--limit", type=_whole(*_limits(api.JournalQuery, "limit")), default=50)
    lst.add_argument("--before", type=_whole(1), default=None, help="older than this row")
    lst.add_argument("--show", choices=["all", "real", "drills"], default="all")
    s = jsub.add_parser("show", parents=[common],
                        help="one activation's rows and the output commands it caused")
    s.add_argument("activation")
    v = jsub.add_parser("verify", parents=[common],
                        help="chain, signatures and head of every segment")
    v.add_argument("file", nargs="?", help="a journal file (a backup); default: the site's")
    v.add_argument("--public-key", action="append", default=[], metavar="FILE",
                   help="check with this public key (a copied journal on another machine)")
    v.add_argument("--anchor", default=None, metavar="SEQ:HASH",
                   help="the journal must still hold this row, as printed on paper")
    jsub.add_parser("key", parents=[common], help="the public key that checks the signatures")
    e = jsub.add_parser("export", parents=[common])
    e.add_argument("--format", default="csv", choices=["csv", "annex2"])
    e.add_argument("--lang", default="ru", choices=["kk", "ru"])
    e.add_argument("--from", dest="since", default=None, help="YYYY-MM-DD")
    e.add_argument("--to", dest="until", default=None, help="YYYY-MM-DD")
    e.add_argument("--out", default=None,
                   help="the file to write (csv: else standard output; annex2: the .docx, "
                        "a .csv goes beside it)")
    p.set_defaults(func=cmd_journal)

    p = sub.add_parser("report", help="after-action report of one activation")
    p.add_argument("activation")
    p.add_argument("--json", action="store_true")
    p.add_argument("--format", choices=["text", "docx", "pdf"], default="text")
    p.add_argument("--lang", default="ru", choices=["kk", "ru"])
    p.add_argument("--out", default=None,
                   help="the file to write (text and --json: else standard output)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("schedule", help="scheduled drills and self-tests")
    ssub = p.add_subparsers(dest="schedule_command")
    lst = ssub.add_parser("list", parents=[common])
    lst.add_argument("--count", type=_whole(1, 100), default=3)
    ex = ssub.add_parser("export", parents=[common])
    ex.add_argument("--format", default="annex3", choices=["annex3"])
    ex.add_argument("--year", type=_whole(2000, 2100), default=None)
    ex.add_argument("--lang", default="ru", choices=["kk", "ru"])
    ex.add_argument("--out", default=None)
    p.set_defaults(func=cmd_schedule, schedule_command="list", count=3)

    p = sub.add_parser("threat-level", help="raised terror threat level (instruction §32)")
    p.add_argument("level", choices=["raised", "normal"])
    p.set_defaults(func=cmd_threat_level)

    p = sub.add_parser("drill", help="record a drill's participants and remarks")
    dsub = p.add_subparsers(dest="drill_command", required=True)
    rec = dsub.add_parser("record", parents=[common])
    rec.add_argument("activation")
    rec.add_argument("--participants", type=_whole(*_limits(api.DrillRecord, "participants")),
                     required=True)
    rec.add_argument("--remarks", default="")
    rec.add_argument("--correct", action="store_true",
                     help="replace the drill's earlier record (journaled as a correction)")
    p.set_defaults(func=cmd_drill_record)

    p = sub.add_parser("briefing", help="record a briefing (Annex 2, section 1)")
    p.add_argument("--person", required=True, help="name of the person instructed")
    p.add_argument("--position", default="")
    p.add_argument("--kind", choices=["planned", "unplanned"], default="planned")
    p.add_argument("--by", required=True, help="name and position of the instructor")
    p.add_argument("--date", default=None, help="YYYY-MM-DD (default today)")
    p.set_defaults(func=cmd_briefing)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        where = " ".join(filter(None, ("dabyl", args.command, *(
            getattr(args, f"{args.command}_command", None) or "",))))
        print(f"dabyl: unknown argument {extra[0]!r} (see {where} --help)", file=sys.stderr)
        return EXIT_USAGE
    args.config = getattr(args, "command_config", None) or args.config
    try:
        return int(args.func(args))
    except ConfigurationError as exc:
        for problem in exc.problems:
            print(f"dabyl: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except ConnectionFailed as exc:
        print(f"dabyl: {exc}", file=sys.stderr)
        return EXIT_NO_CONTROLLER
    except RequestInvalid as exc:  # the controller says: malformed, or names nothing known
        print(f"dabyl: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DabylError as exc:
        print(f"dabyl: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_FAILED
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:  # a file or folder an operator named (--out, backup OUT, ...)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"dabyl: {where}{(exc.strerror or str(exc)).lower()}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - no traceback ever reaches an operator
        if os.environ.get("DABYL_DEBUG"):
            raise
        print(f"dabyl: internal error: {type(exc).__name__}: {exc} "
              "(run with DABYL_DEBUG=1 for details)", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
