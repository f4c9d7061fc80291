"""How far a consumer group is: its committed offsets against the topics' ends.

`remaining` and `wait_until_caught_up` serve the demo, benches and tests (the detection
workers' group); `GroupProgress` shows any group catching up (the sink, the workers) as a
progress display from outside the consuming loop, so it costs that loop nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import IO

from confluent_kafka import Consumer, KafkaException, TopicPartition

from ucwatch.core.kafka_admin import client_config
from ucwatch.core.progress_bar import ProgressBar
from ucwatch.core.settings import Settings, TopicSettings

QUIET = logging.getLogger("ucwatch.librdkafka.progress")
QUIET.setLevel(logging.CRITICAL)


def committed_records(consumer: Consumer, topic: TopicSettings) -> int | None:
    """Records `consumer`'s group has committed on `topic`, summed over its partitions;
    None while the group coordinator is still loading or moving."""
    partitions = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
    try:
        return sum(max(tp.offset, 0) for tp in consumer.committed(partitions, timeout=10))
    except KafkaException:
        return None


def group_position(settings: Settings, group_id: str, topics: Sequence[TopicSettings]) -> tuple[int, int] | None:
    """(records the group has committed, records on the topics), summed over every partition;
    None while the group coordinator or a leader is still moving."""
    # a look, not a client: while Kafka is away it says so by returning None, not in the log
    consumer = Consumer({**client_config(settings), "group.id": group_id, "enable.auto.commit": False,
                         "logger": QUIET})
    try:
        partitions = [TopicPartition(t.name, p) for t in topics for p in range(t.partitions)]
        try:
            committed = consumer.committed(partitions, timeout=10)
            ends = [consumer.get_watermark_offsets(tp, timeout=10) for tp in committed]
        except KafkaException:
            return None
        done = sum((tp.offset if tp.offset >= 0 else low) for tp, (low, _) in zip(committed, ends, strict=True))
        return done, sum(high for _, high in ends)
    finally:
        consumer.close()


def remaining(settings: Settings) -> int | None:
    """Lifecycle records not yet committed by the workers' group; None while unknown."""
    position = group_position(settings, settings.streams.app_id, [settings.topics.lifecycle])
    return None if position is None else position[1] - position[0]


class GroupProgress:
    """A thread that shows a group catching up: records committed since it started, of those
    on the topics, and records/s (a bar on a terminal, a line every `every_s` otherwise)."""

    def __init__(self, settings: Settings, group_id: str, topics: Sequence[TopicSettings], label: str, *,
                 interval_s: float = 2.0, every_s: float = 10.0, enabled: bool = True,
                 stream: IO[str] | None = None) -> None:
        self._settings, self._group_id, self._topics = settings, group_id, topics
        self._bar = ProgressBar(label, unit="records", every_s=every_s, enabled=enabled, stream=stream)
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"progress-{group_id}", daemon=True)
        self._enabled = enabled

    def __enter__(self) -> GroupProgress:
        if self._enabled:
            self._bar.__enter__()
            self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=15)
        if self._enabled:
            self._bar.__exit__(kind, error, trace)

    def _watch(self) -> None:
        start: int | None = None
        while not self._stop.is_set():
            position = group_position(self._settings, self._group_id, self._topics)
            if position is not None:
                done, end = position
                start = done if start is None else start
                self._bar.update(done - start, total=end - start)
            self._stop.wait(self._interval_s)


def wait_until_caught_up(settings: Settings, timeout_s: float, alive: Callable[[], bool] = lambda: True) -> None:
    """Returns once every lifecycle record is committed; raises TimeoutError otherwise."""
    deadline = time.monotonic() + timeout_s
    while (left := remaining(settings)) != 0:
        if not alive():
            raise RuntimeError("the detection worker exited")
        if time.monotonic() > deadline:
            raise TimeoutError(f"detection still has {left} record(s) to process after {timeout_s} s")
        time.sleep(0.5)
    time.sleep(2.0)  # what was sent before the last commit reaches the output topics
