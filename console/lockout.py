"""Lock-out after repeated failed logins, per user name (known or not).

Pure but for the clock passed in. After `max_failures` failures in a row a name is locked
for `lock_s`; a success clears its count. While locked, even the right password is refused
(the attacker must not learn that it was right). Kept in memory: a restart forgets locks,
which is acceptable for a console on loopback behind a proxy (docs/console.md).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class _Record:
    failures: int = 0
    locked_until: float = 0.0


class Lockout:
    def __init__(self, max_failures: int, lock_s: float) -> None:
        self._max = max_failures
        self._lock_s = lock_s
        self._records: dict[str, _Record] = {}

    def locked(self, name: str, now: float) -> bool:
        record = self._records.get(name)
        return record is not None and record.locked_until > now

    def failed(self, name: str, now: float) -> bool:
        """Counts a failure; True when the name is now locked."""
        record = self._records.setdefault(name, _Record())
        if record.locked_until and record.locked_until <= now:
            record.failures, record.locked_until = 0, 0.0  # a lock that ran out starts a fresh count
        record.failures += 1
        if record.failures >= self._max:
            record.locked_until = now + self._lock_s
        return record.locked_until > now

    def succeeded(self, name: str) -> None:
        self._records.pop(name, None)
