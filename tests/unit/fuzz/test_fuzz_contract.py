"""The contract validator on arbitrary JSON-ish objects (huge numbers, nesting, lone
surrogates, text of any kind): an Avro-ready record or a ContractError, never another
exception; never the value at fault in the error; and the dead letter of a refusal
builds and serializes, with no value that did not pass its check."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import fastavro
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import FIELDS, sample_event
from tests.unit.fuzz.strategies import SECRET, any_text, deeply_nested, fuzz, json_values
from ucwatch.core.errors import ContractError
from ucwatch.core.pseudonym import TOKEN_PATTERN
from ucwatch.producers.files import InputLine
from ucwatch.producers.importer import letter_for
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.contract import ID_FIELDS, EventContract
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Encoder

CATALOG = default_catalog()
CONTRACT = EventContract(CATALOG, clock=lambda: datetime(2024, 6, 1, tzinfo=UTC).timestamp())
ENCODER = Encoder(EmbeddedRegistry(CATALOG), "fuzz")
FIELD_NAMES = sorted({f["name"] for t in CONTRACT.event_types for f in CONTRACT.schema_of(t).fields})
EVENT_TYPES = sorted(FIELDS)

names = st.sampled_from(FIELD_NAMES) | any_text.filter(lambda name: SECRET not in name)
values = json_values() | st.just(deeply_nested(3000)) | st.sampled_from([10**5000, float("nan")])


def _fastavro(schema: Any, record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema.parsed, record)
    return buffer.getvalue()


def _check(raw: Any, *, from_text: bool = False) -> None:
    """The properties every input must have, accepted or refused."""
    try:
        schema, record = CONTRACT.normalize(raw, from_text=from_text)
    except ContractError as exc:
        _check_refusal(raw, exc, from_text)
        return
    encoded = ENCODER.encode(schema, record)  # anything the contract accepts can be encoded...
    assert encoded[5:] == _fastavro(schema, record)  # ...and the fast encoder agrees with fastavro
    for name in ID_FIELDS:  # an accepted id is exactly a token: nothing before or after it
        if record.get(name) is not None:
            assert TOKEN_PATTERN.fullmatch(record[name]), record[name]


def _check_refusal(raw: Any, exc: ContractError, from_text: bool) -> None:
    assert exc.message.encode("utf-8")  # printable: no lone surrogate
    assert SECRET not in exc.message, exc.message
    letter = letter_for(InputLine(1, b"", raw, exc, from_text), "fuzz.jsonl", CONTRACT)
    assert SECRET not in letter.to_json().decode("ascii")


@fuzz(600)
@given(raw=st.dictionaries(names, values, max_size=12), from_text=st.booleans())
def test_any_object(raw: dict[str, Any], from_text: bool) -> None:
    _check(raw, from_text=from_text)


@fuzz(300)
@given(raw=values)
def test_anything_that_is_not_an_object(raw: Any) -> None:
    _check(raw)


@fuzz(800)
@given(event_type=st.sampled_from(EVENT_TYPES), changes=st.dictionaries(st.sampled_from(FIELD_NAMES), values,
                                                                           min_size=1, max_size=3))
def test_a_valid_event_with_some_fields_replaced(event_type: str, changes: dict[str, Any]) -> None:
    _check({**sample_event(event_type), **changes})


@fuzz(500)
@given(event_type=st.sampled_from(EVENT_TYPES), changes=st.dictionaries(st.sampled_from(FIELD_NAMES), any_text,
                                                                           min_size=1, max_size=3))
def test_a_csv_row_with_some_cells_replaced(event_type: str, changes: dict[str, str]) -> None:
    row = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in sample_event(event_type).items()}
    _check({**row, **changes}, from_text=True)


def test_the_reported_crashers_are_refusals() -> None:
    too_early = sample_event("ChildEncountered", birth_date="2010-01-01", age_years=None, occurred_at=-(10**30))
    for raw in (sample_event("CaseClosed", occurred_at=10**30), too_early,
                {**sample_event("CaseClosed"), "\ud800": 1}, json.loads("[" * 900 + "]" * 900)):
        _check(raw)
