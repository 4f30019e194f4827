"""Owned background tasks: every task is kept in a set and cancelled on shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger("dabyl.tasks")


class TaskSet:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s ended with an error", task.get_name(), exc_info=task.exception())

    def supervise(self, factory: Callable[[], Coroutine[Any, Any, Any]], name: str,
                  on_crash: Callable[[str, BaseException], None]) -> asyncio.Task[Any]:
        """A task that must never end while its owner runs: when it ends with an error
        (or at all), `on_crash` hears of it (a fault) and it is started again."""

        async def keep() -> None:
            while True:
                try:
                    await factory()
                    error: BaseException = RuntimeError("ended by itself")
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - restarted and reported, never lost
                    error = exc
                log.error("task %s ended (%s); starting it again", name, error,
                          exc_info=error if not isinstance(error, RuntimeError) else None)
                on_crash(name, error)
                await asyncio.sleep(0.1)

        return self.spawn(keep(), name)

    def __len__(self) -> int:
        return len(self._tasks)

    async def cancel_all(self, grace: float = 2.0) -> None:
        """Cancel every task; cancel again any that swallowed the first request."""
        for _ in range(5):
            pending = [t for t in self._tasks if not t.done()]
            if not pending:
                break
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=grace)
        self._tasks.clear()

    def alive(self, name: str) -> bool:
        """A task of this name is running (liveness, for the service watchdog)."""
        return any(t.get_name() == name and not t.done() for t in self._tasks)
