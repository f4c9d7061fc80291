"""Pseudonymous tokens: stable, keyed, of the right kind, and synthetic ids obvious."""

from __future__ import annotations

import pytest

from ucwatch.core.errors import PseudonymKeyError
from ucwatch.core.pseudonym import (
    IdKind,
    Pseudonymizer,
    is_synthetic_token,
    is_token,
    looks_like_a_number,
    synthetic_token,
)

KEY = bytes(range(32))


def test_same_a_number_in_any_spelling_gives_the_same_token() -> None:
    tokens = {Pseudonymizer(KEY).token(IdKind.CHILD, raw) for raw in ("A-012-345-678", "012345678", "12345678",
                                                                       " a012345678 ")}
    assert len(tokens) == 1
    token = tokens.pop()
    assert is_token(token, IdKind.CHILD) and not is_token(token, IdKind.SPONSOR)
    assert "012345678" not in token


def test_the_key_and_the_kind_change_the_token() -> None:
    one, other = Pseudonymizer(KEY), Pseudonymizer(bytes(reversed(KEY)))
    assert one.token(IdKind.CHILD, "1") != other.token(IdKind.CHILD, "1")
    assert one.token(IdKind.CHILD, "1")[3:] != one.token(IdKind.SPONSOR, "1")[3:]


def test_key_comes_from_environment_or_file_and_must_be_strong(tmp_path) -> None:
    with pytest.raises(PseudonymKeyError, match="no pseudonymization key"):
        Pseudonymizer.from_environment({})
    with pytest.raises(PseudonymKeyError, match="at least 32"):
        Pseudonymizer.from_environment({"UCWATCH_PSEUDONYM_KEY": "00" * 8})
    with pytest.raises(PseudonymKeyError, match="hex"):
        Pseudonymizer.from_environment({"UCWATCH_PSEUDONYM_KEY": "not hex"})
    key_file = tmp_path / "key"
    key_file.write_text(KEY.hex() + "\n")
    from_file = Pseudonymizer.from_environment({"UCWATCH_PSEUDONYM_KEY_FILE": str(key_file)})
    assert from_file.token(IdKind.CHILD, "5") == Pseudonymizer(KEY).token(IdKind.CHILD, "5")


def test_synthetic_tokens_are_obvious_and_a_numbers_recognized() -> None:
    token = synthetic_token(IdKind.CHILD, 42)
    assert token == "SYN-CH-000000042" and is_synthetic_token(token) and is_token(token, IdKind.CHILD)
    assert looks_like_a_number("A012345678") and looks_like_a_number("012-345-678")
    assert not looks_like_a_number("SYN-CH-000000042")
