"""The children table's rows as bytes: the compact layout round-trips a state exactly, the
older JSON rows (what faust's json serializer wrote before) still read, and a row that is
neither is refused with StateRowError, never another exception."""

from __future__ import annotations

import json

import faust
import msgpack  # type: ignore[import-untyped]
import pytest

from tests.unit.streams.detect_support import DAY, T0, Child, event
from ucwatch.streams.engine import Engine
from ucwatch.streams.policy_parser import default_policy
from ucwatch.streams.processor import PartitionProcessor
from ucwatch.streams.state import ChildState
from ucwatch.streams.state_codec import COMPACT, StateRowError, as_state, dumps_row, loads_row
from ucwatch.streams.table_codec import ROW_SERIALIZER, Rows

HEARING = "SYN-HR-000000007"


def a_child_with_everything() -> ChildState:
    """Kept fields (None among them), open and closed alerts, notices sent, a wake-up."""
    child = Child()
    child.feed(event("ReleasedToSponsor", T0, address_quality="BLANK", state=None, county=None, zip=None),
               event("HearingScheduled", T0, hearing_id=HEARING, hearing_at=T0 + 30 * DAY),
               event("FailureToAppear", T0 + 30 * DAY, hearing_id=HEARING),
               event("PostReleaseContact", T0 + 31 * DAY, reached=True))
    child.run_clock(T0 + 60 * DAY)
    assert child.state is not None and child.state.alerts and child.state.sent
    return child.state


def test_a_state_round_trips_through_the_compact_layout() -> None:
    state = a_child_with_everything()
    data = dumps_row({"p": 3, "s": state})
    assert data[:1] == COMPACT
    row = loads_row(data)
    again = row["s"]
    assert row["p"] == 3
    assert again.to_dict() == state.to_dict()
    assert again.history == state.history and all(type(e) is tuple for e in again.history)
    assert again.snapshot() == state.snapshot() and again.next_wakeup_ms == state.next_wakeup_ms
    assert again.folds is None and again.event_ids == state.event_ids
    assert len(data) < len(json.dumps({"p": 3, "s": state.to_dict()}))


def test_the_older_json_rows_still_read() -> None:
    """As faust's json serializer wrote them before: a changelog from then restores."""
    state = a_child_with_everything()
    old_state_row = json.dumps({"p": 1, "s": state.to_dict()}).encode()
    row = loads_row(old_state_row)
    assert row["p"] == 1 and isinstance(row["s"], ChildState) and row["s"].to_dict() == state.to_dict()
    clock = {"p": 1, "clock_ms": T0}
    assert loads_row(json.dumps(clock).encode()) == clock
    assert loads_row(dumps_row(clock)) == clock
    assert as_state(state.to_dict()).to_dict() == state.to_dict() and as_state(state) is state


def test_a_mask_wider_than_64_bits_round_trips() -> None:
    """A policy of more than 63 matchers gives masks msgpack cannot pack as integers."""
    state = ChildState("SYN-CH-000000001", "fp", T0, ((T0, "e1", "NtaIssued", None, 2 ** 70 + 5),
                                                       (T0 + 1, "e2", "NtaServed", {"method": "MAIL"}, 3)))
    again = loads_row(dumps_row({"p": 0, "s": state}))["s"]
    assert again.history == state.history


def _packed_whole(row: dict) -> bytes:
    """The layout as one msgpack call writes it (the codec before it kept entries encoded)."""
    state = row["s"]
    history = tuple((*e[:4], e[4] if e[4] < 2 ** 63 else msgpack.ExtType(1, e[4].to_bytes(
        (e[4].bit_length() + 8) // 8, "big", signed=True))) for e in state.history)
    return COMPACT + msgpack.packb([row["p"], state.child_id, state.policy, state.now_ms, history, state.alerts,
                                    state.wakeups, state.sent, state.last_contact_ms])


def test_a_row_written_from_entries_kept_encoded_is_the_same_bytes() -> None:
    """The engine hands each new state the entries encoded so far when an event is
    appended; a late event, landing inside the history, starts over. Rows are written for
    every third state of 60 simulated children, in their disordered arrival order, as a
    batch writes only a child's last state, and compared with one msgpack call."""
    from collections import defaultdict

    from bench.engine_bench import engine_events

    engine = Engine(default_policy())
    states: dict[str, ChildState | None] = defaultdict(lambda: None)
    reused = 0
    for number, record in enumerate(engine_events(60, 9)):
        state = engine.on_event(states[record["child_id"]], record, record["recorded_at"]).state
        states[record["child_id"]] = state
        if number % 3 == 0:
            prefix = state.packed_prefix()
            reused += prefix is not None and prefix[0] > 0
            row = {"p": number % 6, "s": state}
            assert dumps_row(row) == _packed_whole(row)
            assert state.packed_prefix() == (len(state.history),
                                             b"".join(msgpack.packb(entry) for entry in state.history))
    assert reused > 100, "encoded entries were handed on"


@pytest.mark.parametrize("entries", [15, 16, 70_000])
def test_long_histories_and_wide_masks_encode_as_one_msgpack_call_would(entries: int) -> None:
    history = tuple((T0 + n, f"e{n:06d}", "WellbeingCallAttempted", {"attempt": n},
                     2 ** 70 + n if n % 7 == 0 else n) for n in range(entries))
    earlier = ChildState("SYN-CH-000000001", "fp", T0, history[:-1])
    dumps_row({"p": 0, "s": earlier})
    state = ChildState("SYN-CH-000000001", "fp", T0, history, packed=earlier.packed_prefix())
    row = {"p": 2, "s": state}
    assert dumps_row(row) == _packed_whole(row)
    assert loads_row(dumps_row(row))["s"].history == history


@pytest.mark.parametrize("data", [b"", b"\x02whatever", b"\x01", b"\x01\x93\x01", b"\x01\xc1", b"{not json",
                                  b"[1, 2]", b"\x01\x99" + b"\xc0" * 9])
def test_a_row_of_no_known_layout_is_refused_clearly(data: bytes) -> None:
    with pytest.raises(StateRowError):
        loads_row(data)


@pytest.mark.parametrize("alerts", [[], {"WHEREABOUTS_UNKNOWN": []}, {"WHEREABOUTS_UNKNOWN": {"a": 3}},
                                    {"WHEREABOUTS_UNKNOWN": {"a": {"open": True}}}])
def test_a_compact_row_whose_alerts_are_malformed_is_refused_at_decode(alerts: object) -> None:
    """Refused as a row, with the layout named, rather than failing later in the engine."""
    data = COMPACT + msgpack.packb((0, "SYN-CH-000000001", "fp", T0, (), alerts, {}, (), None))
    with pytest.raises(StateRowError, match="alerts are not a map"):
        loads_row(data)


def test_the_processor_restores_its_partition_from_rows_of_either_layout() -> None:
    """A store holding old JSON rows and new compact ones: timers and states as before."""
    engine = Engine(default_policy())
    old, new = Child(engine=engine), Child(engine=engine)
    old.feed(event("ReleasedToSponsor", T0, child=1))
    new.feed(event("ReleasedToSponsor", T0, child=2))
    assert old.state is not None and new.state is not None
    store = {old.state.child_id: loads_row(json.dumps({"p": 0, "s": old.state.to_dict()}).encode()),
             new.state.child_id: loads_row(dumps_row({"p": 0, "s": new.state})),
             "__clock__:0": loads_row(json.dumps({"p": 0, "clock_ms": T0}).encode())}
    processor = PartitionProcessor(engine, store, 0)
    assert processor.clock_ms == T0
    outputs = processor.on_tick(T0 + 400 * DAY)   # both children's deadlines pass
    assert {key for key, _ in outputs.alerts} == {old.state.child_id, new.state.child_id}
    assert len(outputs.states) == 2, "one snapshot per child changed"


def test_faust_uses_the_row_serializer_for_the_store_and_the_changelog() -> None:
    app = faust.App("codec-test", broker="kafka://127.0.0.1:1", store="memory://")
    table = app.Table("children", partitions=1, key_type=str, value_type=Rows, default=None)
    assert table.value_serializer == table.changelog_topic.value_serializer == ROW_SERIALIZER
    state = a_child_with_everything()
    data = app.serializers.dumps_value(Rows, {"p": 0, "s": state}, serializer=ROW_SERIALIZER)
    assert data is not None and data[:1] == COMPACT
    assert app.serializers.loads_value(Rows, data, serializer=ROW_SERIALIZER)["s"].to_dict() == state.to_dict()


def test_a_batch_sends_one_snapshot_per_child_the_last_one() -> None:
    """The child-state topic is compacted: of a child's changes in one batch only the last
    snapshot is sent, with the clock of that change; other children keep theirs."""
    engine = Engine(default_policy())
    processor = PartitionProcessor(engine, {}, 0)
    batch = processor.on_event(event("ChildEncountered", T0, child=1))
    batch.extend(processor.on_event(event("ChildEncountered", T0 + 1, child=2)))
    batch.extend(processor.on_event(event("CustodyTransferred", T0 + DAY, child=1)))
    snapshots = dict(batch.states)
    assert len(batch.states) == 2
    first = snapshots["SYN-CH-000000001"]
    assert (first["custody_status"], first["events_seen"], first["as_of"]) == ("IN_HHS_CUSTODY", 2, T0 + DAY)
    assert snapshots["SYN-CH-000000002"]["as_of"] == T0 + 1
    writes = processor.drain_writes()
    assert set(writes.states) == {"SYN-CH-000000001", "SYN-CH-000000002"}
    assert writes.states["SYN-CH-000000001"]["s"] is batch.changed["SYN-CH-000000001"][0]
