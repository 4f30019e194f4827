"""Hardware drivers: relay boards and panic inputs, chosen by name from config.

The registry maps a driver name to (module, class); a module is imported only when
a device uses it, so a site without serial boards never loads pyserial code.
"""

from __future__ import annotations

import importlib

from drivers.base import DeviceSettings, RelayBoard
from drivers.errors import DeviceConfigError

DRIVERS: dict[str, tuple[str, str]] = {
    "modbus-coils": ("drivers.modbus", "ModbusCoils"),
    "waveshare": ("drivers.modbus", "WaveshareRelay"),
    "eletechsup": ("drivers.modbus", "Eletechsup"),
    "modbus-analog": ("drivers.modbus", "ModbusAnalog"),
    "lcus": ("drivers.serial_boards", "LcusBoard"),
    "numato": ("drivers.serial_boards", "NumatoBoard"),
    "kmtronic": ("drivers.serial_boards", "KmtronicBoard"),
    "kmtronic-rs485": ("drivers.serial_boards", "KmtronicRs485Board"),
    "serial-lines": ("drivers.serial_boards", "SerialLinesInput"),
    # dabyl's own simulated board speaks modbus-coils.
    "simulator": ("drivers.modbus", "ModbusCoils"),
}


def known_drivers() -> list[str]:
    return sorted(DRIVERS)


def board_class(name: str) -> type[RelayBoard]:
    try:
        module_name, class_name = DRIVERS[name]
    except KeyError:
        raise DeviceConfigError(
            f"unknown driver {name!r} (known: {', '.join(known_drivers())})"
        ) from None
    module = importlib.import_module(module_name)
    cls: type[RelayBoard] = getattr(module, class_name)
    return cls


def create_board(settings: DeviceSettings) -> RelayBoard:
    try:
        return board_class(settings.driver)(settings)
    except DeviceConfigError as exc:
        exc.who = settings.id
        raise


__all__ = ["DRIVERS", "DeviceSettings", "RelayBoard", "board_class", "create_board", "known_drivers"]
