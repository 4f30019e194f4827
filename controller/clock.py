"""Clock trust: every journal row and every inspector's document depends on the clock.

A board without a real-time clock boots in 1970 until NTP answers, and an operator may
set the time by hand. The controller therefore reports a fault while the kernel says
the clock is not synchronised (adjtimex: the state NTP daemons, chrony and
systemd-timesyncd keep), and journals every jump of the wall clock against the
monotonic one, so an inspector sees the order of rows even across a jump.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from pathlib import Path

TIME_ERROR = 5  # adjtimex: the clock is not synchronised
JUMP = 2.0  # seconds of wall clock against monotonic that count as a jump


def synchronised() -> bool | None:
    """True or False as the kernel tells; None where it cannot tell."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        adjtimex = libc.adjtimex
    except (OSError, AttributeError):
        return None
    timex = ctypes.create_string_buffer(512)  # struct timex, modes = 0: only read
    state = adjtimex(timex)
    if state < 0:
        return None
    return state != TIME_ERROR


class ClockWatch:
    """Wall clock against the monotonic clock: a change of their difference is a jump."""

    def __init__(self) -> None:
        self.offset = time.time() - time.monotonic()

    def jumped(self) -> float | None:
        """Seconds the wall clock jumped since the last look (None: it did not)."""
        offset = time.time() - time.monotonic()
        delta = offset - self.offset
        self.offset = offset
        return delta if abs(delta) >= JUMP else None


def boot_id() -> str:
    """This boot of the machine (rows' `mono` counts from it)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""
