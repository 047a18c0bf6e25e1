"""The small error vocabulary every layer translates into at its boundary."""

from __future__ import annotations


class TonghuError(Exception):
    """Base of every error the project raises on purpose."""


class ConfigError(TonghuError):
    """Configuration is invalid; the message names the source, the path in it and what was expected."""


class NotConnectedError(TonghuError):
    """An operation needed a connection that is not up."""


class TransientError(TonghuError):
    """Worth retrying after a backoff (network down, database restarting)."""


class PermanentError(TonghuError):
    """Retrying cannot help (bad input, refused by policy)."""


class PayloadError(PermanentError):
    """An uplink payload or a part of it is invalid.

    ``reason`` is a short stable code (stored with dead letters and used in metrics labels);
    the message explains it to a person.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.detail = message
