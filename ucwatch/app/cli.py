"""The `ucwatch` command line: one subcommand per job, each a thin call into a component.

What can be typed, with every help text, is `ucwatch.app.parser`; how a failure ends (one
line on stderr, an exit code, the traceback of a bug in a log file) is
`ucwatch.app.failures`. Exit codes are `ucwatch.core.exit_codes.ExitCode`, defined once.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ucwatch.app.failures import classify, report_internal
from ucwatch.app.parser import JSON, TEXT, build_parser
from ucwatch.core.errors import UsageError
from ucwatch.core.exit_codes import ExitCode
from ucwatch.core.files import private_umask
from ucwatch.core.settings import Settings, redact_url

if TYPE_CHECKING:
    from ucwatch.app.supervisor import ChildSpec

Command = Callable[[argparse.Namespace, Settings], int]
QUIET_LIBRARIES = ("urllib3", "clickhouse_connect")
"""Libraries that log each retry and failure they then raise; their errors are reported once."""


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    private_umask()  # stores, state, sockets, logs: private to this user (0700 / 0600)
    _configure_logging(args.verbose)
    settings: Settings | None = None
    try:
        settings = Settings.load(args.config)
        return int(COMMANDS[args.command](args, settings))
    except BrokenPipeError:  # the reader went away (e.g. `ucwatch alerts | head`): not a failure
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.OK
    except KeyboardInterrupt:
        print("ucwatch: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception as error:  # the boundary: every failure ends as a message and an exit code
        known = classify(error)
        if known is None:
            report_internal((settings or Settings()).data_dir, error, argv, verbose=args.verbose)
            return ExitCode.INTERNAL
        code, message = known
        print(f"ucwatch: error: {message}", file=sys.stderr)
        if args.verbose:
            traceback.print_exception(error, file=sys.stderr)
        return code


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:
        for name in QUIET_LIBRARIES:
            logging.getLogger(name).setLevel(logging.ERROR)


KAFKA_SCRIPT_FAILURE = {"status": ExitCode.UNREACHABLE, "start": ExitCode.UNREACHABLE,
                        "start-node": ExitCode.UNREACHABLE, "bootstrap": ExitCode.UNREACHABLE,
                        "client-env": ExitCode.USAGE}
"""kafka.sh's failures by action (it prints its own message); any other action: USAGE."""


def _kafka(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.app import kafka_local
    if args.secure and args.action != "start":
        raise UsageError(f"--secure goes with start (a home folder is secured at its first start), not {args.action}")
    if bool(args.principal) != (args.action == "client-env"):
        raise UsageError("client-env needs --principal NAME, and --principal goes with client-env only")
    command = [args.action]
    if args.node:
        command.append(str(args.node))
    if args.brokers:
        command += ["--brokers", str(args.brokers)]
    if args.secure:
        command.append("--secure")
    if args.principal:
        command.append(args.principal)
    if kafka_local.run(command, settings) == 0:
        return ExitCode.OK
    return KAFKA_SCRIPT_FAILURE.get(args.action, ExitCode.USAGE)


def _topics(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.core.kafka_admin import ensure_topics, wait_for_kafka
    admin = wait_for_kafka(settings, before=f"{'creating' if args.action == 'create' else 'listing'} topics")
    if args.action == "create":
        created = ensure_topics(admin, settings)
        for topic in settings.topics.all():
            state = "created" if topic.name in created else "exists"
            print(f"{topic.name:<32} {topic.partitions:>3} partitions  {state}")
        return ExitCode.OK
    for name, metadata in sorted(admin.list_topics(timeout=10).topics.items()):
        if not name.startswith("__"):
            print(f"{name:<32} {len(metadata.partitions):>3} partitions")
    return ExitCode.OK


def _produce(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.producers.run import produce_files
    summary = produce_files(settings, args.files, args.input_format, complete_up_to=args.complete_up_to)
    print(json.dumps(summary.as_dict(), indent=2) if args.format == JSON
          else summary.render(settings.topics.deadletter.name))
    return ExitCode(summary.exit_code)


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.simulate.command import simulate_command
    return simulate_command(settings, children=None if args.full_scale else args.children, seed=args.seed,
                            out=args.out, publish=args.publish, truth=args.truth)


def _token(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.core.pseudonym import IdKind, Pseudonymizer
    kind = IdKind[args.kind.upper()]
    pseudonymizer = Pseudonymizer.from_environment()
    if not args.raw and sys.stdin.isatty():
        print("ucwatch token: reading identifiers from stdin, one per line (end with Ctrl-D)", file=sys.stderr)
    raws = args.raw or (line.strip() for line in sys.stdin if line.strip())
    for raw in raws:
        if not raw.strip():
            raise UsageError("an empty identifier cannot be pseudonymized")
        print(pseudonymizer.token(kind, raw))
    return ExitCode.OK


def _registry(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.schemas.catalog import default_catalog
    catalog = default_catalog()
    if args.action == "list":
        for version in catalog.all():
            print(f"{version.schema_id:>10}  {version.family}/{version.name} v{version.version}")
        return ExitCode.OK
    from ucwatch.schemas.registry_server import EmbeddedRegistryServer
    try:
        server = EmbeddedRegistryServer(catalog, [t.name for t in settings.topics.all()], port=args.port)
    except OSError as exc:
        raise UsageError(f"cannot serve the registry on port {args.port}: {exc.strerror}") from exc
    print(f"embedded schema registry (read-only) at {server.url}", flush=True)
    server.serve_forever()
    return ExitCode.OK


def _watch(args: argparse.Namespace, settings: Settings) -> int:
    """Every read is audit-logged before anything is shown, of one child or of all."""
    from ucwatch.app.watch import avro_renderer, json_renderer, print_topic
    from ucwatch.core.audit import record_access
    from ucwatch.core.kafka_admin import wait_for_kafka
    topic = {"alerts": settings.topics.alerts, "notifications": settings.topics.notifications,
             "deadletters": settings.topics.deadletter}[args.topic_kind].name
    wait_for_kafka(settings, before=f"reading {topic}")
    record_access(settings, f"read_{args.topic_kind}", args.child, topic=topic,
                  scope="one child" if args.child else "every child", follow=args.follow)
    render = json_renderer if args.topic_kind == "deadletters" else avro_renderer(settings)
    printed = print_topic(settings, topic, render, follow=args.follow, child=args.child)
    return ExitCode.REJECTED if printed.skipped else ExitCode.OK


def _run(args: argparse.Namespace, settings: Settings) -> int:
    import dataclasses
    import threading

    from ucwatch.app.supervisor import ChildSpec, Supervisor, stop_on_signals
    from ucwatch.core.kafka_admin import ensure_topics, wait_for_kafka
    from ucwatch.core.progress import GroupProgress
    from ucwatch.streams.ticks import tick_live
    from ucwatch.streams.worker import policy_for, worker_environment
    streams = settings.streams
    if args.store:
        streams = dataclasses.replace(streams, store=args.store)
    if args.policy:
        streams = dataclasses.replace(streams, policy=str(args.policy))
    settings = dataclasses.replace(settings, streams=streams)
    policy_for(settings)  # a bad policy is refused before anything starts
    command = [sys.executable, "-m", "ucwatch.app.cli", *(["--config", args.config] if args.config else [])]
    env = worker_environment(settings)
    notifier = _notifier_child(settings, command, env)  # so is a bad endpoint setting
    ensure_topics(wait_for_kafka(settings, before="starting detection"), settings)
    children = [ChildSpec(f"worker w{i}", [*command, "worker", "--name", f"w{i}"], env) for i in range(args.workers)]
    if args.sink:
        children.append(ChildSpec("sink", [*command, "sink"], env))
    children += notifier
    logging.getLogger("ucwatch.app.supervisor").setLevel(logging.INFO)
    stop = stop_on_signals()
    if args.tick_every:
        threading.Thread(target=tick_live, args=(settings, args.tick_every, stop), name="ticker", daemon=True).start()
    # the workers catching up: lag and events/s, a line every 30 s when not on a terminal
    with GroupProgress(settings, settings.streams.app_id, [settings.topics.lifecycle], "detecting",
                       every_s=30.0):
        return Supervisor(children).run(stop)


def _notifier_child(settings: Settings, command: list[str], env: dict[str, str]) -> list[ChildSpec]:
    """`ucwatch notify` as a supervised child when a notice endpoint is configured (checked
    first: a bad endpoint setting is refused before anything starts); says which it is."""
    from ucwatch.app.supervisor import ChildSpec
    from ucwatch.notify.endpoints import build_senders, configured_endpoints
    endpoints = configured_endpoints(settings.notify)
    if not endpoints:
        print("run: no notifier: no notice endpoint is configured (notify.hhs / notify.ice webhook_url or "
              "email_to; docs/notify.md)", flush=True)
        return []
    for sender in build_senders(settings.notify):
        sender.close()
    print(f"run: starting the notifier for {', '.join(endpoints)}", flush=True)
    return [ChildSpec("notifier", [*command, "notify"], env)]


def _sink(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.analysts.query_service import QueryService
    from ucwatch.core.progress import GroupProgress
    from ucwatch.sinks.clickhouse import is_embedded
    from ucwatch.sinks.rows import topic_targets
    from ucwatch.sinks.run import run_sink
    logging.getLogger("ucwatch.sink").setLevel(logging.INFO)
    serve = (settings.sink.serve_queries and not args.no_query_service
             and is_embedded(settings.clickhouse_dsn))
    landed = [t for t in settings.topics.all() if t.name in topic_targets(settings)]
    with GroupProgress(settings, settings.sink.group_id, landed, "landing", enabled=args.until_caught_up):
        stats = run_sink(settings, until_caught_up=args.until_caught_up,
                         alongside=(lambda: QueryService(settings)) if serve else None)
    print(f"sink: landed {sum(stats.rows.values())} rows {stats.rows}; "
          f"{stats.dead_lettered} dead-lettered, {stats.skipped} skipped (clock ticks, tombstones)")
    return ExitCode.OK


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
    return ExitCode.OK


def _sql(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.analysts.sql import run_sql
    # ClickHouse's aligned table is the text format here.
    return ExitCode(run_sql(settings, args.query, "table" if args.format == TEXT else args.format))


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.analysts.report import run_report
    from ucwatch.analysts.sql import kafka_audit
    as_of = args.as_of
    kafka_audit(settings, "report", None, as_of=as_of.isoformat() if as_of else "now")
    return ExitCode(run_report(settings, as_of, args.format))


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.streams.worker import run_worker
    return run_worker(settings, args.name)


def _notify(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.notify.run import run_notifier
    logging.getLogger("ucwatch.notify").setLevel(logging.INFO)
    run_notifier(settings)
    return ExitCode.OK


def _feeds(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.core.kafka_admin import wait_for_kafka
    from ucwatch.streams.feed_health import feed_health, read_feed_rows, render
    wait_for_kafka(settings, before="reading the feeds")
    health = feed_health(*read_feed_rows(settings))
    print(json.dumps(health, indent=2) if args.format == JSON else render(health))
    return ExitCode.OK


def _tick(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.core.kafka_admin import require_topic, wait_for_kafka
    from ucwatch.streams.ticks import Ticker
    at = args.at
    admin = wait_for_kafka(settings, before="writing a tick")
    require_topic(admin, settings.topics.lifecycle.name)
    ticker = Ticker(settings, issued_by="cli")
    try:
        count = ticker.tick(int(at.timestamp() * 1000))
    finally:
        ticker.close()
    print(f"tick at {at.isoformat()} written to {count} partition(s) of {settings.topics.lifecycle.name}")
    return ExitCode.OK


def _child(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.app.child_view import child_view
    from ucwatch.app.watch import json_default
    from ucwatch.core.kafka_admin import wait_for_kafka
    wait_for_kafka(settings, before="reading the child's records")
    view = child_view(settings, args.child_id)
    if view is None:
        print(f"ucwatch: no state or alert for {args.child_id}", file=sys.stderr)
        return ExitCode.REJECTED
    print(json.dumps(view, indent=2, default=json_default))
    return ExitCode.OK


def _console(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.console.server import run_console
    run_console(settings, host=args.host, port=args.port)
    return ExitCode.OK


def _users(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.console.users_command import users_command
    return ExitCode(users_command(settings, args.action, args.name, args.role))


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from ucwatch.app.demo import run_demo
    return run_demo(settings, children=args.children, seed=args.seed, keep_running=args.keep_running)


def _settings(args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(settings.redacted(), indent=2))
    print(f"effective ClickHouse DSN: {redact_url(settings.clickhouse_dsn)}")
    return ExitCode.OK


COMMANDS: dict[str, Command] = {
    "kafka": _kafka, "topics": _topics, "produce": _produce, "simulate": _simulate, "token": _token,
    "registry": _registry, "demo": _demo, "watch": _watch, "run": _run, "worker": _worker, "notify": _notify,
    "tick": _tick, "feeds": _feeds, "child": _child, "sink": _sink, "migrate": _migrate, "sql": _sql, "report": _report,
    "settings": _settings, "console": _console, "users": _users,
}
"""Each subcommand's handler, by the name the parser stores in ``args.command``."""


if __name__ == "__main__":
    sys.exit(main())
