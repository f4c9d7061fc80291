"""Throughput of the ClickHouse sink against plain clickhouse-connect inserts, and the report time.

    python -m bench.sink_bench [--children 20000] [--bootstrap 127.0.0.1:9092] [--repeat 1]
                               [--batch-rows N] [--report-runs 3] [--keep DIR]

--children 0 is the full calibrated FY2019-2023 volume (455,442 children, ~5.6M events;
several minutes). --repeat N runs steps 2-4 N times over the same topic, each with a fresh
group and fresh stores, alternating sink and baseline, and prints every round and the
median ratio: on a noisy machine that is steadier than one pair.

1. Publishes a simulated history to fresh topics through the SDK, then one clock tick per
   partition of the lifecycle topic (the sink must skip ticks).
2. Sink: `ucwatch sink --until-caught-up --no-query-service` as a subprocess, with a fresh
   consumer group and a fresh embedded store. Measured while it runs, by polling Kafka
   every 50 ms from this process:
   - landing rate: rows / (time of the last commit - time the group was first seen
     STABLE with partitions assigned). Start-up (interpreter, imports, chDB, migrations,
     joining the group) is left out; everything the sink does per record is in: consume,
     decode, row, ledger, insert, commit. The first-to-last commit rate is printed too, for
     reference only: the sink commits after each round of writes, and at the default size
     there are only a few rounds (a batch is 50,000 rows per partition, or all open
     batches once they hold 3 x 50,000 rows), so that span leaves out the first, largest
     round.
   - end-to-end wall time, from Popen to its exit, start-up and shutdown included;
   - peak RSS: ru_maxrss from os.wait4 on the sink's pid (its own high-water mark).
3. Opens the sink's store (after the sink has exited: one process per chDB store), checks
   that `events` holds exactly one row per non-tick record on the topic, reads the batches
   the sink wrote from its ledger, and times the oversight report query 3 times (as of
   now): sinks/report.py `oversight()` if it exists, else the V003 view oversight_by_fy,
   else the V003 view child_facts summed by fiscal year.
4. Baseline: a subprocess (it opens a store of its own) with a freshly migrated database
   reads the same records from Kafka, decodes them and makes the same rows as the sink
   (EVENTS.to_row + partition, offset; not timed), and times only clickhouse-connect
   inserting them into `events`: the same batches as the sink wrote (offset ranges taken
   from the sink's ledger), the same insert settings and deduplication tokens. Records are
   decoded one batch ahead of its insert rather than all at once, so that the full-scale
   run fits in memory; only the insert calls are timed.
Prints, per round, rows, baseline and sink rows/s, the ratio sink/baseline (target >= 0.7),
the first-to-last-commit rate, the sink's own "landed ... in X s" (Sink.run, which includes
joining the group), the end-to-end wall time and the sink's peak RSS; then the median
ratio, the report's min/median time (target < 1 s, last round's store) and the row-count
check of every round (rows in `events` = distinct (partition, offset) = non-tick records
decoded from the topic by the baseline). Exits 1 if a check fails. Figures from a shared,
noisy 2-core machine: compare the ratio, not absolute numbers across runs.

    python -m bench.sink_bench --restart [--kills 3] [--children 20000] [--bootstrap ...]

measures instead how soon a sink killed with SIGKILL and started again at once lands again:
for static membership (`sink.instance_id`) and dynamic membership at two session
timeouts, the seconds from the new process's start to its first commit beyond the offsets
committed at the kill (start-up, joining the group, the ledger's replay and the first
round included); then the row check.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, ConsumerGroupState, TopicPartition
from confluent_kafka.admin import AdminClient

from ucwatch.core.kafka_admin import client_config, ensure_topics, wait_for_kafka
from ucwatch.core.progress import committed_records
from ucwatch.core.settings import ClickHouseSettings, KafkaSettings, Settings, SinkSettings, TopicsSettings

POLL_S = 0.05
AS_OF_TICK = datetime(2023, 10, 1, tzinfo=UTC)


def _settings(bootstrap: str, data_dir: Path, batch_rows: int, tag: str | None = None) -> Settings:
    tag = tag or uuid.uuid4().hex[:8]
    return Settings(data_dir=data_dir, kafka=KafkaSettings(bootstrap=bootstrap),
                    topics=TopicsSettings().prefixed(f"bench-{tag}"),
                    clickhouse=ClickHouseSettings(dsn=f"chdb://{data_dir.resolve() / 'clickhouse'}"),
                    sink=SinkSettings(group_id=f"bench-sink-{tag}", batch_rows=batch_rows, serve_queries=False))


def _environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UCWATCH_")}
    env.update({"UCWATCH_DATA_DIR": str(settings.data_dir), "UCWATCH_KAFKA_BOOTSTRAP": settings.kafka.bootstrap,
                "UCWATCH_CLICKHOUSE_DSN": settings.clickhouse.dsn,
                "UCWATCH_SINK_GROUP_ID": settings.sink.group_id,
                "UCWATCH_SINK_BATCH_ROWS": str(settings.sink.batch_rows)})
    for f in dataclasses.fields(TopicsSettings):
        env[f"UCWATCH_TOPICS_{f.name.upper()}_NAME"] = getattr(settings.topics, f.name).name
    return env


# -- 1. publish ---------------------------------------------------------------------------
def _publish(settings: Settings, children: int | None) -> tuple[int, float]:
    from ucwatch.producers.sdk import EventProducer
    from ucwatch.simulate import Simulation, SimulationConfig
    from ucwatch.streams.ticks import Ticker

    started = time.perf_counter()
    count = 0
    with EventProducer(settings) as producer:
        for event in Simulation(SimulationConfig(seed=5, children=children)).events():
            producer.publish(event)
            count += 1
    ticker = Ticker(settings, issued_by="bench")
    try:
        count += ticker.tick(int(AS_OF_TICK.timestamp() * 1000))
    finally:
        ticker.close()
    return count, time.perf_counter() - started


# -- 2. the sink --------------------------------------------------------------------------
@dataclasses.dataclass
class SinkRun:
    wall_s: float
    assigned_at: float | None
    first_commit: tuple[float, int] | None
    last_commit_at: float | None
    peak_rss_kb: int
    returncode: int
    log: str


def _committed(settings: Settings, consumer: Consumer) -> int:
    return committed_records(consumer, settings.topics.lifecycle) or 0  # None: the group is forming


def _assigned(admin: AdminClient, group: str) -> bool:
    try:
        description = admin.describe_consumer_groups([group], request_timeout=5)[group].result()
    except Exception:  # not known yet
        return False
    return description.state == ConsumerGroupState.STABLE and any(
        m.assignment.topic_partitions for m in description.members)


def _run_sink(settings: Settings, count: int, log_path: Path) -> SinkRun:
    admin = AdminClient(client_config(settings))
    offsets = Consumer({**client_config(settings), "group.id": settings.sink.group_id,
                        "enable.auto.commit": False})
    assigned_at = first_commit = last_commit_at = None
    with log_path.open("w") as log:
        started = time.perf_counter()
        sink = subprocess.Popen([sys.executable, "-m", "ucwatch.app.cli", "sink", "--until-caught-up",
                                 "--no-query-service"], env=_environment(settings), stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            while True:
                pid, status, usage = os.wait4(sink.pid, os.WNOHANG)
                now = time.perf_counter()
                if pid:
                    break
                if assigned_at is None and _assigned(admin, settings.sink.group_id):
                    assigned_at = now
                if last_commit_at is None and assigned_at is not None:
                    done = _committed(settings, offsets)
                    if done and first_commit is None:
                        first_commit = (time.perf_counter(), done)
                    if done >= count:
                        last_commit_at = time.perf_counter()
                time.sleep(POLL_S)
            if last_commit_at is None and _committed(settings, offsets) >= count:
                last_commit_at = now  # it committed and exited between two polls: an upper bound
        except BaseException:
            sink.kill()
            sink.wait()
            raise
        finally:
            offsets.close()
    wall = now - started
    assigned_at = started if assigned_at is None else assigned_at
    sink.returncode = os.waitstatus_to_exitcode(status)
    return SinkRun(wall, assigned_at, first_commit, last_commit_at, usage.ru_maxrss, sink.returncode,
                   log_path.read_text())


# -- 3. the sink's store ------------------------------------------------------------------
def _report_query(client: Any, database: str, as_of: datetime) -> tuple[str, Callable[[], Any]]:
    try:
        from ucwatch.analysts.report import oversight
    except ImportError:
        oversight = None
    if oversight is not None:
        return "sinks.report.oversight()", lambda: oversight(client, database, as_of)
    views = {row[0] for row in client.query(
        "SELECT name FROM system.tables WHERE database = {db:String}", parameters={"db": database}).result_rows}
    stamp = as_of.strftime("%Y-%m-%d %H:%M:%S")
    if "oversight_by_fy" in views:
        sql = f"SELECT * FROM {database}.oversight_by_fy(as_of = '{stamp}')"
        return "view oversight_by_fy", lambda: client.query(sql).result_rows
    if "child_facts" in views:
        sql = (f"SELECT fy, count(), sum(referrals_late), sum(transfers_over_72h), sum(releases), "
               f"sum(discharge_notice_missing), sum(wellbeing_due), sum(wellbeing_reached), "
               f"sum(wellbeing_unreachable), sum(wellbeing_not_attempted), sum(lost_contact), "
               f"sum(nta_not_served), sum(had_fta), sum(whereabouts_unknown) "
               f"FROM {database}.child_facts(as_of = '{stamp}') GROUP BY fy ORDER BY fy")
        return "view child_facts, summed by FY", lambda: client.query(sql).result_rows
    return "", lambda: None


def _read_store(settings: Settings, rounds: int) -> dict[str, Any]:
    from ucwatch.sinks.clickhouse import connect
    from ucwatch.sinks.rows import EVENTS

    database = settings.clickhouse.database
    client = connect(settings, "analyst")
    try:
        rows, distinct = client.query(
            f"SELECT count(), uniqExact(kafka_partition, kafka_offset) FROM {database}.{EVENTS.table}").result_rows[0]
        batches = client.query(
            f"SELECT DISTINCT partition, first_offset, last_offset FROM {database}.sink_ledger "
            "WHERE topic = {topic:String} AND target = {target:String} ORDER BY partition, first_offset",
            parameters={"topic": settings.topics.lifecycle.name, "target": EVENTS.table}).result_rows
        label, query = _report_query(client, database, datetime.now(UTC))
        times: list[float] = []
        result: Any = None
        for _ in range(rounds if label else 0):
            started = time.perf_counter()
            result = query()
            times.append(time.perf_counter() - started)
        if isinstance(result, dict) and "by_fy" in result:
            shape = f"{len(result['by_fy'])} fiscal years, {len(result.get('alerts', []))} alert rules"
        else:
            shape = f"{len(result)} rows" if label and hasattr(result, "__len__") else ""
    finally:
        client.close()
    return {"rows": rows, "distinct": distinct, "batches": [list(b) for b in batches],
            "report": label, "report_shape": shape, "report_s": times}


# -- 4. baseline (its own process: it opens a store of its own) ---------------------------
@dataclasses.dataclass
class _Baseline:
    """Decodes every record of the lifecycle topic and inserts the sink's batches; only the
    insert calls are timed."""
    client: Any
    table: str
    topic: str
    decoder: Any
    rows: int = 0
    ticks: int = 0
    other: int = 0
    unbatched: int = 0
    inserts: int = 0
    insert_s: float = 0.0

    def partition(self, consumer: Consumer, partition: int, pending: list[tuple[int, int]]) -> None:
        """Every record from offset 0 to the end is decoded and counted (ticks included);
        the rows of each ledgered range are inserted when its last offset is reached."""
        from ucwatch.sinks.rows import EVENTS, SKIPPED_NAMES, short_name

        consumer.assign([TopicPartition(self.topic, partition, 0)])
        rows: list[list[Any]] = []
        at_end = False
        while not at_end:
            for message in consumer.consume(5000, 1.0):
                if message.error():
                    at_end = True  # partition EOF
                    continue
                offset = message.offset()
                name, record = self.decoder.decode_named(message.value())
                name = short_name(name)
                if name in EVENTS.record_names:
                    if pending and pending[0][0] <= offset <= pending[0][1]:
                        rows.append([*EVENTS.to_row(record), message.partition(), offset])
                    else:
                        self.unbatched += 1
                elif name in SKIPPED_NAMES:
                    self.ticks += 1
                else:
                    self.other += 1
                if pending and offset == pending[0][1]:
                    self._insert(partition, *pending.pop(0), rows)
                    rows = []
        consumer.unassign()

    def _insert(self, partition: int, first: int, last: int, rows: list[list[Any]]) -> None:
        from ucwatch.sinks.batch import batch_token
        from ucwatch.sinks.rows import EVENTS
        from ucwatch.sinks.writer import INSERT_SETTINGS

        if not rows:
            return
        token = batch_token(self.topic, partition, first, last)
        started = time.perf_counter()
        self.client.insert(self.table, rows, column_names=list(EVENTS.columns),
                           settings={**INSERT_SETTINGS, "insert_deduplication_token": token})
        self.insert_s += time.perf_counter() - started
        self.inserts += 1
        self.rows += len(rows)


def _baseline_worker(spec_path: str) -> None:
    from ucwatch.schemas.catalog import default_catalog
    from ucwatch.schemas.registry import EmbeddedRegistry
    from ucwatch.schemas.serde import Decoder
    from ucwatch.sinks.clickhouse import connect
    from ucwatch.sinks.migrate import migrate
    from ucwatch.sinks.rows import EVENTS

    spec = json.loads(Path(spec_path).read_text())
    settings = _settings(spec["bootstrap"], Path(spec["data_dir"]), spec["batch_rows"], tag=spec["tag"])
    client = connect(settings, "writer", database="")
    migrate(client, settings)
    table = f"{settings.clickhouse.database}.{EVENTS.table}"
    baseline = _Baseline(client, table, settings.topics.lifecycle.name,
                         Decoder(EmbeddedRegistry(default_catalog()), default_catalog()))
    by_partition: dict[int, list[tuple[int, int]]] = {}
    for partition, first, last in spec["batches"]:
        by_partition.setdefault(partition, []).append((first, last))
    consumer = Consumer({**client_config(settings), "group.id": uuid.uuid4().hex, "enable.auto.commit": False,
                         "enable.partition.eof": True})
    for partition in range(settings.topics.lifecycle.partitions):
        baseline.partition(consumer, partition, list(by_partition.get(partition, [])))
    consumer.close()
    landed = client.query(f"SELECT count() FROM {table}").result_rows[0][0]
    client.close()
    print(json.dumps({"rows": baseline.rows, "ticks": baseline.ticks, "other": baseline.other,
                      "unbatched": baseline.unbatched, "inserts": baseline.inserts, "insert_s": baseline.insert_s,
                      "landed": landed}))


def _run_baseline(settings: Settings, scratch: Path, batches: list[list[int]]) -> dict[str, Any]:
    spec_path = scratch / "baseline.json"
    spec_path.write_text(json.dumps({"bootstrap": settings.kafka.bootstrap, "data_dir": str(scratch / "baseline"),
                                     "batch_rows": settings.sink.batch_rows, "batches": batches,
                                     "tag": settings.topics.lifecycle.name.split(".")[0].removeprefix("bench-")}))
    done = subprocess.run([sys.executable, "-m", "bench.sink_bench", "--baseline-worker", str(spec_path)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"baseline failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- restart after SIGKILL ----------------------------------------------------------------
RESTART_MODES = (("static", "bench-sink-instance", 10_000), ("dynamic", "", 10_000), ("dynamic", "", 6_000))


def _start(settings: Settings, log: Path, instance_id: str, session_ms: int) -> subprocess.Popen[bytes]:
    env = {**_environment(settings), "UCWATCH_SINK_INSTANCE_ID": instance_id,
           "UCWATCH_SINK_SESSION_TIMEOUT_MS": str(session_ms), "UCWATCH_SINK_SERVE_QUERIES": "false"}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "ucwatch.app.cli", "sink"], env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > timeout_s:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(POLL_S)
    return time.perf_counter() - started


def _restarts(args: argparse.Namespace, scratch: Path) -> None:
    scratch.mkdir(parents=True, exist_ok=True)
    base = _settings(args.bootstrap, scratch / "restart", args.batch_rows)
    admin = wait_for_kafka(base)
    ensure_topics(admin, base)
    try:
        count, _ = _publish(base, args.children or None)
        print(f"{count:,} records on the lifecycle topic; {args.kills} SIGKILL(s) per mode, each followed at once "
              "by a new process")
        print(f"{'membership':<12}{'session ms':>11}{'landing again s':>17}")
        for number, mode in enumerate(RESTART_MODES):
            settings = _for_round(base, scratch / f"restart-{number}", number)
            _restart_mode(settings, mode, count, kills=args.kills, log=scratch / f"restart-{number}.log")
            store = _read_store(settings, 0)
            expected = count - base.topics.lifecycle.partitions  # one clock tick per partition
            ok = store["rows"] == store["distinct"] == expected
            print(f"row check ({mode[0]}, {mode[2]:,} ms): {store['rows']:,} rows, {store['distinct']:,} distinct, "
                  f"{expected:,} expected: {'OK' if ok else 'MISMATCH'}")
            if not ok:
                raise SystemExit(1)
    finally:
        admin.delete_topics([t.name for t in base.topics.all()])


def _restart_mode(settings: Settings, mode: tuple[str, str, int], count: int, *, kills: int, log: Path) -> None:
    name, instance_id, session_ms = mode
    offsets = Consumer({**client_config(settings), "group.id": settings.sink.group_id, "enable.auto.commit": False})

    def committed() -> int:
        return _committed(settings, offsets)

    sink = _start(settings, log, instance_id, session_ms)
    try:
        _wait(lambda: committed() > 0, 120, "the first commit")
        for _ in range(kills):
            time.sleep(0.5)
            sink.kill()
            sink.wait()
            before = committed()
            sink = _start(settings, log, instance_id, session_ms)
            again = _wait(lambda before=before: committed() > before, 120, "a commit after the restart")
            print(f"{name:<12}{session_ms:>11,}{again:>17.1f}")
        _wait(lambda: committed() >= count, 600, "every record committed")
    finally:
        sink.terminate()
        sink.wait(60)
        offsets.close()


# -- main ---------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=20_000, help="0: the full FY2019-2023 volume")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--batch-rows", type=int, default=SinkSettings().batch_rows,
                        help="sink.batch_rows for the sink (default: the setting's default)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="sink and baseline rounds, alternating (fresh group and stores each); medians printed")
    parser.add_argument("--report-runs", type=int, default=3, help="report query repetitions")
    parser.add_argument("--keep", type=Path, help="keep the stores and the sink's log in this folder")
    parser.add_argument("--restart", action="store_true", help="measure the restart after SIGKILL instead")
    parser.add_argument("--kills", type=int, default=3, help="--restart: SIGKILLs per membership mode")
    parser.add_argument("--baseline-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_worker:
        _baseline_worker(args.baseline_worker)
        return
    if args.restart:
        with tempfile.TemporaryDirectory(prefix="sink-restart-") as temporary:
            _restarts(args, args.keep or Path(temporary))
        return

    with tempfile.TemporaryDirectory(prefix="sink-bench-") as temporary:
        count, publish_s, rounds = _throughput(args, args.keep or Path(temporary))
    print(f"history: {args.children or 455_442:,} simulated children, {count:,} records on the lifecycle topic "
          f"({rounds[0][2]['ticks']} clock ticks), published in {publish_s:.0f} s")
    _print_rounds(rounds, count)
    if not _row_checks(rounds, count):
        raise SystemExit(1)


Round = tuple[SinkRun, dict[str, Any], dict[str, Any]]


def _throughput(args: argparse.Namespace, scratch: Path) -> tuple[int, float, list[Round]]:
    scratch.mkdir(parents=True, exist_ok=True)
    settings = _settings(args.bootstrap, scratch / "sink", args.batch_rows)
    admin = wait_for_kafka(settings)
    ensure_topics(admin, settings)
    rounds: list[Round] = []
    try:
        count, publish_s = _publish(settings, args.children or None)
        for number in range(args.repeat):
            # A fresh group and fresh stores each round, over the same topic.
            round_settings = _for_round(settings, scratch / f"round-{number}", number)
            run = _run_sink(round_settings, count, scratch / f"round-{number}.log")
            if run.returncode != 0:
                raise SystemExit(f"the sink exited with {run.returncode}:\n{run.log}")
            if run.last_commit_at is None:
                raise SystemExit(f"the sink exited before committing all {count:,} records:\n{run.log}")
            store = _read_store(round_settings, args.report_runs)
            baseline = _run_baseline(round_settings, scratch / f"round-{number}", store["batches"])
            rounds.append((run, store, baseline))
            if not args.keep and number < args.repeat - 1:
                shutil.rmtree(scratch / f"round-{number}", ignore_errors=True)
    finally:
        admin.delete_topics([t.name for t in settings.topics.all()])
    return count, publish_s, rounds


def _print_rounds(rounds: list[Round], count: int) -> None:
    print(f"{'round':<7}{'rows':>11}{'baseline rows/s':>17}{'sink rows/s':>13}{'ratio':>7}"
          f"{'(first-last commit)':>21}{'sink log s':>12}{'end to end s':>14}{'peak RSS MiB':>14}")
    ratios, walls, peaks = [], [], []
    for number, (run, store, baseline) in enumerate(rounds):
        base_rate = baseline["rows"] / baseline["insert_s"]
        sink_rate = store["rows"] / (run.last_commit_at - run.assigned_at)
        span = ""
        if run.first_commit and run.last_commit_at and run.last_commit_at > run.first_commit[0]:
            span_rate = (count - run.first_commit[1]) / (run.last_commit_at - run.first_commit[0])
            span = f"{span_rate:,.0f} ({span_rate / base_rate:.2f})"
        logged = re.search(r"landed .* in ([0-9.]+) s", run.log)
        ratios.append(sink_rate / base_rate)
        walls.append(run.wall_s)
        peaks.append(run.peak_rss_kb / 1024)
        print(f"{number + 1:<7}{store['rows']:>11,}{base_rate:>17,.0f}{sink_rate:>13,.0f}{sink_rate / base_rate:>7.2f}"
              f"{span:>21}{logged.group(1) if logged else '?':>12}{run.wall_s:>14.1f}{peaks[-1]:>14,.0f}")
    _, store, baseline = rounds[-1]
    print(f"baseline: {baseline['inserts']} inserts (the sink's batches), insert time only; sink: rows / (last "
          "commit - partitions assigned)")
    print(f"ratio sink/baseline: median {statistics.median(ratios):.2f} over {len(ratios)} round(s) (target >= 0.70); "
          f"end to end median {statistics.median(walls):.1f} s; peak RSS max {max(peaks):,.0f} MiB")
    if store["report"]:
        times = store["report_s"]
        print(f"report query ({store['report']}, {store['report_shape']}) x{len(times)}: "
              f"min {min(times):.3f} s, median {statistics.median(times):.3f} s (target < 1 s)")
    else:
        print("report query: neither sinks/report.py nor the V003 views exist; not timed")


def _row_checks(rounds: list[Round], count: int) -> bool:
    passed = True
    for number, (_, store, baseline) in enumerate(rounds):
        expected = count - baseline["ticks"]
        ok = store["rows"] == expected == store["distinct"] and baseline["other"] == baseline["unbatched"] == 0
        passed = passed and ok
        print(f"row check, round {number + 1}: {store['rows']:,} rows in events ({store['distinct']:,} distinct "
              f"partition/offset), {expected:,} non-tick records on the topic: {'OK' if ok else 'MISMATCH'}")
    return passed


def _for_round(settings: Settings, data_dir: Path, number: int) -> Settings:
    return dataclasses.replace(
        settings, data_dir=data_dir,
        clickhouse=dataclasses.replace(settings.clickhouse, dsn=f"chdb://{data_dir.resolve() / 'clickhouse'}"),
        sink=dataclasses.replace(settings.sink, group_id=f"{settings.sink.group_id}-{number}"))


if __name__ == "__main__":
    main()
