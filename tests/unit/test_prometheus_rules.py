"""deploy/prometheus/: every alerting rule parses as PromQL (promql-parser, Prometheus's
grammar), names only metrics and labels ucwatch exports (read from the processes' own
registries), and the jobs it names are those the scrape config makes of the pods the
manifests annotate, on the ports the settings give."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ucwatch.console.metrics import ConsoleMetrics
from ucwatch.core.settings import Settings
from ucwatch.notify.metrics import NotifyMetrics
from ucwatch.sinks.metrics import SinkMetrics
from ucwatch.streams.metrics import DetectMetrics

yaml = pytest.importorskip("yaml", reason="PyYAML (test extra) reads the rule files")
promql = pytest.importorskip("promql_parser", reason="promql-parser (test extra) parses the expressions")

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "ucwatch-rules.yaml"
SCRAPE = DEPLOY / "prometheus" / "scrape.yaml"
MANIFESTS = DEPLOY / "k8s" / "base" / "ucwatch"
TARGET_LABELS = {"job", "instance"}
"""Labels Prometheus adds to every scraped series."""


def exported() -> dict[str, set[str]]:
    """Every series name the processes export (counters with _total, histograms with
    _bucket, ...) -> its labels; `up` is Prometheus's own."""
    names: dict[str, set[str]] = {"up": set()}
    for registry in (DetectMetrics().registry, SinkMetrics().registry, NotifyMetrics().registry,
                     ConsoleMetrics().registry):
        for name, collector in registry._names_to_collectors.items():
            names[name] = set(getattr(collector, "_labelnames", ()))
    for name in [n for n in names if n.endswith("_bucket")]:
        names[name] = names[name] | {"le"}
    return names


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def children(node: Any) -> list[Any]:
    found = []
    for attribute in dir(node):
        if attribute.startswith("_") or attribute in ("parse", "prettify"):
            continue
        value = getattr(node, attribute)
        for item in value if isinstance(value, list) else [value]:
            if hasattr(item, "prettify"):
                found.append(item)
    return found


def selectors(node: Any) -> list[Any]:
    if type(node).__name__ == "VectorSelector":
        return [node]
    return [s for child in children(node) for s in selectors(child)]


def groupings(node: Any) -> list[tuple[list[str], list[Any]]]:
    """(the labels of each `by (...)`, the selectors it aggregates)."""
    found = []
    if type(node).__name__ == "AggregateExpr" and node.modifier is not None:
        found.append((list(node.modifier.labels), selectors(node)))
    return found + [g for child in children(node) for g in groupings(child)]


def test_the_rules_the_issue_asks_for_are_there_each_with_a_severity_and_a_summary() -> None:
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names))
    assert {"ClockLagHigh", "ClockStalled", "ConsumerLagHigh", "NoticesFailing", "WorkerDown"} <= set(names)
    for rule in rules():
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_each_expression_parses_and_names_exported_metrics_and_labels(rule: dict[str, Any]) -> None:
    expression = promql.parse(rule["expr"])
    metrics = exported()
    found = selectors(expression)
    assert found, f"{rule['alert']} selects no metric"
    for selector in found:
        assert selector.name in metrics, f"{rule['alert']}: {selector.name} is not exported by ucwatch"
        for matcher in selector.matchers.matchers:
            assert matcher.name in metrics[selector.name] | TARGET_LABELS, (rule["alert"], matcher.name)
    for labels, aggregated in groupings(expression):
        for selector in aggregated:
            assert set(labels) <= metrics[selector.name] | TARGET_LABELS, (rule["alert"], labels, selector.name)


def test_a_broken_expression_is_refused_by_the_parser() -> None:
    """The parser is a real check: it refuses what Prometheus would."""
    with pytest.raises(ValueError, match="parenthesis"):
        promql.parse("max by (partition) (ucwatch_clock_stalled == 1")


def test_the_jobs_named_are_the_annotated_pods_on_the_ports_of_the_settings() -> None:
    scrape = yaml.safe_load(SCRAPE.read_text())["scrape_configs"]
    (job_rule,) = [r for c in scrape for r in c["relabel_configs"] if r.get("target_label") == "job"]
    assert job_rule["replacement"] == "ucwatch-$1"
    defaults = Settings()
    ports = {"worker": defaults.streams.metrics_port, "sink": defaults.sink.metrics_port,
             "notifier": defaults.notify.metrics_port, "console": defaults.console.metrics_port}
    annotated = {}
    for path in MANIFESTS.glob("*.yaml"):
        for document in yaml.safe_load_all(path.read_text()):
            if not document or document["kind"] not in ("Deployment", "StatefulSet"):
                continue
            template = document["spec"]["template"]
            annotations = template["metadata"].get("annotations", {})
            if annotations.get("prometheus.io/scrape") == "true":
                component = template["metadata"]["labels"]["app.kubernetes.io/component"]
                annotated[component] = int(annotations["prometheus.io/port"])
                container = template["spec"]["containers"][0]
                exposed = [p["containerPort"] for p in container["ports"]]
                assert annotated[component] in exposed, component
                probe = " ".join(container["livenessProbe"]["exec"]["command"])
                assert any(f":{port}/healthz" in probe for port in exposed), component
    assert annotated == ports
    jobs = {selector.matchers.matchers[0].value for rule in rules()
            for selector in selectors(promql.parse(rule["expr"])) if selector.name == "up"}
    assert jobs == {f"ucwatch-{component}" for component in annotated}
