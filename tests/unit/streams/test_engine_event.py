"""The worker decodes lifecycle records without Avro's logical types (half the decoding
cost); the engine must get exactly the event it got when they were decoded with them."""

from __future__ import annotations

import pytest

from tests.helpers import FIELDS, sample_event
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.contract import ContractRules, EventContract
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Decoder, Encoder
from ucwatch.streams.records import engine_event

CATALOG = default_catalog()
REGISTRY = EmbeddedRegistry(CATALOG)
ENCODER = Encoder(REGISTRY, "lifecycle")
CONTRACT = EventContract(CATALOG, ContractRules(10 ** 12), lambda: 4e9)


CASES = [sample_event(t) for t in sorted(FIELDS)] + [sample_event("ChildEncountered", birth_date="2008-03-14")]


@pytest.mark.parametrize("event", CASES, ids=lambda e: e["event_type"] + ("+birth_date" if "birth_date" in e else ""))
def test_an_event_decoded_without_logical_types_reaches_the_engine_as_with_them(event: dict) -> None:
    schema, record = CONTRACT.normalize(event)
    data = ENCODER.encode(schema, record)
    with_types = engine_event(Decoder(REGISTRY, CATALOG).decode(data))
    without = engine_event(Decoder(REGISTRY, CATALOG, logical_types=False).decode(data))
    assert without == with_types
    assert isinstance(without["occurred_at"], int) and isinstance(without["recorded_at"], int)
    if "birth_date" in event:
        assert without["birth_date"] == "2008-03-14"
