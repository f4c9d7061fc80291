"""Running the fault suite (test_faults.py): a Kafka of the test's own that can be stopped,
the pipeline's commands as real processes (killed and started again), waiting for them by
their committed offsets, and the clean run a faulted one is compared with
(fault_compare.py compares).

Every wait fails with a message naming what did not recover and the end of its log; no
assertion depends on how fast anything went. Recovery times are measured and printed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from tests.conftest import KAFKA_SCRIPT, _free_port_pair, _is_free, settings_env, unique_topics
from tests.integration.fault_compare import Outputs
from ucwatch.core.exit_codes import ExitCode
from ucwatch.core.settings import KafkaSettings, Settings, StreamsSettings, TopicSettings

CLI = [sys.executable, "-m", "ucwatch.app.cli"]
KAFKA_LOG = logging.getLogger("tests.faults.librdkafka")
KAFKA_LOG.setLevel(logging.CRITICAL)  # a node refusing connections while it is down is the test's own doing
SUPERVISED_RESTARTS = 3  # a supervised command leaving with UNDELIVERED on its own, restarted as `ucwatch run` does
_ACTIVE_CONTROLLER = re.compile(r"\[QuorumController id=(\d+)\] Becoming the active controller at epoch (\d+)")


# --- Kafka of the test's own --------------------------------------------------------------

class OwnKafka:
    """One node or a three-node cluster from deploy/local/kafka.sh in a home of its own;
    stopping and starting it again keeps its data."""

    def __init__(self, home: Path, brokers: int = 1) -> None:
        self.brokers = brokers
        self.home = home
        self.port = _free_three_ports() if brokers == 3 else _free_port_pair()
        self.env = {**os.environ, "UCWATCH_KAFKA_HOME": str(home), "UCWATCH_KAFKA_PORT": str(self.port)}
        self.bootstrap = ",".join(f"127.0.0.1:{self.port + n}" for n in range(brokers))

    def _script(self, *args: str) -> float:
        """Runs kafka.sh; returns how long it took."""
        began = time.monotonic()
        done = subprocess.run(["bash", str(KAFKA_SCRIPT), *args], env=self.env, capture_output=True, text=True,
                              check=False, timeout=240)
        assert done.returncode == 0, f"kafka.sh {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return time.monotonic() - began

    def start(self) -> float:
        return self._script("start", "--brokers", str(self.brokers), "--timeout", "150")

    def stop(self) -> float:
        return self._script("stop")

    def stop_node(self, node: int) -> float:
        return self._script("stop-node", str(node))

    def start_node(self, node: int) -> float:
        return self._script("start-node", str(node))

    def active_controller(self) -> int:
        """The node that last became the active controller (the highest epoch any node's
        log, this run's or the previous one, reports)."""
        best: tuple[int, int] | None = None
        for log in self.home.glob("node-*/server.log*"):
            for node, epoch in _ACTIVE_CONTROLLER.findall(log.read_text(errors="replace")):
                if best is None or int(epoch) > best[0]:
                    best = (int(epoch), int(node))
        assert best is not None, f"no node of {self.home} says it became the active controller"
        return best[1]


def _free_three_ports() -> int:
    """A port P such that P..P+2 and P+1000..P+1002 are free (a three-node cluster)."""
    for _ in range(50):
        port = _free_port_pair()
        if port + 1002 < 65000 and all(_is_free(port + n) and _is_free(port + 1000 + n) for n in range(3)):
            return port
    raise RuntimeError("no six free ports for the test cluster")


def pipeline_settings(bootstrap: str, data_dir: Path, *, replication: int = 1, store: str = "rocksdb",
                      prefix: str = "fault") -> Settings:
    """Settings for one pipeline: its own topics, consumer groups and data folder."""
    return Settings(data_dir=data_dir,
                    kafka=KafkaSettings(bootstrap=bootstrap, replication_factor=replication,
                                        connect_timeout_s=60.0),
                    topics=unique_topics(prefix),
                    streams=StreamsSettings(app_id=f"{prefix}-detect-{uuid.uuid4().hex[:8]}", store=store))


def sink_group(settings: Settings) -> str:
    return f"sink-{settings.topics.lifecycle.name}"


def pipeline_env(settings: Settings) -> dict[str, str]:
    """The settings as UCWATCH_ variables for every command of the pipeline. The sink keeps
    its default batching and membership, as an operator runs it; it serves no queries (the
    port would be shared between tests)."""
    return {**settings_env(settings), "UCWATCH_KAFKA_REPLICATION_FACTOR": str(settings.kafka.replication_factor),
            "UCWATCH_SINK_GROUP_ID": sink_group(settings), "UCWATCH_SINK_SERVE_QUERIES": "false"}


# --- the pipeline's commands as processes -------------------------------------------------

@dataclass
class Command:
    """A ucwatch command run as a process (and run again after a kill), output to one log.

    A `supervised` one is kept as `ucwatch run` and Kubernetes keep a detection worker: when
    it leaves on its own with UNDELIVERED (a batch it could not write, or a partition faust
    stopped committing: streams/commit_watch.py), it is started again, up to
    `SUPERVISED_RESTARTS` times; any other exit stays a failure."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    ended: list[int] = field(default_factory=list)
    supervised: bool = False
    left_on_its_own: list[int] = field(default_factory=list)

    def start(self) -> Command:
        with self.log.open("ab") as out:
            out.write(f"\n===== {self.name}: start {self.starts + 1} =====\n".encode())
            out.flush()
            self.process = subprocess.Popen([*CLI, *self.args], env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.starts += 1
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def keeps_running(self) -> bool:
        """alive, once restarted if it is `supervised` and left with UNDELIVERED."""
        if self.alive():
            return True
        status = self.process.poll() if self.process is not None else None
        if not self.supervised or status != ExitCode.UNDELIVERED \
                or len(self.left_on_its_own) >= SUPERVISED_RESTARTS:
            return False
        self.ended.append(status)
        self.left_on_its_own.append(status)
        self.start()
        return True

    def kill(self) -> None:
        """SIGKILL, and wait for the process to be gone."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.ended.append(self.process.wait(30))

    def wait(self, timeout_s: float) -> int:
        assert self.process is not None
        try:
            status = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} did not exit within {timeout_s:.0f} s\n{self.tail()}") from None
        self.ended.append(status)
        return status

    def terminate(self, timeout_s: float = 60.0) -> tuple[int, float]:
        """SIGTERM; (exit status, seconds it took to stop). Killed if it does not stop."""
        assert self.process is not None
        began = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"{self.name} did not stop within {timeout_s:.0f} s of SIGTERM\n"
                                 f"{self.tail()}") from None
        self.ended.append(status)
        return status, time.monotonic() - began

    def stop_quietly(self) -> None:
        """For teardown: whatever state the test left it in, it does not outlive the test."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, chars: int = 3000) -> str:
        return f"--- end of {self.log.name} ---\n{self.text()[-chars:]}"


def produce(settings: Settings, files: Iterable[Path], log: Path, env: dict[str, str] | None = None) -> Command:
    return Command("ucwatch produce", ["produce", "--format", "json", *map(str, files)],
                   {**pipeline_env(settings), **(env or {})}, log)


def tick(settings: Settings, at: str, log: Path) -> None:
    command = Command("ucwatch tick", ["tick", "--at", at], pipeline_env(settings), log).start()
    assert command.wait(120) == 0, command.tail()


def produce_until_done(settings: Settings, files: list[Path], log: Path, first: Command | None = None,
                       attempts: int = 3) -> list[int]:
    """Waits for `first` (a produce already running, if any) and runs the same command
    again while it exits with an error, as an operator would; returns every exit status."""
    statuses: list[int] = []
    command = first or produce(settings, files, log).start()
    for attempt in range(attempts):
        if attempt:
            command.start()  # the same command again
        statuses.append(command.wait(300))
        if statuses[-1] == 0:
            return statuses
    raise AssertionError(f"ucwatch produce did not complete in {attempts} runs (statuses {statuses})\n"
                         f"{command.tail()}")


def produce_summaries(log: Path) -> list[dict[str, Any]]:
    """The JSON summaries `ucwatch produce --format json` printed into `log`, in order."""
    summaries, depth, current = [], 0, []
    for line in log.read_text(errors="replace").splitlines():
        if depth == 0 and line == "{":
            current, depth = [line], 1
        elif depth:
            current.append(line)
            if line == "}":
                summaries.append(json.loads("\n".join(current)))
                depth = 0
    return summaries


# --- progress: committed offsets against the topics' ends ----------------------------------

def _consumer(bootstrap: str, group: str) -> Consumer:
    # librdkafka's own lines go to KAFKA_LOG, not stderr: what the probes fail with is
    # their answer (None), and retried.
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                     "logger": KAFKA_LOG})


def topic_ends(bootstrap: str, topics: list[TopicSettings]) -> dict[tuple[str, int], int] | None:
    """High watermark of every partition; None while a leader is unknown."""
    consumer = _consumer(bootstrap, f"watermarks-{uuid.uuid4().hex[:6]}")
    try:
        return {(t.name, p): consumer.get_watermark_offsets(TopicPartition(t.name, p), timeout=10)[1]
                for t in topics for p in range(t.partitions)}
    except KafkaException:
        return None
    finally:
        consumer.close()


def committed(bootstrap: str, group: str, topics: list[TopicSettings]) -> dict[tuple[str, int], int] | None:
    """The group's committed offset of every partition (0 where none); None while the group
    coordinator is loading or moving, or Kafka cannot be reached."""
    consumer = _consumer(bootstrap, group)
    try:
        partitions = [TopicPartition(t.name, p) for t in topics for p in range(t.partitions)]
        return {(tp.topic, tp.partition): max(tp.offset, 0) for tp in consumer.committed(partitions, timeout=10)}
    except KafkaException:
        return None
    finally:
        consumer.close()


def assigned(bootstrap: str, group: str, topic: TopicSettings) -> bool:
    """Whether the members of `group` hold every partition of `topic` (the group is stable)."""
    from confluent_kafka import ConsumerGroupState
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "logger": KAFKA_LOG})
    try:
        description = admin.describe_consumer_groups([group], request_timeout=10)[group].result()
    except KafkaException:
        return False
    held = {tp.partition for member in description.members for tp in member.assignment.topic_partitions
            if tp.topic == topic.name}
    return description.state == ConsumerGroupState.STABLE and held == set(range(topic.partitions))


def wait_for_records(settings: Settings, count: float, timeout_s: float) -> int:
    """Returns as soon as the lifecycle topic holds `count` records (polled every few ms on
    one connection, so that a fast producer is caught in the middle); how many it holds."""
    topic = settings.topics.lifecycle
    consumer = _consumer(settings.kafka.bootstrap, f"watermarks-{uuid.uuid4().hex[:6]}")
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                held = sum(consumer.get_watermark_offsets(TopicPartition(topic.name, p), timeout=5, cached=False)[1]
                           for p in range(topic.partitions))
            except KafkaException:
                held = 0
            if held >= count:
                return held
            assert time.monotonic() < deadline, f"the lifecycle topic holds {held} of {count:.0f} records"
            time.sleep(0.01)
    finally:
        consumer.close()


def sink_topics(settings: Settings) -> list[TopicSettings]:
    t = settings.topics
    return [t.lifecycle, t.alerts, t.notifications, t.child_state]


def worker_committed(settings: Settings) -> int | None:
    offsets = committed(settings.kafka.bootstrap, settings.streams.app_id, [settings.topics.lifecycle])
    return None if offsets is None else sum(offsets.values())


def sink_committed(settings: Settings) -> int | None:
    offsets = committed(settings.kafka.bootstrap, sink_group(settings), sink_topics(settings))
    return None if offsets is None else sum(offsets.values())


def behind(bootstrap: str, group: str, topics: list[TopicSettings]) -> int | None:
    """Records on `topics` that `group` has not committed; None while unknown."""
    ends, done = topic_ends(bootstrap, topics), committed(bootstrap, group, topics)
    if ends is None or done is None:
        return None
    return sum(end - done[key] for key, end in ends.items())


def wait_until(what: str, condition: Callable[[], bool], timeout_s: float, watched: Iterable[Command] = (),
               poll_s: float = 0.5) -> float:
    """Waits for `condition`; returns how long it took. Fails naming `what` did not happen
    (and the end of the logs of `watched`) after `timeout_s`, or at once if one of the
    `watched` processes exits."""
    began = time.monotonic()
    watched = list(watched)
    while not condition():
        for command in watched:
            if not command.keeps_running():
                raise AssertionError(f"{command.name} exited (status {command.process and command.process.poll()}) "
                                     f"while waiting until {what}\n{command.tail()}")
        if time.monotonic() - began > timeout_s:
            raise AssertionError(f"not recovered: {what} did not happen within {timeout_s:.0f} s\n"
                                 + "\n".join(c.tail() for c in watched))
        time.sleep(poll_s)
    return time.monotonic() - began


def wait_until_drained(settings: Settings, timeout_s: float, watched: Iterable[Command]) -> None:
    """Until the detection group, then the sink, have committed every record, and the
    topics have not moved for a moment (the last outputs are on Kafka and landed)."""
    watched = list(watched)
    bootstrap = settings.kafka.bootstrap
    deadline = time.monotonic() + timeout_s
    while True:
        assert time.monotonic() < deadline, f"the topics kept growing for {timeout_s:.0f} s after the last input"
        wait_until("the detection workers committed every lifecycle record",
                   lambda: behind(bootstrap, settings.streams.app_id, [settings.topics.lifecycle]) == 0,
                   timeout_s, watched)
        wait_until("the sink committed every record of its four topics",
                   lambda: behind(bootstrap, sink_group(settings), sink_topics(settings)) == 0,
                   timeout_s, watched)
        before = topic_ends(bootstrap, sink_topics(settings))
        time.sleep(3.0)
        if before is not None and topic_ends(bootstrap, sink_topics(settings)) == before \
                and behind(bootstrap, sink_group(settings), sink_topics(settings)) == 0:
            return


# --- killing processes ------------------------------------------------------------------

def state_records(settings: Settings, consumer: Consumer) -> int | None:
    """Records on the detection workers' state changelog (faust's `children` table)."""
    topic = f"{settings.streams.app_id}-children-changelog"
    try:
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5, cached=False)[1]
                   for p in range(settings.topics.lifecycle.partitions))
    except KafkaException:
        return None


@dataclass
class Kill:
    victim: str
    moment: str                  # "random", or "state write": just after its state changelog grew
    progress_after_start_s: float  # at most this long from its (re)start to committing something new
    while_arriving: bool         # files were still being produced
    committed_after: int


class KillLoop:
    """SIGKILLs a worker and a sink again and again, each time once it has made progress
    since its last start, and starts it again at once. Worker kills alternate between a
    random moment and the moment its state is being written (just after its changelog
    grows): a batch's state writes span several produce requests, and a kill among them
    is the case a replay must survive."""

    def __init__(self, settings: Settings, worker: Command, sink: Command, *, rng: Any,
                 arriving: Callable[[], bool], kill_after_s: tuple[float, float], timeout_s: float) -> None:
        bootstrap = settings.kafka.bootstrap
        self._settings, self._rng, self._arriving = settings, rng, arriving
        self._kill_after_s, self._timeout_s = kill_after_s, timeout_s
        self._commands = {worker.name: worker, sink.name: sink}
        self._progress = {
            worker.name: (lambda: worker_committed(settings),
                          lambda: behind(bootstrap, settings.streams.app_id, [settings.topics.lifecycle])),
            sink.name: (lambda: sink_committed(settings),
                        lambda: behind(bootstrap, sink_group(settings), sink_topics(settings)))}
        self._worker = worker.name
        self.kills: list[Kill] = []

    def run(self, each: int) -> list[Kill]:
        victims = [self._worker] * each + [n for n in self._commands if n != self._worker] * each
        self._rng.shuffle(victims)
        since = {name: read() or 0 for name, (read, _) in self._progress.items()}
        started = dict.fromkeys(self._commands, time.monotonic())
        worker_kills = 0
        for name in victims:
            victim, (read, left) = self._commands[name], self._progress[name]
            wait_until(
                f"{name} (start {victim.starts}) committed something new, or caught up once every file arrived",
                lambda read=read, left=left, name=name: (read() or 0) > since[name]
                or (not self._arriving() and left() == 0), self._timeout_s, [victim])
            progressed_s = time.monotonic() - started[name]
            time.sleep(self._rng.uniform(*self._kill_after_s))
            moment = "random"
            if name == self._worker:
                if worker_kills % 2 == 0:
                    moment = "state write" if self._when_state_grows() else "random (no state write came)"
                worker_kills += 1
            arriving = self._arriving()
            victim.kill()
            since[name] = read() or 0
            self.kills.append(Kill(name, moment, round(progressed_s, 1), arriving, since[name]))
            victim.start()
            started[name] = time.monotonic()
        return self.kills

    def _when_state_grows(self, timeout_s: float = 5.0) -> bool:
        """Returns just after the workers' state changelog grows; False if it does not."""
        consumer = _consumer(self._settings.kafka.bootstrap, f"watermarks-{uuid.uuid4().hex[:6]}")
        try:
            first = state_records(self._settings, consumer)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                now = state_records(self._settings, consumer)
                if first is None:
                    first = now
                elif now is not None and now > first:
                    return True
                time.sleep(0.005)
            return False
        finally:
            consumer.close()


# --- the clean run: the reference a faulted run is compared with ---------------------

def replay_settings(settings: Settings) -> Settings:
    """A detection run of its own (group, state, output topics) over `settings`' lifecycle
    topic: with no fault, it is the clean reference of the same input."""
    fresh = unique_topics("clean")
    return dataclasses.replace(settings, data_dir=settings.data_dir.with_name(settings.data_dir.name + "-clean"),
                               topics=dataclasses.replace(fresh, lifecycle=settings.topics.lifecycle),
                               streams=StreamsSettings(app_id=f"clean-{uuid.uuid4().hex[:8]}", store="memory"))


def clean_run(reference: Settings, log_dir: Path, timeout_s: float) -> Outputs:
    """Runs one detection worker over `reference`'s lifecycle topic, with no fault, to the
    end; returns what it wrote."""
    from ucwatch.core.kafka_admin import ensure_topics, wait_for_kafka

    ensure_topics(wait_for_kafka(reference), reference)
    worker = Command("clean worker", ["worker", "--name", "clean"], pipeline_env(reference),
                     log_dir / "clean-worker.log", supervised=True).start()
    try:
        wait_until("the clean run's worker committed every lifecycle record",
                   lambda: behind(reference.kafka.bootstrap, reference.streams.app_id,
                                  [reference.topics.lifecycle]) == 0, timeout_s, [worker])
        time.sleep(2.0)  # what was sent before the last commit reaches the output topics
    finally:
        worker.stop_quietly()
    return Outputs.read(reference)


# --- what was measured -------------------------------------------------------------------

def log_lines(lines: list[str], level: str) -> int:
    return sum(1 for line in lines if f" {level} " in line)


def report(title: str, **figures: Any) -> None:
    """What a fault test measured, one JSON line on stdout (pytest -rP shows it)."""
    print(f"\nFAULT REPORT {title}: {json.dumps(figures, default=str)}")
