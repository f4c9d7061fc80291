"""The Kafka principals of ucwatch and what each may do: the ACL table, and applying it.

One principal per upstream agency (writes its own ingestion topic only), one per ucwatch
role (reads and writes exactly the topics and groups that role uses), and an admin (a super
user of the brokers, for operators and for applying this table; never a service). The
table is built from the settings, so prefixed topic names and other group ids follow.
On topics and groups, Read and Write imply Describe. Everything not granted is denied
(``allow.everyone.if.no.acl.found=false``). docs/security.md has the table in prose.

`python -m ucwatch.core.kafka_acls --bootstrap B --credentials DIR --ca FILE` (what
``deploy/local/kafka.sh start --secure`` runs) creates the agencies' ingestion topics and
the ACLs as the admin; both steps are idempotent.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

# Where they are defined; confluent_kafka.admin re-exports them without telling mypy.
from confluent_kafka.admin._acl import AclBinding, AclOperation, AclPermissionType
from confluent_kafka.admin._resource import ResourcePatternType, ResourceType

from ucwatch.core.errors import UcwatchError
from ucwatch.core.kafka_admin import client_config, ensure_topics, kafka_reason
from ucwatch.core.provenance import AGENCIES, INGEST_PREFIX, ingest_topic, ingest_topics
from ucwatch.core.settings import Settings, TopicSettings

ADMIN = "ucwatch-admin"
ROLES = ("worker", "ticker", "sink", "notifier", "console", "analyst")
PRINCIPALS = (ADMIN, *(f"ucwatch-agency-{a}" for a in AGENCIES), *(f"ucwatch-{r}" for r in ROLES))
"""Every SCRAM user of a secured broker (deploy/local/kafka.sh makes the same list)."""

READ, WRITE = AclOperation.READ, AclOperation.WRITE
TOPIC, GROUP = ResourceType.TOPIC, ResourceType.GROUP
LITERAL, PREFIXED = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED


@dataclass(frozen=True)
class Grant:
    """One right: `operation` on the resource(s) `name` (`pattern`: literal or prefix)."""

    resource: ResourceType
    name: str
    operation: AclOperation
    pattern: ResourcePatternType = LITERAL

    def binding(self, principal: str) -> AclBinding:
        return AclBinding(self.resource, self.name, self.pattern, f"User:{principal}", "*",
                          self.operation, AclPermissionType.ALLOW)


def _topics(operation: AclOperation, *topics: TopicSettings) -> list[Grant]:
    return [Grant(TOPIC, topic.name, operation) for topic in topics]


def grants(settings: Settings) -> dict[str, list[Grant]]:
    """Each principal's rights (the admin has none: it is a super user)."""
    t = settings.topics
    app = settings.streams.app_id
    table: dict[str, list[Grant]] = {
        # the dead-letter topic: `ucwatch produce` puts the lines it rejects there (no raw content)
        f"ucwatch-agency-{agency}": [Grant(TOPIC, ingest_topic(agency), WRITE), *_topics(WRITE, t.deadletter)]
        for agency in AGENCIES}
    table["ucwatch-worker"] = [
        Grant(TOPIC, INGEST_PREFIX, READ, PREFIXED), *_topics(READ, t.lifecycle),
        *_topics(WRITE, t.alerts, t.notifications, t.child_state, t.deadletter),
        # faust's changelog and leader topics, created by the worker itself at start.
        *(Grant(TOPIC, f"{app}-", op, PREFIXED) for op in
          (READ, WRITE, AclOperation.CREATE, AclOperation.DESCRIBE_CONFIGS)),
        Grant(GROUP, app, READ)]
    table["ucwatch-ticker"] = _topics(WRITE, t.lifecycle)
    table["ucwatch-sink"] = [
        *_topics(READ, t.lifecycle, t.alerts, t.notifications, t.child_state, t.actions, t.audit),
        # the query service, served by the sink, writes the analysts' audit entries itself
        *_topics(WRITE, t.deadletter, t.audit),
        Grant(GROUP, settings.sink.group_id, READ)]
    table["ucwatch-notifier"] = [
        *_topics(READ, t.notifications, t.deliveries), *_topics(WRITE, t.deliveries, t.alerts, t.deadletter),
        # its own group and the throw-away groups of its log reader and lag probe
        Grant(GROUP, settings.notify.group_id, READ, PREFIXED)]
    table["ucwatch-console"] = [
        *_topics(READ, t.alerts, t.actions, t.child_state, t.notifications, t.deliveries),
        *_topics(WRITE, t.actions, t.audit),
        Grant(GROUP, "ucwatch-console", READ, PREFIXED)]
    # Analysts query ClickHouse through the audited query service; on Kafka they may do nothing.
    table["ucwatch-analyst"] = []
    return table


REGISTRY = "ucwatch-registry"
"""Apicurio Registry's principal where it keeps its schemas in Kafka (KafkaSQL storage):
deployments only (deploy/k8s, deploy/compose); the local registry is embedded or in memory."""
REGISTRY_GROUP_PREFIX = "ucwatch-registry-"
"""Its consumer groups (Apicurio's ``apicurio.kafkasql.consumer.group-prefix``)."""


def deployment_grants(settings: Settings) -> dict[str, list[Grant]]:
    """`grants` plus the registry's: what deploy/k8s's KafkaUsers and deploy/compose's
    principals.txt must say (tests/unit/core/test_kafka_acls.py compares them)."""
    registry = [Grant(TOPIC, "kafkasql-", op, PREFIXED) for op in
                (READ, WRITE, AclOperation.CREATE, AclOperation.DESCRIBE_CONFIGS)]
    return {**grants(settings), ADMIN: [], REGISTRY: [*registry, Grant(GROUP, REGISTRY_GROUP_PREFIX, READ, PREFIXED)]}


def bindings(settings: Settings) -> list[AclBinding]:
    return [grant.binding(principal) for principal, rights in grants(settings).items() for grant in rights]


def apply(admin: AdminClient, settings: Settings) -> int:
    """Creates the ingestion topics and every ACL; returns the number of ACLs."""
    ensure_topics(admin, settings, ingest_topics(settings))
    wanted = bindings(settings)
    for binding, future in admin.create_acls(wanted, request_timeout=30).items():
        try:
            future.result()
        except KafkaException as exc:
            raise UcwatchError(f"ACL {binding} could not be created: {kafka_reason(exc)}") from None
    return len(wanted)


def admin_settings(settings: Settings, bootstrap: str, credentials: Path, ca: Path,
                   replication_factor: int) -> Settings:
    kafka = dataclasses.replace(
        settings.kafka, bootstrap=bootstrap, replication_factor=replication_factor, security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512", sasl_username=ADMIN, sasl_password="",
        sasl_password_file=str(credentials / f"{ADMIN}.password"), ca_location=str(ca))
    return dataclasses.replace(settings, kafka=kafka)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ucwatch.core.kafka_acls", description=__doc__.split("\n")[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--credentials", type=Path, required=True, help="folder of <principal>.password files")
    parser.add_argument("--ca", type=Path, required=True, help="the brokers' CA certificate (PEM)")
    parser.add_argument("--replication-factor", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        settings = admin_settings(Settings.load(), args.bootstrap, args.credentials, args.ca,
                                  args.replication_factor)
        count = apply(AdminClient(client_config(settings)), settings)
    except UcwatchError as exc:
        print(f"kafka_acls: error: {exc}", file=sys.stderr)
        return 1
    topics = ", ".join(t.name for t in ingest_topics(settings))
    print(f"{count} ACLs for {len(PRINCIPALS)} principals; ingestion topics {topics}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
