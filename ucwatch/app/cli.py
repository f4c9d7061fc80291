"""The `ucwatch` command line: one subcommand per job, each a thin call into a component.

Exit codes: 0 success; 1 some input was rejected (see the dead-letter topic) or ClickHouse
refused a query; 2 usage or settings error; 3 Kafka or ClickHouse unreachable; 4 records not
acknowledged by Kafka.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

from datetime import UTC

from ucwatch.core.errors import KafkaUnavailable, UcwatchError
from ucwatch.core.settings import Settings
from ucwatch.sinks.errors import ClickHouseUnavailable

Command = Callable[[argparse.Namespace, Settings], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.load(args.config)
        return args.command(args, settings)
    except (KafkaUnavailable, ClickHouseUnavailable) as exc:
        print(f"ucwatch: error: {exc}", file=sys.stderr)
        return 3
    except UcwatchError as exc:
        print(f"ucwatch: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (e.g. `ucwatch alerts | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ucwatch", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="TOML settings file (default: $UCWATCH_CONFIG)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    kafka = commands.add_parser("kafka", help="run a local Apache Kafka (KRaft) on loopback")
    kafka.add_argument("action", choices=["fetch", "start", "stop", "status", "reset", "start-node",
                                          "stop-node", "bootstrap"])
    kafka.add_argument("node", nargs="?", help="node number, for start-node and stop-node")
    kafka.add_argument("--brokers", type=int, choices=[1, 3], default=None,
                       help="start: one combined broker+controller, or a three-node cluster")
    kafka.set_defaults(command=_kafka)

    topics = commands.add_parser("topics", help="create ucwatch's topics (idempotent) or list them")
    topics.add_argument("action", choices=["create", "list"])
    topics.set_defaults(command=_topics)

    produce = commands.add_parser("produce", help="publish export files (JSON Lines or CSV) to Kafka")
    produce.add_argument("files", nargs="+", type=Path, metavar="FILE")
    produce.add_argument("--format", choices=["jsonl", "csv"], help="default: from the file suffix")
    produce.add_argument("--json", action="store_true", help="print the summary as JSON")
    produce.set_defaults(command=_produce)

    simulate = commands.add_parser("simulate", help="generate a synthetic, calibrated history")
    simulate.add_argument("--children", type=int, default=1000,
                          help="how many children (0 = the full FY2019-2023 volume, about 455,000)")
    simulate.add_argument("--seed", type=int, default=1)
    simulate.add_argument("--out", type=Path, help="write JSON Lines here ('-' for stdout)")
    simulate.add_argument("--publish", action="store_true", help="publish to Kafka through the SDK")
    simulate.add_argument("--truth", type=Path, help="write the ground-truth figures (JSON) here")
    simulate.set_defaults(command=_simulate)

    token = commands.add_parser("token", help="pseudonymize raw identifiers (key from UCWATCH_PSEUDONYM_KEY)")
    token.add_argument("--kind", choices=["child", "sponsor", "facility", "nta", "hearing"], default="child")
    token.add_argument("raw", nargs="*", help="raw identifiers; read one per line from stdin when none")
    token.set_defaults(command=_token)

    registry = commands.add_parser("registry", help="the embedded schema registry")
    registry.add_argument("action", choices=["serve", "list"])
    registry.add_argument("--port", type=int, default=8081)
    registry.set_defaults(command=_registry)

    demo = commands.add_parser("demo", help="start Kafka, simulate a small history, publish it, report")
    demo.add_argument("--children", type=int, default=500)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--keep-running", action="store_true", help="leave the demo's Kafka running")
    demo.set_defaults(command=_demo)

    for name, help_text in (("alerts", "print alert changes as JSON Lines"),
                            ("notifications", "print the notifications ucwatch sent, as JSON Lines"),
                            ("deadletters", "print rejected input with its reason, as JSON Lines")):
        watch = commands.add_parser(name, help=help_text)
        watch.add_argument("--follow", "-f", action="store_true", help="keep printing new records")
        watch.add_argument("--child", help="only this child's records (a child token)")
        watch.set_defaults(command=_watch, topic_kind=name)

    run = commands.add_parser("run", help="run detection: faust workers and a live ticker")
    run.add_argument("--workers", type=int, default=1)
    run.add_argument("--policy", type=Path, help="policy TOML (default: streams.policy, else the default policy)")
    run.add_argument("--store", choices=["rocksdb", "memory"], help="default: streams.store (rocksdb)")
    run.add_argument("--tick-every", type=float, default=60.0, metavar="SECONDS",
                     help="write a wall-clock tick to every partition this often (0: no ticker)")
    run.add_argument("--sink", action="store_true", help="also run the ClickHouse sink (ucwatch sink)")
    run.set_defaults(command=_run)

    worker = commands.add_parser("worker", help="one detection worker in this process (ucwatch run starts them)")
    worker.add_argument("--name", default="w0", help="names the worker's state folder")
    worker.set_defaults(command=_worker)

    tick = commands.add_parser("tick", help="advance event time: a clock tick on every lifecycle partition")
    tick.add_argument("--at", required=True, help="ISO-8601 timestamp with a zone, e.g. 2023-10-01T00:00:00Z")
    tick.set_defaults(command=_tick)

    child = commands.add_parser("child", help="a child's current state and open alerts (audit-logged)")
    child.add_argument("child_id")
    child.set_defaults(command=_child)

    sink = commands.add_parser("sink", help="land events, alerts, notifications and child state in ClickHouse")
    sink.add_argument("--until-caught-up", action="store_true",
                      help="stop once every partition is read to its end and written")
    sink.add_argument("--no-query-service", action="store_true",
                      help="embedded store: do not serve analysts' queries from this process")
    sink.set_defaults(command=_sink)

    migrate = commands.add_parser("migrate", help="apply ClickHouse schema migrations (idempotent)")
    migrate.set_defaults(command=_migrate)

    sql = commands.add_parser("sql", help="run a read-only SQL query against ClickHouse (audit-logged)")
    sql.add_argument("query")
    sql.add_argument("--format", choices=["table", "csv", "json"], default="table")
    sql.set_defaults(command=_sql)

    report = commands.add_parser("report", help="the oversight figures by fiscal year, from ClickHouse")
    report.add_argument("--as-of", help="count what was recorded before this date (ISO-8601; default: now)")
    report.add_argument("--format", choices=["text", "json"], default="text")
    report.set_defaults(command=_report)

    show = commands.add_parser("settings", help="print the effective settings")
    show.set_defaults(command=_settings)
    return parser


def _kafka(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.app import kafka_local
    command = [args.action]
    if args.node:
        command.append(args.node)
    if args.brokers:
        command += ["--brokers", str(args.brokers)]
    return kafka_local.run(command)


def _topics(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.core.kafka_admin import ensure_topics, wait_for_kafka
    admin = wait_for_kafka(settings)
    if args.action == "create":
        created = ensure_topics(admin, settings)
        for topic in settings.topics.all():
            state = "created" if topic.name in created else "exists"
            print(f"{topic.name:<32} {topic.partitions:>3} partitions  {state}")
        return 0
    for name, metadata in sorted(admin.list_topics(timeout=10).topics.items()):
        if not name.startswith("__"):
            print(f"{name:<32} {len(metadata.partitions):>3} partitions")
    return 0


def _produce(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.producers.run import produce_files
    summary = produce_files(settings, args.files, args.format)
    print(json.dumps(summary.as_dict(), indent=2) if args.json
          else summary.render(settings.topics.deadletter.name))
    return summary.exit_code


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.simulate.command import simulate_command
    return simulate_command(settings, children=args.children or None, seed=args.seed, out=args.out,
                            publish=args.publish, truth=args.truth)


def _token(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.core.pseudonym import IdKind, Pseudonymizer
    kind = IdKind[args.kind.upper()]
    pseudonymizer = Pseudonymizer.from_environment()
    raws = args.raw or (line.strip() for line in sys.stdin if line.strip())
    for raw in raws:
        print(pseudonymizer.token(kind, raw))
    return 0


def _registry(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.schemas.catalog import default_catalog
    catalog = default_catalog()
    if args.action == "list":
        for version in catalog.all():
            print(f"{version.schema_id:>10}  {version.family}/{version.name} v{version.version}")
        return 0
    from ucwatch.schemas.registry_server import EmbeddedRegistryServer
    server = EmbeddedRegistryServer(catalog, [t.name for t in settings.topics.all()], port=args.port)
    print(f"embedded schema registry (read-only) at {server.url}", flush=True)
    server.serve_forever()
    return 0


def _watch(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.app.watch import avro_renderer, json_renderer, print_topic
    from ucwatch.core.kafka_admin import wait_for_kafka
    wait_for_kafka(settings)
    if args.child:
        from ucwatch.core.audit import record_access
        record_access(settings, f"read_{args.topic_kind}", args.child)
    topic = {"alerts": settings.topics.alerts, "notifications": settings.topics.notifications,
             "deadletters": settings.topics.deadletter}[args.topic_kind].name
    render = json_renderer if args.topic_kind == "deadletters" else avro_renderer(settings)
    print_topic(settings, topic, render, follow=args.follow, child=args.child)
    return 0


def _run(args: argparse.Namespace, settings: Settings) -> int:
    import dataclasses

    from ucwatch.streams.worker import run
    streams = dataclasses.replace(settings.streams, **{k: v for k, v in (
        ("store", args.store), ("policy", str(args.policy) if args.policy else None)) if v})
    return run(dataclasses.replace(settings, streams=streams), workers=args.workers,
               tick_every_s=args.tick_every or None, config=args.config, sink=args.sink)


def _sink(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.analysts.query_service import QueryService
    from ucwatch.sinks.clickhouse import is_embedded
    from ucwatch.sinks.run import run_sink
    logging.getLogger("ucwatch.sink").setLevel(logging.INFO)
    serve = (settings.sink.serve_queries and not args.no_query_service
             and is_embedded(settings.clickhouse_dsn))
    stats = run_sink(settings, until_caught_up=args.until_caught_up,
                     alongside=(lambda: QueryService(settings)) if serve else None)
    print(f"sink: landed {sum(stats.rows.values())} rows {stats.rows}; "
          f"{stats.dead_lettered} dead-lettered, {stats.skipped} skipped (clock ticks, tombstones)")
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.sinks.clickhouse import connect
    from ucwatch.sinks.migrate import migrate
    client = connect(settings, "writer", database="")
    try:
        applied = migrate(client, settings)
    finally:
        client.close()
    print("applied: " + ", ".join(f"V{m.version:03d}__{m.name}" for m in applied) if applied
          else "up to date")
    return 0


def _sql(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.analysts.sql import run_sql
    return run_sql(settings, args.query, args.format)


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.analysts.report import run_report
    from ucwatch.analysts.sql import kafka_audit
    as_of = _as_of(args.as_of) if args.as_of else None
    kafka_audit(settings, "report", None, as_of=as_of.isoformat() if as_of else "now")
    return run_report(settings, as_of, args.format)


def _as_of(text: str) -> datetime:
    return _timestamp("--as-of", text, zone_required=False)


def _timestamp(flag: str, text: str, *, zone_required: bool) -> datetime:
    """An ISO-8601 option value; without a zone it is refused, or taken as UTC (a date)."""
    from datetime import datetime

    from ucwatch.core.errors import InputFileError
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise InputFileError(f"{flag} {text!r} is not an ISO-8601 timestamp") from None
    if at.tzinfo is None and zone_required:
        raise InputFileError(f"{flag} {text!r} has no timezone; write it in UTC with a Z")
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.streams.worker import run_worker
    return run_worker(settings, args.name)


def _tick(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.streams.ticks import Ticker
    at = _timestamp("--at", args.at, zone_required=True)
    from ucwatch.core.kafka_admin import wait_for_kafka
    wait_for_kafka(settings)
    ticker = Ticker(settings, issued_by="cli")
    try:
        count = ticker.tick(int(at.timestamp() * 1000))
    finally:
        ticker.close()
    print(f"tick at {at.isoformat()} written to {count} partition(s) of {settings.topics.lifecycle.name}")
    return 0


def _child(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.app.child_view import child_view
    from ucwatch.app.watch import json_default
    from ucwatch.core.kafka_admin import wait_for_kafka
    wait_for_kafka(settings)
    view = child_view(settings, args.child_id)
    if view is None:
        print(f"ucwatch: no state or alert for {args.child_id}", file=sys.stderr)
        return 1
    print(json.dumps(view, indent=2, default=json_default))
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.app.demo import run_demo
    return run_demo(settings, children=args.children, seed=args.seed, keep_running=args.keep_running)


def _settings(args: argparse.Namespace, settings: Settings) -> int:
    import dataclasses
    print(json.dumps(dataclasses.asdict(settings), indent=2, default=str))
    print(f"effective ClickHouse DSN: {settings.clickhouse_dsn}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
