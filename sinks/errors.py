"""Errors of the ClickHouse side.

    UcwatchError
     +-- ClickHouseError         ClickHouse refused a statement (its own message, no traceback)
     |    +-- ClickHouseUnavailable  the server or the embedded store cannot be reached now
     |    +-- StoreInUse             the embedded store is open in another process
     +-- MigrationError          the schema in ClickHouse disagrees with sinks/migrations
"""

from __future__ import annotations

from ucwatch.core.errors import UcwatchError


class ClickHouseError(UcwatchError):
    pass


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
