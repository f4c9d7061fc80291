"""Kafka records to rows: decoded (without Avro logical types, readers cached per schema
id), checked against their topic, and placed into their table's row layout (sinks/rows.py).

A record is a row (of its topic's table, or a `SideRow` of one the topic also feeds: a
declared watermark on the lifecycle topic), nothing (a tombstone on the compacted
child-state topic, a clock tick), or a dead letter: one that cannot be decoded, or of a
type that does not belong on its topic.
"""

from __future__ import annotations

from typing import Any

from ucwatch.core.errors import ContractError
from ucwatch.core.settings import Settings
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import registry_for
from ucwatch.schemas.serde import Decoder
from ucwatch.sinks.deadletters import DeadLetters
from ucwatch.sinks.rows import SKIPPED_NAMES, Row, SideRow, Target, short_name


def default_decoder(settings: Settings) -> Decoder:
    catalog = default_catalog()
    return Decoder(registry_for(settings.schema_registry, catalog), catalog, logical_types=False)


class RecordRows:
    def __init__(self, targets: dict[str, Target], letters: DeadLetters, decoder: Decoder) -> None:
        self._targets = targets
        self._letters = letters
        self._decoder = decoder
        self.skipped = 0
        """Records that carry no row: tombstones and clock ticks."""

    def row(self, message: Any) -> Row | None:
        value = message.value()
        if value is None:
            self.skipped += 1
            return None
        target = self._targets[message.topic()]
        try:
            name, record = (target.decode or self._decoder.decode_named)(value)
        except ContractError as exc:
            self._letters.undecodable(message, exc.code, exc.message)
            return None
        name = short_name(name)
        if name in target.record_names:
            row = target.to_row(record, name)
            row += (message.partition(), message.offset())
            return row
        for side in target.also:
            if name in side.record_names:
                side_row = SideRow(side.table, side.to_row(record, name))
                side_row += (message.partition(), message.offset())
                return side_row
        if name in SKIPPED_NAMES:
            self.skipped += 1
            return None
        self._letters.undecodable(message, "unexpected_record_type",
                                  f"a {name} record does not belong on {message.topic()} (lands in {target.table})")
        return None
