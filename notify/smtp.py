"""E-mail delivery over SMTP: one connection and one message per attempt.

The message carries the notice as text and as JSON (notify/message.py), with a
Message-ID and an Idempotency-Key header made from the notice id, the same on every
attempt, so a mail system that drops repeated Message-IDs shows a notice once. With
`starttls` the connection is upgraded and the server's certificate verified before the
login and the message; a server that does not offer STARTTLS is then refused, never
used in the clear.

Retried: a 4xx reply, a timeout, a refused or dropped connection. Final: a 5xx reply
(an unknown mailbox, a refused login), a server without STARTTLS when it is required.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from ucwatch.notify.delivery import AttemptResult, Endpoint
from ucwatch.notify.message import email_message
from ucwatch.notify.webhook import tls_context


class EmailSender:
    def __init__(self, endpoint: Endpoint, *, host: str, port: int, sender: str, to: list[str],
                 starttls: bool, user: str = "", password: str = "", timeout_s: float = 20.0,
                 ca_file: str = "", now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.endpoint = endpoint
        self._host, self._port = host, port
        self._sender, self._to = sender, to
        self._starttls = starttls
        self._user, self._password = user, password
        self._timeout_s = timeout_s
        self._tls: ssl.SSLContext | None = tls_context(ca_file) if starttls else None
        self._now = now

    def send(self, notice: Mapping[str, Any], attempt: int) -> AttemptResult:
        message = email_message(notice, self._sender, self._to, self._now())
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout_s) as smtp:
                smtp.ehlo()
                if self._tls is not None:
                    smtp.starttls(context=self._tls)
                    smtp.ehlo()
                if self._user:
                    smtp.login(self._user, self._password)
                refused = smtp.send_message(message, self._sender, self._to)
        except (smtplib.SMTPException, OSError) as exc:
            return classify(exc)
        if refused:
            # Some recipients took it; sending again would repeat it to them.
            return AttemptResult.ok(250, f"accepted; refused for {len(refused)} of {len(self._to)} recipient(s)")
        return AttemptResult.ok(250, "accepted")

    def close(self) -> None:
        """Nothing held between attempts."""


def classify(exc: smtplib.SMTPException | OSError) -> AttemptResult:
    """A failed SMTP exchange: final for 5xx replies and a missing extension, else retried."""
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return AttemptResult.refused(f"SMTP server refuses a required extension: {exc}")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        detail = f"SMTP recipients refused ({', '.join(str(c) for c in codes)})"
        if all(code >= 500 for code in codes):
            return AttemptResult.refused(detail, max(codes))
        return AttemptResult.retry(detail, min(codes))
    if isinstance(exc, smtplib.SMTPResponseException):
        detail = f"SMTP {exc.smtp_code} {_text(exc.smtp_error)}"
        if exc.smtp_code >= 500:
            return AttemptResult.refused(detail, exc.smtp_code)
        return AttemptResult.retry(detail, exc.smtp_code)
    # dropped, refused, timed out, TLS failed
    return AttemptResult.retry(f"{type(exc).__name__}: {_text(str(exc))}")


def _text(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return " ".join(text.split())[:200]
