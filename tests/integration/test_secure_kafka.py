"""The secured local broker (deploy/local/kafka.sh start --secure): TLS, SCRAM, ACLs; the
detection worker on it (its rights checked at start, agencies' events checked against their
topics, no secret in its log), and the topic readers within their principals' rights.

One broker for the module, in a home of its own on a free port pair (or the running one in
UCWATCH_TEST_SECURE_KAFKA_HOME). Every client is configured the way ucwatch's are, through
`client_config` and the Kafka security settings.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient

from tests.conftest import KAFKA_SCRIPT, _free_port_pair
from tests.helpers import read_topic, sample_event
from ucwatch.core.errors import DeliveryError, KafkaAccessDenied
from ucwatch.core.kafka_acls import PRINCIPALS, ingest_topics
from ucwatch.core.kafka_admin import client_config, ensure_topics, require_rights, wait_for_kafka
from ucwatch.core.provenance import ingest_topic, refusal
from ucwatch.core.settings import KafkaSettings, Settings, StreamsSettings
from ucwatch.producers.sdk import EventProducer
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import registry_for
from ucwatch.schemas.serde import Decoder

pytestmark = pytest.mark.kafka


@dataclasses.dataclass(frozen=True)
class SecureBroker:
    home: Path
    bootstrap: str

    def settings(self, principal: str, *, password: str | None = None, ca: bool = True) -> Settings:
        """Settings of `principal` with its password file (or the given password)."""
        kafka = KafkaSettings(
            bootstrap=self.bootstrap, connect_timeout_s=30.0, delivery_timeout_ms=15_000,
            security_protocol="SASL_SSL", sasl_username=principal,
            sasl_password=password or "",
            sasl_password_file="" if password is not None else str(self.password_file(principal)),
            ca_location=str(self.home / "tls" / "ca.crt") if ca else "")
        return Settings(kafka=kafka)

    def password_file(self, principal: str) -> Path:
        return self.home / "credentials" / f"{principal}.password"


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    existing = os.environ.get("UCWATCH_TEST_SECURE_KAFKA_HOME")
    if existing:
        env = {**os.environ, "UCWATCH_KAFKA_HOME": existing}
        bootstrap = subprocess.run(["bash", str(KAFKA_SCRIPT), "bootstrap"], env=env, capture_output=True,
                                   text=True, check=True).stdout.strip()
        yield SecureBroker(Path(existing), bootstrap)
        return
    home = tmp_path_factory.mktemp("secure-kafka-home")
    port = _free_port_pair()
    env = {**os.environ, "UCWATCH_KAFKA_HOME": str(home), "UCWATCH_KAFKA_PORT": str(port)}
    started = subprocess.run(["bash", str(KAFKA_SCRIPT), "start", "--secure"], env=env, capture_output=True,
                             text=True, check=False)
    if started.returncode != 0:
        subprocess.run(["bash", str(KAFKA_SCRIPT), "stop"], env=env, capture_output=True, text=True, check=False)
        pytest.fail(f"the secured test broker did not start:\n{started.stdout}\n{started.stderr}")
    try:
        yield SecureBroker(home, f"127.0.0.1:{port}")
    finally:
        subprocess.run(["bash", str(KAFKA_SCRIPT), "stop"], env=env, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def topics(secure_broker: SecureBroker) -> Settings:
    """ucwatch's topics, created by the admin (the services' principals may not create them)."""
    admin_settings = secure_broker.settings("ucwatch-admin")
    ensure_topics(wait_for_kafka(admin_settings), admin_settings)
    return admin_settings


def produce(settings: Settings, topic: str, *, idempotent: bool = False, value: bytes = b"probe") -> KafkaError | None:
    """Sends one record as `settings`' principal; the broker's verdict (None: acknowledged)."""
    outcome: list[KafkaError | None] = []
    producer = Producer({**client_config(settings), "acks": "all", "enable.idempotence": idempotent,
                         "message.timeout.ms": 15_000})
    producer.produce(topic, key=b"child", value=value, on_delivery=lambda error, _msg: outcome.append(error))
    producer.flush(30)
    assert outcome, f"no delivery report for {topic}"
    return outcome[0]


def refused_quickly(settings: Settings) -> KafkaAccessDenied:
    started = time.monotonic()
    with pytest.raises(KafkaAccessDenied) as refused:
        wait_for_kafka(settings)
    # Refused at the first answer, not after the 30 s retry budget of an unreachable broker.
    assert time.monotonic() - started < 15
    return refused.value


def test_the_setup_made_every_principal_a_private_password(secure_broker: SecureBroker) -> None:
    for principal in PRINCIPALS:
        mode = secure_broker.password_file(principal).stat().st_mode & 0o777
        assert mode == 0o600, f"{principal}: {oct(mode)}"
    assert (secure_broker.home / "tls" / "ca.key").stat().st_mode & 0o077 == 0


def test_an_unknown_user_is_refused(secure_broker: SecureBroker) -> None:
    password = "not-a-user-password-123"
    error = refused_quickly(secure_broker.settings("ucwatch-nobody", password=password))
    assert "Authentication failed" in str(error)
    assert "ucwatch-nobody" in str(error)
    assert password not in str(error)


def test_a_wrong_password_is_refused(secure_broker: SecureBroker) -> None:
    right = secure_broker.password_file("ucwatch-worker").read_text().strip()
    wrong = right[:-1] + ("0" if right[-1] != "0" else "1")
    error = refused_quickly(secure_broker.settings("ucwatch-worker", password=wrong))
    assert "Authentication failed" in str(error)
    assert wrong not in str(error) and right not in str(error)


def test_a_client_without_the_ca_is_refused(secure_broker: SecureBroker) -> None:
    error = refused_quickly(secure_broker.settings("ucwatch-worker", ca=False))
    assert "certificate verify failed" in str(error)


def test_the_right_credentials_are_let_in(secure_broker: SecureBroker) -> None:
    admin = wait_for_kafka(secure_broker.settings("ucwatch-worker"))
    # The worker sees the topics it may use, and only those.
    visible = set(admin.list_topics(timeout=10).topics)
    assert ingest_topic("orr") in visible


def test_the_worker_writes_alerts_but_not_the_lifecycle_topic(topics: Settings, secure_broker: SecureBroker) -> None:
    worker = secure_broker.settings("ucwatch-worker")
    assert produce(worker, topics.topics.alerts.name, idempotent=True) is None
    refused = produce(worker, topics.topics.lifecycle.name)
    assert refused is not None and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # ...and knows it at start, from the broker, before any work.
    from confluent_kafka.admin._acl import AclOperation
    admin = AdminClient(client_config(worker))
    require_rights(admin, worker, {topics.topics.alerts.name: [AclOperation.WRITE],
                                   topics.topics.lifecycle.name: [AclOperation.READ]})
    with pytest.raises(KafkaAccessDenied) as missing:
        require_rights(admin, worker, {topics.topics.lifecycle.name: [AclOperation.WRITE],
                                       topics.topics.alerts.name: [AclOperation.WRITE]})
    assert missing.value.missing == (f"WRITE on topic {topics.topics.lifecycle.name}",)


def test_the_analyst_can_write_nothing(topics: Settings, secure_broker: SecureBroker) -> None:
    analyst = secure_broker.settings("ucwatch-analyst")
    targets = [t.name for t in topics.topics.all()] + [t.name for t in ingest_topics(topics)]
    for topic in targets:
        refused = produce(analyst, topic)
        assert refused is not None and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, topic


def test_cbp_cannot_publish_where_an_orr_release_goes(topics: Settings, secure_broker: SecureBroker) -> None:
    cbp = secure_broker.settings("ucwatch-agency-cbp")
    release = sample_event("ReleasedToSponsor", child=7)
    for topic in (ingest_topic("orr"), topics.topics.lifecycle.name):
        producer = EventProducer(cbp, topic=topic)
        producer.publish(release)
        with pytest.raises(DeliveryError, match=r"(?i)authorization failed"):
            producer.flush(30)
        producer.close()


def test_an_orr_event_on_cbps_topic_is_refused_as_a_dead_letter(topics: Settings,
                                                                 secure_broker: SecureBroker) -> None:
    cbp = secure_broker.settings("ucwatch-agency-cbp")
    own = ingest_topic("cbp")
    sent = [sample_event("ReleasedToSponsor", child=11),                  # claims ORR as its source
            sample_event("ReleasedToSponsor", child=12, source="CBP"),    # an ORR fact, under CBP's name
            sample_event("ChildEncountered", child=13)]                  # CBP's own fact
    with EventProducer(cbp, topic=own) as producer:
        for event in sent:
            producer.publish(event)
    # What the worker reads back from CBP's topic, and what the provenance check says of it.
    worker = secure_broker.settings("ucwatch-worker")
    consumer = Consumer({**client_config(worker), "group.id": worker.streams.app_id,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([own])
    decoder = Decoder(registry_for(worker.schema_registry, default_catalog()), default_catalog())
    verdicts: dict[str, str | None] = {}
    deadline = time.monotonic() + 60
    try:
        while len(verdicts) < len(sent) and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None or message.error():
                continue
            name, record = decoder.decode_named(message.value())
            verdict = refusal(message.topic(), name.rpartition(".")[2], record["source"])
            verdicts[record["event_id"]] = verdict.reason_code if verdict else None
    finally:
        consumer.close()
    assert verdicts == {sent[0]["event_id"]: "source_not_publisher", sent[1]["event_id"]: "type_not_publisher",
                        sent[2]["event_id"]: None}


# ----------------------------------------------------------------------------- the worker


def worker_env(secure_broker: SecureBroker, principal: str, data_dir: Path, *, password: str | None = None,
               read_ingest: bool = True) -> dict[str, str]:
    """`ucwatch worker`'s environment as a deployment sets it: the principal, its password
    from a file (or, with `password`, from UCWATCH_KAFKA_SASL_PASSWORD), the CA."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("UCWATCH_")}
    env.update({
        "UCWATCH_DATA_DIR": str(data_dir), "UCWATCH_KAFKA_BOOTSTRAP": secure_broker.bootstrap,
        "UCWATCH_KAFKA_CONNECT_TIMEOUT_S": "30", "UCWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "UCWATCH_KAFKA_SASL_USERNAME": principal,
        "UCWATCH_KAFKA_CA_LOCATION": str(secure_broker.home / "tls" / "ca.crt"),
        "UCWATCH_STREAMS_STORE": "memory", "UCWATCH_STREAMS_READ_INGEST_TOPICS": str(read_ingest).lower()})
    if password is None:
        env["UCWATCH_KAFKA_SASL_PASSWORD_FILE"] = str(secure_broker.password_file(principal))
    else:
        env["UCWATCH_KAFKA_SASL_PASSWORD"] = password
    if hasattr(StreamsSettings(), "metrics_port"):
        env["UCWATCH_STREAMS_METRICS_PORT"] = "0"  # any free port: tests run side by side
    return env


def run_worker(env: dict[str, str], timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ucwatch.app.cli", "worker"], env=env, capture_output=True,
                          text=True, timeout=timeout_s, check=False)


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout_s} s: {what}")
        time.sleep(1.0)


def test_a_worker_without_the_right_to_write_alerts_fails_at_start(topics: Settings, secure_broker: SecureBroker,
                                                                  tmp_path: Path) -> None:
    # The sink's principal reads the lifecycle topic and writes dead letters, but may not
    # write alerts, notifications or child states.
    started = time.monotonic()
    done = run_worker(worker_env(secure_broker, "ucwatch-sink", tmp_path / "data", read_ingest=False))
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert time.monotonic() - started < 60  # at start, not after waiting
    assert f"refused principal ucwatch-sink: missing WRITE on topic {topics.topics.alerts.name}" in output, output
    assert f"WRITE on topic {topics.topics.child_state.name}" in output
    assert f"on topic {topics.topics.deadletter.name}" not in output  # a right it has is not listed
    assert "Traceback" not in output


def test_a_worker_with_a_wrong_password_fails_at_start_without_showing_it(topics: Settings,
                                                                        secure_broker: SecureBroker,
                                                                        tmp_path: Path) -> None:
    wrong = "Wrong-Worker-Password-7f3a9c"
    done = run_worker(worker_env(secure_broker, "ucwatch-worker", tmp_path / "data", password=wrong))
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "refused principal ucwatch-worker" in output and "Authentication failed" in output, output
    assert wrong not in output
    assert "Traceback" not in output


def test_the_worker_refuses_what_an_agency_may_not_state_and_processes_what_it_may(
        topics: Settings, secure_broker: SecureBroker, tmp_path: Path) -> None:
    """CBP's principal publishes, to its own ingestion topic, an ORR release (under ORR's
    name, then under its own) and its own encounter; ORR publishes its own release. The
    worker, on the secured broker with its own principal, dead-letters CBP's two releases
    with their reasons and never applies them (no state, no alert), and processes the two
    agencies' own events. Its password, given by environment, appears nowhere in its log."""
    password = secure_broker.password_file("ucwatch-worker").read_text().strip()
    forged = sample_event("ReleasedToSponsor", child=901)                      # claims ORR as source
    borrowed = sample_event("ReleasedToSponsor", child=902, source="CBP")      # an ORR fact, CBP's name
    encounter = sample_event("ChildEncountered", child=903)                   # CBP's own fact
    release = sample_event("ReleasedToSponsor", child=904)                    # ORR's own fact
    with EventProducer(secure_broker.settings("ucwatch-agency-cbp"), topic=ingest_topic("cbp")) as cbp:
        for event in (forged, borrowed, encounter):
            cbp.publish(event)
    with EventProducer(secure_broker.settings("ucwatch-agency-orr"), topic=ingest_topic("orr")) as orr:
        orr.publish(release)

    log_path = tmp_path / "worker.log"
    env = worker_env(secure_broker, "ucwatch-worker", tmp_path / "data", password=password)
    with log_path.open("wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "ucwatch.app.cli", "-v", "worker"], env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
    admin = secure_broker.settings("ucwatch-admin")
    key = {event["event_id"]: event["child_id"].encode() for event in (forged, borrowed, encounter, release)}

    def letters() -> dict[bytes | None, dict[str, str]]:
        return {r.key: json.loads(r.value or b"{}") for r in read_topic(admin, topics.topics.deadletter.name)}

    def states() -> set[bytes | None]:
        return {r.key for r in read_topic(admin, topics.topics.child_state.name)}

    try:
        wait_for(lambda: {key[forged["event_id"]], key[borrowed["event_id"]]} <= set(letters())
                 and {key[encounter["event_id"]], key[release["event_id"]]} <= states(), 180,
                 "the worker dead-letters CBP's releases and processes the agencies' own events"
                 f" (log: {log_path})")
        assert worker.poll() is None, log_path.read_text()
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()

    dead = letters()
    assert dead[key[forged["event_id"]]]["reason_code"] == "source_not_publisher"
    assert dead[key[borrowed["event_id"]]]["reason_code"] == "type_not_publisher"
    for refused in (forged, borrowed):
        letter = dead[key[refused["event_id"]]]
        assert letter["stage"] == "provenance" and letter["origin"].startswith(ingest_topic("cbp") + ":"), letter
        assert letter["event_type"] == "ReleasedToSponsor"
    # Never processed: no state and no alert for the refused children.
    assert not {key[forged["event_id"]], key[borrowed["event_id"]]} & states()
    alerted = {r.key for r in read_topic(admin, topics.topics.alerts.name)}
    assert not {key[forged["event_id"]], key[borrowed["event_id"]]} & alerted
    text = log_path.read_text()
    assert "dead-lettering" in text  # the log was written, and says what it refused
    assert password not in text


# ----------------------------------------------------------------------------- the readers


def cli(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ucwatch.app.cli", *argv], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_topic_readers_work_on_the_secured_broker_within_their_rights(topics: Settings,
                                                                          secure_broker: SecureBroker,
                                                                          tmp_path: Path) -> None:
    """`ucwatch deadletters` and `notifications` read with the whole security configuration:
    the admin reads the dead letters; the console's principal reads notifications but not
    dead letters, and is told so, not that the topic is missing."""
    marker = f"reader-check-{time.monotonic_ns()}"
    admin = secure_broker.settings("ucwatch-admin")
    assert produce(admin, topics.topics.deadletter.name, value=json.dumps({"reason_code": marker}).encode()) is None

    as_admin = {**worker_env(secure_broker, "ucwatch-admin", tmp_path / "admin"), "UCWATCH_ACTOR": "test"}
    shown = cli(as_admin, "deadletters")
    assert shown.returncode == 0, shown.stderr
    assert marker in shown.stdout

    password = secure_broker.password_file("ucwatch-console").read_text().strip()
    as_console = {**worker_env(secure_broker, "ucwatch-console", tmp_path / "console", password=password),
                  "UCWATCH_ACTOR": "test"}
    # (not `alerts`: an earlier test wrote a raw probe there, which `ucwatch alerts` cannot decode)
    notifications = cli(as_console, "notifications")
    assert notifications.returncode == 0, notifications.stderr
    refused = cli(as_console, "deadletters")
    assert refused.returncode == 2
    assert (f"refused principal ucwatch-console: no right to read topic {topics.topics.deadletter.name}"
            in refused.stderr), refused.stderr
    settings_shown = cli(as_console, "settings")
    assert settings_shown.returncode == 0 and '"sasl_password": "****"' in settings_shown.stdout
    for output in (refused.stdout + refused.stderr, settings_shown.stdout + settings_shown.stderr):
        assert password not in output

