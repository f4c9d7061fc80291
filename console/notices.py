"""A child's notices as the page shows them: each notice with the corrections that withdraw it.

Pure, like `console.children`. A correction notice (NotificationSent v2, kind CORRECTION)
names the notice it withdraws in ``corrects_notification_id``; the detector sends one per
recipient, so it withdraws the notice sent to that same recipient. Here each correction is
nested under the notice it names, and that notice is marked corrected. A correction whose
notice is not among the child's notices read so far (the console started after it, or it is
still on its way) is shown on its own line, naming the notice id it withdraws, so nothing
read is hidden.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ucwatch.console.children import Delivery, Notice

CORRECTION = "CORRECTION"

Sent = tuple[Notice, list[Delivery]]
"""A notice and its latest delivery per endpoint, as `ChildrenState.child_notices` gives them."""


@dataclass(frozen=True, slots=True)
class NoticeThread:
    notice: Notice
    deliveries: list[Delivery]
    corrections: list[Sent] = field(default_factory=list)
    """The corrections that withdraw `notice`, in event time."""

    @property
    def corrected(self) -> bool:
        return bool(self.corrections)

    @property
    def withdraws(self) -> str | None:
        """For a correction shown on its own: the id of the notice it withdraws."""
        return self.notice.corrects_notification_id


def thread_notices(sent: list[Sent]) -> list[NoticeThread]:
    """Each notice once, in the order given (event time), corrections nested under theirs."""
    by_id = {notice.notification_id: notice for notice, _ in sent}
    nested: dict[str, list[Sent]] = {}
    threads: list[NoticeThread] = []
    for notice, deliveries in sent:
        target = notice.corrects_notification_id
        # Nest only under a notice that is itself no correction: one level, as the page draws it.
        if target is not None and target in by_id and by_id[target].corrects_notification_id is None:
            nested.setdefault(target, []).append((notice, deliveries))
            continue
        threads.append(NoticeThread(notice, deliveries, nested.setdefault(notice.notification_id, [])))
    return threads


def withdrawal(notice: Notice) -> str:
    """What a correction says on the page: "withdrawn: <reason>" (the reason names the late
    event and when it occurred, as the detector wrote it)."""
    return f"withdrawn: {notice.reason}" if notice.reason else "withdrawn"


def is_correction(notice: Notice) -> bool:
    return notice.kind == CORRECTION or notice.corrects_notification_id is not None
