"""Webhook signatures: HMAC-SHA256 over the timestamp and the body, per endpoint secret.

The header, in the manner of Stripe and Standard Webhooks:

    X-Ucwatch-Signature: t=1717171717,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd

`v1` is ``hex(HMAC-SHA256(secret, f"{t}." + body))``: the body exactly as sent (bytes),
`t` the Unix time of the attempt. A receiver recomputes it, compares in constant time,
and refuses a timestamp further than its tolerance from its own clock (a replayed
request). Several `v1` entries may appear while a secret is being rotated; one match
is enough. `verify` is what a receiver runs; the tests run it as the receiver does.
"""

from __future__ import annotations

import hashlib
import hmac

from ucwatch.notify.errors import SignatureInvalid

HEADER = "X-Ucwatch-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300


def digest(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, str(timestamp).encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def sign(secrets: list[bytes] | bytes, timestamp: int, body: bytes) -> str:
    """The header value for `body` sent at `timestamp` (one `v1` per secret)."""
    keys = [secrets] if isinstance(secrets, bytes) else secrets
    return ",".join([f"t={timestamp}", *(f"{SCHEME}={digest(key, timestamp, body)}" for key in keys)])


def verify(secret: bytes, header: str, body: bytes, now: float,
           tolerance_s: float = DEFAULT_TOLERANCE_S) -> int:
    """Returns the signed timestamp; raises `SignatureInvalid` unless `header` signs `body`
    with `secret` at a time within `tolerance_s` of `now`."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureInvalid("malformed", f"signature header part {part.strip()[:20]!r} is not name=value")
        if name == "t":
            if not value.isdigit():
                raise SignatureInvalid("malformed", "signature timestamp is not a Unix time")
            timestamp = int(value)
        elif name == SCHEME:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureInvalid("malformed", f"signature header lacks t= or {SCHEME}=")
    if abs(now - timestamp) > tolerance_s:
        raise SignatureInvalid("expired", f"signature timestamp {timestamp} is more than "
                               f"{tolerance_s:.0f} s from now ({now:.0f})")
    expected = digest(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise SignatureInvalid("mismatch", "no signature matches the body")
    return timestamp
