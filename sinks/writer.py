"""Writes batches to ClickHouse: ledger entry, then the rows, both deduplicated by token.

A batch that ClickHouse refuses as data (not as unavailability) is written again row by
row, each with a token of its own, so one bad row costs one dead letter, not the batch.
That path is deterministic too: a replay of the same batch takes it again with the same
tokens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, DataError, OperationalError

from ucwatch.sinks.batch import Batch
from ucwatch.sinks.clickhouse import clickhouse_message
from ucwatch.sinks.errors import ClickHouseError, ClickHouseUnavailable
from ucwatch.sinks.ledger import Ledger
from ucwatch.sinks.rows import Row, Target

log = logging.getLogger("ucwatch.sink")

# A batch of lifecycle events spans as many months as the events' occurred_at do. A retried
# block that the table drops must not reach the materialized views either (by default it
# does, and per-child aggregates would count it twice).
INSERT_SETTINGS = {"max_partitions_per_insert_block": 0, "deduplicate_blocks_in_dependent_materialized_views": 1}
OFFSET_COLUMN = -1
COMPACTED_TABLE = "child_event_states"

RefusedRow = Callable[[Batch, Row, str], None]


class BatchWriter:
    def __init__(self, client: Client, database: str, targets: dict[str, Target],
                 on_refused_row: RefusedRow) -> None:
        self._client = client
        self._database = database
        self._targets = targets
        self._ledger = Ledger(client, database)
        self._on_refused_row = on_refused_row

    @property
    def ledger(self) -> Ledger:
        return self._ledger

    def write(self, batch: Batch) -> None:
        """Raises ClickHouseUnavailable when it should be tried again later."""
        if not batch.rows:
            return
        try:
            if not batch.is_replay():
                self._ledger.record(batch)
            self._insert(batch.table, batch.rows, batch.token)
        except (OperationalError, ConnectionError, OSError) as exc:
            raise ClickHouseUnavailable(f"ClickHouse cannot be reached: {exc}") from exc
        except (DatabaseError, DataError, ValueError, TypeError, OverflowError) as exc:
            log.warning("batch %s refused (%s); writing it row by row", batch.token, clickhouse_message(exc))
            self._write_rows_one_by_one(batch)

    def compact(self, on_cluster: str = "") -> None:
        """Merges the per-child aggregate into one part: the report reads it several times
        faster so (background merges get there too, eventually)."""
        self._client.command(f"OPTIMIZE TABLE {self._database}.{COMPACTED_TABLE} {on_cluster} FINAL")

    def _write_rows_one_by_one(self, batch: Batch) -> None:
        refused: list[tuple[Row, str]] = []
        for row in batch.rows:
            try:
                self._insert(batch.table, [row], f"{batch.token}/{row[OFFSET_COLUMN]}")
            except (OperationalError, ConnectionError, OSError) as exc:
                raise ClickHouseUnavailable(f"ClickHouse cannot be reached: {exc}") from exc
            except (DatabaseError, DataError, ValueError, TypeError, OverflowError) as exc:
                refused.append((row, clickhouse_message(exc)))
        if len(batch.rows) > 1 and len(refused) == len(batch.rows):
            # Every row refused is the table, not the data (a missing table, a schema that
            # disagrees): stop rather than dead-letter a whole topic.
            raise ClickHouseError(f"ClickHouse refused every row of {batch.token}: {refused[0][1]}")
        for row, reason in refused:
            self._on_refused_row(batch, row, reason)

    def _insert(self, table: str, rows: list[Row], token: str) -> None:
        self._client.insert(f"{self._database}.{table}", rows,
                            column_names=list(self._targets[table].columns),
                            settings={**INSERT_SETTINGS, "insert_deduplication_token": token})
