"""The two channels against real local receivers: an HTTPS server with a test CA, and an
SMTP server (aiosmtpd) with STARTTLS. What is delivered, what is retried, what is final."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.unit.notify.receivers import SmtpReceiver, Tls, WebhookReceiver, free_port, make_tls
from ucwatch.notify.delivery import Channel, Endpoint
from ucwatch.notify.message import json_body
from ucwatch.notify.smtp import EmailSender
from ucwatch.notify.webhook import WebhookSender

SECRET = b"webhook-secret-0123456789"
NOTICE = {"notification_id": "N-42", "child_id": "SYN-CH-000000042", "recipient": "HHS",
          "kind": "FAILURE_TO_APPEAR", "fact_id": "E42", "occurred_at": datetime(2021, 3, 1, tzinfo=UTC),
          "reason": "r", "synthetic": True}
HOOK = Endpoint("hhs.webhook", "HHS", Channel.WEBHOOK)
MAIL = Endpoint("hhs.email", "HHS", Channel.EMAIL)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def receiver(tls: Tls) -> Iterator[WebhookReceiver]:
    server = WebhookReceiver(SECRET, tls=tls)
    yield server
    server.close()


def _hook(url: str, tls: Tls, secret: bytes = SECRET, timeout_s: float = 2.0, ca: bool = True) -> WebhookSender:
    return WebhookSender(HOOK, url, secret, timeout_s=timeout_s, ca_file=str(tls.ca_file) if ca else "")


def test_a_signed_post_over_verified_tls_is_delivered_once(receiver: WebhookReceiver, tls: Tls) -> None:
    sender = _hook(receiver.url, tls)
    result = sender.send(NOTICE, 1)
    assert (result.delivered, result.status_code) == (True, 200)
    assert receiver.processed == {"N-42": {**NOTICE, "occurred_at": "2021-03-01T00:00:00.000Z"}}
    assert receiver.bad_signatures == 0
    assert sender.send(NOTICE, 2).delivered, "a repeat is answered 200 by a receiver that keeps keys"
    assert len(receiver.processed) == 1 and receiver.successes_for("N-42") == 2


@pytest.mark.parametrize("mode,expected", [("fail", (False, False, 500)), ("refuse", (False, True, 400))])
def test_server_errors_are_retried_refusals_are_final(receiver: WebhookReceiver, tls: Tls, mode: str,
                                                      expected: tuple[bool, bool, int]) -> None:
    receiver.mode = mode
    result = _hook(receiver.url, tls).send(NOTICE, 1)
    assert (result.delivered, result.permanent, result.status_code) == expected
    assert receiver.processed == {}


def test_a_wrong_secret_is_refused_by_the_receiver_and_final(receiver: WebhookReceiver, tls: Tls) -> None:
    result = _hook(receiver.url, tls, secret=b"not-the-receivers-secret").send(NOTICE, 1)
    assert (result.delivered, result.permanent, result.status_code) == (False, True, 401)
    assert receiver.bad_signatures == 1


def test_a_receiver_that_hangs_is_a_retried_timeout(receiver: WebhookReceiver, tls: Tls) -> None:
    receiver.mode, receiver.hang_s = "hang", 2.0
    result = _hook(receiver.url, tls, timeout_s=0.5).send(NOTICE, 1)
    assert not result.delivered and not result.permanent and result.detail.startswith("timeout")


def test_an_unknown_certificate_authority_is_not_trusted(receiver: WebhookReceiver, tls: Tls) -> None:
    result = _hook(receiver.url, tls, ca=False).send(NOTICE, 1)
    assert not result.delivered and "ConnectError" in result.detail
    assert receiver.processed == {}


def test_nobody_listening_is_retried(tls: Tls) -> None:
    result = _hook(f"https://127.0.0.1:{free_port()}/hook", tls).send(NOTICE, 1)
    assert not result.delivered and not result.permanent and "ConnectError" in result.detail


@pytest.fixture
def smtp(tls: Tls) -> Iterator[SmtpReceiver]:
    server = SmtpReceiver(tls)
    yield server
    server.close()


def _mail(port: int, tls: Tls, starttls: bool = True) -> EmailSender:
    return EmailSender(MAIL, host="127.0.0.1", port=port, sender="ucwatch@ops.example", to=["duty@hhs.example"],
                       starttls=starttls, timeout_s=5.0, ca_file=str(tls.ca_file))


def test_email_over_starttls_is_delivered_with_its_message_id(smtp: SmtpReceiver, tls: Tls) -> None:
    result = _mail(smtp.port, tls).send(NOTICE, 1)
    assert result.delivered
    message = smtp.messages["<N-42@ucwatch.notify>"]
    assert message["Idempotency-Key"] == "N-42" and message["To"] == "duty@hhs.example"
    assert json_body(NOTICE).decode() in message.get_payload(decode=True).decode()


@pytest.mark.parametrize("mode,permanent,code", [("fail", False, 451), ("reject", True, 550)])
def test_smtp_4xx_is_retried_5xx_is_final(smtp: SmtpReceiver, tls: Tls, mode: str, permanent: bool,
                                          code: int) -> None:
    smtp.mode = mode
    result = _mail(smtp.port, tls).send(NOTICE, 1)
    assert (result.delivered, result.permanent, result.status_code) == (False, permanent, code)
    assert smtp.messages == {}


def test_a_server_without_starttls_is_never_used_in_the_clear(tls: Tls) -> None:
    plain = SmtpReceiver(tls=None)
    try:
        result = _mail(plain.port, tls, starttls=True).send(NOTICE, 1)
        assert not result.delivered and result.permanent and "STARTTLS" in result.detail.upper()
        assert plain.messages == {}
        assert _mail(plain.port, tls, starttls=False).send(NOTICE, 1).delivered
    finally:
        plain.close()


def test_smtp_nobody_listening_is_retried(tls: Tls, tmp_path: Path) -> None:
    result = _mail(free_port(), tls).send(NOTICE, 1)
    assert not result.delivered and not result.permanent and "ConnectionRefused" in result.detail
