"""Driver errors, by phase; drivers never import the controller, so they have their own
family.

Each error says what went wrong in words an installer can act on. `reason` is that
tail ("no reply within 0.5 s"), `code` and `params` name the same message for the
operator's console (its texts live in controller/messages.py), and the board that
raised it adds who it is, so `str(error)` reads
"board2 (modbus-coils, /dev/ttyUSB0 unit 2): no reply within 0.5 s".
"""

from __future__ import annotations

from typing import Any


class DeviceError(Exception):
    """Base of driver failures."""

    code = "device_error"

    def __init__(self, reason: str, **params: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.params = params
        self.who = ""

    def __str__(self) -> str:
        return f"{self.who}: {self.reason}" if self.who else self.reason


class DeviceConfigError(DeviceError):
    """The device settings cannot work (unknown driver, bad channel, bad transport)."""

    code = "device_config"


class DeviceUnavailable(DeviceError):
    """The link to the device cannot be opened, or broke. `code` tells which:
    device_no_port, device_cannot_open, device_port_failed (serial),
    device_cannot_connect, device_connection_lost (network)."""

    def __init__(self, code: str, reason: str, **params: Any) -> None:
        super().__init__(reason, **params)
        self.code = code


class PortVanished(DeviceUnavailable):
    """The serial port went away under the driver (a USB adapter unplugged)."""

    code = "device_port_vanished"

    def __init__(self) -> None:
        super().__init__(self.code, "port vanished (unplugged?)")


class DeviceTimeout(DeviceUnavailable):
    """The device did not answer in time."""

    code = "device_no_reply"

    def __init__(self, timeout: float) -> None:
        super().__init__(self.code, f"no reply within {timeout:g} s", timeout=f"{timeout:g}")


class DeviceReplyError(DeviceError):
    """The device answered with something that is no valid reply."""

    code = "device_invalid_reply"

    def __init__(self, detail: str) -> None:
        super().__init__(f"answered an invalid frame ({detail})", detail=detail)


class DeviceRefused(DeviceError):
    """The device answered, and refused the request (a Modbus exception)."""

    code = "device_refused"

    def __init__(self, what: str, detail: str) -> None:
        super().__init__(f"refused to {what}: {detail}", what=what, detail=detail)
