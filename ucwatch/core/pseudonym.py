"""Pseudonymous identifiers: keyed-HMAC tokens made at the producer.

Raw identifiers (A-numbers, ORR case numbers, sponsor ids) never leave the agency that
holds them: a producer turns each into a token ``<KIND>-<26 base32 chars>`` with
HMAC-SHA256 under a key kept outside the code (UCWATCH_PSEUDONYM_KEY, or a file named by
UCWATCH_PSEUDONYM_KEY_FILE). The same raw id and key always give the same token, so
agencies sharing a key join on it; without the key a token reveals nothing.

Synthetic data uses the reserved prefix ``SYN-`` (e.g. ``SYN-CH-000123``): no real token
can start with it, so fake records are obvious wherever they end up.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

from ucwatch.core.errors import PseudonymKeyError

SYNTHETIC_PREFIX = "SYN-"
MIN_KEY_BYTES = 32


class IdKind(StrEnum):
    CHILD = "CH"
    SPONSOR = "SP"
    FACILITY = "FA"
    NTA = "NT"
    HEARING = "HR"


TOKEN_PATTERN = re.compile(r"^(?P<synthetic>SYN-)?(?P<kind>[A-Z]{2})-(?P<body>[A-Z0-9]{1,32})$")
# An A-number is 8 or 9 digits, often written with a leading A and dashes.
A_NUMBER_PATTERN = re.compile(r"^A?-?\d{3}-?\d{3}-?\d{2,3}$", re.IGNORECASE)


def is_token(value: str, kind: IdKind) -> bool:
    match = TOKEN_PATTERN.match(value)
    return match is not None and match.group("kind") == kind.value


def is_synthetic_token(value: str) -> bool:
    return value.startswith(SYNTHETIC_PREFIX)


def looks_like_a_number(value: str) -> bool:
    return bool(A_NUMBER_PATTERN.match(value.strip()))


def synthetic_token(kind: IdKind, serial: int) -> str:
    return f"{SYNTHETIC_PREFIX}{kind.value}-{serial:09d}"


class Pseudonymizer:
    """Turns raw identifiers into tokens under one secret key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise PseudonymKeyError(
                f"the pseudonymization key has {len(key)} bytes; at least {MIN_KEY_BYTES} are needed")
        self._key = key

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Pseudonymizer:
        environ = os.environ if environ is None else environ
        if environ.get("UCWATCH_PSEUDONYM_KEY"):
            return cls(_decode_key(environ["UCWATCH_PSEUDONYM_KEY"], "UCWATCH_PSEUDONYM_KEY"))
        key_file = environ.get("UCWATCH_PSEUDONYM_KEY_FILE")
        if key_file:
            try:
                text = Path(key_file).read_text().strip()
            except OSError as exc:
                raise PseudonymKeyError(f"cannot read the key file {key_file}: {exc}") from exc
            return cls(_decode_key(text, key_file))
        raise PseudonymKeyError(
            "no pseudonymization key: set UCWATCH_PSEUDONYM_KEY (hex, at least 64 digits) or "
            "UCWATCH_PSEUDONYM_KEY_FILE")

    def token(self, kind: IdKind, raw_id: str) -> str:
        normalized = _normalize(raw_id)
        if not normalized:
            raise ValueError("cannot pseudonymize an empty identifier")
        digest = hmac.new(self._key, f"{kind.value}:{normalized}".encode(), hashlib.sha256).digest()
        body = base64.b32encode(digest).decode("ascii")[:26]
        return f"{kind.value}-{body}"


def _normalize(raw_id: str) -> str:
    """The same A-number written as A-012-345-678 or 012345678 gives the same token."""
    compact = re.sub(r"[\s-]", "", raw_id).upper()
    if re.fullmatch(r"A\d{8,9}", compact):
        compact = compact[1:]
    return compact.zfill(9) if compact.isdigit() and len(compact) == 8 else compact


def _decode_key(text: str, origin: str) -> bytes:
    try:
        return bytes.fromhex(text.strip())
    except ValueError:
        raise PseudonymKeyError(f"the key from {origin} must be hex-encoded") from None
