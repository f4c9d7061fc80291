"""What the console knows of each child besides its alerts: the detector's latest snapshot
(child-state topic), the notices sent about it (notifications topic) and how each was
delivered (notice-deliveries topic).

Pure, like `console.fold`: decoded records go in, views come out. Kept small per child:

- the snapshot: only the fields a page or a filter shows (custody, contact and court
  status, the US state of release, next hearing, last contact, as of); a later snapshot
  (by ``as_of``, then by arrival) replaces an earlier one, as compaction would;
- notices: one per ``notification_id`` (the detector may repeat a notice after a crash);
- deliveries: the latest outcome per notice and endpoint, final outcomes (DELIVERED,
  GAVE_UP) winning over a FAILED attempt read after them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

FINAL_OUTCOMES = frozenset({"DELIVERED", "GAVE_UP"})

RELEASE_FILTERS: dict[str, frozenset[str]] = {
    "in_custody": frozenset({"IN_DHS_CUSTODY", "IN_HHS_CUSTODY"}),
    "released": frozenset({"RELEASED_TO_SPONSOR"}),
    "left_care": frozenset({"LEFT_HHS_CARE"}),
    "closed": frozenset({"CLOSED"}),
    "unknown": frozenset({"UNKNOWN", ""}),
}
"""The queue's release filter: the child's custody status in its latest snapshot (a child
with no snapshot read yet counts as unknown)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    custody_status: str
    contact_status: str
    court_status: str
    next_hearing_at: datetime | None
    last_contact_at: datetime | None
    as_of: datetime
    release_state: str | None = None
    """The US state of the child's last release to a sponsor (snapshot v2; None before a
    release and in v1 snapshots)."""

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Snapshot:
        return cls(custody_status=str(record["custody_status"]), contact_status=str(record["contact_status"]),
                   court_status=str(record["court_status"]), next_hearing_at=_maybe(record.get("next_hearing_at")),
                   last_contact_at=_maybe(record.get("last_contact_at")), as_of=_aware(record["as_of"]),
                   release_state=record.get("release_state"))


@dataclass(frozen=True, slots=True)
class Notice:
    notification_id: str
    child_id: str
    recipient: str
    kind: str
    fact_id: str
    occurred_at: datetime
    reason: str
    corrects_notification_id: str | None = None
    """For a correction (NotificationSent v2): the notice it withdraws (console/notices.py)."""

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Notice:
        return cls(notification_id=record["notification_id"], child_id=record["child_id"],
                   recipient=str(record["recipient"]), kind=record["kind"], fact_id=record["fact_id"],
                   occurred_at=_aware(record["occurred_at"]), reason=record.get("reason", ""),
                   corrects_notification_id=record.get("corrects_notification_id"))


@dataclass(frozen=True, slots=True)
class Delivery:
    notification_id: str
    endpoint: str
    channel: str
    attempt: int
    outcome: str
    status_code: int | None
    detail: str
    at: datetime

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Delivery:
        return cls(notification_id=record["notification_id"], endpoint=record["endpoint"],
                   channel=str(record["channel"]), attempt=int(record["attempt"]), outcome=str(record["outcome"]),
                   status_code=record.get("status_code"), detail=record.get("detail", ""), at=_aware(record["at"]))


@dataclass
class ChildrenState:
    snapshots: dict[str, Snapshot] = field(default_factory=dict)
    notices: dict[str, list[Notice]] = field(default_factory=lambda: defaultdict(list))
    deliveries: dict[str, dict[str, Delivery]] = field(default_factory=lambda: defaultdict(dict))
    """notification_id -> endpoint -> its latest delivery record."""
    release_states: set[str] = field(default_factory=set)
    """Every US state of release read in a snapshot: the queue filter's choices, kept as
    snapshots arrive so that a queue view does not look up every alert's child for them."""
    _notice_ids: set[str] = field(default_factory=set)

    def apply_snapshot(self, child_id: str, snapshot: Snapshot) -> bool:
        """Keeps the later snapshot of the child; False when `snapshot` is older than the one kept."""
        kept = self.snapshots.get(child_id)
        if kept is not None and kept.as_of > snapshot.as_of:
            return False
        self.snapshots[child_id] = snapshot
        if snapshot.release_state:
            self.release_states.add(snapshot.release_state)
        return True

    def apply_notice(self, notice: Notice) -> bool:
        if notice.notification_id in self._notice_ids:
            return False
        self._notice_ids.add(notice.notification_id)
        self.notices[notice.child_id].append(notice)
        return True

    def apply_delivery(self, delivery: Delivery) -> bool:
        per_endpoint = self.deliveries[delivery.notification_id]
        kept = per_endpoint.get(delivery.endpoint)
        if kept is not None and kept.outcome in FINAL_OUTCOMES and delivery.outcome not in FINAL_OUTCOMES:
            return False
        per_endpoint[delivery.endpoint] = delivery
        return True

    def custody(self, child_id: str) -> str:
        snapshot = self.snapshots.get(child_id)
        return snapshot.custody_status if snapshot else ""

    def release_state(self, child_id: str) -> str:
        """The US state the child was last released to; empty when unknown."""
        snapshot = self.snapshots.get(child_id)
        return (snapshot.release_state or "") if snapshot else ""

    def child_notices(self, child_id: str) -> list[tuple[Notice, list[Delivery]]]:
        """The child's notices in event time, each with its delivery per endpoint."""
        notices = sorted(self.notices.get(child_id, ()), key=lambda n: (n.occurred_at, n.notification_id))
        return [(n, sorted(self.deliveries.get(n.notification_id, {}).values(), key=lambda d: d.endpoint))
                for n in notices]

    def delivery_status(self, notification_id: str) -> str:
        """DELIVERED (every endpoint), GAVE_UP (any), FAILED (retrying), or PENDING (nothing reported)."""
        outcomes = {d.outcome for d in self.deliveries.get(notification_id, {}).values()}
        if not outcomes:
            return "PENDING"
        if "GAVE_UP" in outcomes:
            return "GAVE_UP"
        return "DELIVERED" if outcomes == {"DELIVERED"} else "FAILED"

    def notices_by_recipient(self) -> dict[str, Counter[str]]:
        """recipient -> delivery status -> notices (the dashboard's chart)."""
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for notices in self.notices.values():
            for notice in notices:
                counts[notice.recipient][self.delivery_status(notice.notification_id)] += 1
        return dict(counts)


def release_matches(custody_status: str, wanted: str) -> bool:
    return not wanted or custody_status in RELEASE_FILTERS.get(wanted, frozenset())


def _maybe(value: Any) -> datetime | None:
    return None if value is None else _aware(value)


def _aware(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(int(value) / 1000, UTC)
