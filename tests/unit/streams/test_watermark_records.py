"""The watermark contract and its producers: the SourceWatermark record and AlertChanged v2
(BACKWARD compatible), the declaration helpers behind the SDK call and `ucwatch produce
--complete-up-to`, and the simulator's per-source feed behaviour and declarations."""

from __future__ import annotations

from itertools import pairwise

import pytest

from ucwatch.core.errors import ContractError, SettingsError
from ucwatch.producers.watermarks import parse_declaration, watermark_record
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.compat import problems
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Decoder, Encoder
from ucwatch.simulate import Simulation, SimulationConfig
from ucwatch.simulate.clock import DAY, HOUR
from ucwatch.simulate.config import FeedRates
from ucwatch.simulate.watermarks import declarations

CATALOG = default_catalog()
T = 1_614_600_000_000


def test_a_watermark_record_round_trips_through_the_wire_format() -> None:
    registry = EmbeddedRegistry(CATALOG)
    schema = CATALOG.latest("SourceWatermark", "control")
    record = watermark_record("EOIR", T, T + HOUR, 3, "produce")
    name, decoded = Decoder(registry, CATALOG).decode_named(Encoder(registry, "t").encode(schema, record))
    assert name == "gov.ucwatch.control.SourceWatermark"
    assert decoded["source"] == "EOIR" and decoded["partition"] == 3 and decoded["issued_by"] == "produce"


def test_alert_changed_v2_adds_pending_and_withdrawn_backward_compatibly() -> None:
    v1, v2 = (v.definition for v in CATALOG.versions("AlertChanged", "alerts"))
    assert problems(v2, v1) == []
    symbols = {f["name"]: f["type"]["symbols"] for f in v2["fields"] if f["name"] in ("change", "status")}
    assert "PENDING" in symbols["change"] and "WITHDRAWN" in symbols["status"]


@pytest.mark.parametrize(("args", "field"), [
    (("eoir", T, T), "source"), (("EOIR", "yesterday", T), "complete_up_to"),
    (("EOIR", T + 1, T), "complete_up_to"), (("EOIR", T, T, 0, "me"), "issued_by"),
])
def test_a_bad_declaration_is_refused_with_its_field(args: tuple, field: str) -> None:
    source, up_to, now, *rest = args
    with pytest.raises(ContractError) as caught:
        watermark_record(source, up_to, now, *(rest or [0]))
    assert caught.value.field == field


def test_the_command_line_declaration_is_source_equals_timestamp() -> None:
    assert parse_declaration("EOIR=2021-03-01T12:00:00Z") == ("EOIR", T)
    assert parse_declaration("ORR=2021-03-01T12:00:00") == ("ORR", T)     # UTC when no offset
    for bad in ("EOIR", "EOIR=soon", "=2021-03-01T12:00:00Z"):
        with pytest.raises(ContractError):
            parse_declaration(bad)


def events(feed: FeedRates, children: int = 40, seed: int = 4) -> list[dict]:
    return list(Simulation(SimulationConfig(seed=seed, children=children, feed=feed)).events())


def test_late_by_load_keeps_the_histories_and_makes_whole_loads_late() -> None:
    plain, by_load = events(FeedRates()), events(FeedRates(late_by_load=True, load_late_share=0.2))
    late = {e["event_id"] for e in plain} - {e["event_id"] for e in by_load}
    assert {e["event_id"] for e in by_load} <= {e["event_id"] for e in plain}      # the same histories,
    assert all(e["recorded_at"] >= "2023-08-31" for e in plain if e["event_id"] in late)  # less of the end
    stamps = {(e["source"], e["recorded_at"]) for e in by_load if e["source"] == "EOIR"}
    assert all(stamp[1].endswith("T06:00:00.000Z") for stamp in stamps)   # still on the nightly load


def test_an_outage_delivers_nothing_of_its_source_inside_the_window() -> None:
    window = ("ORR", "2019-03-01T00:00:00Z", "2019-04-01T00:00:00Z")
    delivered = events(FeedRates(outage=window), children=200)
    orr = [e["recorded_at"] for e in delivered if e["source"] == "ORR"]
    assert orr and not [t for t in orr if window[1] <= t < window[2]]
    assert any(t.startswith("2019-04-01T03:00") for t in orr)                # held until its first load after
    with pytest.raises(SettingsError):
        SimulationConfig(feed=FeedRates(outage=("COURT", window[1], window[2])))


def test_declarations_move_forward_and_stop_at_a_late_load() -> None:
    config = SimulationConfig(seed=4, children=10, feed=FeedRates(late_by_load=True, load_late_share=0.3))
    marks = declarations(config, T, T + 60 * DAY)
    for source in ("EOIR", "CBP"):
        mine = [(at, up_to) for at, s, up_to in marks if s == source]
        assert mine and all(b[1] > a[1] for a, b in pairwise(mine))
        assert all(up_to < at for at, up_to in mine)
    eoir = [(at, up_to) for at, s, up_to in marks if s == "EOIR"]
    assert max(at - up_to for at, up_to in eoir) > 7 * DAY     # a late load holds the watermark back


def test_a_source_vouching_at_a_lower_percentile_of_its_lag_declares_more() -> None:
    """`vouch` 99 (the default) allows for the 99th percentile of a source's normal lag; at
    50 a source allows only its median, so each declaration claims a later instant."""
    config = SimulationConfig(seed=4, children=10)
    careful = declarations(config, T, T + 20 * DAY)
    assert careful == declarations(config, T, T + 20 * DAY, vouch=99.0)
    bold = declarations(config, T, T + 20 * DAY, vouch=50.0)
    for source, allowance in (("CBP", 0.5 * HOUR), ("ORR", 4 * HOUR)):
        at_99 = {at: up_to for at, s, up_to in careful if s == source}
        at_50 = {at: up_to for at, s, up_to in bold if s == source}
        shared = at_99.keys() & at_50.keys()
        assert shared and all(at_50[at] - at_99[at] > allowance for at in shared)
