"""The notifier's deterministic identifiers.

- Idempotency key of a delivery: the notice id itself (`notification_id`, already
  deterministic per fact and recipient, see docs/detect.md). Every attempt, on every
  endpoint and after every restart, carries the same key, so a receiver that keeps the
  keys it has processed sees each notice once.
- E-mail Message-ID: ``<notice id@ucwatch.notify>``, the same on every attempt.
- The NOTICE_UNDELIVERED alert: the detector's formula for alert ids
  (``sha256(child_id|rule|anchor)[:32]``, streams/ids.py), with the rule
  ``NOTICE_UNDELIVERED`` and the anchor ``<notice id>/<endpoint name>``, so that giving up
  on the same notice at the same endpoint again (after a restart) names the same alert.
  Repeated here because the notifier may not import the detector (same layer).
"""

from __future__ import annotations

import hashlib

UNDELIVERED_RULE = "NOTICE_UNDELIVERED"
MESSAGE_ID_DOMAIN = "ucwatch.notify"


def idempotency_key(notice_id: str) -> str:
    return notice_id


def message_id(notice_id: str) -> str:
    return f"<{notice_id}@{MESSAGE_ID_DOMAIN}>"


def alert_id(child_id: str, rule: str, anchor: str) -> str:
    return hashlib.sha256(f"{child_id}|{rule}|{anchor}".encode()).hexdigest()[:32]


def undelivered_alert_id(child_id: str, notice_id: str, endpoint: str) -> str:
    return alert_id(child_id, UNDELIVERED_RULE, f"{notice_id}/{endpoint}")
