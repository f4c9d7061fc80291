"""Writes batches to ClickHouse: ledger entry, then the rows, both deduplicated by token.

A batch whose rows ClickHouse refuses as data (not as unavailability) is written again row
by row, each with a token of its own; the rows still refused are returned, for the dead-
letter topic, so one bad row costs one dead letter, not the batch. That path is
deterministic too: a replay of the same batch takes it again with the same tokens.

A replayed batch (a ledgered range formed again after a restart) is checked against the
table after its insert: rows of the range that are not there are inserted again, under a
token never used before. ClickHouse's deduplication log of a non-replicated table is written before
the block's part is committed (`MergeTreeSink`: `deduplication_log->addPart`, then
`renameTempPartAndAdd`), so a process killed between the two (the embedded engine dies with
the sink) leaves the log naming a block that never landed; the replay's block with the
same token is then dropped as a duplicate and its rows are lost. Seen as the 60 March 2021
rows of a batch spanning 59 months missing after a SIGKILL, and reproduced by killing
inserts in a loop. The rows present are found by (kafka_partition, kafka_offset), which
every landing table has (docs/sink.md, crash points 4-6).

A batch may write more than one table (a lifecycle batch holding declared watermarks
writes `source_watermarks` after `events`); each table is inserted, checked and, if
refused, written row by row on its own, under the batch's token.

Raises `ClickHouseUnavailable` when the batch should be tried again later, and
`ClickHouseError` when the table, not the data, is at fault.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from ucwatch.sinks.batch import Batch
from ucwatch.sinks.errors import FOREIGN_ERRORS, ClickHouseError, ClickHouseUnavailable, from_driver
from ucwatch.sinks.ledger import Ledger
from ucwatch.sinks.replay import Range
from ucwatch.sinks.rows import Row, Target, by_table

log = logging.getLogger("ucwatch.sink")

# A batch of lifecycle events spans as many months as the events' occurred_at do. A retried
# block that the table drops must not reach the materialized views either (by default it
# does, and per-child aggregates would count it twice).
INSERT_SETTINGS = {"max_partitions_per_insert_block": 0, "deduplicate_blocks_in_dependent_materialized_views": 1}
OFFSET_COLUMN = -1
COMPACTED_TABLE = "child_event_states"


@dataclass(frozen=True)
class Refused:
    """A row ClickHouse would not take, and its reason (ClickHouse's own message)."""
    row: Row
    reason: str

    @property
    def offset(self) -> int:
        return int(self.row[OFFSET_COLUMN])


class BatchWriter:
    def __init__(self, client: Client, database: str, targets: dict[str, Target]) -> None:
        self._client = client
        self._database = database
        self._targets = by_table(targets.values())
        self._ledger = Ledger(client, database)

    def write(self, batch: Batch) -> list[Refused]:
        """Ledger entry (a batch formed for the first time), then the rows of each table it
        writes (its topic's, then any side table's), all under the batch's token (each table
        keeps its own deduplication log); the rows refused."""
        tables = batch.tables()
        if not tables:
            return []
        if not batch.is_replay():
            self._ledger.record(batch)
        refused: list[Refused] = []
        for table, rows in tables:
            refused += self._write_table(batch, table, rows)
        return refused

    def _write_table(self, batch: Batch, table: str, rows: list[Row]) -> list[Refused]:
        try:
            self._insert(table, rows, batch.token)
            if batch.is_replay():
                self._complete(batch, table, rows)
        except FOREIGN_ERRORS as exc:
            error = from_driver(exc)
            if isinstance(error, ClickHouseUnavailable):
                raise error from exc
            log.warning("batch %s refused by %s (%s); writing it row by row", batch.token, table, error)
            return self._write_rows_one_by_one(batch, table, rows)
        return []

    def _complete(self, batch: Batch, table: str, rows: list[Row]) -> None:
        """Inserts the rows of a replayed batch that its insert did not land (see the
        module doc), under a token never used before: they were just found missing, and a
        token of their own could be in the deduplication log again after another kill.
        (Turning deduplication off would need `deduplicate_insert = 'disable'` on
        ClickHouse 26, which ignores `insert_deduplicate` by default, and a setting older
        servers do not know.)"""
        present = {offset for (offset,) in self._client.query(
            f"SELECT kafka_offset FROM {self._database}.{table} WHERE kafka_partition = {{partition:UInt16}} "
            "AND kafka_offset BETWEEN {first:UInt64} AND {last:UInt64}",
            parameters={"partition": batch.partition, "first": batch.first_offset,
                        "last": batch.end_offset}).result_rows}
        missing = [row for row in rows if row[OFFSET_COLUMN] not in present]
        if missing:
            log.warning("%s: %d of its %d row(s) were not in %s although ClickHouse dropped them as duplicates "
                        "(a deduplication entry left by an insert killed before its parts were committed); "
                        "inserting them again", batch.token, len(missing), len(rows), table)
            self._client.insert(f"{self._database}.{table}", missing,
                                column_names=list(self._targets[table].columns),
                                settings={**INSERT_SETTINGS,
                                          "insert_deduplication_token": f"{batch.token}/missing/{uuid.uuid4().hex}"})

    def ranges(self, topic: str, partition: int, since: int) -> list[Range]:
        return self._ledger.ranges(topic, partition, since)

    def compact(self, on_cluster: str = "") -> None:
        """Merges the per-child aggregate into one part: the report reads it several times
        faster so (background merges get there too, eventually)."""
        try:
            self._client.command(f"OPTIMIZE TABLE {self._database}.{COMPACTED_TABLE} {on_cluster} FINAL")
        except FOREIGN_ERRORS as exc:
            raise from_driver(exc) from exc

    def _write_rows_one_by_one(self, batch: Batch, table: str, rows: list[Row]) -> list[Refused]:
        refused: list[Refused] = []
        for row in rows:
            try:
                self._insert(table, [row], f"{batch.token}/{row[OFFSET_COLUMN]}")
            except FOREIGN_ERRORS as exc:
                error = from_driver(exc)
                if isinstance(error, ClickHouseUnavailable):
                    raise error from exc
                refused.append(Refused(row, str(error)))
        if len(rows) > 1 and len(refused) == len(rows):
            # Every row refused is the table, not the data (a missing table, a schema that
            # disagrees): stop rather than dead-letter a whole topic.
            raise ClickHouseError(f"ClickHouse refused every row of {batch.token} in {table}: {refused[0].reason}")
        return refused

    def _insert(self, table: str, rows: list[Row], token: str) -> None:
        self._client.insert(f"{self._database}.{table}", rows,
                            column_names=list(self._targets[table].columns),
                            settings={**INSERT_SETTINGS, "insert_deduplication_token": token})
