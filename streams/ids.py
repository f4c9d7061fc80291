"""Deterministic ids: the same fact gets the same id in every run, replay and worker.

An alert is one expectation of one child: ``sha256(child_id|rule|anchor)``, the anchor
being the start event's id, the key value (a hearing_id) for keyed rules, or the first
event of a counted run (the first of three failed calls). A notification is one
recipient told one fact: ``sha256(child_id|kind|recipient|fact)``, the fact being an
event id or an alert id; for a CORRECTION, ``<original notification id>|<sequence of the
RETRACTED change>``, so each retraction corrects each notice once.
Both are the first 32 hex digits (128 bits).
"""

from __future__ import annotations

import hashlib


def alert_id(child_id: str, rule: str, anchor: str) -> str:
    return hashlib.sha256(f"{child_id}|{rule}|{anchor}".encode()).hexdigest()[:32]


def notification_id(child_id: str, kind: str, recipient: str, fact: str) -> str:
    return hashlib.sha256(f"{child_id}|{kind}|{recipient}|{fact}".encode()).hexdigest()[:32]
