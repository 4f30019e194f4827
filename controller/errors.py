"""The exceptions dabyl raises, one family per phase.

The CLI and the control API turn each into one clear line for the operator. An error
an operator may meet on a console also carries a message code and its parameters,
like a fault, so each console says it in its own language (controller/messages.py).
"""

from __future__ import annotations

from typing import Any


class DabylError(Exception):
    """Base of every error dabyl reports to an operator."""

    def __init__(self, *args: object, code: str | None = None, **params: Any) -> None:
        if code is not None and not args:
            from controller.messages import render

            args = (render(code, "en", params),)
        super().__init__(*args)
        self.code = code
        self.params = params

    def coded(self) -> dict[str, Any]:
        """The code and parameters for a reply on the control socket (empty if none)."""
        return {"code": self.code, "params": self.params} if self.code else {}


class ConfigurationError(DabylError):
    """The site configuration or a scenario file is invalid."""

    def __init__(self, problems: list[str]) -> None:
        # One problem, one line: a value quoted in a problem (a path, a name) may hold a
        # line break or another control character; it is shown escaped, never obeyed.
        self.problems = [_one_line(p) for p in problems]
        super().__init__("\n".join(self.problems))


def _one_line(text: str) -> str:
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in str(text))


class ConnectionFailed(DabylError):
    """A device, the control socket or the audio output cannot be reached."""


class OperationFailed(DabylError):
    """A request was understood but cannot be carried out."""


class RequestInvalid(OperationFailed):
    """A control request is malformed or names something unknown."""


class TimedOut(DabylError):
    """An operation did not finish in its time limit."""
