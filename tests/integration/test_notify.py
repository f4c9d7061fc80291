"""`ucwatch notify` on the real broker, against a real HTTPS receiver (http.server with a
test CA, keeping the idempotency keys it processed) and a real SMTP server (aiosmtpd with
STARTTLS): receivers that fail half the time, hang and come back, never come back, and a
notifier killed with SIGKILL mid-stream."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from tests.conftest import settings_env
from tests.helpers import read_topic
from tests.unit.notify.receivers import SmtpReceiver, Tls, WebhookReceiver, free_port, make_tls
from ucwatch.core.kafka_admin import ensure_topics, wait_for_kafka
from ucwatch.core.progress import committed_records
from ucwatch.core.settings import Settings
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Decoder, Encoder
from ucwatch.streams import ids as detector_ids

pytestmark = pytest.mark.kafka
CATALOG = default_catalog()
DECODER = Decoder(EmbeddedRegistry(CATALOG), CATALOG, logical_types=False)
SECRET = "it-webhook-secret-0123456789"
T0 = datetime(2021, 3, 1, tzinfo=UTC)


class Notifier:
    """`ucwatch notify` as a process, its log in a file, its metrics port known."""

    def __init__(self, settings: Settings, tmp_path: Path, env: dict[str, str]) -> None:
        self.settings, self.env = settings, env
        self.log_file = tmp_path / f"notify-{uuid.uuid4().hex[:6]}.log"
        self.metrics_url = f"http://127.0.0.1:{env['UCWATCH_NOTIFY_METRICS_PORT']}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Notifier:
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "ucwatch.app.cli", "notify"], env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT)
        return self

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> float:
        """Seconds it took to exit."""
        assert self.process is not None
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return time.monotonic() - started

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def metric(self, line_start: str) -> float:
        """The sum of the samples whose line starts so; NaN while the port is not open yet."""
        try:
            text = httpx.get(f"{self.metrics_url}/metrics", timeout=5).text
        except httpx.ConnectError:
            return float("nan")
        values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start)]
        return sum(values)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def hhs(tls: Tls) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(SECRET.encode(), tls=tls, hang_s=3.0)
    yield receiver
    receiver.close()


@pytest.fixture
def ice(tls: Tls) -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver(tls)
    yield receiver
    receiver.close()


def notifier_env(settings: Settings, tls: Tls, hhs: WebhookReceiver, ice: SmtpReceiver, group: str) -> dict[str, str]:
    """The settings of a notifier delivering to `hhs` (signed webhook) and `ice` (SMTP)."""
    return settings_env(settings) | {
        "UCWATCH_NOTIFY_GROUP_ID": group,
        "UCWATCH_NOTIFY_HHS_WEBHOOK_URL": hhs.url, "UCWATCH_NOTIFY_HHS_WEBHOOK_SECRET": SECRET,
        "UCWATCH_NOTIFY_ICE_EMAIL_TO": "duty@ice.example", "UCWATCH_NOTIFY_ICE_EMAIL_FROM": "ucwatch@ops.example",
        "UCWATCH_NOTIFY_SMTP_HOST": "127.0.0.1", "UCWATCH_NOTIFY_SMTP_PORT": str(ice.port),
        "UCWATCH_NOTIFY_SMTP_TIMEOUT_S": "2", "UCWATCH_NOTIFY_CA_FILE": str(tls.ca_file),
        "UCWATCH_NOTIFY_REQUEST_TIMEOUT_S": "1", "UCWATCH_NOTIFY_BACKOFF_FIRST_S": "0.1",
        "UCWATCH_NOTIFY_BACKOFF_MAX_S": "0.5", "UCWATCH_NOTIFY_MAX_ATTEMPTS": "40",
        "UCWATCH_NOTIFY_METRICS_PORT": str(free_port())}


@pytest.fixture
def make_notifier(settings: Settings, tmp_path: Path, tls: Tls, hhs: WebhookReceiver,
                  ice: SmtpReceiver) -> Iterator[Callable[..., Notifier]]:
    ensure_topics(wait_for_kafka(settings), settings)
    group = f"notify-{uuid.uuid4().hex[:10]}"
    started: list[Notifier] = []

    def make(**notify: Any) -> Notifier:
        env = notifier_env(settings, tls, hhs, ice, group)
        env |= {f"UCWATCH_NOTIFY_{name.upper()}": str(value) for name, value in notify.items()}
        notifier = Notifier(settings, tmp_path, env).start()
        started.append(notifier)
        return notifier

    yield make
    for notifier in started:
        notifier.stop(signal.SIGKILL)


def publish(settings: Settings, count: int, recipients: tuple[str, ...] = ("HHS",)) -> list[dict[str, Any]]:
    """NotificationSent records as the detector writes them, keyed by child."""
    topic = settings.topics.notifications.name
    encoder, schema = Encoder(EmbeddedRegistry(CATALOG), topic), CATALOG.latest("NotificationSent", "notifications")
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap, "linger.ms": 5})
    notices = []
    for i in range(count):
        child, recipient = f"SYN-CH-{i:09d}", recipients[i % len(recipients)]
        kind = "FAILURE_TO_APPEAR" if recipient == "HHS" else "UNAUTHORIZED_DEPARTURE"
        fact = str(uuid.uuid4())
        record = {"notification_id": detector_ids.notification_id(child, kind, recipient, fact), "child_id": child,
                  "recipient": recipient, "kind": kind, "fact_id": fact, "occurred_at": T0 + timedelta(hours=i),
                  "reason": f"{kind} (test)", "synthetic": True}
        producer.produce(topic, encoder.encode(schema, record), child.encode())
        notices.append(record)
    assert producer.flush(30) == 0
    return notices


def committed_and_end(settings: Settings, group: str) -> tuple[int | None, int]:
    """(offsets the group committed, or None while its coordinator moves; the topic's end)."""
    topic = settings.topics.notifications
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap, "group.id": group,
                         "enable.auto.commit": False})
    try:
        ends = [consumer.get_watermark_offsets(TopicPartition(topic.name, p), timeout=10)[1]
                for p in range(topic.partitions)]
        return committed_records(consumer, topic), sum(ends)
    except KafkaException:  # a partition's leader moving (CI: NOT_LEADER_FOR_PARTITION): ask again
        return None, -1
    finally:
        consumer.close()


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str, notifier: Notifier | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if notifier is not None and not notifier.alive():
            pytest.fail(f"the notifier exited while waiting for {what}:\n{notifier.log()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}"
                        + (f"\n{notifier.log()[-3000:]}" if notifier else ""))
        time.sleep(0.25)


def all_committed(settings: Settings, group: str) -> bool:
    done, end = committed_and_end(settings, group)
    return done == end


def delivery_log(settings: Settings) -> list[dict[str, Any]]:
    return [DECODER.decode(r.value) for r in read_topic(settings.kafka.bootstrap, settings.topics.deliveries.name)]


def test_every_notice_delivered_exactly_once_to_receivers_failing_half_the_time(
        settings: Settings, make_notifier: Callable[..., Notifier], hhs: WebhookReceiver, ice: SmtpReceiver) -> None:
    hhs.mode, ice.mode = "flaky", "flaky"
    notices = publish(settings, 150, ("HHS", "HHS", "ICE"))
    hhs_ids = {n["notification_id"] for n in notices if n["recipient"] == "HHS"}
    ice_ids = {n["notification_id"] for n in notices if n["recipient"] == "ICE"}
    notifier = make_notifier()
    group = notifier.env["UCWATCH_NOTIFY_GROUP_ID"]
    wait_for(lambda: all_committed(settings, group), 120, "every notice committed", notifier)

    assert hhs.keys() == hhs_ids, "each HHS notice processed by the receiver"
    assert all(hhs.successes_for(key) == 1 for key in hhs_ids), "never sent again after a 200"
    assert sum(hhs.answers.values()) > len(hhs_ids) * 1.5, "the receiver did fail about half the time"
    assert hhs.bad_signatures == 0 and hhs.key_mismatches == 0
    accepted = Counter(message_id for (message_id, code), n in ice.answers.items() if code == "250" for _ in range(n))
    assert set(accepted) == {f"<{i}@ucwatch.notify>" for i in ice_ids}
    assert all(n == 1 for n in accepted.values()), "each e-mail accepted once"
    assert sum(n for (_, code), n in ice.answers.items() if code == "451") > 0

    log = delivery_log(settings)
    delivered = Counter((e["notification_id"], e["endpoint"]) for e in log if e["outcome"] == "DELIVERED")
    assert set(delivered) == {(i, "hhs.webhook") for i in hhs_ids} | {(i, "ice.email") for i in ice_ids}
    assert set(delivered.values()) == {1}
    assert not [e for e in log if e["outcome"] == "GAVE_UP"]
    assert [e for e in log if e["outcome"] == "FAILED" and e["status_code"] in (500, 451)]

    assert notifier.metric('ucwatch_notify_delivered_total{channel="webhook",recipient="HHS"}') == len(hhs_ids)
    assert notifier.metric('ucwatch_notify_delivered_total{channel="email",recipient="ICE"}') == len(ice_ids)
    assert notifier.metric("ucwatch_notify_attempts_failed_total") > 0
    wait_for(lambda: notifier.metric("ucwatch_notify_consumer_lag") == 0, 15, "the lag gauge to reach 0")
    assert httpx.get(f"{notifier.metrics_url}/healthz", timeout=5).status_code == 200
    assert httpx.get(f"{notifier.metrics_url}/readyz", timeout=5).status_code == 200

    took = notifier.stop(signal.SIGTERM)
    assert notifier.process is not None and notifier.process.returncode == 0, notifier.log()[-2000:]
    print(f"requests {sum(hhs.answers.values())} for {len(hhs_ids)} HHS notices; SIGTERM to exit {took:.2f} s")
    assert took < 5, f"SIGTERM took {took:.1f} s"
    assert "Traceback" not in notifier.log()


def test_a_receiver_that_times_out_keeps_its_notices_pending_until_it_comes_back(
        settings: Settings, make_notifier: Callable[..., Notifier], hhs: WebhookReceiver) -> None:
    hhs.mode = "hang"
    notices = publish(settings, 40)
    notifier = make_notifier(max_pending=10, senders=4)
    group = notifier.env["UCWATCH_NOTIFY_GROUP_ID"]
    wait_for(lambda: notifier.metric("ucwatch_notify_paused_partitions") > 0, 60, "reading paused", notifier)
    time.sleep(4)
    assert hhs.keys() == set()
    assert committed_and_end(settings, group)[0] in (0, None), "nothing committed while nothing is delivered"
    assert 0 < notifier.metric("ucwatch_notify_pending") <= 10, "bounded by notify.max_pending"
    assert httpx.get(f"{notifier.metrics_url}/metrics", timeout=5).status_code == 200

    hhs.mode = "ok"
    wait_for(lambda: all_committed(settings, group), 90, "every notice committed after the receiver is back",
             notifier)
    ids = {n["notification_id"] for n in notices}
    assert hhs.keys() == ids
    assert all(hhs.successes_for(key) == 1 for key in ids)
    notifier.stop()
    text = notifier.log()
    assert text.count("hhs.webhook: failing (timeout") == 1, text[-3000:]
    assert text.count("hhs.webhook: delivering again") == 1, text[-3000:]
    assert text.count("reading paused") == 1, "pauses within a minute of the last are not logged again"
    assert "NOTICE_UNDELIVERED" not in text


def test_sigkill_mid_stream_then_restart_delivers_each_notice_once_and_loses_none(
        settings: Settings, make_notifier: Callable[..., Notifier], hhs: WebhookReceiver) -> None:
    hhs.delay_s = 0.03
    notices = publish(settings, 300)
    ids = {n["notification_id"] for n in notices}
    notifier = make_notifier(senders=2, instance_id="n1")
    group = notifier.env["UCWATCH_NOTIFY_GROUP_ID"]
    for kill_at in (60, 150):
        wait_for(lambda at=kill_at: len(hhs.keys()) >= at, 90, f"{kill_at} notices delivered", notifier)
        notifier.stop(signal.SIGKILL)
        logged_before = {e["notification_id"] for e in delivery_log(settings) if e["outcome"] == "DELIVERED"}
        requests_before = {key: hhs.requests_for(key) for key in logged_before}
        assert 0 < len(hhs.keys()) < len(ids), "killed mid-stream"
        notifier = make_notifier(senders=2, instance_id="n1")
        wait_for(lambda at=kill_at: all_committed(settings, group) or len(hhs.keys()) > at + 40, 90,
                 "the restarted notifier to make progress", notifier)
        resent = [key for key in logged_before if hhs.requests_for(key) != requests_before[key]]
        assert resent == [], "a notice whose DELIVERED record was written is not sent again"
    wait_for(lambda: all_committed(settings, group), 120, "every notice committed", notifier)
    assert hhs.keys() == ids, "no notice lost"
    repeated = [key for key in ids if hhs.successes_for(key) > 1]
    print(f"{len(repeated)} of {len(ids)} notices sent again with the same key after the two kills")
    # repeated: only what was delivered and not yet logged at a kill (2 senders, a few ms of log writes)
    assert len(repeated) <= 2 * 6, f"only attempts under way at a kill are repeated, got {len(repeated)}"
    delivered = Counter(e["notification_id"] for e in delivery_log(settings) if e["outcome"] == "DELIVERED")
    assert set(delivered) == ids and set(delivered.values()) == {1}


def test_a_receiver_that_never_comes_back_gives_dead_letters_and_critical_alerts(
        settings: Settings, make_notifier: Callable[..., Notifier], hhs: WebhookReceiver, ice: SmtpReceiver) -> None:
    hhs.mode, ice.mode = "fail", "reject"
    notices = publish(settings, 6, ("HHS", "ICE"))
    junk = Producer({"bootstrap.servers": settings.kafka.bootstrap})
    junk.produce(settings.topics.notifications.name, b"\x07 not avro", b"SYN-CH-000000099")
    assert junk.flush(10) == 0
    notifier = make_notifier(max_attempts=3)
    group = notifier.env["UCWATCH_NOTIFY_GROUP_ID"]
    wait_for(lambda: all_committed(settings, group), 90, "every notice given up and committed", notifier)

    by_id = {n["notification_id"]: n for n in notices}
    endpoint = {"HHS": "hhs.webhook", "ICE": "ice.email"}
    letters = [json.loads(r.value) for r in read_topic(settings.kafka.bootstrap, settings.topics.deadletter.name)]
    undelivered = [letter for letter in letters if letter["reason_code"] == "notice_undelivered"]
    assert len(undelivered) == len(notices)
    assert all(letter["stage"] == "notify" and letter["event_type"] == "NotificationSent"
               and letter["origin"].startswith(settings.topics.notifications.name + ":") for letter in undelivered)
    assert any("after 3 attempt(s): HTTP 500" in letter["reason"] for letter in undelivered)
    assert any("after 1 attempt(s): SMTP 550" in letter["reason"] for letter in undelivered)
    assert [letter["reason_code"] for letter in letters if letter not in undelivered] == ["not_framed"]

    alerts = [DECODER.decode(r.value) for r in read_topic(settings.kafka.bootstrap, settings.topics.alerts.name)]
    assert len(alerts) == len(notices)
    for alert in alerts:
        notice = by_id[alert["start_event_id"]]
        assert alert["alert_id"] == detector_ids.alert_id(
            notice["child_id"], "NOTICE_UNDELIVERED", f"{notice['notification_id']}/{endpoint[notice['recipient']]}")
        assert (alert["rule"], alert["severity"], alert["change"], alert["status"], alert["sequence"]) == \
               ("NOTICE_UNDELIVERED", "CRITICAL", "OPENED", "OPEN", 1)
        assert alert["child_id"] == notice["child_id"] and alert["synthetic"] is True

    log = delivery_log(settings)
    attempts = Counter(e["notification_id"] for e in log if e["outcome"] == "FAILED")
    for notice_id, notice in by_id.items():
        assert attempts[notice_id] == (3 if notice["recipient"] == "HHS" else 1)
    assert sorted(e["notification_id"] for e in log if e["outcome"] == "GAVE_UP") == sorted(by_id)
    assert hhs.keys() == set() and ice.messages == {}
    assert notifier.metric("ucwatch_notify_undelivered_total") == len(notices)
    assert notifier.log().count("NOTICE_UNDELIVERED:") == len(notices)


def test_ucwatch_run_starts_the_notifier_when_endpoints_are_configured_and_restarts_it(
        settings: Settings, tmp_path: Path, tls: Tls, hhs: WebhookReceiver, ice: SmtpReceiver) -> None:
    """`ucwatch run` with [notify] set: the notifier is one of its supervised children. It
    delivers; killed with SIGKILL, it is started again and delivers what came meanwhile;
    and the run's exit status then says a child failed (6)."""
    ensure_topics(wait_for_kafka(settings), settings)
    env = notifier_env(settings, tls, hhs, ice, f"notify-{uuid.uuid4().hex[:10]}")
    log_file = tmp_path / "run.log"
    with log_file.open("ab") as log:
        run = subprocess.Popen([sys.executable, "-m", "ucwatch.app.cli", "run", "--no-ticker", "--store", "memory"],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        first = {n["notification_id"] for n in publish(settings, 3)}
        wait_for(lambda: first <= hhs.keys(), 120, f"the first notices delivered:\n{log_file.read_text()}")
        # killed between a 200 and its DELIVERED record, a notice is sent again with the same
        # key (docs/notify.md); once the record is written, never: CI killed it in between once
        wait_for(lambda: first <= {e["notification_id"] for e in delivery_log(settings) if e["outcome"] == "DELIVERED"},
                 60, "the first notices' DELIVERED records")
        text = log_file.read_text()
        assert "run: starting the notifier for hhs.webhook, ice.email" in text
        started = re.findall(r"started notifier \(pid (\d+)\)", text)
        assert len(started) == 1, text
        os.kill(int(started[0]), signal.SIGKILL)
        wait_for(lambda: len(re.findall(r"started notifier \(pid", log_file.read_text())) == 2, 30,
                 "the notifier started again")
        assert "notifier was killed by SIGKILL" in log_file.read_text()
        later = {n["notification_id"] for n in publish(settings, 6)} - first
        wait_for(lambda: later <= hhs.keys(), 120, "the notices published after the kill delivered")
    finally:
        run.send_signal(signal.SIGTERM)
        status = run.wait(60)
    assert status == 6, log_file.read_text()[-3000:]  # SUPERVISED_FAILED: the notifier died once
    assert all(hhs.successes_for(key) == 1 for key in first | later)


def test_ucwatch_run_says_when_it_starts_no_notifier(settings: Settings, tmp_path: Path) -> None:
    ensure_topics(wait_for_kafka(settings), settings)
    run = subprocess.Popen([sys.executable, "-m", "ucwatch.app.cli", "run", "--no-ticker", "--store", "memory"],
                           env=settings_env(settings), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert run.stdout is not None
        lines = [run.stdout.readline().decode()]
        assert lines[0].startswith("run: no notifier: no notice endpoint is configured"), lines
        while "started worker w0" not in lines[-1]:  # the supervisor runs: a SIGTERM is a stop
            lines.append(run.stdout.readline().decode())
            assert lines[-1], lines
    finally:
        run.send_signal(signal.SIGTERM)
        output = run.communicate(timeout=60)[0].decode()
    assert run.returncode == 0, output
    assert "notifier" not in output
