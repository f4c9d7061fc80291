"""The sink's ledger in ClickHouse: which offset ranges were (about to be) written.

Before a batch is written its range and token are inserted here (deduplicated by a token
of their own, so a retried intent is one row). After a crash, the ranges of a partition
that end at or after the consumer group's committed offset are formed again exactly and
written again with the same tokens: ClickHouse drops what it already has, and writes
what a killed insert did not finish.
"""

from __future__ import annotations

from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from ucwatch.sinks.batch import Batch


@dataclass(frozen=True)
class Intent:
    first_offset: int
    last_offset: int


class Ledger:
    def __init__(self, client: Client, database: str) -> None:
        self._client = client
        self._table = f"{database}.sink_ledger"

    def record(self, batch: Batch) -> None:
        self._client.insert(
            self._table,
            [[batch.topic, batch.partition, batch.first_offset, batch.last_offset, batch.records,
              batch.table, batch.token]],
            column_names=["topic", "partition", "first_offset", "last_offset", "records", "target", "token"],
            settings={"insert_deduplication_token": f"intent:{batch.token}"})

    def unconfirmed(self, topic: str, partition: int, committed: int | None) -> list[Intent]:
        """Ranges that may not be in ClickHouse yet, in offset order.

        `committed` is the group's next offset to read; None when the group has none (then
        only the last range is in doubt: every earlier one was followed by another write).
        """
        rows = self._client.query(
            f"SELECT first_offset, last_offset FROM {self._table} "
            "WHERE topic = {topic:String} AND partition = {partition:UInt16} "
            "AND last_offset >= {since:UInt64} ORDER BY first_offset",
            parameters={"topic": topic, "partition": partition,
                        "since": committed if committed is not None else 0}).result_rows
        intents = [Intent(first, last) for first, last in rows]
        if committed is None:
            intents = intents[-1:]
        return intents
