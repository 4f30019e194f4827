"""Driver errors; drivers never import the controller, so they have their own family."""

from __future__ import annotations


class DeviceError(Exception):
    """Base of driver failures."""


class DeviceConfigError(DeviceError):
    """The device settings cannot work (unknown driver, bad channel, bad transport)."""


class DeviceUnavailable(DeviceError):
    """The device does not answer or the link to it is down."""


class DeviceReplyError(DeviceError):
    """The device answered with an error or with a reply that makes no sense."""
