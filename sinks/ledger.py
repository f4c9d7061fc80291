"""The sink's ledger in ClickHouse (`sink_ledger`): the offset ranges it was about to write.

Before a batch's rows are inserted, its range and token are inserted here (deduplicated by
a token of their own, so a retried entry is one row). Which of these ranges must be
written again after a restart is decided in sinks/replay.py; this module only reads and
writes the table.
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from ucwatch.sinks.batch import Batch
from ucwatch.sinks.errors import FOREIGN_ERRORS, from_driver
from ucwatch.sinks.replay import Range


class Ledger:
    def __init__(self, client: Client, database: str) -> None:
        self._client = client
        self._table = f"{database}.sink_ledger"

    def record(self, batch: Batch) -> None:
        try:
            self._client.insert(
                self._table,
                [[batch.topic, batch.partition, batch.first_offset, batch.end_offset, batch.records,
                  batch.table, batch.token]],
                column_names=["topic", "partition", "first_offset", "last_offset", "records", "target",
                              "token"],
                settings={"insert_deduplication_token": f"intent:{batch.token}"})
        except FOREIGN_ERRORS as exc:
            raise from_driver(exc) from exc

    def ranges(self, topic: str, partition: int, since: int) -> list[Range]:
        """The partition's ledgered ranges that end at or after offset `since`, in order."""
        try:
            rows = self._client.query(
                f"SELECT first_offset, last_offset FROM {self._table} "
                "WHERE topic = {topic:String} AND partition = {partition:UInt16} "
                "AND last_offset >= {since:UInt64} ORDER BY first_offset",
                parameters={"topic": topic, "partition": partition, "since": since}).result_rows
        except FOREIGN_ERRORS as exc:
            raise from_driver(exc) from exc
        return [Range(first, last) for first, last in rows]
