"""Idempotency keys, Message-IDs and alert ids; the retry budget's waits."""

from __future__ import annotations

import random

from ucwatch.core.retry import Backoff
from ucwatch.notify.budget import RetryBudget
from ucwatch.notify.ids import idempotency_key, message_id, undelivered_alert_id
from ucwatch.streams import ids as detector_ids


def test_the_idempotency_key_is_the_notice_id_on_every_attempt() -> None:
    notice_id = detector_ids.notification_id("SYN-CH-000000001", "FAILURE_TO_APPEAR", "HHS", "event-1")
    assert idempotency_key(notice_id) == notice_id == idempotency_key(notice_id)
    assert message_id(notice_id) == f"<{notice_id}@ucwatch.notify>"


def test_the_undelivered_alert_id_is_the_detectors_formula_for_rule_and_anchor() -> None:
    child, notice_id = "SYN-CH-000000001", "3f1c" * 8
    assert undelivered_alert_id(child, notice_id, "hhs.webhook") == \
        detector_ids.alert_id(child, "NOTICE_UNDELIVERED", f"{notice_id}/hhs.webhook")


def test_the_undelivered_alert_id_differs_by_endpoint_and_notice() -> None:
    ids = {undelivered_alert_id("SYN-CH-000000001", n, e) for n in ("a", "b") for e in ("hhs.webhook", "hhs.email")}
    assert len(ids) == 4


def test_back_off_doubles_from_the_first_wait_up_to_the_ceiling() -> None:
    budget = RetryBudget(Backoff(first_s=2.0, max_s=10.0, factor=2.0, jitter=0.0), max_attempts=6)
    rng = random.Random(1)
    assert [budget.delay_before(n, rng) for n in range(1, 7)] == [0.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert budget.worst_case_s() == 34.0


def test_jitter_shortens_each_wait_within_its_fraction() -> None:
    budget = RetryBudget(Backoff(first_s=2.0, max_s=900.0, jitter=0.5), max_attempts=20)
    rng = random.Random(7)
    for attempt in range(2, 21):
        plain = min(2.0 * 2 ** (attempt - 2), 900.0)
        waits = [budget.delay_before(attempt, rng) for _ in range(50)]
        assert all(plain * 0.5 <= w <= plain for w in waits)
        assert len(set(waits)) > 1, "jitter spreads the retries of many notices"


def test_the_budget_is_spent_at_max_attempts() -> None:
    budget = RetryBudget(Backoff(), max_attempts=3)
    assert [budget.spent(n) for n in range(5)] == [False, False, False, True, True]


def test_default_budget_is_about_three_hours() -> None:
    from ucwatch.core.settings import NotifySettings
    from ucwatch.notify.endpoints import budget

    worst = budget(NotifySettings()).worst_case_s()
    assert 2.5 * 3600 < worst < 3.0 * 3600
