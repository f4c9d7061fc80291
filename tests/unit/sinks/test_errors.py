"""clickhouse-connect's exceptions mapped in one place (sinks/errors.py), by class and code."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, DataError, OperationalError, ProgrammingError

from ucwatch.sinks.errors import ClickHouseError, ClickHouseUnavailable, from_driver


@pytest.mark.parametrize(("failure", "unavailable", "code"), [
    (OperationalError("HTTPConnectionPool: connection refused"), True, None),
    (ConnectionResetError("reset by peer"), True, None),
    (DatabaseError("Code: 241. DB::Exception: Memory limit exceeded", code=241, name="MEMORY_LIMIT_EXCEEDED"),
     True, 241),
    (OperationalError("Code: 319. unknown status", code=319, name="UNKNOWN_STATUS_OF_INSERT"), True, 319),
    (DatabaseError("Code: 60. DB::Exception: Unknown table", code=60, name="UNKNOWN_TABLE"), False, 60),
    (OperationalError("Code: 62. Syntax error (retried)", code=62, name="SYNTAX_ERROR"), False, 62),
    (ProgrammingError("The client has been closed"), False, None),
    (DataError("Invalid None value in non-Nullable column"), False, None),
    (OverflowError("int too big to convert"), False, None),
], ids=["no-answer", "reset", "memory", "insert-status", "unknown-table", "syntax-after-retry", "closed",
        "data", "overflow"])
def test_failures_by_class_and_code(failure: Exception, unavailable: bool, code: int | None) -> None:
    error = from_driver(failure)
    assert isinstance(error, ClickHouseUnavailable) is unavailable
    assert isinstance(error, ClickHouseError) and error.code == code


def test_the_name_travels_with_the_code() -> None:
    error = from_driver(DatabaseError("Code: 164. DB::Exception: readonly. (READONLY)", code=164, name="READONLY"))
    assert (error.code, error.name) == (164, "READONLY")
    assert error.message == "Code: 164. DB::Exception: readonly. (READONLY)"


def test_an_unavailability_says_what_could_not_be_reached() -> None:
    error = from_driver(OperationalError("connection refused"), "ClickHouse at http://db:8123")
    assert str(error) == "ClickHouse at http://db:8123 cannot be reached (connection refused)"
