"""Scheduled drills, silent self-tests and reminders (APScheduler 3.x, cron in the
site's time zone).

A run that fell due while the controller was down is reported at start, in the
journal and as a notice on every console; it is not silently skipped, and it is
not run hours late.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from controller.config import Config, ScheduleEntry

_DOW_NAMES = {"0": "sun", "1": "mon", "2": "tue", "3": "wed", "4": "thu", "5": "fri",
              "6": "sat", "7": "sun"}


def cron_trigger(expression: str, timezone: str) -> CronTrigger:
    """A CronTrigger from standard cron: `minute hour day month weekday`, with an
    optional leading seconds field. Weekdays count from Sunday = 0 as in cron
    (APScheduler 3 counts from Monday = 0, so numbers are turned into names)."""
    if not expression.isascii():
        raise ValueError(f"cron {expression!r}: only ASCII digits, names and */,- are allowed")
    fields = expression.split()
    if len(fields) == 5:
        second, (minute, hour, day, month, dow) = "0", fields
    elif len(fields) == 6:
        second, minute, hour, day, month, dow = fields
    else:
        raise ValueError(f"cron {expression!r}: expected 5 fields (or 6 with seconds first)")
    dow = re.sub(r"[0-9]+", _weekday_name, dow)
    try:
        return CronTrigger(second=second, minute=minute, hour=hour, day=day, month=month,
                           day_of_week=dow, timezone=ZoneInfo(timezone))
    except (TypeError, KeyError, IndexError) as exc:  # APScheduler's own complaints
        raise ValueError(f"cron {expression!r}: {exc}") from None


def _weekday_name(match: re.Match[str]) -> str:
    name = _DOW_NAMES.get(match.group(0))
    if name is None:
        raise ValueError(f"weekday {match.group(0)} does not exist (0-7, Sunday is 0 or 7)")
    return name


def runs_between(entry: ScheduleEntry, timezone: str, since: datetime,
                 until: datetime) -> list[datetime]:
    """Every time the entry fell due in (since, until]."""
    trigger = cron_trigger(entry.cron, timezone)
    out: list[datetime] = []
    t = trigger.get_next_fire_time(None, since + timedelta(microseconds=1))
    while t is not None and t <= until and len(out) < 1000:
        out.append(t)
        t = trigger.get_next_fire_time(t, t + timedelta(seconds=1))
    return out


def next_runs(config: Config, count: int = 3) -> dict[str, list[datetime]]:
    now = datetime.now(ZoneInfo(config.site.timezone))
    out: dict[str, list[datetime]] = {}
    for entry in config.schedule:
        trigger = cron_trigger(entry.cron, config.site.timezone)
        runs: list[datetime] = []
        t = trigger.get_next_fire_time(None, now)
        while t is not None and len(runs) < count:
            runs.append(t)
            t = trigger.get_next_fire_time(t, t + timedelta(seconds=1))
        out[entry.id] = runs
    return out


Runner = Callable[[ScheduleEntry], Awaitable[None]]


class Schedule:
    """The site's schedule, running inside the controller's event loop."""

    def __init__(self, config: Config, run: Runner) -> None:
        self.config = config
        self.run = run
        self.scheduler = AsyncIOScheduler(timezone=ZoneInfo(config.site.timezone))

    def start(self) -> None:
        for entry in self.config.schedule:
            self.scheduler.add_job(
                self.run, cron_trigger(entry.cron, self.config.site.timezone), args=[entry],
                id=entry.id, name=entry.id, coalesce=True, max_instances=1,
                # A run late by more than a minute is reported as missed, not run late.
                misfire_grace_time=60,
            )
        self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def missed(self, since: datetime) -> dict[str, list[datetime]]:
        now = datetime.now(ZoneInfo(self.config.site.timezone))
        out = {}
        for entry in self.config.schedule:
            runs = runs_between(entry, self.config.site.timezone, since, now)
            if runs:
                out[entry.id] = runs
        return out
