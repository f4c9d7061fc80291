"""The fault suite: the whole pipeline (`ucwatch produce`, detection, `ucwatch sink`) as
real processes on a real Kafka and the embedded ClickHouse, while something breaks, then
compared with the input and with a clean run of the same input:

1. the broker stopped and started again while a file is produced, detected and landed;
2. the detection worker and the sink each SIGKILLed several times while files arrive;
3. on the three-node cluster, a broker stopped and started again, then the active
   controller stopped (issue 13, part 6).

What must hold every time: the lifecycle topic holds exactly the file's events (the
simulator's own repeats included, nothing more); detection's alert changes and
notifications are those of a clean run (a repeat of the same record after a crash is
allowed, another content under the same id is not); ClickHouse holds every record of the
topics once, by (partition, offset), and its deduplicating views count what Kafka holds;
every process recovered by itself. Recovery times are measured and printed (run with -rP
to see them), never asserted. Sizes are set by `Scale` below.

Marked `fault` and left out of the default run: `-m fault` runs it. UCWATCH_FAULT_SCALE=ci
runs the same four tests smaller (the history of 1,000, 600 and 800 children instead of
3,000, 1,500 and 2,500, three files and two SIGKILLs each of the worker and the sink
instead of four and three), for CI. It found real defects when it was written (issue 9):
detection differing from a clean run after worker SIGKILLs (the partition's clock reached
the changelog ahead of the children's states; streams/durable.py), a produce rerun
republishing acknowledged lines, and 60 events missing once after a sink SIGKILL.
"""

from __future__ import annotations

import dataclasses
import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.fault_compare import (
    Outputs,
    differences,
    file_event_ids,
    landed,
    landing_differences,
    lifecycle_events,
    on_kafka,
)
from tests.integration.fault_support import (
    Command,
    KillLoop,
    OwnKafka,
    assigned,
    behind,
    clean_run,
    log_lines,
    pipeline_env,
    pipeline_settings,
    produce,
    produce_summaries,
    produce_until_done,
    replay_settings,
    report,
    sink_committed,
    sink_group,
    sink_topics,
    tick,
    wait_for_records,
    wait_until,
    wait_until_drained,
    worker_committed,
)
from ucwatch.core.kafka_admin import ensure_topics, wait_for_kafka
from ucwatch.core.settings import Settings
from ucwatch.simulate import Simulation, SimulationConfig, write_jsonl

pytestmark = [pytest.mark.kafka, pytest.mark.fault]

AS_OF = "2023-10-01T00:00:00Z"
"""The simulation's as_of: the last tick, after which every deadline before it has fired."""


@dataclass(frozen=True)
class Scale:
    """The sizes that set how long the suite takes: children simulated for each history
    (about 12 events each), the files and SIGKILLs of the kill loop."""

    outage_children: int
    kill_children: int
    kill_parts: int
    kills_each: int
    cluster_children: int


SCALES = {"full": Scale(outage_children=3000, kill_children=1500, kill_parts=4, kills_each=3, cluster_children=2500),
          "ci": Scale(outage_children=1000, kill_children=600, kill_parts=3, kills_each=2, cluster_children=800)}
FAULT_SCALE = os.environ.get("UCWATCH_FAULT_SCALE", "full")
"""UCWATCH_FAULT_SCALE=ci: the same probes, smaller (the whole suite in CI's time budget)."""
if FAULT_SCALE not in SCALES:
    raise pytest.UsageError(f"UCWATCH_FAULT_SCALE must be one of {', '.join(SCALES)}, not {FAULT_SCALE!r}")
SCALE = SCALES[FAULT_SCALE]

OUTAGE_CHILDREN, OUTAGE_SEED = SCALE.outage_children, 11
OUTAGE_S = 15.0                              # longer than the sink's and workers' sessions (10 s)
STOP_AT_SHARE = 0.25                         # the broker stops once this share of the file is on the topic
PRODUCE_DELIVERY_TIMEOUT_MS = 10_000         # shorter than the outage, as the default 120 s is than a long one:
                                             # `ucwatch produce` gives up, and its rerun must send only the rest

KILL_CHILDREN, KILL_SEED = SCALE.kill_children, 23   # in KILL_PARTS files
KILL_PARTS = SCALE.kill_parts
KILL_PART_GAP_S = 7.0                        # between two files, so that kills land while files arrive
KILLS_EACH = SCALE.kills_each                # SIGKILLs of the worker, and as many of the sink
KILL_AFTER_S = (0.0, 1.5)                    # a kill comes this long after the victim's last progress
KILL_STORES = ("rocksdb", "memory")          # the default, and state restored from the changelog alone

CLUSTER_CHILDREN, CLUSTER_SEED = SCALE.cluster_children, 31
CLUSTER_WORKERS = 2

JOIN_TIMEOUT_S = 120.0        # processes joining their groups at start
RECOVERY_TIMEOUT_S = 180.0    # a process committing again after a fault
DRAIN_TIMEOUT_S = 360.0       # everything processed and landed at the end
MAX_LOG_LINES = 300           # warnings and errors one long-running process may log through the outage


def write_history(path: Path, children: int, seed: int) -> int:
    return write_jsonl(Simulation(SimulationConfig(seed=seed, children=children)).events(), path)


def progress_after_fault(settings: Settings, watched: list[Command]) -> dict[str, float | str]:
    """Seconds until the detection workers, and the sink, commit again (their committed
    offsets grow beyond the first answer after the fault); "idle" for one that had
    nothing left to do. Fails naming the one that did not within RECOVERY_TIMEOUT_S."""
    bootstrap = settings.kafka.bootstrap
    reads = {"workers": (lambda: worker_committed(settings),
                         lambda: behind(bootstrap, settings.streams.app_id, [settings.topics.lifecycle])),
             "sink": (lambda: sink_committed(settings),
                      lambda: behind(bootstrap, sink_group(settings), sink_topics(settings)))}
    began = time.monotonic()
    baseline: dict[str, int] = {}
    recovered: dict[str, float | str] = {}
    while len(recovered) < len(reads):
        for name, (read, left) in reads.items():
            if name in recovered:
                continue
            value = read()
            if value is None:
                continue
            baseline.setdefault(name, value)
            if value > baseline[name]:
                recovered[name] = round(time.monotonic() - began, 1)
            elif left() == 0:
                recovered[name] = "idle"
        for command in watched:
            assert command.keeps_running(), f"{command.name} exited after the fault\n{command.tail()}"
        if time.monotonic() - began > RECOVERY_TIMEOUT_S:
            stuck = sorted(set(reads) - set(recovered))
            raise AssertionError(f"not recovered: the {' and the '.join(stuck)} committed nothing new within "
                                 f"{RECOVERY_TIMEOUT_S:.0f} s (committed: {baseline})\n"
                                 + "\n".join(c.tail() for c in watched))
        time.sleep(0.25)
    return recovered


def assert_pipeline_held(settings: Settings, history_ids: Counter[str], reference: Outputs, found: Outputs,
                         sink: Command) -> None:
    """The checks every fault test ends with, all made before failing with every problem
    found; the sink must have been stopped (it holds the embedded store)."""
    problems = []
    topic_ids = Counter(event_id for _, _, event_id in lifecycle_events(settings))
    if topic_ids != history_ids:
        extra = topic_ids - history_ids
        problems.append(f"the lifecycle topic holds {topic_ids.total()} events, the file {history_ids.total()}: "
                        f"{(history_ids - topic_ids).total()} missing, {extra.total()} extra "
                        f"(e.g. {list(extra.elements())[:3]})")
    if len(reference.alerts) <= 100:
        problems.append(f"the clean run raised only {len(reference.alerts)} alert changes; the history should "
                        "raise a fair number")
    problems += [f"detection differs from the clean run: {p}" for p in differences(found, reference)]
    problems += [f"ClickHouse differs from Kafka: {p}" for p in landing_differences(landed(settings),
                                                                                   on_kafka(settings))]
    assert not problems, "\n".join(problems) + "\n" + sink.tail(1500)


def stop_all(commands: list[Command]) -> dict[str, tuple[int, float]]:
    """SIGTERM to each, in order; (status, seconds to stop) of each."""
    return {c.name: c.terminate(60.0) for c in commands}


# --- 1. the broker stopped and started again under load ----------------------------------

def test_broker_restart_under_produce_detection_and_sink(tmp_path: Path) -> None:
    kafka = OwnKafka(tmp_path / "kafka")
    kafka.start()
    commands: list[Command] = []
    try:
        settings = pipeline_settings(kafka.bootstrap, tmp_path / "data")
        ensure_topics(wait_for_kafka(settings), settings)
        history = tmp_path / "history.jsonl"
        total = write_history(history, OUTAGE_CHILDREN, OUTAGE_SEED)
        env = pipeline_env(settings)
        detection, sink = start_detection_and_sink(settings, kafka.bootstrap, env, tmp_path, commands)

        producer = produce(settings, [history], tmp_path / "produce.log",
                           {"UCWATCH_KAFKA_DELIVERY_TIMEOUT_MS": str(PRODUCE_DELIVERY_TIMEOUT_MS)}).start()
        commands.append(producer)
        on_topic = wait_for_records(settings, STOP_AT_SHARE * total, 120)
        lines_before = {c.name: c.text().count("\n") for c in (detection, sink, producer)}
        producing = producer.alive()
        stopping = kafka.stop()
        assert producing, "the outage should come while the file is being produced; tune the sizes"
        time.sleep(OUTAGE_S)
        starting = kafka.start()
        recovered = progress_after_fault(settings, [detection, sink])

        statuses = produce_until_done(settings, [history], tmp_path / "produce.log", first=producer)
        commands.remove(producer)
        tick(settings, AS_OF, tmp_path / "tick.log")
        wait_until_drained(settings, DRAIN_TIMEOUT_S, [detection, sink])
        stopped = stop_all([sink, detection])
        outage_lines = {c.name: c.text().splitlines()[lines_before[c.name]:] for c in (detection, sink, producer)}
        found = Outputs.read(settings)

        # The clean run: the same file on topics of their own, produced, ticked and
        # detected with nothing failing.
        clean = pipeline_settings(kafka.bootstrap, tmp_path / "clean-data", store="memory", prefix="clean")
        ensure_topics(wait_for_kafka(clean), clean)
        produce_until_done(clean, [history], tmp_path / "clean-produce.log", attempts=1)
        tick(clean, AS_OF, tmp_path / "clean-tick.log")
        reference = clean_run(clean, tmp_path, DRAIN_TIMEOUT_S)

        summaries = produce_summaries(tmp_path / "produce.log")
        report("broker outage", lines=total, on_topic_at_the_stop=on_topic, kafka_stop_s=stopping, down_s=OUTAGE_S,
               kafka_start_s=starting, committing_again_after_restart_s=recovered, produce_statuses=statuses,
               published_per_run=[s.get("published") for s in summaries],
               skipped_per_run=[s.get("skipped_already_done") for s in summaries],
               sigterm_status_and_s=stopped, worker_restarts=detection.text().count("restarting it in"),
               log_lines_from_the_stop={name: {"all": len(lines), "ERROR": log_lines(lines, "ERROR"),
                                               "WARNING": log_lines(lines, "WARNING")}
                                        for name, lines in outage_lines.items()})
        assert_pipeline_held(settings, file_event_ids(history), reference, found, sink)
        assert all(status == 0 for status, _ in stopped.values()), f"not a clean stop on SIGTERM: {stopped}"
        for name, lines in outage_lines.items():
            if name == producer.name:
                continue  # reported, not held to it: deliverable 3 names the long-running processes
            noisy = [line for line in lines if " ERROR " in line or " WARNING " in line]
            assert len(noisy) <= MAX_LOG_LINES, (
                f"{name} logged {len(noisy)} warnings and errors through the outage (one line per condition "
                f"expected), e.g.:\n" + "\n".join([*noisy[:5], "...", *noisy[-5:]]))
    finally:
        for command in commands:
            command.stop_quietly()
        kafka.stop()


# --- 2. SIGKILL loops on the worker and the sink while files arrive -------------------------

@pytest.mark.parametrize("store", KILL_STORES)
def test_worker_and_sink_killed_again_and_again_while_files_arrive(settings: Settings, tmp_path: Path,
                                                                    store: str) -> None:
    """The memory store restores a restarted worker's state from the changelog alone, as
    any worker does that takes over partitions (a rebalance, a new host)."""
    settings = dataclasses.replace(settings, streams=dataclasses.replace(settings.streams, store=store))
    ensure_topics(wait_for_kafka(settings), settings)
    events = list(Simulation(SimulationConfig(seed=KILL_SEED, children=KILL_CHILDREN)).events())
    parts = []
    for i in range(KILL_PARTS):
        part = events[i * len(events) // KILL_PARTS:(i + 1) * len(events) // KILL_PARTS]
        parts.append((tmp_path / f"part-{i}.jsonl", part))
        write_jsonl(part, parts[-1][0])
    history = tmp_path / "history.jsonl"
    write_jsonl(events, history)
    env = pipeline_env(settings)
    worker = Command("ucwatch worker", ["worker", "--name", "w0"], env, tmp_path / "worker.log",
                     supervised=True).start()
    sink = Command("ucwatch sink", ["sink"], env, tmp_path / "sink.log").start()
    commands = [worker, sink]
    arrival = _FilesArriving(settings, parts, tmp_path)
    try:
        wait_until("the worker and the sink joined their groups",
                   lambda: assigned(settings.kafka.bootstrap, settings.streams.app_id, settings.topics.lifecycle)
                   and assigned(settings.kafka.bootstrap, sink_group(settings), settings.topics.lifecycle),
                   JOIN_TIMEOUT_S, commands)
        arrival.start()
        kills = KillLoop(settings, worker, sink, rng=random.Random(KILL_SEED), arriving=arrival.is_alive,
                         kill_after_s=KILL_AFTER_S, timeout_s=RECOVERY_TIMEOUT_S).run(KILLS_EACH)
        arrival.join(DRAIN_TIMEOUT_S)
        assert arrival.done, f"the files did not all arrive: {arrival.statuses}\n{arrival.error}"
        tick(settings, AS_OF, tmp_path / "tick.log")
        wait_until_drained(settings, DRAIN_TIMEOUT_S, commands)
        stopped = stop_all([sink, worker])
        found = Outputs.read(settings)
        reference = clean_run(replay_settings(settings), tmp_path, DRAIN_TIMEOUT_S)
        report(f"kills ({store} store)",
               kills=[dataclasses.asdict(kill) for kill in kills],
               worker_left_on_its_own=worker.left_on_its_own,
               produce_statuses=arrival.statuses, sigterm_status_and_s=stopped,
               alert_changes=len(found.alerts),
               alert_changes_repeated=len(found.alerts) - len({(r["alert_id"], r["sequence"]) for r in found.alerts}),
               notifications=len(found.notifications),
               notifications_repeated=len(found.notifications)
               - len({r["notification_id"] for r in found.notifications}))
        assert sum(kill.while_arriving for kill in kills) >= KILLS_EACH, (
            "half the kills or more should land while files arrive; tune the sizes")
        assert_pipeline_held(settings, file_event_ids(history), reference, found, sink)
    finally:
        arrival.stop.set()
        for command in commands:
            command.stop_quietly()


class _FilesArriving(threading.Thread):
    """Produces the parts one after the other (`ucwatch produce`, run again on an error),
    each followed by a tick an hour past its last recorded_at, as nightly loads arrive."""

    def __init__(self, settings: Settings, parts: list[tuple[Path, list[dict[str, Any]]]], log_dir: Path) -> None:
        super().__init__(name="files-arriving", daemon=True)
        self.settings, self.parts, self.log_dir = settings, parts, log_dir
        self.statuses: list[list[int]] = []
        self.done = False
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            for path, events in self.parts:
                if self.stop.is_set():
                    return
                self.statuses.append(produce_until_done(self.settings, [path], self.log_dir / "produce.log"))
                latest = max(datetime.fromisoformat(e["recorded_at"]) for e in events)
                tick(self.settings, (latest.astimezone(UTC) + timedelta(hours=1)).isoformat(),
                     self.log_dir / "tick.log")
                self.stop.wait(KILL_PART_GAP_S)
            self.done = True
        except BaseException as exc:  # reported by the test, which joins this thread
            self.error = exc


# --- 3. failover on the three-node cluster ----------------------------------------------

def test_three_node_cluster_rides_through_a_broker_and_the_controller_stopping(tmp_path: Path) -> None:
    kafka = OwnKafka(tmp_path / "kafka", brokers=3)
    kafka.start()
    commands: list[Command] = []
    try:
        settings = pipeline_settings(kafka.bootstrap, tmp_path / "data", replication=3)
        ensure_topics(wait_for_kafka(settings), settings)
        history = tmp_path / "history.jsonl"
        total = write_history(history, CLUSTER_CHILDREN, CLUSTER_SEED)
        env = pipeline_env(settings)
        detection, sink = start_detection_and_sink(settings, kafka.bootstrap, env, tmp_path, commands,
                                                   workers=CLUSTER_WORKERS)
        producer = produce(settings, [history], tmp_path / "produce.log").start()
        commands.append(producer)
        wait_for_records(settings, STOP_AT_SHARE * total, 120)

        controller = kafka.active_controller()
        broker = next(n for n in (1, 2, 3) if n != controller)
        measured: dict[str, Any] = {"first": broker, "controller": controller}
        measured["stop broker"] = kafka.stop_node(broker)
        down = time.monotonic()
        measured["with a broker down"] = progress_after_fault(settings, [detection, sink])
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down)))
        measured["start broker"] = kafka.start_node(broker)
        measured["after it came back"] = progress_after_fault(settings, [detection, sink])
        controller = kafka.active_controller()  # it may have moved meanwhile
        measured["controller stopped"] = controller
        measured["stop controller"] = kafka.stop_node(controller)
        measured["with the controller down"] = progress_after_fault(settings, [detection, sink])
        measured["new controller"] = kafka.active_controller()

        statuses = produce_until_done(settings, [history], tmp_path / "produce.log", first=producer)
        commands.remove(producer)
        tick(settings, AS_OF, tmp_path / "tick.log")
        wait_until_drained(settings, DRAIN_TIMEOUT_S, [detection, sink])
        stopped = stop_all([sink, detection])
        found = Outputs.read(settings)
        reference = clean_run(replay_settings(settings), tmp_path, DRAIN_TIMEOUT_S)
        report("three-node failover", lines=total, produce_statuses=statuses, sigterm_status_and_s=stopped,
               worker_restarts=detection.text().count("restarting it in"), **measured)
        assert_pipeline_held(settings, file_event_ids(history), reference, found, sink)
        assert all(status == 0 for status, _ in stopped.values()), f"not a clean stop on SIGTERM: {stopped}"
    finally:
        for command in commands:
            command.stop_quietly()
        kafka.stop()


def start_detection_and_sink(settings: Settings, bootstrap: str, env: dict[str, str], tmp_path: Path,
                             commands: list[Command], *, workers: int = 1) -> tuple[Command, Command]:
    """`ucwatch run --no-ticker` (with `workers`) and `ucwatch sink`, added to `commands`, once
    both have joined their groups."""
    detection = Command("ucwatch run", ["run", "--no-ticker", "--workers", str(workers)], env,
                        tmp_path / "run.log").start()
    sink = Command("ucwatch sink", ["sink"], env, tmp_path / "sink.log").start()
    commands += [detection, sink]
    wait_until("the detection worker(s) and the sink joined their groups",
               lambda: assigned(bootstrap, settings.streams.app_id, settings.topics.lifecycle)
               and assigned(bootstrap, sink_group(settings), settings.topics.lifecycle),
               JOIN_TIMEOUT_S, commands)
    return detection, sink
