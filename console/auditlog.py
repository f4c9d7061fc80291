"""The most recent audit entries, for the admin page: a bounded window of the audit topic.

The feed reads the audit topic (JSON entries, `ucwatch.core.audit`) from `KEEP` records
before its end at start, then follows it; only the last `KEEP` entries are kept. The full
trail is in ClickHouse and on the topic; the console only shows who did what lately.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

KEEP = 500


class RecentAudit:
    def __init__(self, keep: int = KEEP) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=keep)
        self.unreadable = 0
        """Records that were not a JSON object (counted, not shown)."""

    def add(self, value: bytes) -> bool:
        try:
            entry = json.loads(value)
        except ValueError:
            self.unreadable += 1
            return False
        if not isinstance(entry, dict):
            self.unreadable += 1
            return False
        self._entries.append(entry)
        return True

    def latest(self, limit: int) -> list[dict[str, Any]]:
        """The newest entries first, at most `limit`."""
        return list(reversed(self._entries))[:limit]
