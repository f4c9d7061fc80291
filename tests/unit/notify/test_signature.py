"""Webhook signatures: what the notifier signs, a receiver can verify, and nothing else."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from ucwatch.notify.errors import SignatureInvalid
from ucwatch.notify.signature import HEADER, sign, verify

SECRET = b"whsec-test-0123456789abcdef"
BODY = b'{"kind":"FAILURE_TO_APPEAR","notification_id":"N1"}'
T = 1_717_171_717


def test_header_is_t_and_v1_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET, f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, T, BODY) == f"t={T},v1={expected}"
    assert HEADER == "X-Ucwatch-Signature"


def test_a_receiver_verifies_a_signed_body() -> None:
    assert verify(SECRET, sign(SECRET, T, BODY), BODY, now=T + 10) == T


@pytest.mark.parametrize("body", [BODY.replace(b"N1", b"N2"), BODY + b" ", b"", BODY[:-1]])
def test_a_tampered_body_fails(body: bytes) -> None:
    with pytest.raises(SignatureInvalid) as caught:
        verify(SECRET, sign(SECRET, T, BODY), body, now=T)
    assert caught.value.reason == "mismatch"


def test_another_secret_fails() -> None:
    with pytest.raises(SignatureInvalid, match="no signature matches"):
        verify(b"another-secret-of-some-length", sign(SECRET, T, BODY), BODY, now=T)


def test_a_changed_timestamp_fails_even_when_recent() -> None:
    header = sign(SECRET, T, BODY).replace(f"t={T}", f"t={T + 1}")
    with pytest.raises(SignatureInvalid) as caught:
        verify(SECRET, header, BODY, now=T)
    assert caught.value.reason == "mismatch"


@pytest.mark.parametrize("skew", [301, -301, 86_400])
def test_an_old_or_future_timestamp_fails(skew: int) -> None:
    with pytest.raises(SignatureInvalid) as caught:
        verify(SECRET, sign(SECRET, T, BODY), BODY, now=T + skew)
    assert caught.value.reason == "expired"


def test_tolerance_is_the_receivers_choice() -> None:
    assert verify(SECRET, sign(SECRET, T, BODY), BODY, now=T + 3600, tolerance_s=7200) == T


@pytest.mark.parametrize("header", ["", "t=abc,v1=00", f"v1={'0' * 64}", f"t={T}", "garbage", f"t={T};v1=00"])
def test_a_malformed_header_fails(header: str) -> None:
    with pytest.raises(SignatureInvalid) as caught:
        verify(SECRET, header, BODY, now=T)
    assert caught.value.reason == "malformed"


def test_during_a_rotation_either_secret_verifies() -> None:
    old, new = b"old-secret-0123456789", b"new-secret-0123456789"
    header = sign([old, new], T, BODY)
    assert header.count("v1=") == 2
    assert verify(old, header, BODY, now=T) == T
    assert verify(new, header, BODY, now=T) == T
