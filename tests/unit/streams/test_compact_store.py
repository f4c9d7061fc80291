"""The in-memory store of the children table (streams/compact_store.py), in a real faust
app: rows kept as the changelog's bytes, read back as states, partitions dropped after a
recovery, and the processor rebuilt from it as from any store."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import faust
import pytest
from faust.events import Event
from faust.exceptions import ValueDecodeError
from faust.types import TP
from faust.types.tuples import Message

from tests.unit.streams.detect_support import DAY, T0, Child, event
from tests.unit.streams.test_crash_replay import LOG
from ucwatch.streams import processor as processor_module
from ucwatch.streams.compact_store import STORE_SCHEME, CompactMemoryStore
from ucwatch.streams.durable import DurableTable, writing_for
from ucwatch.streams.engine import Engine
from ucwatch.streams.policy_parser import default_policy
from ucwatch.streams.processor import PartitionProcessor
from ucwatch.streams.state_codec import dumps_row
from ucwatch.streams.table_codec import Rows

CHANGELOG = "compact-test-children-changelog"


def new_table() -> Any:
    app = faust.App("compact-test", broker="kafka://127.0.0.1:1", store=f"{STORE_SCHEME}://", web_enabled=False,
                    Table=DurableTable)
    return app.Table("children", partitions=2, key_type=str, value_type=Rows, default=None)


@pytest.fixture
def table() -> Any:
    return new_table()


def changelog_record(table: Any, partition: int, key: str, value: bytes | None, offset: int = 0) -> Event:
    message = Message(CHANGELOG, partition, offset, 0.0, 0, None, table.data._encode_key(key), value, None)
    return Event(table.app, key, value, None, message)


def restore(table: Any, *records: Event) -> None:
    table.data.apply_changelog_batch(list(records), lambda key: key, lambda value: value)


def released_child(engine: Engine, child: int) -> Any:
    released = Child(engine=engine)
    released.feed(event("ReleasedToSponsor", T0, child=child))
    assert released.state is not None
    return released.state


def test_the_table_keeps_the_changelog_bytes_and_reads_them_as_states(table: Any) -> None:
    engine = Engine(default_policy())
    state = released_child(engine, 1)
    row = dumps_row({"p": 0, "s": state})
    restore(table, changelog_record(table, 0, state.child_id, row))
    assert isinstance(table.data, CompactMemoryStore)
    kept = table.data._rows[table.data._encode_key(state.child_id)]
    assert kept is row and not gc.is_tracked(kept), "the row itself, nothing for the collector to walk"
    read = table.get(state.child_id)
    assert read["p"] == 0 and read["s"].to_dict() == state.to_dict()
    assert table.get("SYN-CH-999999999") is None


def test_a_processor_rebuilds_its_partition_from_the_store(table: Any) -> None:
    """Timers come back from the rows, and only the partition's own children wake."""
    engine = Engine(default_policy())
    mine, theirs = released_child(engine, 1), released_child(engine, 2)
    restore(table,
            changelog_record(table, 0, mine.child_id, dumps_row({"p": 0, "s": mine})),
            changelog_record(table, 1, theirs.child_id, dumps_row({"p": 1, "s": theirs})),
            changelog_record(table, 0, "__clock__:0", dumps_row({"p": 0, "clock_ms": T0})))
    processor = PartitionProcessor(engine, table, 0)
    assert processor.clock_ms == T0
    outputs = processor.on_tick(T0 + 400 * DAY)
    assert {key for key, _ in outputs.alerts} == {mine.child_id}


def test_a_processor_reads_only_the_rows_of_its_own_partition(table: Any) -> None:
    """A worker starts a processor per partition; each decodes its own partition's rows
    only, never every row of the table (here another partition's row cannot be decoded at
    all, and partition 0 starts regardless)."""
    engine = Engine(default_policy())
    mine = released_child(engine, 1)
    restore(table,
            changelog_record(table, 0, mine.child_id, dumps_row({"p": 0, "s": mine})),
            changelog_record(table, 0, "__clock__:0", dumps_row({"p": 0, "clock_ms": T0})),
            changelog_record(table, 1, "SYN-CH-000000002", b"\x01not a state"))
    assert {key for key, _ in table.rows_of(0)} == {mine.child_id, "__clock__:0"}
    with pytest.raises(ValueDecodeError, match="cannot be read"):
        list(table.rows_of(1))
    processor = PartitionProcessor(engine, table, 0)
    assert {key for key, _ in processor.on_tick(T0 + 400 * DAY).alerts} == {mine.child_id}


def test_the_rocksdb_store_gives_one_partitions_rows_too(tmp_path: Any) -> None:
    """The worker's default store keeps a database per partition; `rows_of` reads only
    the partition's own."""
    app = faust.App("rows-of-test", broker="kafka://127.0.0.1:1", store="rocksdb://", web_enabled=False,
                    Table=DurableTable, datadir=str(tmp_path))
    rocksdb_table = app.Table("children", partitions=2, key_type=str, value_type=Rows, default=None)
    engine = Engine(default_policy())
    mine, theirs = released_child(engine, 1), released_child(engine, 2)
    restore(rocksdb_table,
            changelog_record(rocksdb_table, 0, mine.child_id, dumps_row({"p": 0, "s": mine})),
            changelog_record(rocksdb_table, 1, theirs.child_id, dumps_row({"p": 1, "s": theirs})))
    assert [(key, row["s"].to_dict()) for key, row in rocksdb_table.rows_of(0)] == [(mine.child_id, mine.to_dict())]
    assert [key for key, _ in rocksdb_table.rows_of(1)] == [theirs.child_id]


def test_a_tombstone_removes_the_row(table: Any) -> None:
    state = released_child(Engine(default_policy()), 1)
    restore(table, changelog_record(table, 0, state.child_id, dumps_row({"p": 0, "s": state})),
            changelog_record(table, 0, state.child_id, None, offset=1))
    assert table.get(state.child_id) is None and len(table.data) == 0


def test_a_finished_recovery_drops_the_partitions_another_worker_has(table: Any) -> None:
    engine = Engine(default_policy())
    mine, theirs = released_child(engine, 1), released_child(engine, 2)
    restore(table,
            changelog_record(table, 0, mine.child_id, dumps_row({"p": 0, "s": mine})),
            changelog_record(table, 1, theirs.child_id, dumps_row({"p": 1, "s": theirs})))
    asyncio.run(table.data.on_recovery_completed({TP(CHANGELOG, 0)}, set()))
    assert table.get(mine.child_id) is not None
    assert table.get(theirs.child_id) is None


def test_a_write_goes_to_its_events_partition_and_one_without_an_event_is_refused(table: Any) -> None:
    state = released_child(Engine(default_policy()), 1)
    key, row = table.data._encode_key(state.child_id), dumps_row({"p": 1, "s": state})
    with pytest.raises(RuntimeError, match="partition is unknown"):
        table.data._set(key, row)
    with writing_for(changelog_record(table, 1, state.child_id, row)):
        table.data._set(key, row)
    assert table.data._partition_of[key] == 1
    assert table.get(state.child_id)["s"].to_dict() == state.to_dict()


def test_nothing_persists_so_every_start_restores_from_the_changelog(table: Any) -> None:
    assert table.data.persisted_offset(TP(CHANGELOG, 0)) is None


def run_partition_through(table: Any, log: list[tuple[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The records a processor over `table` sends for `log`, its writes stored as rows, batch by batch."""
    processor = PartitionProcessor(Engine(default_policy()), table, 0)
    sent: list[tuple[str, dict[str, Any]]] = []
    for start in range(0, len(log), 40):
        for kind, value in log[start:start + 40]:
            outputs = processor.on_event(value) if kind == "event" else processor.on_tick(value)
            sent += outputs.alerts + outputs.notifications + outputs.states
        writes = processor.drain_writes()
        with writing_for(changelog_record(table, 0, "batch", None)):
            for key, row in (*writes.states.items(), *writes.clock.items()):
                table.data._set(table.data._encode_key(key), dumps_row(row))
    return sent


def test_states_read_back_from_the_store_give_the_records_of_states_kept_as_objects(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With room for one state, every other child is decoded from its row at its next event:
    the records are those of a processor that kept every state as an object."""
    kept_all = run_partition_through(new_table(), LOG)
    monkeypatch.setattr(processor_module, "CACHE_SIZE", 1)
    read_back = run_partition_through(new_table(), LOG)
    assert len(kept_all) > 100 and read_back == kept_all
