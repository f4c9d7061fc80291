"""`[notify]` settings: endpoints per recipient, secrets from the environment or a file,
everything doubtful refused by name before anything runs, no secret in any message."""

from __future__ import annotations

from pathlib import Path

import pytest

from ucwatch.core.errors import SettingsError
from ucwatch.core.settings import Settings
from ucwatch.notify.delivery import Channel
from ucwatch.notify.endpoints import build_senders, configured_endpoints

SECRET = "s3cr3t-value-that-must-not-leak"


def _senders(tmp_path: Path, toml: str, **environ: str) -> list:
    config = tmp_path / "ucwatch.toml"
    config.write_text(toml)
    return build_senders(Settings.load(config, environ=environ).notify)


def test_webhook_and_email_per_recipient(tmp_path: Path) -> None:
    secret_file = tmp_path / "ice.secret"
    secret_file.write_text(SECRET + "\n")
    senders = _senders(tmp_path, f"""
[notify.hhs]
webhook_url = "https://hhs.example/ucwatch"
email_to = "duty@hhs.example, oncall@hhs.example"
email_from = "ucwatch@ops.example"
[notify.ice]
webhook_url = "https://ice.example/hook"
webhook_secret_file = "{secret_file}"
[notify.smtp]
host = "smtp.ops.example"
port = 2525
""", UCWATCH_NOTIFY_HHS_WEBHOOK_SECRET=SECRET)
    assert [(s.endpoint.name, s.endpoint.recipient, s.endpoint.channel) for s in senders] == [
        ("hhs.webhook", "HHS", Channel.WEBHOOK), ("hhs.email", "HHS", Channel.EMAIL),
        ("ice.webhook", "ICE", Channel.WEBHOOK)]
    assert senders[1]._to == ["duty@hhs.example", "oncall@hhs.example"]
    assert senders[2]._secret == SECRET.encode(), "the file's trailing newline is not part of the secret"


def test_plain_http_only_on_loopback(tmp_path: Path) -> None:
    env = {"UCWATCH_NOTIFY_HHS_WEBHOOK_SECRET": SECRET}
    assert _senders(tmp_path, '[notify.hhs]\nwebhook_url = "http://127.0.0.1:8080/h"\n', **env)
    assert _senders(tmp_path, '[notify.hhs]\nwebhook_url = "http://localhost:8080/h"\n', **env)
    with pytest.raises(SettingsError, match="webhook_url must be an https:// URL"):
        _senders(tmp_path, '[notify.hhs]\nwebhook_url = "http://hhs.example/h"\n', **env)


@pytest.mark.parametrize("toml,environ,fragment", [
    ('[notify.hhs]\nwebhook_ulr = "https://x"\n', {}, "unknown setting notify.hhs.webhook_ulr"),
    ('[notify.cbp]\nwebhook_url = "https://x"\n', {}, "unknown setting notify.cbp"),
    ('[notify]\nmax_attempts = "many"\n', {}, "notify.max_attempts must be int"),
    ("", {}, "no notice endpoint is configured"),
    ('[notify.hhs]\nwebhook_url = "https://x/h"\n', {}, "notify.hhs.webhook_secret is missing"),
    ('[notify.hhs]\nwebhook_url = "https://x/h"\n', {"UCWATCH_NOTIFY_HHS_WEBHOOK_SECRET": "short"},
     "at least 16 bytes"),
    ('[notify.hhs]\nwebhook_url = "https://x/h"\nwebhook_secret_file = "/nonexistent"\n',
     {"UCWATCH_NOTIFY_HHS_WEBHOOK_SECRET": SECRET}, "both set"),
    ('[notify.hhs]\nwebhook_url = "https://x/h"\nwebhook_secret_file = "/nonexistent/secret"\n', {},
     "cannot be read"),
    ("[notify.ice]\n", {"UCWATCH_NOTIFY_ICE_WEBHOOK_SECRET": SECRET}, "webhook_url is not"),
    ('[notify.hhs]\nemail_to = "a@hhs.example"\nemail_from = "u@ops.example"\n', {}, "needs notify.smtp.host"),
    ('[notify.hhs]\nemail_to = "a@hhs.example"\n[notify.smtp]\nhost = "h"\n', {}, "needs notify.hhs.email_from"),
    ('[notify.hhs]\nemail_to = "nobody"\nemail_from = "u@ops.example"\n[notify.smtp]\nhost = "h"\n', {},
     "'nobody' is not an e-mail address"),
    ('[notify.hhs]\nemail_to = "a@h.example"\nemail_from = "u@o.example"\n[notify.smtp]\nhost = "h"\nuser = "u"\n',
     {}, "notify.smtp.password is missing"),
    ('[notify]\nca_file = "/nonexistent/ca.pem"\n[notify.hhs]\nwebhook_url = "https://x/h"\n',
     {"UCWATCH_NOTIFY_HHS_WEBHOOK_SECRET": SECRET}, "notify.ca_file"),
    ('[notify]\nmax_attempts = 0\n[notify.hhs]\nwebhook_url = "https://x/h"\n',
     {"UCWATCH_NOTIFY_HHS_WEBHOOK_SECRET": SECRET}, "max_attempts must be at least 1"),
    ('[notify]\nbackoff_jitter = 1.0\n[notify.hhs]\nwebhook_url = "https://x/h"\n',
     {"UCWATCH_NOTIFY_HHS_WEBHOOK_SECRET": SECRET}, "backoff_jitter"),
])
def test_refused_by_name_and_without_the_secret(tmp_path: Path, toml: str, environ: dict, fragment: str) -> None:
    with pytest.raises(SettingsError, match=fragment) as caught:
        _senders(tmp_path, toml, **environ)
    assert SECRET not in str(caught.value)


def test_secrets_are_masked_in_the_printed_settings(tmp_path: Path) -> None:
    settings = Settings.load(environ={"UCWATCH_NOTIFY_HHS_WEBHOOK_SECRET": SECRET,
                                      "UCWATCH_NOTIFY_SMTP_PASSWORD": SECRET})
    shown = settings.redacted()["notify"]
    assert shown["hhs"]["webhook_secret"] == "****" and shown["smtp"]["password"] == "****"
    assert SECRET not in repr(shown)


def test_configured_endpoints_names_what_is_set_without_reading_secrets() -> None:
    """What `ucwatch run` decides on: a notifier only when some endpoint is set."""
    assert configured_endpoints(Settings.load(environ={}).notify) == []
    notify = Settings.load(environ={"UCWATCH_NOTIFY_ICE_WEBHOOK_URL": "https://ice.example/h",
                                    "UCWATCH_NOTIFY_HHS_EMAIL_TO": "duty@hhs.example"}).notify
    assert configured_endpoints(notify) == ["hhs.email", "ice.webhook"]  # no secret set: build_senders refuses
    with pytest.raises(SettingsError):
        build_senders(notify)
