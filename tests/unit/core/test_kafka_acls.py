"""The ACL table is one: what `ucwatch.core.kafka_acls` grants (and the local broker applies)
is what the deployments declare, Strimzi's KafkaUsers (deploy/k8s) and compose's
principals.txt; and it covers what the worker checks at start (streams/rights.py).

Read and Write imply Describe in Kafka, so a Describe written next to them in a deploy file
is taken as said; any other difference, a principal or a right more or less, fails.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from ucwatch.core.kafka_acls import ADMIN, PRINCIPALS, REGISTRY, deployment_grants, grants
from ucwatch.core.provenance import ingest_topic
from ucwatch.core.settings import Settings, StreamsSettings
from ucwatch.streams.rights import worker_rights

REPO = Path(__file__).resolve().parents[3]
Right = tuple[str, str, str, str]
"""(resource type, name, pattern, operation), all lower case: ("topic", "ucwatch.alerts", "literal", "write")."""

IMPLY_DESCRIBE = {"read", "write", "delete", "alter"}


def normalized(rights: set[Right]) -> set[Right]:
    """Without the Describe rights another right on the same resource implies."""
    implied = {(kind, name, pattern) for kind, name, pattern, op in rights if op in IMPLY_DESCRIBE}
    return {r for r in rights if not (r[3] == "describe" and r[:3] in implied)}


def expected() -> dict[str, set[Right]]:
    table = deployment_grants(Settings())
    return {principal: normalized({(g.resource.name.lower(), g.name, g.pattern.name.lower(),
                                    g.operation.name.lower().replace("_", "")) for g in rights})
            for principal, rights in table.items()}


def strimzi_users() -> dict[str, set[Right]]:
    users: dict[str, set[Right]] = {}
    for document in yaml.safe_load_all((REPO / "deploy/k8s/base/kafka/users.yaml").read_text()):
        if not document or document.get("kind") != "KafkaUser":
            continue
        name = document["metadata"]["name"]
        assert name not in users, f"{name} declared twice"
        spec = document["spec"]
        assert spec["authentication"]["type"] == "scram-sha-512", name
        acls = (spec.get("authorization") or {}).get("acls") or []
        users[name] = normalized({
            (acl["resource"]["type"], acl["resource"]["name"],
             {"prefix": "prefixed"}.get(acl["resource"].get("patternType", "literal"), "literal"), op.lower())
            for acl in acls for op in acl["operations"]})
        assert all(acl.get("host", "*") == "*" for acl in acls), name
    return users


def compose_principals() -> dict[str, set[Right]]:
    principals: dict[str, set[Right]] = {}
    for line in (REPO / "deploy/compose/principals.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, *rules = line.split()
        assert name not in principals, f"{name} listed twice"
        rights: set[Right] = set()
        for rule in rules:
            kind, resource, pattern, operations = rule.split(":")
            rights |= {(kind, resource, pattern, op.lower()) for op in operations.split(",")}
        principals[name] = normalized(rights)
    return principals


def differences(declared: dict[str, set[Right]]) -> list[str]:
    wanted = expected()
    lines = [f"principal {p} missing" for p in sorted(set(wanted) - set(declared))]
    lines += [f"principal {p} not in kafka_acls" for p in sorted(set(declared) - set(wanted))]
    for principal in sorted(set(wanted) & set(declared)):
        lines += [f"{principal}: lacks {r}" for r in sorted(wanted[principal] - declared[principal])]
        lines += [f"{principal}: has extra {r}" for r in sorted(declared[principal] - wanted[principal])]
    return lines


def test_strimzi_kafka_users_grant_exactly_the_acl_table() -> None:
    assert differences(strimzi_users()) == []


def test_compose_principals_grant_exactly_the_acl_table() -> None:
    assert differences(compose_principals()) == []


def test_the_comparison_sees_a_right_too_many_and_one_too_few() -> None:
    declared = expected()
    declared["ucwatch-analyst"] = {("topic", "ucwatch.alerts", "literal", "read")}
    declared["ucwatch-worker"] = declared["ucwatch-worker"] - {("topic", "ucwatch.alerts", "literal", "write")}
    assert differences(declared) == [
        "ucwatch-analyst: has extra ('topic', 'ucwatch.alerts', 'literal', 'read')",
        "ucwatch-worker: lacks ('topic', 'ucwatch.alerts', 'literal', 'write')"]


def test_the_deployments_admin_is_the_super_user_and_every_principal_is_declared() -> None:
    documents = [d for d in yaml.safe_load_all((REPO / "deploy/k8s/base/kafka/kafka.yaml").read_text()) if d]
    kafka = next(d for d in documents if d.get("kind") == "Kafka")
    assert kafka["spec"]["kafka"]["authorization"]["superUsers"] == [ADMIN]
    assert set(deployment_grants(Settings())) == {*PRINCIPALS, REGISTRY}
    assert deployment_grants(Settings())[ADMIN] == []


def test_the_worker_is_granted_every_right_it_checks_at_start() -> None:
    settings = dataclasses.replace(Settings(), streams=StreamsSettings(read_ingest_topics=True))
    granted = grants(settings)["ucwatch-worker"]

    def holds(topic: str, operation: str) -> bool:
        return any(g.resource.name == "TOPIC" and g.operation.name == operation and
                   (g.name == topic if g.pattern.name == "LITERAL" else topic.startswith(g.name)) for g in granted)

    needs = worker_rights(settings)
    assert ingest_topic("orr") in needs and settings.topics.alerts.name in needs
    for topic, operations in needs.items():
        for operation in operations:
            assert holds(topic, operation.name), f"the worker checks {operation.name} on {topic}, not granted"
