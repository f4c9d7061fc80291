"""The body and the e-mail carry any notice kind and field as it is decoded."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from ucwatch.notify.message import email_message, json_body

NOTICE = {"notification_id": "N1", "child_id": "SYN-CH-000000001", "recipient": "HHS",
          "kind": "FAILURE_TO_APPEAR", "fact_id": "E1",
          "occurred_at": datetime(2021, 3, 1, 22, 0, tzinfo=UTC), "reason": "FTA at SFR", "synthetic": True}


def test_body_is_every_field_with_iso_timestamps_in_a_stable_order() -> None:
    body = json_body(NOTICE)
    assert json.loads(body) == {**NOTICE, "occurred_at": "2021-03-01T22:00:00.000Z"}
    assert body == json_body(dict(reversed(list(NOTICE.items())))), "same notice, same bytes"
    assert body.startswith(b'{"child_id":')


def test_a_new_kind_with_new_fields_flows_through_unchanged() -> None:
    correction = {**NOTICE, "notification_id": "N2", "kind": "CORRECTION", "corrects_notification_id": "N1",
                  "corrected_by_event_at": datetime(2021, 3, 2, tzinfo=UTC), "details": {"late": [1, 2]}}
    document = json.loads(json_body(correction))
    assert document["kind"] == "CORRECTION" and document["corrects_notification_id"] == "N1"
    assert document["corrected_by_event_at"] == "2021-03-02T00:00:00.000Z"
    assert document["details"] == {"late": [1, 2]}


def test_email_carries_the_notice_and_its_stable_ids() -> None:
    message = email_message(NOTICE, "ucwatch@ops.example", ["duty@hhs.example", "b@hhs.example"],
                            datetime(2024, 1, 1, tzinfo=UTC))
    assert message["Message-ID"] == "<N1@ucwatch.notify>"
    assert message["Idempotency-Key"] == "N1"
    assert message["To"] == "duty@hhs.example, b@hhs.example"
    assert message["Subject"] == "[ucwatch][SYNTHETIC] FAILURE_TO_APPEAR for HHS: N1"
    text = message.get_content()
    assert "kind: FAILURE_TO_APPEAR" in text and json_body(NOTICE).decode() in text
