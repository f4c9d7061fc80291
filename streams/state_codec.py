"""The rows of the children table as bytes: a child's state in a compact binary layout,
other rows (a partition's clock, its watermarks) as JSON, and the older JSON form of a
child's state still read, so a changelog written before this layout restores as it was.

    dumps_row({"p": partition, "s": ChildState})   -> b"\\x01" + msgpack array
    dumps_row({"p": partition, "clock_ms": ...})    -> JSON
    loads_row(data)                                  -> the same dict (a ChildState in "s")

Why not `ChildState.to_dict` + JSON per write: on the 296k-record replay, turning each
state into lists and dicts and then into JSON was about a third of the worker's own CPU
per record. The state's fields are already tuples, dicts and ints, which msgpack packs as
they are (about 3x faster than the JSON encoder on the same state, and smaller).

Layout 1, after the byte 0x01 (a JSON row starts with `{`, so the two cannot be confused):
a msgpack array [partition, child_id, policy, now_ms, history, alerts, wakeups, sent,
last_contact_ms], each field as in `ChildState` (state.py). A matcher mask too wide for
msgpack's 64-bit integers (a policy of more than 63 matchers) is packed as an extension
of type 1 holding its big-endian bytes. The folds and the event-id set are not stored;
the engine rebuilds them, as after `from_dict`.
"""

from __future__ import annotations

import json
from typing import Any

import msgpack  # type: ignore[import-untyped]  # ships no type information

from ucwatch.streams.state import ChildState, Entry

COMPACT = b"\x01"
_BIG_INT = 1
_JSON_START = b"{"
_NINE_FIELDS = b"\x99"   # msgpack's header of an array of 9 (the layout's fields)
_PACKER = msgpack.Packer()  # one for the process: packb makes a packer per call; the worker packs on one thread


class StateRowError(ValueError):
    """A row of the children table that is neither layout this module reads."""


def dumps_row(row: dict[str, Any]) -> bytes:
    """A table row as bytes: a child's row ({"p", "s": ChildState}) compact, others JSON."""
    state = row.get("s")
    if isinstance(state, ChildState):
        # the array packed in three parts: the history's entries are kept encoded on the
        # state and handed on to the next one (state.py), so each entry is encoded once,
        # not again at every later write of the child (a history holds about ten)
        head = _PACKER.pack((row["p"], state.child_id, state.policy, state.now_ms))
        tail = _PACKER.pack((state.alerts, state.wakeups, state.sent, state.last_contact_ms))
        return b"".join((COMPACT, _NINE_FIELDS, head[1:], _history(state), tail[1:]))
    return json.dumps(row, separators=(",", ":")).encode()


def loads_row(data: bytes) -> dict[str, Any]:
    """The row `dumps_row` wrote, or a row of the older JSON form (its state a ChildState too)."""
    head = data[:1]
    if head == COMPACT:
        return _unpack_state(data)
    if head == _JSON_START:
        try:
            row = json.loads(data)
        except ValueError as exc:
            raise StateRowError(f"a JSON row of the children table cannot be read: {exc}") from None
        if isinstance(row, dict) and isinstance(row.get("s"), dict):
            row["s"] = ChildState.from_dict(row["s"])
        if not isinstance(row, dict):
            raise StateRowError(f"a JSON row of the children table is a {type(row).__name__}, not an object")
        return row
    raise StateRowError(f"a row of the children table starts with byte {data[:1]!r}: not a layout this "
                        "worker reads (a newer worker's?)")


def as_state(value: Any) -> ChildState:
    """The state held in a row's "s": a ChildState, or the dict of `ChildState.to_dict`."""
    return value if isinstance(value, ChildState) else ChildState.from_dict(value)


def _history(state: ChildState) -> bytes:
    """The history as msgpack packs a sequence of entries, reusing the encoded prefix."""
    history = state.history
    prefix = state.packed_prefix()
    length, body = (0, b"") if prefix is None or prefix[0] > len(history) else prefix
    if length < len(history):
        body += b"".join([_entry(entry) for entry in history[length:]])
        state.keep_packed_prefix(len(history), body)
    return _array_header(len(history)) + body


def _entry(entry: Entry) -> bytes:
    try:
        return _PACKER.pack(entry)  # type: ignore[no-any-return]  # msgpack is untyped
    except OverflowError:  # a mask wider than 64 bits
        return _PACKER.pack((*entry[:4], _wide(entry[4])))  # type: ignore[no-any-return]


def _array_header(length: int) -> bytes:
    if length < 16:
        return bytes((0x90 | length,))
    if length < 0x10000:
        return b"\xdc" + length.to_bytes(2, "big")
    return b"\xdd" + length.to_bytes(4, "big")


def _wide(mask: int) -> Any:
    if 0 <= mask < 2 ** 63:
        return mask
    return msgpack.ExtType(_BIG_INT, mask.to_bytes((mask.bit_length() + 8) // 8, "big", signed=True))


def _ext(code: int, data: bytes) -> Any:
    if code == _BIG_INT:
        return int.from_bytes(data, "big", signed=True)
    raise StateRowError(f"a child's state holds a msgpack extension of unknown type {code}")


def _unpack_state(data: bytes) -> dict[str, Any]:
    try:
        fields = msgpack.unpackb(memoryview(data)[1:], use_list=False, ext_hook=_ext)
        partition, child_id, policy, now_ms, history, alerts, wakeups, sent, contact = fields
        entries: tuple[Entry, ...] = history
        if not isinstance(alerts, dict) or not all(
                isinstance(records, dict) and all(isinstance(record, tuple) for record in records.values())
                for records in alerts.values()):
            raise TypeError("its alerts are not a map of rule to a map of anchor to record")
        state = ChildState(child_id, policy, now_ms, entries,
                           alerts,   # msgpack gives its records as tuples already (use_list=False)
                           dict(wakeups), sent, contact)
    except StateRowError:
        raise
    except (ValueError, TypeError, AttributeError, msgpack.UnpackException) as exc:
        raise StateRowError(f"a child's state in the compact layout cannot be read: "
                            f"{type(exc).__name__}: {exc}") from None
    return {"p": partition, "s": state}
