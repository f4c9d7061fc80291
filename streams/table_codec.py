"""The children table's values for faust: rows serialized as `state_codec` writes them.

`Rows` is the table's `value_type`. faust takes a table's serializer from its value type
when the table is made, and gives it to the table's store (RocksDB), its changelog topic
and the recovery from that changelog; so with `value_type=Rows` all of them write the
compact layout and read it (and the older JSON rows, which faust's default `json`
serializer wrote). Rows stay plain dicts in memory: `from_data` hands back what the
serializer read.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from faust.serializers import codecs

from ucwatch.streams.state_codec import dumps_row, loads_row

ROW_SERIALIZER = "ucwatch-row"


class RowCodec(codecs.Codec):
    def _dumps(self, s: Any) -> bytes:
        return dumps_row(s)

    def _loads(self, s: bytes) -> Any:
        return loads_row(s)


class Rows:
    """The value type of the children table (faust reads `_options.serializer` from it)."""

    _options = SimpleNamespace(serializer=ROW_SERIALIZER)

    @classmethod
    def from_data(cls, data: Any, preferred_type: Any = None) -> Any:
        return data


codecs.register(ROW_SERIALIZER, RowCodec())
