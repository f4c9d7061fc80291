"""The exceptions of the notifier.

    UcwatchError (ucwatch.core.errors)
     +-- NotifyError              the notifier cannot go on
          +-- SignatureInvalid    a webhook request whose signature does not verify

A refused setting (a missing secret, a plain-http webhook off loopback) is a
`ucwatch.core.errors.SettingsError`, like every other setting.
"""

from __future__ import annotations

from ucwatch.core.errors import UcwatchError


class NotifyError(UcwatchError):
    """Root of the notifier's own errors."""


class SignatureInvalid(NotifyError):
    """`reason` is one of: malformed, expired, mismatch."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
