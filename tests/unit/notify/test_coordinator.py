"""The delivery state machine and its commit order, with in-memory doubles."""

from __future__ import annotations

from tests.unit.notify.doubles import (
    HHS_HOOK,
    HHS_MAIL,
    ICE_HOOK,
    Clock,
    CountingObserver,
    FakeOutbox,
    coordinator,
    notice,
    source,
)
from ucwatch.notify.delivery import AttemptResult, Outcome
from ucwatch.notify.ids import undelivered_alert_id
from ucwatch.notify.offsets import log_start_from_metadata

OK = AttemptResult.ok(200, "HTTP 200 OK")
DOWN = AttemptResult.retry("HTTP 500 Internal Server Error", 500)
REFUSED = AttemptResult.refused("HTTP 400 Bad Request", 400)


def _attempt(coord, clock, result):
    due = coord.due()
    for delivery in due:
        coord.attempted(delivery, result, clock(), clock())
    return due


def test_offset_is_committed_only_after_the_delivered_record_is_acknowledged() -> None:
    outbox, clock = FakeOutbox(), Clock()
    coord = coordinator(outbox, clock)
    coord.assign(0, committed=0, log_end=0)
    coord.take(source(0), notice(1))
    assert coord.to_commit() == {}
    assert [d.endpoint for d in _attempt(coord, clock, OK)] == [HHS_HOOK]
    [entry] = outbox.waiting("log")
    assert (entry.outcome, entry.attempt, entry.notice_offset) == (Outcome.DELIVERED, 1, 0)
    assert coord.to_commit() == {}, "delivered but its log record is not acknowledged yet"
    outbox.ack("log")
    assert coord.to_commit() == {0: (1, "log=1")}
    coord.committed(0, 1)
    assert coord.to_commit() == {}


def test_a_later_notice_finished_first_does_not_move_the_commit_past_an_earlier_one() -> None:
    outbox, clock = FakeOutbox(), Clock()
    coord = coordinator(outbox, clock, {"HHS": [HHS_HOOK], "ICE": [ICE_HOOK]})
    coord.assign(0, committed=5, log_end=0)
    coord.take(source(5), notice(1, "HHS"))
    coord.take(source(6), notice(2, "ICE"))
    for delivery in coord.due():
        coord.attempted(delivery, DOWN if delivery.endpoint is HHS_HOOK else OK, clock(), clock())
    outbox.ack_all()
    # offset 5 still pending (HHS down); its FAILED record at log offset 0 is where a
    # restart must start reading to see its attempts
    assert coord.to_commit() == {}
    assert coord.pending == 1
    clock.advance(1.0)
    _attempt(coord, clock, OK)
    outbox.ack_all()
    assert coord.to_commit() == {0: (7, "log=3")}


def test_commit_metadata_points_at_the_first_record_of_an_unfinished_notice() -> None:
    outbox, clock = FakeOutbox(), Clock()
    coord = coordinator(outbox, clock)
    coord.assign(0, committed=0, log_end=0)
    for offset in range(3):
        coord.take(source(offset), notice(offset))
    due = coord.due()
    coord.attempted(due[0], OK, clock(), clock())  # offset 0 delivered
    coord.attempted(due[1], DOWN, clock(), clock())  # offset 1 failed once
    coord.attempted(due[2], OK, clock(), clock())  # offset 2 delivered
    outbox.ack_all()  # log: 0 DELIVERED n0, 1 FAILED n1, 2 DELIVERED n2
    offset, metadata = coord.to_commit()[0]
    assert offset == 1
    assert log_start_from_metadata(metadata) == 1, "the FAILED record of offset 1 must be read again"


def test_retries_wait_for_the_back_off_and_resume_after_it() -> None:
    outbox, clock = FakeOutbox(), Clock()
    coord = coordinator(outbox, clock, attempts=5)
    coord.assign(0, committed=0, log_end=0)
    coord.take(source(0), notice(1))
    _attempt(coord, clock, DOWN)
    assert coord.due() == []
    assert coord.next_due_ms() == clock() + 1000
    clock.advance(0.999)
    assert coord.due() == []
    clock.advance(0.001)
    [delivery] = _attempt(coord, clock, DOWN)
    assert delivery.attempts == 2
    assert coord.next_due_ms() == clock() + 2000, "exponential: 1 s, then 2 s"


def test_budget_spent_dead_letter_and_alert_before_gave_up_and_commit_last() -> None:
    outbox, clock = FakeOutbox(), Clock()
    observer = CountingObserver()
    coord = coordinator(outbox, clock, attempts=3, observer=observer)
    coord.assign(0, committed=0, log_end=0)
    coord.take(source(0), notice(1))
    for wait in (0, 1, 2):
        clock.advance(wait)
        _attempt(coord, clock, DOWN)
    assert [e.outcome for e in outbox.waiting("log")] == [Outcome.FAILED] * 3
    assert outbox.waiting("dlq") == [] and outbox.waiting("alerts") == [], \
        "nothing is escalated before the last FAILED record is acknowledged"
    outbox.ack("log", 3)
    assert len(outbox.waiting("dlq")) == 1 and len(outbox.waiting("alerts")) == 1
    assert outbox.waiting("log") == [], "GAVE_UP only after the dead letter and the alert"
    outbox.ack("dlq")
    assert outbox.waiting("log") == []
    outbox.ack("alerts")
    [gave_up] = outbox.waiting("log")
    assert (gave_up.outcome, gave_up.attempt, gave_up.status_code) == (Outcome.GAVE_UP, 3, 500)
    assert coord.to_commit() == {}
    outbox.ack("log")
    assert coord.to_commit() == {0: (1, "log=4")}
    [letter] = outbox.kafka.dead_letters
    assert letter.reason_code == "notice_undelivered" and letter.stage == "notify"
    assert letter.origin == "ucwatch.notifications:0:0" and "after 3 attempt(s)" in letter.reason
    [alert] = outbox.kafka.alerts
    assert alert["alert_id"] == undelivered_alert_id("SYN-CH-000000001", "N0001", "hhs.webhook")
    assert (alert["rule"], alert["severity"], alert["change"], alert["status"], alert["sequence"]) == \
           ("NOTICE_UNDELIVERED", "CRITICAL", "OPENED", "OPEN", 1)
    assert alert["fired_at"] == outbox.kafka.log[2].at_ms, "dated by the last failed attempt"
    assert len(observer.given_up) == 1


def test_a_final_refusal_gives_up_at_once() -> None:
    outbox, clock = FakeOutbox(), Clock()
    coord = coordinator(outbox, clock, attempts=10)
    coord.assign(0, committed=0, log_end=0)
    coord.take(source(0), notice(1))
    _attempt(coord, clock, REFUSED)
    outbox.ack_all()
    assert [e.outcome for e in outbox.kafka.log] == [Outcome.FAILED, Outcome.GAVE_UP]
    assert outbox.kafka.log[1].attempt == 1 and outbox.kafka.log[1].status_code == 400
    assert coord.to_commit() == {0: (1, "log=2")}


def test_each_endpoint_of_the_recipient_gets_the_notice_and_the_notice_waits_for_both() -> None:
    outbox, clock = FakeOutbox(), Clock()
    coord = coordinator(outbox, clock, {"HHS": [HHS_HOOK, HHS_MAIL]})
    coord.assign(0, committed=0, log_end=0)
    coord.take(source(0), notice(1))
    due = coord.due()
    assert [d.endpoint for d in due] == [HHS_HOOK, HHS_MAIL]
    coord.attempted(due[0], OK, clock(), clock())
    outbox.ack_all()
    assert coord.to_commit() == {}
    coord.attempted(due[1], OK, clock(), clock())
    outbox.ack_all()
    assert coord.to_commit() == {0: (1, "log=2")}


def test_a_recipient_without_endpoints_is_escalated_not_dropped() -> None:
    outbox, clock = FakeOutbox(), Clock()
    coord = coordinator(outbox, clock, {"HHS": [HHS_HOOK]})
    coord.assign(0, committed=0, log_end=0)
    coord.take(source(0, timestamp_ms=777), notice(1, "ICE"))
    assert coord.due() == []
    outbox.ack_all()
    [entry] = outbox.kafka.log
    assert (entry.endpoint, entry.outcome, entry.attempt) == ("ice.unconfigured", Outcome.GAVE_UP, 0)
    assert "no endpoint is configured for ICE" in outbox.kafka.alerts[0]["reason"]
    assert outbox.kafka.alerts[0]["fired_at"] == 777
    assert coord.to_commit() == {0: (1, "log=1")}


def test_after_a_restart_the_log_says_what_not_to_send_again() -> None:
    outbox, clock = FakeOutbox(), Clock()
    coord = coordinator(outbox, clock, attempts=5)
    coord.assign(0, committed=0, log_end=0)
    coord.take(source(0), notice(1))
    coord.take(source(1), notice(2))
    due = coord.due()
    coord.attempted(due[0], OK, clock(), clock())
    coord.attempted(due[1], DOWN, clock(), clock())
    outbox.ack_all()
    clock.advance(0.5)
    # the process dies before committing: a new one reads the log from the beginning
    observer = CountingObserver()
    restarted = coordinator(outbox, clock, attempts=5, observer=observer)
    restarted.assign(0, committed=0, log_end=len(outbox.kafka.log), log_records=list(enumerate(outbox.kafka.log)))
    restarted.take(source(0), notice(1))
    restarted.take(source(1), notice(2))
    assert observer.skips == ["hhs.webhook"], "notice 1 was delivered: not sent again"
    assert restarted.due() == [], "notice 2 waits out the back-off after its logged failure"
    clock.advance(0.5)
    [again] = restarted.due()
    assert again.notice.notice_id == "N0002" and again.attempts == 1
    assert restarted.to_commit() == {0: (1, "log=1")}


def test_a_budget_spent_before_a_restart_gives_up_at_once_with_the_same_alert() -> None:
    outbox, clock = FakeOutbox(), Clock()
    coord = coordinator(outbox, clock, attempts=2)
    coord.assign(0, committed=0, log_end=0)
    coord.take(source(0), notice(1))
    _attempt(coord, clock, DOWN)
    clock.advance(1)
    _attempt(coord, clock, DOWN)
    outbox.ack("log", 2)
    outbox.ack("dlq")
    outbox.ack("alerts")
    outbox.crash({})  # died before its GAVE_UP record was written
    clock.advance(60)
    restarted = coordinator(outbox, clock, attempts=2)
    restarted.assign(0, committed=0, log_end=2, log_records=list(enumerate(outbox.kafka.log)))
    restarted.take(source(0), notice(1))
    assert restarted.due() == []
    outbox.ack_all()
    first, second = outbox.kafka.alerts
    assert first == second, "giving up again writes the same alert record"
    assert [e.outcome for e in outbox.kafka.log] == [Outcome.FAILED, Outcome.FAILED, Outcome.GAVE_UP]
    assert restarted.to_commit() == {0: (1, "log=3")}


def test_the_same_notice_twice_on_the_topic_is_delivered_once() -> None:
    outbox, clock = FakeOutbox(), Clock()
    observer = CountingObserver()
    coord = coordinator(outbox, clock, observer=observer)
    coord.assign(0, committed=0, log_end=0)
    coord.take(source(0), notice(1))
    coord.take(source(1), notice(1))  # a detection worker's replay repeated it while it is open
    _attempt(coord, clock, OK)
    outbox.ack_all()
    coord.take(source(2), notice(1))  # and once more after it was delivered
    assert coord.due() == []
    assert observer.attempts == [("hhs.webhook", True)]
    assert coord.to_commit() == {0: (3, "log=1")}


def test_a_revoked_partition_ignores_late_results_and_acknowledgements() -> None:
    outbox, clock = FakeOutbox(), Clock()
    coord = coordinator(outbox, clock)
    coord.assign(0, committed=0, log_end=0)
    coord.take(source(0), notice(1))
    [delivery] = coord.due()
    coord.revoke(0)
    coord.attempted(delivery, OK, clock(), clock())
    assert outbox.waiting() == []
    assert coord.pending == 0 and coord.to_commit() == {}


def test_records_that_are_not_notices_are_dead_lettered_then_committed() -> None:
    from ucwatch.core import deadletter

    outbox, clock = FakeOutbox(), Clock()
    coord = coordinator(outbox, clock)
    coord.assign(0, committed=0, log_end=0)
    letter = deadletter.for_record(reason_code="undecodable", reason="x", stage="notify", topic="t", partition=0,
                                   offset=0, value=b"junk", key=None)
    coord.refuse(source(0), letter)
    assert coord.to_commit() == {}
    outbox.ack("dlq")
    assert coord.to_commit() == {0: (1, "log=0")}
