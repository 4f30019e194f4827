"""The exceptions dabyl raises, one family per phase.

The CLI and the control API turn each into one clear line for the operator.
"""

from __future__ import annotations


class DabylError(Exception):
    """Base of every error dabyl reports to an operator."""


class ConfigurationError(DabylError):
    """The site configuration or a scenario file is invalid."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class ConnectionFailed(DabylError):
    """A device, the control socket or the audio output cannot be reached."""


class OperationFailed(DabylError):
    """A request was understood but cannot be carried out."""


class RequestInvalid(OperationFailed):
    """A control request is malformed or names something unknown."""


class TimedOut(DabylError):
    """An operation did not finish in its time limit."""
