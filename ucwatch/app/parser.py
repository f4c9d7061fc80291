"""What an operator can type: the `ucwatch` argument parser, its help texts and value checks.

Conventions every subcommand keeps:

- a one-line summary (the command list) that is also its `--help` description, and a help
  text for every option and argument;
- `--format` chooses how a command prints its result, from one vocabulary: ``text`` (for
  people), ``json`` and ``csv`` (for programs), where each applies; what a command reads is
  never `--format` (`produce --input-format`);
- no magic values: a count is a positive number, and a special case has its own flag
  (`simulate --full-scale`, `run --no-ticker`);
- internal commands (`worker`, which `ucwatch run` starts) work but are not listed.

Each subcommand stores the name of its handler in ``args.command``; `ucwatch.app.cli`
maps names to handlers, so this module imports nothing that a command needs.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeAlias

from ucwatch import __version__

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

TEXT, JSON, CSV = "text", "json", "csv"
HIDDEN = frozenset({"worker"})
"""Commands that run but are not listed: `ucwatch run` starts its workers with `worker`."""


class _Choices(dict[str, argparse.ArgumentParser]):
    """The subcommand table: every command can be run, hidden ones are not listed (argparse
    lists a subparser's choices by iterating them, in its error for an unknown command)."""

    def __iter__(self) -> Iterator[str]:
        return (name for name in super().__iter__() if name not in HIDDEN)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ucwatch",
        description="ucwatch keeps track of unaccompanied children after federal custody: "
                    "lifecycle events on Kafka, alerts, and history in ClickHouse.",
        epilog="Exit codes: see the README (defined once in ucwatch.core.exit_codes). "
               "`ucwatch COMMAND --help` describes a command.")
    parser.add_argument("--version", action="version", version=f"ucwatch {__version__}",
                        help="print ucwatch's version and exit")
    parser.add_argument("--config", metavar="FILE", help="TOML settings file (default: $UCWATCH_CONFIG)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log debug detail, and show the traceback of an internal error")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND", dest="command_name")
    # argparse keeps the subcommands in one dict, used both to run and to list them.
    commands.choices = commands._name_parser_map = _Choices()
    for add in (_kafka_commands, _producer_commands, _detection_commands, _watch_commands,
                _clickhouse_commands, _console_commands, _other_commands):
        add(commands)
    return parser


def iter_commands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every subcommand, hidden ones too, with its parser."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from dict.items(action.choices)


def _command(commands: Commands, name: str, summary: str, handler: str | None = None, *,
             details: str = "") -> argparse.ArgumentParser:
    """A subcommand whose summary is listed (unless hidden) and heads its own --help."""
    headline = summary[0].upper() + summary[1:] + "."
    paragraphs = [headline, *(textwrap.fill(text, 78) for text in details.split("\n") if text)]
    description = "\n\n".join(paragraphs)
    kwargs: dict[str, Any] = {} if name in HIDDEN else {"help": summary}
    sub: argparse.ArgumentParser = commands.add_parser(
        name, description=description, formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)
    sub.set_defaults(command=handler or name)
    return sub


def _format_option(parser: argparse.ArgumentParser, *choices: str) -> None:
    shown = {TEXT: "for people, the default", JSON: "for programs", CSV: "with a header row"}
    parser.add_argument("--format", choices=choices, default=TEXT,
                        help="how to print the result: " + ", ".join(f"{c} ({shown[c]})" for c in choices))


def _kafka_commands(commands: Commands) -> None:
    kafka = _command(commands, "kafka", "run a local Apache Kafka (KRaft) on loopback, for development and demos",
                     details="Actions: fetch (the broker jars, once), start, stop, status (exit 0 when every node "
                             "runs, 3 otherwise), reset (stop and delete its data), start-node N / stop-node N "
                             "(one node of a cluster), bootstrap (print the bootstrap servers), client-env "
                             "--principal NAME (a secured setup: the UCWATCH_KAFKA_* settings of one principal).\n"
                             "Without --secure the broker is PLAINTEXT with no authentication (the demo only).\n"
                             "Its files go to UCWATCH_KAFKA_HOME, default <data_dir>/kafka.")
    kafka.add_argument("action", choices=["fetch", "start", "stop", "status", "reset", "start-node",
                                          "stop-node", "bootstrap", "client-env"], help="what to do (see above)")
    kafka.add_argument("node", nargs="?", type=_positive_int, help="node number, for start-node and stop-node")
    kafka.add_argument("--brokers", type=int, choices=[1, 3], default=None,
                       help="start: one combined broker and controller (1), or a three-node cluster (3)")
    kafka.add_argument("--secure", action="store_true",
                       help="start: TLS, SASL/SCRAM principals and ACLs (docs/security.md); fixed at the first "
                            "start of a home folder")
    kafka.add_argument("--principal", help="client-env: the principal, e.g. ucwatch-worker")

    topics = _command(commands, "topics", "create ucwatch's topics (idempotent) or list the topics")
    topics.add_argument("action", choices=["create", "list"], help="create the missing topics, or list them")


def _producer_commands(commands: Commands) -> None:
    produce = _command(commands, "produce", "publish agency export files (JSON Lines or CSV) to Kafka",
                       details="Every line is validated; refused lines go to the dead-letter topic with "
                               "the reason, and the command exits 1.")
    produce.add_argument("files", nargs="+", type=Path, metavar="FILE", help="export files to publish")
    produce.add_argument("--input-format", choices=["jsonl", "csv"],
                         help="how the files are written (default: from each file's suffix)")
    produce.add_argument("--complete-up-to", action="append", default=[], metavar="SOURCE=TIMESTAMP",
                         help="after the files, declare SOURCE's feed complete up to TIMESTAMP (a watermark "
                              "on every partition; only if every line was published); repeatable")
    _format_option(produce, TEXT, JSON)

    simulate = _command(commands, "simulate", "generate a synthetic, calibrated FY2019-2023 history",
                        details="The history goes to a JSON Lines file (--out), to Kafka (--publish), or both.")
    size = simulate.add_mutually_exclusive_group()
    size.add_argument("--children", type=_children, default=1000, metavar="N",
                      help="how many children to simulate (default: 1000)")
    size.add_argument("--full-scale", action="store_true",
                      help="the full FY2019-2023 volume, about 455,000 children and 5 million events")
    simulate.add_argument("--seed", type=int, default=1, help="random seed; the same seed gives the same history "
                                                               "(default: 1)")
    simulate.add_argument("--out", type=Path, metavar="FILE", help="write JSON Lines here ('-' for stdout)")
    simulate.add_argument("--publish", action="store_true", help="publish to Kafka through the SDK")
    simulate.add_argument("--truth", type=Path, metavar="FILE", help="write the ground-truth figures (JSON) here")

    token = _command(commands, "token", "pseudonymize raw identifiers (key from UCWATCH_PSEUDONYM_KEY)")
    token.add_argument("--kind", choices=["child", "sponsor", "facility", "nta", "hearing"], default="child",
                       help="what the identifiers are (default: child)")
    token.add_argument("raw", nargs="*", help="raw identifiers; read one per line from stdin when none")

    registry = _command(commands, "registry", "serve or list the embedded schema registry")
    registry.add_argument("action", choices=["serve", "list"],
                          help="serve it read-only over HTTP, or list its schemas")
    registry.add_argument("--port", type=_port, default=8081, help="serve: the loopback port (default: 8081)")


def _detection_commands(commands: Commands) -> None:
    run = _command(commands, "run", "run detection: faust workers and a live ticker",
                   details="Also starts the notifier (ucwatch notify) when a notice endpoint is configured "
                           "under [notify], and says so when none is; each child is restarted if it dies.")
    run.add_argument("--workers", type=_positive_int, default=1, metavar="N",
                     help="how many worker processes (default: 1)")
    run.add_argument("--policy", type=Path, metavar="FILE",
                     help="policy TOML (default: the streams.policy setting, else the default policy)")
    run.add_argument("--store", choices=["rocksdb", "memory"],
                     help="where workers keep state (default: the streams.store setting, rocksdb)")
    ticker = run.add_mutually_exclusive_group()
    ticker.add_argument("--tick-every", type=_positive_float, default=60.0, metavar="SECONDS",
                        help="write a wall-clock tick to every partition this often (default: 60)")
    ticker.add_argument("--no-ticker", dest="tick_every", action="store_const", const=0.0,
                        help="write no wall-clock ticks (event time advances only with `ucwatch tick`)")
    run.add_argument("--sink", action="store_true", help="also run the ClickHouse sink (ucwatch sink)")

    worker = _command(commands, "worker", "one detection worker in this process (started by ucwatch run)")
    worker.add_argument("--name", default="w0", help="names the worker's state folder (default: w0)")

    _command(commands, "notify", "deliver notices to the agencies' webhooks and e-mail, each once",
             details="Reads the notifications topic and delivers each notice to the endpoints of its "
                     "recipient set under [notify] (signed webhooks, SMTP), with retries, a delivery log, "
                     "dead letters and a NOTICE_UNDELIVERED alert; runs until stopped (docs/notify.md).")

    tick = _command(commands, "tick", "advance event time: a clock tick on every lifecycle partition")
    tick.add_argument("--at", required=True, type=timestamp(zone_required=True), metavar="WHEN",
                      help="ISO-8601 timestamp with a zone, e.g. 2023-10-01T00:00:00Z")

    feeds = _command(commands, "feeds", "feed health per source: watermark, lag, last event, events/day",
                     details="Read from the detection workers' watermark rows (the children table's changelog); "
                             "shows each source's watermark (declared, or none), how far behind the clock it is, "
                             "the events that arrived behind it and the retractions they caused, and whether "
                             "the feed is stalled (docs/detect.md, Source watermarks).")
    _format_option(feeds, TEXT, JSON)

    child = _command(commands, "child", "a child's current state and open alerts (audit-logged)")
    child.add_argument("child_id", help="the child's token, e.g. CH-... (see `ucwatch token`)")


def _watch_commands(commands: Commands) -> None:
    for name, summary in (("alerts", "print alert changes as JSON Lines (audit-logged)"),
                          ("notifications", "print the notifications ucwatch sent, as JSON Lines (audit-logged)"),
                          ("deadletters", "print rejected input with its reason, as JSON Lines (audit-logged)")):
        watch = _command(commands, name, summary, "watch")
        watch.set_defaults(topic_kind=name)
        watch.add_argument("--follow", "-f", action="store_true", help="keep printing new records")
        watch.add_argument("--child", metavar="CHILD_ID", help="only this child's records (a child token)")


def _clickhouse_commands(commands: Commands) -> None:
    sink = _command(commands, "sink", "land events, alerts, notifications and child state in ClickHouse")
    sink.add_argument("--until-caught-up", action="store_true",
                      help="stop once every partition is read to its end and written")
    sink.add_argument("--no-query-service", action="store_true",
                      help="embedded store: do not serve analysts' queries from this process")

    _command(commands, "migrate", "apply ClickHouse schema migrations (idempotent)")

    sql = _command(commands, "sql", "run a read-only SQL query against ClickHouse (audit-logged)")
    sql.add_argument("query", help="one SELECT statement, quoted")
    _format_option(sql, TEXT, CSV, JSON)

    report = _command(commands, "report", "the oversight figures by fiscal year, from ClickHouse (audit-logged)")
    report.add_argument("--as-of", type=timestamp(zone_required=False), metavar="WHEN",
                        help="count what was recorded before this ISO-8601 date or time (default: now)")
    _format_option(report, TEXT, JSON)


def _console_commands(commands: Commands) -> None:
    console = _command(commands, "console", "serve the operations console: the alert queue, live, and actions",
                       details="A web console on the console.host and console.port settings (default "
                               "127.0.0.1:8080): log in with a user made by `ucwatch users add`. Runs until "
                               "stopped (docs/console.md).")
    console.add_argument("--host", help="address to listen on (default: the console.host setting)")
    console.add_argument("--port", type=_port, help="TCP port (default: the console.port setting, 8080)")

    users = _command(commands, "users", "manage the console's users and their roles",
                     details="add NAME --role ROLE asks for the password twice on a terminal, or reads one "
                             "line from stdin. Roles: operator (works alerts), supervisor (also assigns and "
                             "closes by hand), analyst (reads only), admin (manages users, reads only).")
    users.add_argument("action", choices=["add", "list", "remove"], help="what to do")
    users.add_argument("name", nargs="?", help="add, remove: the user name (lower-case letters, digits, . _ -)")
    users.add_argument("--role", choices=["operator", "supervisor", "analyst", "admin"], default="operator",
                       help="add: the user's role (default: operator)")


def _other_commands(commands: Commands) -> None:
    demo = _command(commands, "demo", "start Kafka, simulate a small history, publish, detect, land and report")
    demo.add_argument("--children", type=_positive_int, default=500, metavar="N",
                      help="how many children to simulate (default: 500)")
    demo.add_argument("--seed", type=int, default=7, help="random seed of the simulated history (default: 7)")
    demo.add_argument("--keep-running", action="store_true", help="leave the demo's Kafka running")

    _command(commands, "settings", "print the effective settings, secrets masked")


def timestamp(*, zone_required: bool) -> Callable[[str], datetime]:
    """An ISO-8601 option value; without a zone it is refused, or taken as UTC (a date)."""

    def parse(text: str) -> datetime:
        try:
            at = datetime.fromisoformat(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an ISO-8601 timestamp, "
                                             "e.g. 2023-10-01T00:00:00Z") from None
        if at.tzinfo is None and zone_required:
            raise argparse.ArgumentTypeError(f"{text!r} has no timezone; write it in UTC with a Z")
        return at if at.tzinfo else at.replace(tzinfo=UTC)

    return parse


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value


def _children(text: str) -> int:
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc}; for the full FY2019-2023 volume say --full-scale") from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _port(text: str) -> int:
    port = _positive_int(text)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port (1-65535)")
    return port
