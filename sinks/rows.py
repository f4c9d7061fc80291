"""Decoded Avro records (and the audit topic's JSON entries, sinks/audit_rows.py) to
ClickHouse rows, one target table per source topic, and the tables of the other records a
topic carries by design (`Target.also`: the sources' declared watermarks on the lifecycle
topic land in `source_watermarks`, as `SideRow`s of the same batch).

Each table's columns are listed here once, in insert order. Lifecycle events share one
wide table: the envelope, then every per-type field (NULL where a type has no such field),
so a new event type or field needs a column here and a migration adding it.
Every row ends with the record's Kafka partition and offset.

The sink decodes without Avro logical types: timestamps arrive as epoch milliseconds
and dates as days, which clickhouse-connect writes into DateTime64(3) and Date32 as they
are (aware datetimes and dates work too, e.g. in tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ucwatch.core.settings import Settings
from ucwatch.schemas.catalog import LIFECYCLE, default_catalog
from ucwatch.sinks.audit_rows import AUDIT_FIELDS, RECORD_NAME, audit_row, decode_audit

ENVELOPE = ("event_id", "event_type", "child_id", "occurred_at", "recorded_at", "source", "synthetic")
EVENT_FIELDS = (
    "agency", "state", "birth_date", "age_years", "sex", "country_of_birth", "referring_agency",
    "facility_id", "placement_type", "from_agency", "sponsor_id", "sponsor_category", "county",
    "zip", "address_quality", "recipient", "attempt", "outcome", "lives_with_sponsor",
    "address_confirmed", "safety_concern", "contact_type", "reached", "concern_type", "severity",
    "nta_id", "method", "court_code", "hearing_id", "hearing_at", "hearing_type",
    "next_hearing_at", "channel", "verifying_agency")
KAFKA_COLUMNS = ("kafka_partition", "kafka_offset")

ALERT_FIELDS = ("alert_id", "child_id", "rule", "change", "status", "severity", "deadline", "fired_at",
                "reason", "start_event_id", "basis", "sequence", "synthetic")
NOTIFICATION_FIELDS = ("notification_id", "child_id", "recipient", "kind", "fact_id", "occurred_at",
                       "reason", "corrects_notification_id", "synthetic")
ACTION_FIELDS = ("action_id", "action", "alert_id", "alert_sequence", "child_id", "actor", "role", "at", "assignee",
                 "note", "snoozed_until", "outcome", "close_reason", "synthetic")
STATE_FIELDS = ("child_id", "custody_status", "contact_status", "court_status", "next_hearing_at",
                "last_contact_at", "last_event_at", "events_seen", "open_alerts", "as_of", "synthetic",
                "release_state")

WATERMARK_FIELDS = ("source", "complete_up_to", "declared_at", "partition", "issued_by")

Row = list[Any]


class SideRow(list[Any]):
    """A row for another table than its topic's (one of `Target.also`). It travels in the
    batch of its (topic, partition), so the ledger, the token and the replay cover it with
    the records around it (sinks/batch.py, sinks/writer.py)."""
    __slots__ = ("table",)

    def __init__(self, table: str, row: Row) -> None:
        super().__init__(row)
        self.table = table


@dataclass(frozen=True)
class Target:
    """Where one topic's records land and how a record becomes a row."""
    table: str
    columns: tuple[str, ...]
    record_names: frozenset[str]
    """Writer schema names (unqualified) that belong here; others are skipped or refused."""
    to_row: Callable[..., Row]
    """``to_row(record, name=None)``: with the record's schema name, a faster positional path."""
    decode: Callable[[bytes], tuple[str, dict[str, Any]]] | None = None
    """For a topic that is not Avro (the audit's JSON): (record name, record) of a value,
    raising ContractError; None: the Avro decoder."""
    also: tuple[Target, ...] = ()
    """Other records the topic carries by design, landed in their own tables."""


def _fields_getter(fields: tuple[str, ...]) -> Callable[..., Row]:
    """Rows by field name; per field order, the layout of records is learnt once and values
    are placed by position.

    The layout is keyed by the record's own field order, not by its schema name alone: the
    decoder resolves old writer versions to the latest schema, and fastavro then puts the
    fields the writer lacked last (a v1 NotificationSent decodes with
    corrects_notification_id after synthetic, a v2 one before it), so one name can come
    in several orders."""
    positions = {name: i for i, name in enumerate(fields)}
    width = len(fields)
    layouts: dict[tuple[str, ...], list[int]] = {}

    def to_row(record: dict[str, Any], name: str | None = None) -> Row:
        if name is None:
            get = record.get
            return [get(field) for field in fields]
        order = tuple(record)
        layout = layouts.get(order)
        if layout is None:
            # A field without a column (a newer schema than the table) goes to a spare slot.
            layout = layouts[order] = [positions.get(field, width) for field in order]
        row: Row = [None] * (width + 1)
        for position, value in zip(layout, record.values(), strict=True):
            row[position] = value
        del row[width]
        return row
    return to_row


def _state_row(record: dict[str, Any], name: str | None = None) -> Row:
    row = [record.get(name) for name in STATE_FIELDS]
    row[STATE_FIELDS.index("open_alerts")] = [
        (a["alert_id"], a["rule"], a["severity"]) for a in record["open_alerts"]]
    return row


LIFECYCLE_NAMES = frozenset(default_catalog().names(LIFECYCLE))
SKIPPED_NAMES = frozenset({"ClockTick"})
"""Records on a landed topic that carry no history (they only advance event time)."""

SOURCE_WATERMARKS = Target("source_watermarks", WATERMARK_FIELDS + KAFKA_COLUMNS, frozenset({"SourceWatermark"}),
                           _fields_getter(WATERMARK_FIELDS))
"""A source's declaration "delivered everything up to T" (docs/detect.md, Source watermarks)."""
EVENTS = Target("events", ENVELOPE + EVENT_FIELDS + KAFKA_COLUMNS, LIFECYCLE_NAMES,
                _fields_getter(ENVELOPE + EVENT_FIELDS), also=(SOURCE_WATERMARKS,))
ALERTS = Target("alerts", ALERT_FIELDS + KAFKA_COLUMNS, frozenset({"AlertChanged"}),
                _fields_getter(ALERT_FIELDS))
NOTIFICATIONS = Target("notifications", NOTIFICATION_FIELDS + KAFKA_COLUMNS,
                       frozenset({"NotificationSent"}), _fields_getter(NOTIFICATION_FIELDS))
CHILD_STATE = Target("child_state", STATE_FIELDS + KAFKA_COLUMNS, frozenset({"ChildStateSnapshot"}),
                     _state_row)
ACTIONS = Target("actions", ACTION_FIELDS + KAFKA_COLUMNS, frozenset({"AlertAction"}), _fields_getter(ACTION_FIELDS))
AUDIT = Target("audit", AUDIT_FIELDS + KAFKA_COLUMNS, frozenset({RECORD_NAME}), audit_row, decode_audit)
TARGETS = (EVENTS, SOURCE_WATERMARKS, ALERTS, NOTIFICATIONS, CHILD_STATE, ACTIONS, AUDIT)


def short_name(full_name: str) -> str:
    return full_name.rpartition(".")[2]


def by_table(targets: Iterable[Target]) -> dict[str, Target]:
    """Every table the targets write, theirs and those of their `also`."""
    return {t.table: t for target in targets for t in (target, *target.also)}


def topic_targets(settings: Settings) -> dict[str, Target]:
    """The landed topics and their tables."""
    topics = settings.topics
    return {topics.lifecycle.name: EVENTS, topics.alerts.name: ALERTS,
            topics.notifications.name: NOTIFICATIONS, topics.child_state.name: CHILD_STATE,
            topics.actions.name: ACTIONS, topics.audit.name: AUDIT}
