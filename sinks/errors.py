"""Errors of the ClickHouse side, and the one place where clickhouse-connect's become them.

    UcwatchError
     +-- ClickHouseError         ClickHouse refused a statement: its message, `code`, `name`
     |    +-- ClickHouseUnavailable  the server or the embedded store cannot be reached now
     |    +-- StoreInUse             the embedded store is open in another process
     +-- MigrationError          the schema in ClickHouse disagrees with sinks/migrations

`from_driver` maps a foreign exception by its class and by ClickHouse's error code, which
clickhouse-connect reads from the server (the X-ClickHouse-Exception-Code header, or the
embedded engine's exception) into `Error.code` and `Error.name`:

- an `OperationalError` without a code (nothing answered: refused or reset connection,
  timeout), `OSError`, and the codes of passing server states (`TRANSIENT_CODES`) are
  `ClickHouseUnavailable`: try again later;
- every other driver error is a refusal, `ClickHouseError` with the code and the name;
- a value clickhouse-connect cannot serialize (`DataError`, or `ValueError`, `TypeError`,
  `OverflowError` from its column writers) is a refusal of the data (`code` None).

Nothing else in ucwatch looks into the driver's exceptions or matches their text.
"""

from __future__ import annotations

from clickhouse_connect.driver.exceptions import ClickHouseError as DriverError
from clickhouse_connect.driver.exceptions import Error as DriverErrorWithCode
from clickhouse_connect.driver.exceptions import OperationalError

from ucwatch.core.errors import UcwatchError

# ClickHouse error codes ucwatch acts on (names as ClickHouse's errorCodeToName gives them).
UNKNOWN_FUNCTION, UNKNOWN_TABLE, UNKNOWN_DATABASE = 46, 60, 81
MISSING_OBJECT_CODES = frozenset({UNKNOWN_FUNCTION, UNKNOWN_TABLE, UNKNOWN_DATABASE})
"""A statement names a table, view or database that is not there (migrations not applied)."""
TRANSIENT_CODES = frozenset({
    159,  # TIMEOUT_EXCEEDED
    202,  # TOO_MANY_SIMULTANEOUS_QUERIES
    203,  # NO_FREE_CONNECTION
    209,  # SOCKET_TIMEOUT
    210,  # NETWORK_ERROR
    241,  # MEMORY_LIMIT_EXCEEDED
    242,  # TABLE_IS_READ_ONLY (a replica lost its keeper session)
    252,  # TOO_MANY_PARTS
    285,  # TOO_FEW_LIVE_REPLICAS
    319,  # UNKNOWN_STATUS_OF_INSERT
    425,  # SYSTEM_ERROR
    999,  # KEEPER_EXCEPTION
})
"""Server states that pass: the same statement may succeed later."""

FOREIGN_ERRORS: tuple[type[Exception], ...] = (DriverError, OSError, ValueError, TypeError, OverflowError)
"""What `from_driver` maps: catch these around a clickhouse-connect call, nothing broader."""


class ClickHouseError(UcwatchError):
    def __init__(self, message: str, *, code: int | None = None, name: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        """ClickHouse's error code (e.g. 60), None when ClickHouse did not give one."""
        self.name = name
        """ClickHouse's error name (e.g. UNKNOWN_TABLE)."""

    @property
    def message(self) -> str:
        return str(self.args[0])


class ClickHouseUnavailable(ClickHouseError):
    pass


class StoreInUse(ClickHouseError):
    def __init__(self, path: str, detail: str) -> None:
        super().__init__(
            f"the embedded ClickHouse store {path} is open in another process ({detail}). "
            "Only one process can open it: while `ucwatch sink` runs, query through it "
            "(`ucwatch sql` does so by itself when the sink serves queries).")
        self.path = path


class MigrationError(UcwatchError):
    pass


def from_driver(exc: Exception, where: str = "ClickHouse") -> ClickHouseError:
    """The ucwatch error for a failure of a clickhouse-connect call (see the module doc).

    `where` (e.g. "ClickHouse at http://host:8123") names what could not be reached in the
    message of an unavailability, which the driver's text alone does not say clearly.
    """
    if isinstance(exc, ClickHouseError):
        return exc
    code = exc.code if isinstance(exc, DriverErrorWithCode) else None
    name = exc.name if isinstance(exc, DriverErrorWithCode) else None
    if isinstance(exc, OSError) or (isinstance(exc, OperationalError) and code is None):
        return ClickHouseUnavailable(f"{where} cannot be reached ({exc})")
    if code in TRANSIENT_CODES:
        return ClickHouseUnavailable(f"{where} cannot do it now: {exc}", code=code, name=name)
    if isinstance(exc, DriverError):
        return ClickHouseError(str(exc), code=code, name=name)
    return ClickHouseError(f"a value cannot be written ({type(exc).__name__}: {exc})")
