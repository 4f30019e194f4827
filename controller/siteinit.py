"""`dabyl init DIR`: a site folder an installer starts from, valid at once.

It holds config.toml (the demo's simulated board, so `dabyl check` passes before any
hardware is wired, and a commented example of every driver), a copy of the scenarios
to edit, and the paths of the journal, the cache and the socket. With `--service`
those paths are the service's: /var/lib/dabyl, /run/dabyl and the operators' group.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from controller.errors import OperationFailed

SOURCE = Path(__file__).resolve().parent.parent  # the demo site and scenarios ship here

DRIVER_EXAMPLES = """\
# Real boards: uncomment one, adapt it, point outputs and inputs at its id, and set
# simulate = false (or remove board1). `dabyl check` then tries each board.
#
# Waveshare Modbus RTU Relay: 8 relays on coils 0-7, 9600 8N1, unit 1, on RS-485
# (its own flash command ends a self-test pulse on the board)
# [[devices]]
# id = "relays"
# driver = "waveshare"
# transport = "serial"
# port = "/dev/ttyUSB0"
# baudrate = 9600
# unit = 1
# channels = 8
# inputs = 0
#
# Advantech ADAM-6060 over Modbus TCP: DI 0-5 for buttons, relays at coils 16-21
# (Moxa ioLogik E1214, ICP DAS ET-2260: the same with their own offsets)
# [[devices]]
# id = "adam"
# driver = "modbus-coils"
# host = "192.168.1.50"
# port = 502
# coil_offset = 16
# channels = 6
# inputs = 6
#
# Eletechsup R4D8A08 on the same RS-485 line as the Waveshare board (same speed), unit 2
# [[devices]]
# id = "eletech"
# driver = "eletechsup"
# transport = "serial"
# port = "/dev/ttyUSB0"
# baudrate = 9600
# unit = 2
# channels = 8
# inputs = 0
#
# LCUS-4 USB relay (CH340): no read-back; its whole state is re-sent at every poll
# [[devices]]
# id = "usbrelay"
# driver = "lcus"
# transport = "serial"
# port = "/dev/serial/by-id/usb-1a86_USB_Serial-if00-port0"
# channels = 4
# inputs = 0
#
# Numato 16-channel USB relay
# [[devices]]
# id = "numato"
# driver = "numato"
# transport = "serial"
# port = "/dev/ttyACM0"
# baudrate = 19200
# channels = 16
# inputs = 0
#
# KMTronic 8-channel USB relay
# [[devices]]
# id = "km"
# driver = "kmtronic"
# transport = "serial"
# port = "/dev/ttyUSB1"
# channels = 8
# inputs = 0
#
# Two KMTronic RS-485 boards on one line, addresses 1 and 2
# [[devices]]
# id = "km485_a"
# driver = "kmtronic-rs485"
# transport = "serial"
# port = "/dev/ttyUSB2"
# unit = 1
# channels = 8
# inputs = 0
#
# A 0-10 V analog input module (readings in mV) for end-of-line supervised buttons,
# unit 5 (see "Wiring real hardware" in the README for the resistors and `eol` ranges)
# [[devices]]
# id = "loops"
# driver = "modbus-analog"
# transport = "serial"
# port = "/dev/ttyUSB0"
# unit = 5
# registers = "input"   # FC04; "holding" for modules that answer FC03
# channels = 0
# inputs = 8
#
# Any other Modbus relay board with coils
# [[devices]]
# id = "coils"
# driver = "modbus-coils"
# host = "192.168.1.60"
# port = 502
# channels = 8
# inputs = 8
#
# A panic button on a spare serial port's modem lines (CTS, DSR, DCD, RI = inputs 0-3)
# [[devices]]
# id = "button_port"
# driver = "serial-lines"
# transport = "serial"
# port = "/dev/ttyS0"
# channels = 0
# inputs = 4
"""

LOCAL_PATHS = {"cache_dir": ".dabyl/cache", "wav_dir": ".dabyl/wav",
               "socket": ".dabyl/dabyl.sock", "journal": ".dabyl/journal.sqlite"}
SERVICE_PATHS = {"cache_dir": "/var/lib/dabyl/cache", "wav_dir": "/var/lib/dabyl/wav",
                 "socket": "/run/dabyl/dabyl.sock", "journal": "/var/lib/dabyl/journal.sqlite"}


def init_site(directory: Path, service: bool = False,
              group: str = "dabyl-operators") -> Path:
    config = directory / "config.toml"
    if config.exists():
        raise OperationFailed(f"{config} exists already; init never overwrites a site")
    demo = SOURCE / "config.toml"
    scenarios = SOURCE / "scenarios"
    if not demo.is_file() or not scenarios.is_dir():
        raise OperationFailed(f"the demo site is not beside this installation ({SOURCE})")
    text = demo.read_text(encoding="utf-8")
    text = re.sub(r"\A(#[^\n]*\n)+", _header(service), text)
    paths = SERVICE_PATHS if service else LOCAL_PATHS
    for key, value in paths.items():
        text = re.sub(rf'^{key} = "[^"]*"$', f'{key} = "{value}"', text, flags=re.M)
    if service:
        text = text.replace("[control]\n", f'[control]\n# Its members may use `dabyl` and the console.\ngroup = "{group}"\n')
    text = re.sub(r"^# A demo runs anywhere.*\nclock_sync = false\n",
                  "# A fault while the clock is not synchronised (NTP): timestamps are evidence.\n"
                  "clock_sync = true\n", text, flags=re.M)
    text = text.replace("\n[outputs]\n", "\n" + DRIVER_EXAMPLES + "\n[outputs]\n", 1)
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copytree(scenarios, directory / "scenarios", dirs_exist_ok=False)
    config.write_text(text, encoding="utf-8")
    return config


def _header(service: bool) -> str:
    where = ("journal, cache and voices in /var/lib/dabyl, the socket in /run/dabyl"
             if service else "journal, cache, voices and socket in .dabyl/ beside this file")
    return ("# dabyl site, made by `dabyl init`. It runs as it is: the relay board below is\n"
            "# simulated by dabyl; wire a real one from the examples further down.\n"
            f"# Paths: {where}. Every key: docs/config-reference.md.\n")
