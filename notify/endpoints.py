"""The endpoints of each recipient, built from `[notify]` settings and checked first.

Every problem is refused before anything is consumed, naming the setting: a webhook URL
that is not https (plain http is accepted on a loopback address only), a missing or
short secret, a secret given twice, e-mail without a sender or SMTP host, a login
without a password, a CA file that does not exist, a budget that makes no sense.
Secrets are read here (value or file) and are never part of a message.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from ucwatch.core.errors import SettingsError
from ucwatch.core.retry import Backoff
from ucwatch.core.settings import NotifySettings, RecipientSettings
from ucwatch.notify.budget import RetryBudget
from ucwatch.notify.delivery import AttemptResult, Channel, Endpoint
from ucwatch.notify.smtp import EmailSender
from ucwatch.notify.webhook import WebhookSender

RECIPIENTS = ("HHS", "ICE")
MIN_SECRET_BYTES = 16


class Sender(Protocol):
    endpoint: Endpoint

    def send(self, notice: Mapping[str, Any], attempt: int) -> AttemptResult: ...

    def close(self) -> None: ...


def budget(notify: NotifySettings) -> RetryBudget:
    if notify.max_attempts < 1:
        raise SettingsError("setting notify.max_attempts must be at least 1")
    if not 0 < notify.backoff_first_s <= notify.backoff_max_s:
        raise SettingsError("settings notify.backoff_first_s and backoff_max_s must satisfy 0 < first <= max")
    if not 0 <= notify.backoff_jitter < 1:
        raise SettingsError("setting notify.backoff_jitter must be in [0, 1)")
    return RetryBudget(Backoff(first_s=notify.backoff_first_s, max_s=notify.backoff_max_s,
                               jitter=notify.backoff_jitter), notify.max_attempts)


def configured_endpoints(notify: NotifySettings) -> list[str]:
    """The endpoints the settings name (``hhs.webhook``, ``ice.email``...), nothing checked
    or read (`build_senders` does): whether `ucwatch run` should start a notifier."""
    names = []
    for recipient in RECIPIENTS:
        settings: RecipientSettings = getattr(notify, recipient.lower())
        names += [f"{recipient.lower()}.{channel}" for channel, value in (("webhook", settings.webhook_url),
                                                                          ("email", settings.email_to)) if value]
    return names


def build_senders(notify: NotifySettings) -> list[Sender]:
    """One sender per configured endpoint; raises SettingsError naming the first problem."""
    _check_limits(notify)
    if notify.ca_file and not Path(notify.ca_file).is_file():
        raise SettingsError(f"setting notify.ca_file: {notify.ca_file} is not a file")
    senders: list[Sender] = []
    for recipient in RECIPIENTS:
        section = f"notify.{recipient.lower()}"
        settings: RecipientSettings = getattr(notify, recipient.lower())
        if settings.webhook_url:
            url = _webhook_url(settings.webhook_url, section)
            secret = _secret(settings.webhook_secret, settings.webhook_secret_file, f"{section}.webhook_secret")
            if len(secret) < MIN_SECRET_BYTES:
                raise SettingsError(f"setting {section}.webhook_secret must be at least {MIN_SECRET_BYTES} bytes")
            senders.append(WebhookSender(Endpoint(f"{recipient.lower()}.webhook", recipient, Channel.WEBHOOK),
                                         url, secret, timeout_s=notify.request_timeout_s, ca_file=notify.ca_file))
        elif settings.webhook_secret or settings.webhook_secret_file:
            raise SettingsError(f"setting {section}.webhook_secret is set but {section}.webhook_url is not")
        if settings.email_to:
            senders.append(_email_sender(notify, settings, recipient, section))
    if not senders:
        raise SettingsError("no notice endpoint is configured: set notify.hhs.webhook_url or notify.hhs.email_to "
                            "(and the same for notify.ice); see docs/notify.md")
    return senders


def _check_limits(notify: NotifySettings) -> None:
    for name in ("request_timeout_s", "max_pending", "senders"):
        if getattr(notify, name) <= 0:
            raise SettingsError(f"setting notify.{name} must be positive")
    if not 0 <= notify.metrics_port <= 65535:
        raise SettingsError("setting notify.metrics_port must be a port number (0: any free port)")
    budget(notify)


def _webhook_url(url: str, section: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return url
    raise SettingsError(f"setting {section}.webhook_url must be an https:// URL "
                        "(plain http only on a loopback address)")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _secret(value: str, file: str, name: str) -> bytes:
    if value and file:
        raise SettingsError(f"settings {name} and {name}_file are both set; set one")
    if file:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError(f"setting {name}_file: {file} cannot be read ({exc.strerror})") from None
        value = text.strip("\r\n")
    if not value:
        raise SettingsError(f"setting {name} is missing: set it by environment "
                            f"(UCWATCH_{name.upper().replace('.', '_')}) or name a file in {name}_file")
    return value.encode("utf-8")


def _email_sender(notify: NotifySettings, settings: RecipientSettings, recipient: str, section: str) -> EmailSender:
    smtp = notify.smtp
    to = [address.strip() for address in settings.email_to.split(",") if address.strip()]
    if not settings.email_from:
        raise SettingsError(f"setting {section}.email_to needs {section}.email_from")
    for address in [*to, settings.email_from]:
        if "@" not in address:
            raise SettingsError(f"setting {section}.email_to/email_from: {address!r} is not an e-mail address")
    if not smtp.host:
        raise SettingsError(f"setting {section}.email_to needs notify.smtp.host")
    password = b""
    if smtp.user:
        password = _secret(smtp.password, smtp.password_file, "notify.smtp.password")
    elif smtp.password or smtp.password_file:
        raise SettingsError("setting notify.smtp.password is set but notify.smtp.user is not")
    return EmailSender(Endpoint(f"{recipient.lower()}.email", recipient, Channel.EMAIL), host=smtp.host,
                       port=smtp.port, sender=settings.email_from, to=to, starttls=smtp.starttls, user=smtp.user,
                       password=password.decode("utf-8"), timeout_s=smtp.timeout_s, ca_file=notify.ca_file)
