"""Kafka client security settings, their redaction, the ACL table and the provenance check
(no broker: tests/integration/test_secure_kafka.py runs them against the secured one)."""

from __future__ import annotations

import json
import re
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from ucwatch.core.errors import SettingsError
from ucwatch.core.kafka_acls import ADMIN, PRINCIPALS, grants
from ucwatch.core.kafka_admin import client_config, faust_broker_credentials
from ucwatch.core.kafka_security import resolve
from ucwatch.core.provenance import AGENCIES, EVENT_AGENCIES, ingest_topic, ingest_topics, refusal, refusal_for
from ucwatch.core.settings import KafkaSettings, Settings

REPO = Path(__file__).resolve().parents[3]
SECRET = "s3cret-Password-value"


def secure(tmp_path: Path, **kafka: str) -> Settings:
    password_file = tmp_path / "password"
    password_file.write_text(SECRET + "\n")
    values = {"security_protocol": "SASL_SSL", "sasl_username": "ucwatch-worker",
              "sasl_password_file": str(password_file), **kafka}
    return Settings(kafka=KafkaSettings(**values))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test CA")
    folder = tmp_path_factory.mktemp("ca")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test CA",
                    "-keyout", str(folder / "ca.key"), "-out", str(folder / "ca.crt")], check=True, capture_output=True)
    return folder / "ca.crt"


# ----------------------------------------------------------------------------- client_config

def test_the_plaintext_default_adds_nothing() -> None:
    config = client_config(Settings())
    assert not any(key.startswith(("security.", "sasl.", "ssl.")) for key in config)


def test_sasl_ssl_gives_librdkafka_the_principal_the_password_from_its_file_and_the_ca(
        tmp_path: Path, ca_file: Path) -> None:
    config = client_config(secure(tmp_path, ca_location=str(ca_file)))
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert config["sasl.username"] == "ucwatch-worker"
    assert config["sasl.password"] == SECRET  # the file's first line, without its newline
    assert config["ssl.ca.location"] == str(ca_file)
    assert config["ssl.endpoint.identification.algorithm"] == "https"


def test_the_password_can_come_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.load(environ={"UCWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                                      "UCWATCH_KAFKA_SASL_USERNAME": "ucwatch-sink",
                                      "UCWATCH_KAFKA_SASL_PASSWORD": SECRET})
    assert client_config(settings)["sasl.password"] == SECRET


def test_mutual_tls_passes_the_client_certificate_and_key(tmp_path: Path, ca_file: Path) -> None:
    key = ca_file.with_name("ca.key")
    config = client_config(secure(tmp_path, security_protocol="SSL", sasl_username="", sasl_password_file="",
                                  ca_location=str(ca_file), certificate_location=str(ca_file),
                                  key_location=str(key), key_password="kp"))
    assert config["security.protocol"] == "SSL"
    assert "sasl.username" not in config
    assert (config["ssl.certificate.location"], config["ssl.key.location"]) == (str(ca_file), str(key))
    assert config["ssl.key.password"] == "kp"


@pytest.mark.parametrize(("kafka", "expected"), [
    ({"security_protocol": "SASL_SSL", "sasl_username": ""}, "kafka.sasl_username"),
    ({"security_protocol": "SASL_SSL", "sasl_password_file": ""}, "no password for ucwatch-worker"),
    ({"security_protocol": "PLAINTEXT"}, "set, but kafka.security_protocol is PLAINTEXT"),
    ({"security_protocol": "TLS"}, "kafka.security_protocol must be one of"),
    ({"sasl_mechanism": "GSSAPI"}, "kafka.sasl_mechanism must be one of"),
    ({"certificate_location": "/etc/hostname"}, "go together"),
    ({"ca_location": "/nonexistent/ca.crt"}, "kafka.ca_location /nonexistent/ca.crt does not exist"),
])
def test_incomplete_or_contradictory_settings_are_refused_by_name(
        tmp_path: Path, kafka: dict[str, str], expected: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(expected)) as refused:
        client_config(secure(tmp_path, **kafka))
    assert SECRET not in str(refused.value)


def test_an_unreadable_password_file_is_named_and_its_content_never_shown(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"kafka\.sasl_password_file .*missing does not exist"):
        client_config(secure(tmp_path, sasl_password_file=str(tmp_path / "missing")))
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(SettingsError, match="cannot be read"):
        client_config(secure(tmp_path, sasl_password_file=str(folder)))
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(SettingsError, match="is empty"):
        client_config(secure(tmp_path, sasl_password_file=str(empty)))


# ----------------------------------------------------------------------------- faust

def test_faust_gets_scram_credentials_with_a_verifying_tls_context(tmp_path: Path, ca_file: Path) -> None:
    credentials = faust_broker_credentials(secure(tmp_path, ca_location=str(ca_file)))
    assert credentials.username == "ucwatch-worker"
    assert credentials.password == SECRET
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.protocol.value == "SASL_SSL"
    context = credentials.ssl_context
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert SECRET not in repr(credentials)


def test_faust_gets_no_credentials_for_plaintext() -> None:
    assert faust_broker_credentials(Settings()) is None


# ----------------------------------------------------------------------------- redaction

def test_secrets_are_masked_in_the_settings_view_and_the_repr(tmp_path: Path) -> None:
    settings = secure(tmp_path, sasl_password=SECRET, key_password="key-" + SECRET)
    view = settings.redacted()["kafka"]
    assert view["sasl_password"] == "****" and view["key_password"] == "****"
    assert view["sasl_password_file"] == str(tmp_path / "password")  # where it is kept is shown
    assert view["sasl_username"] == "ucwatch-worker"
    assert SECRET not in json.dumps(settings.redacted())
    assert SECRET not in repr(resolve(settings.kafka))


# ----------------------------------------------------------------------------- ACLs

def test_kafka_sh_makes_exactly_the_principals_the_acl_table_knows() -> None:
    script = (REPO / "deploy" / "local" / "kafka.sh").read_text()
    match = re.search(r"^PRINCIPALS=\(([^)]*)\)", script, re.MULTILINE)
    assert match is not None
    assert tuple(match.group(1).split()) == PRINCIPALS
    assert set(grants(Settings())) == set(PRINCIPALS) - {ADMIN}


def writes(principal: str) -> set[str]:
    return {g.name for g in grants(Settings())[principal] if g.operation.name == "WRITE"}


def test_each_agency_writes_its_own_ingestion_topic_and_its_dead_letters_and_nothing_else() -> None:
    for agency in AGENCIES:
        rights = grants(Settings())[f"ucwatch-agency-{agency}"]
        assert [(g.resource.name, g.name, g.operation.name, g.pattern.name) for g in rights] == [
            ("TOPIC", ingest_topic(agency), "WRITE", "LITERAL"), ("TOPIC", "ucwatch.deadletter", "WRITE", "LITERAL")]


def test_roles_write_only_what_they_produce() -> None:
    t = Settings().topics
    assert writes("ucwatch-analyst") == set() and grants(Settings())["ucwatch-analyst"] == []
    assert writes("ucwatch-worker") == {t.alerts.name, t.notifications.name, t.child_state.name,
                                        t.deadletter.name, "ucwatch-detect-"}
    assert writes("ucwatch-sink") == {t.deadletter.name, t.audit.name}
    assert writes("ucwatch-notifier") == {t.deliveries.name, t.alerts.name, t.deadletter.name}
    assert writes("ucwatch-console") == {t.actions.name, t.audit.name}
    assert [p for p in grants(Settings()) if t.lifecycle.name in writes(p)] == ["ucwatch-ticker"]


def test_the_table_follows_prefixed_topic_names() -> None:
    settings = Settings(topics=Settings().topics.prefixed("test"))
    assert {g.name for g in grants(settings)["ucwatch-console"] if g.operation.name == "WRITE"} == {
        "test.ucwatch.actions", "test.ucwatch.audit"}


# ----------------------------------------------------------------------------- provenance

def test_an_agency_may_state_only_its_own_facts_under_its_own_name() -> None:
    assert refusal("ucwatch.ingest.cbp", "ChildEncountered", "CBP") is None
    assert refusal("ucwatch.ingest.orr", "ReleasedToSponsor", "ORR") is None
    assert refusal("ucwatch.ingest.orr", "WellbeingCallAttempted", "ORR_PROVIDER") is None
    forged = refusal("ucwatch.ingest.cbp", "ReleasedToSponsor", "ORR")
    assert forged is not None and forged.reason_code == "source_not_publisher"
    assert "CBP may publish only as CBP" in forged.reason
    not_theirs = refusal("ucwatch.ingest.cbp", "ReleasedToSponsor", "CBP")
    assert not_theirs is not None and not_theirs.reason_code == "type_not_publisher"
    unknown = refusal("ucwatch.ingest.cbp", "ClockTick", "CBP")
    assert unknown is not None and unknown.reason_code == "type_not_admitted"
    stray = refusal("ucwatch.ingest.uscis", "CaseClosed", "USCIS")
    assert stray is not None and stray.reason_code == "unknown_ingest_topic"
    assert refusal("ucwatch.lifecycle", "ReleasedToSponsor", "CBP") is None  # the ACLs guard it


def test_every_lifecycle_event_type_has_its_publishers() -> None:
    types = {path.name for path in (REPO / "schemas" / "avro" / "lifecycle").iterdir() if path.is_dir()}
    assert types == set(EVENT_AGENCIES)


def test_a_decoded_record_is_judged_by_its_full_name_and_the_topic_it_came_on() -> None:
    lifecycle = "gov.ucwatch.lifecycle."
    assert refusal_for("ucwatch.ingest.orr", lifecycle + "ReleasedToSponsor", "ORR") is None
    forged = refusal_for("ucwatch.ingest.cbp", lifecycle + "ReleasedToSponsor", "ORR")
    assert forged is not None and forged.reason_code == "source_not_publisher"
    # only lifecycle events come from agencies: a tick (or an alert) on an ingestion topic is refused
    tick = refusal_for("ucwatch.ingest.cbp", "gov.ucwatch.control.ClockTick", None)
    assert tick is not None and tick.reason_code == "type_not_admitted"
    assert "gov.ucwatch.control.ClockTick" in tick.reason
    # an agency declares its own feed complete, never another's
    watermark = "gov.ucwatch.control.SourceWatermark"
    assert refusal_for("ucwatch.ingest.eoir", watermark, "EOIR") is None
    assert refusal_for("ucwatch.ingest.orr", watermark, "ORR_PROVIDER") is None
    forged_watermark = refusal_for("ucwatch.ingest.cbp", watermark, "ORR")
    assert forged_watermark is not None and forged_watermark.reason_code == "source_not_publisher"
    # the lifecycle topic (ticks, events admitted there) is guarded by the ACLs alone
    assert refusal_for("ucwatch.lifecycle", "gov.ucwatch.control.ClockTick", None) is None
    assert refusal_for("t-1.ucwatch.lifecycle", lifecycle + "ReleasedToSponsor", "CBP") is None


def test_the_ingestion_topics_are_co_partitioned_with_the_lifecycle_topic() -> None:
    settings = Settings()
    topics = ingest_topics(settings)
    assert [t.name for t in topics] == [ingest_topic(a) for a in AGENCIES]
    assert {(t.partitions, t.retention_ms, t.compacted) for t in topics} == {
        (settings.topics.lifecycle.partitions, settings.topics.lifecycle.retention_ms, False)}
