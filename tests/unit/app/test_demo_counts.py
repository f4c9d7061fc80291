"""What the demo (and the fault suite, tests/integration/fault_compare.py) counts as a
lifecycle event on the lifecycle topic: every record but ucwatch's control records, the
clock ticks and the source watermarks (schemas/avro/control), which the sink does not land
in `events` and which have no event_type."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.helpers import sample_event
from ucwatch.app.demo import CONTROL_NAMESPACE, count_events, is_event
from ucwatch.producers.watermarks import watermark_record
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Decoder, Encoder
from ucwatch.streams.records import tick_record

CATALOG = default_catalog()
AT_MS = int(datetime(2023, 3, 1, tzinfo=UTC).timestamp() * 1000)


def test_every_control_record_and_no_lifecycle_event_is_left_out() -> None:
    control = [v.fullname for v in CATALOG.all() if v.family == "control"]
    assert {"gov.ucwatch.control.ClockTick", "gov.ucwatch.control.SourceWatermark"} <= set(control)
    assert not any(is_event(name) for name in control)
    lifecycle = [v.fullname for v in CATALOG.all() if v.family == "lifecycle"]
    assert lifecycle and all(is_event(name) for name in lifecycle)
    assert not any(name.startswith(CONTROL_NAMESPACE) for name in lifecycle)


def test_ticks_and_watermarks_among_events_are_not_counted() -> None:
    encoder = Encoder(EmbeddedRegistry(CATALOG), "ucwatch.lifecycle")
    at = datetime(2023, 2, 1, tzinfo=UTC)
    events = [encoder.encode(CATALOG.latest("NtaServed"),
                             sample_event("NtaServed", child=n, occurred_at=at, recorded_at=at)) for n in (1, 2, 3)]
    tick = encoder.encode(CATALOG.latest("ClockTick", "control"), tick_record(AT_MS, 0, "ticker"))
    mark = encoder.encode(CATALOG.latest("SourceWatermark", "control"),
                          watermark_record("EOIR", AT_MS, AT_MS + 1000, 0))
    values = [events[0], tick, events[1], mark, mark, events[2], tick]
    assert count_events(values, Decoder(EmbeddedRegistry(CATALOG), CATALOG)) == 3
