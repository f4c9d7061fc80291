"""Checks raw events against the contract and turns them into Avro-ready records.

A raw event is a mapping with the field names of domain.md, as parsed from JSON Lines
(timestamps as ISO-8601 strings with a zone), from CSV (every value text, empty = absent)
or handed to the SDK (timestamps may also be aware datetimes or UTC epoch milliseconds).
`EventContract.normalize` returns the schema version and a record whose timestamps are
UTC milliseconds, ready for fastavro; it raises `ContractError` with a stable `code` on the
first problem found.

Beyond Avro's types the contract enforces what the domain and privacy rules require:
identifiers are pseudonymous tokens of the right kind (a raw A-number is refused), coded
fields carry codes and not free text, no field outside the schema is accepted (it could
carry a name), synthetic events use synthetic ids and only they do, timestamps carry a
zone and are plausible, addresses are reduced to state, county and ZIP.

Error messages never quote the value at fault: they end up on the dead-letter topic, and
a value that breaks the contract may be exactly what must not reach Kafka (an A-number in
an id field, an address in a coded field). They name the field, the rule and the kind of
value; the file and line, or the caller's own event, show the value itself. Field names
outside the contract are named only when they look like field names (`shown_name`).
"""

from __future__ import annotations

import difflib
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ucwatch.core.errors import ContractError, UnknownEventType
from ucwatch.core.pseudonym import TOKEN_PATTERN, IdKind, is_synthetic_token, looks_like_a_number
from ucwatch.schemas.catalog import LIFECYCLE, Catalog, SchemaVersion

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)
EARLIEST_PLAUSIBLE_MS = int((datetime(2000, 1, 1, tzinfo=UTC) - EPOCH) / ONE_MS)

ID_FIELDS = {"child_id": IdKind.CHILD, "sponsor_id": IdKind.SPONSOR, "facility_id": IdKind.FACILITY,
             "nta_id": IdKind.NTA, "hearing_id": IdKind.HEARING}
CODE_FIELDS = {"placement_type", "recipient", "concern_type", "verifying_agency", "method", "court_code"}
# \Z, not $: `$` also matches before a final newline, and "CH-X\n" is not the token "CH-X".
CODE_PATTERN = re.compile(r"^[A-Z0-9_]{1,40}\Z")
USPS_STATES = frozenset([
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY",
    "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH",
    "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "PR", "VI", "GU",
    "AS", "MP"])
FIVE_DIGITS = re.compile(r"^[0-9]{5}\Z")
COUNTRY_CODE = re.compile(r"^[A-Z]{2}\Z")
INT_RANGES = {"sponsor_category": (1, 4), "attempt": (1, 99), "age_years": (0, 17)}
MAX_TEXT = 64
CANONICAL_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
# What a timestamp may be at all (years 1-9999, as datetime allows); plausibility comes later.
MIN_MILLIS = int((datetime(1, 1, 1, tzinfo=UTC) - EPOCH) / ONE_MS)
MAX_MILLIS = int((datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) - EPOCH) / ONE_MS)
MAX_NAMED = 10
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}\Z")
UNSHOWN_NAME = "(a name not in field-name style, withheld)"
ENVELOPE = ("event_id", "child_id", "occurred_at", "recorded_at", "source", "synthetic")
"""The fields every event type has, checked alike whatever the type."""


@dataclass(frozen=True)
class ContractRules:
    max_future_skew_ms: int = 24 * 3600 * 1000
    """Refuse events said to occur, or be recorded, further than this past the clock."""


Converter = Callable[[Any, bool], Any]


class _Invalid(Exception):
    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        self.code = code
        self.message = message
        self.field = field


class EventContract:
    """Validates and normalizes lifecycle events; one plan per event type, built once."""

    def __init__(self, catalog: Catalog, rules: ContractRules | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._rules = rules or ContractRules()
        self._clock = clock
        self._plans = {name: _Plan(catalog.latest(name, LIFECYCLE)) for name in catalog.names(LIFECYCLE)}
        any_plan = next(iter(self._plans.values()))
        self._envelope = {name: any_plan.converters[name] for name in ENVELOPE}

    @property
    def event_types(self) -> list[str]:
        return sorted(self._plans)

    def schema_of(self, event_type: str) -> SchemaVersion:
        try:
            return self._plans[event_type].schema
        except KeyError:
            raise _unknown_event_type(event_type, self._plans) from None

    def normalize(self, raw: Any, *, from_text: bool = False) -> tuple[SchemaVersion, dict[str, Any]]:
        if not isinstance(raw, Mapping):
            raise ContractError("not_an_object", f"an event must be an object, got {type(raw).__name__}")
        event_type = raw.get("event_type")
        if event_type is None or event_type == "":
            raise ContractError("missing_field", "event_type is missing", field="event_type")
        if not isinstance(event_type, str):
            raise ContractError("wrong_type", f"event_type must be a string, got {type(event_type).__name__}",
                                field="event_type")
        plan = self._plans.get(event_type)
        if plan is None:
            raise _unknown_event_type(event_type, self._plans)
        record = plan.convert(raw, from_text)
        self._check_times(record, event_type)
        return plan.schema, record

    def valid_fields(self, raw: Any, *, from_text: bool = False) -> frozenset[str]:
        """The fields of `raw` whose values pass their own field's check, each taken alone.

        For dead letters: `normalize` stops at the first fault, so the fields after it were
        never checked; only these may keep their values. With an unknown event_type only
        the envelope fields are checked.
        """
        if not isinstance(raw, Mapping):
            return frozenset()
        event_type = raw.get("event_type")
        plan = self._plans.get(event_type) if isinstance(event_type, str) else None
        converters = plan.converters if plan is not None else self._envelope
        passed = set()
        for name, convert in converters.items():
            value = raw.get(name)
            if value is None or (from_text and value == ""):
                continue
            try:
                convert(value, from_text)
            except _Invalid:
                continue
            passed.add(name)
        return frozenset(passed)

    def _check_times(self, record: dict[str, Any], event_type: str) -> None:
        skew = self._rules.max_future_skew_ms
        horizon = int(self._clock() * 1000) + skew
        occurred, recorded = record["occurred_at"], record["recorded_at"]
        for name, value in (("occurred_at", occurred), ("recorded_at", recorded)):
            if value > horizon:
                raise ContractError("future_timestamp", f"{name} is implausibly far in the future "
                                    f"(more than {skew // 3_600_000} h ahead of now)",
                                    field=name, event_type=event_type)
            if value < EARLIEST_PLAUSIBLE_MS:
                raise ContractError("implausible_timestamp", f"{name} is before 2000",
                                    field=name, event_type=event_type)
        if recorded < occurred - skew:
            raise ContractError("recorded_before_occurred", "recorded_at is before occurred_at",
                                field="recorded_at", event_type=event_type)


class _Plan:
    """How to convert one event type: a converter per field, then the cross-field checks."""

    def __init__(self, schema: SchemaVersion) -> None:
        self.schema = schema
        self.fields: list[tuple[str, bool, Any, Converter]] = []
        for spec in schema.fields:
            nullable, converter = _converter_for(spec["name"], spec["type"])
            has_default = "default" in spec
            required = not nullable and not has_default
            self.fields.append((spec["name"], required, spec.get("default"), converter))
        self.known = frozenset(name for name, *_ in self.fields)
        self.converters = {name: converter for name, _, _, converter in self.fields}
        self._convert_fields = _compile_field_converter(self.fields, schema.name)
        self.id_fields = [name for name in self.known if name in ID_FIELDS]
        self.has_address = "address_quality" in self.known

    def convert(self, raw: Mapping[str, Any], from_text: bool) -> dict[str, Any]:
        event_type = self.schema.name
        for key in raw:
            if key not in self.known:
                unknown = sorted({shown_name(k) for k in raw if k not in self.known})
                more = f" and {len(unknown) - MAX_NAMED} more" if len(unknown) > MAX_NAMED else ""
                raise ContractError("unknown_field", f"field(s) not in the {event_type} contract: "
                                    f"{', '.join(unknown[:MAX_NAMED])}{more}", field=unknown[0],
                                    event_type=event_type)
        try:
            record = self._convert_fields(raw, from_text)
        except _Invalid as bad:
            name = bad.field or ""
            if bad.code == "missing_field":
                raise ContractError("missing_field", f"{name} is missing", field=name,
                                    event_type=event_type) from None
            raise ContractError(bad.code, f"{name}: {bad.message}", field=name, event_type=event_type) from None
        if record["event_type"] != event_type:
            raise ContractError("wrong_value", f"event_type {record['event_type']!r} does not match "
                                f"the schema {event_type}", field="event_type", event_type=event_type)
        self._check_synthetic(record)
        if self.has_address:
            _check_address(record, event_type)
        if event_type == "ChildEncountered":
            _check_age(record)
        return record

    def _check_synthetic(self, record: dict[str, Any]) -> None:
        synthetic = record["synthetic"]
        for name in self.id_fields:
            value = record[name]
            if value is not None and is_synthetic_token(value) != synthetic:
                raise ContractError(
                    "synthetic_mismatch",
                    f"{name} {'lacks' if synthetic else 'has'} the reserved SYN- prefix but the event "
                    f"is {'synthetic' if synthetic else 'not marked synthetic'}",
                    field=name, event_type=self.schema.name)


def _compile_field_converter(fields: list[tuple[str, bool, Any, Converter]],
                             event_type: str) -> Callable[[Mapping[str, Any], bool], dict[str, Any]]:
    """Generates one function converting every field of a schema.

    Validation runs once per event on the producer's hot path, so instead of looping over
    converters it inlines, per field, a fast test that accepts only a value already in its
    final form (e.g. a str matching the token pattern); anything else, including every
    invalid value, goes through the field's converter, which coerces CSV text or raises
    the precise error.
    """
    env: dict[str, Any] = {"_Invalid": _Invalid}
    lines = ["def convert_fields(raw, from_text):", "    get = raw.get", "    record = {}"]
    for index, (name, required, default, converter) in enumerate(fields):
        env[f"c{index}"] = converter
        env[f"d{index}"] = default
        fast = getattr(converter, "fast", None)
        names = {key: f"{key}_{index}" for key in getattr(converter, "env", {})}
        env.update({names[key]: value for key, value in getattr(converter, "env", {}).items()})
        lines.append(f"    v = get({name!r})")
        lines.append("    if v is None or (from_text and v == ''):")
        if required:
            lines.append(f"        raise _Invalid('missing_field', '', {name!r})")
        else:
            lines.append(f"        v = d{index}")
        test = fast.format(v="v", **names) if fast else "False"
        lines.append(f"    elif not ({test}):")
        lines.append("        try:")
        lines.append(f"            v = c{index}(v, from_text)")
        lines.append("        except _Invalid as bad:")
        lines.append(f"            bad.field = {name!r}")
        lines.append("            raise")
        lines.append(f"    record[{name!r}] = v")
    lines.append("    return record")
    exec(compile("\n".join(lines), f"<contract {event_type}>", "exec"), env)
    convert_fields: Callable[[Mapping[str, Any], bool], dict[str, Any]] = env["convert_fields"]
    return convert_fields


def _with_fast_path(converter: Converter, test: str, **env: Any) -> Converter:
    """Marks a converter with an inline test for values it would return unchanged."""
    converter.fast = test  # type: ignore[attr-defined]
    converter.env = env  # type: ignore[attr-defined]
    return converter


def _check_address(record: dict[str, Any], event_type: str) -> None:
    if record["address_quality"] == "BLANK":
        return
    missing = [name for name in ("state", "county", "zip") if record[name] is None]
    if missing:
        raise ContractError("incomplete_address", f"address_quality {record['address_quality']} needs "
                            f"{', '.join(missing)}", field=missing[0], event_type=event_type)


def _check_age(record: dict[str, Any]) -> None:
    if record["birth_date"] is None and record["age_years"] is None:
        raise ContractError("missing_field", "ChildEncountered needs birth_date or age_years",
                            field="age_years", event_type="ChildEncountered")
    birth = record["birth_date"]
    if birth is not None:
        occurred = (EPOCH + record["occurred_at"] * ONE_MS).date()
        if birth > occurred or (occurred.year - birth.year) > 18:
            raise ContractError("out_of_range", "birth_date is not that of a child at occurred_at",
                                field="birth_date", event_type="ChildEncountered")


def _converter_for(name: str, avro_type: Any) -> tuple[bool, Converter]:  # noqa: PLR0911 (one per type)
    """(nullable, converter) for a field of the given Avro type."""
    if isinstance(avro_type, list):
        branches = [t for t in avro_type if t != "null"]
        if len(branches) != 1:
            raise ValueError(f"{name}: only [null, T] unions are supported by the contract")
        return True, _converter_for(name, branches[0])[1]
    if isinstance(avro_type, dict):
        logical = avro_type.get("logicalType")
        if logical == "timestamp-millis":
            return False, _with_fast_path(_to_millis, "{v}.__class__ is int and {low} <= {v} <= {high}",
                                          low=MIN_MILLIS, high=MAX_MILLIS)
        if logical == "date":
            return False, _with_fast_path(_to_date, "{v}.__class__ is {date}", date=date)
        if avro_type["type"] == "enum":
            return False, _enum_converter(frozenset(avro_type["symbols"]))
        return _converter_for(name, avro_type["type"])
    if avro_type in ("int", "long"):
        low, high = INT_RANGES.get(name, (-(2 ** 31), 2 ** 31 - 1))
        return False, _int_converter(low, high)
    if avro_type == "boolean":
        return False, _with_fast_path(_to_bool, "{v} is True or {v} is False")
    if avro_type == "string":
        if name == "event_id":
            return False, _with_fast_path(_to_uuid, "{v}.__class__ is str and {match}({v}) is not None",
                                          match=CANONICAL_UUID.match)
        return False, _string_converter(name)
    raise ValueError(f"{name}: Avro type {avro_type!r} is not supported by the contract")


def _to_millis(value: Any, from_text: bool) -> int:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise _Invalid("bad_timestamp", "not an ISO-8601 timestamp (e.g. 2024-05-01T12:00:00Z)") from None
        value = parsed
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise _Invalid("timestamp_without_timezone", "no timezone; write it in UTC with a Z")
        return (value - EPOCH) // ONE_MS
    if isinstance(value, int) and not isinstance(value, bool):
        if not MIN_MILLIS <= value <= MAX_MILLIS:
            raise _Invalid("out_of_range", "not a time in years 1-9999 (as UTC epoch milliseconds)")
        return value
    raise _Invalid("wrong_type", f"expected an ISO-8601 timestamp, got {type(value).__name__}")


def _to_date(value: Any, from_text: bool) -> date:
    if isinstance(value, datetime):
        raise _Invalid("wrong_type", "expected a date (YYYY-MM-DD), got a timestamp")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise _Invalid("bad_date", "not a date (YYYY-MM-DD)") from None
    raise _Invalid("wrong_type", f"expected a date (YYYY-MM-DD), got {type(value).__name__}")


def _to_uuid(value: Any, from_text: bool) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        raise _Invalid("wrong_type", f"expected a UUID string, got {type(value).__name__}")
    if CANONICAL_UUID.match(value):
        return value
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise _Invalid("bad_uuid", "not a UUID") from None


def _to_bool(value: Any, from_text: bool) -> bool:
    if isinstance(value, bool):
        return value
    if from_text and isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
    raise _Invalid("wrong_type", f"expected true or false, got {_kind(value)}")


def _int_converter(low: int, high: int) -> Converter:
    def convert(value: Any, from_text: bool) -> int:
        if from_text and isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise _Invalid("wrong_type", "expected a whole number, got other text") from None
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Invalid("wrong_type", f"expected a whole number, got {type(value).__name__}")
        if not low <= value <= high:
            raise _Invalid("out_of_range", f"outside {low}..{high}")
        return value
    return _with_fast_path(convert, "{v}.__class__ is int and {low} <= {v} <= {high}", low=low, high=high)


def _enum_converter(symbols: frozenset[str]) -> Converter:
    listed = ", ".join(sorted(symbols))

    def convert(value: Any, from_text: bool) -> str:
        if not isinstance(value, str) or value not in symbols:
            raise _Invalid("bad_enum", f"not one of {listed} (got {_kind(value)})")
        return value
    return _with_fast_path(convert, "{v}.__class__ is str and {v} in {symbols}", symbols=symbols)


def _string_converter(name: str) -> Converter:
    kind = ID_FIELDS.get(name)
    if kind is not None:
        return _identifier_converter(name, kind)
    if name in CODE_FIELDS:
        return _pattern_converter(CODE_PATTERN, "an upper-case code (A-Z, 0-9, _), not free text")
    if name == "state":
        return _set_converter(USPS_STATES, "a USPS state code")
    if name in ("county", "zip"):
        return _pattern_converter(FIVE_DIGITS, "5 digits" + (" (county FIPS)" if name == "county" else ""))
    if name == "country_of_birth":
        return _pattern_converter(COUNTRY_CODE, "an ISO 3166-1 alpha-2 code")
    return _plain_string


def _plain_string(value: Any, from_text: bool) -> str:
    if not isinstance(value, str):
        raise _Invalid("wrong_type", f"expected a string, got {type(value).__name__}")
    if len(value) > MAX_TEXT:
        raise _Invalid("too_long", f"{len(value)} characters, at most {MAX_TEXT}")
    return value


_with_fast_path(_plain_string, "{v}.__class__ is str and len({v}) <= {limit}", limit=MAX_TEXT)


def _pattern_converter(pattern: re.Pattern[str], what: str) -> Converter:
    def convert(value: Any, from_text: bool) -> str:
        if not isinstance(value, str):
            raise _Invalid("wrong_type", f"expected a string, got {type(value).__name__}")
        if not pattern.match(value):
            raise _Invalid("bad_code", f"not {what}")
        return value
    return _with_fast_path(convert, "{v}.__class__ is str and {match}({v}) is not None", match=pattern.match)


def _set_converter(allowed: frozenset[str], what: str) -> Converter:
    def convert(value: Any, from_text: bool) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise _Invalid("bad_code", f"not {what} (got {_kind(value)})")
        return value
    return _with_fast_path(convert, "{v}.__class__ is str and {v} in {allowed}", allowed=allowed)


def _identifier_converter(name: str, kind: IdKind) -> Converter:
    def convert(value: Any, from_text: bool) -> str:
        if not isinstance(value, str):
            raise _Invalid("wrong_type", f"expected a token string, got {type(value).__name__}")
        match = TOKEN_PATTERN.fullmatch(value)
        if match is None or match.group("kind") != kind.value:
            if looks_like_a_number(value):
                raise _Invalid("raw_identifier", "looks like a raw A-number; raw identifiers must not "
                               "enter Kafka: pseudonymize it with `ucwatch token`")
            raise _Invalid("bad_identifier", f"expected a {kind.value}- token "
                           f"(e.g. {kind.value}-ABC123...), got {_kind(value)} that is not one")
        return value
    exact = re.compile(rf"^(SYN-)?{kind.value}-[A-Z0-9]{{1,32}}\Z")
    return _with_fast_path(convert, "{v}.__class__ is str and {match}({v}) is not None", match=exact.match)


def _kind(value: Any) -> str:
    """What a value is, without the value: messages end up on the dead-letter topic."""
    if isinstance(value, str):
        return f"a text of {len(value)} character(s)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a number"
    return f"a value of type {type(value).__name__}"


def shown_name(name: Any) -> str:
    """A field name as messages and dead letters may show it: only if it looks like one.

    A key of an export may itself be data (an A-number, a name keying a record); a name in
    the contract's own style (lower snake_case, up to 40 characters) is shown, any other is
    replaced by a placeholder.
    """
    return name if isinstance(name, str) and FIELD_NAME.match(name) else UNSHOWN_NAME


def _unknown_event_type(event_type: str, known: Mapping[str, Any]) -> UnknownEventType:
    error = UnknownEventType(event_type)
    guess = difflib.get_close_matches(event_type[:64], list(known), n=1)
    hint = f"; did you mean {guess[0]}?" if guess else f"; the contract has {len(known)} types (domain.md)"
    error.args = (f"event_type is not a type of the contract{hint}",)
    return error


def _iso(millis: int) -> str:
    return (EPOCH + millis * ONE_MS).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_json_ready(record: Mapping[str, Any], schema: SchemaVersion) -> dict[str, Any]:
    """The inverse of normalize for display and JSON Lines: timestamps back to ISO strings."""
    out: dict[str, Any] = {}
    for spec in schema.fields:
        name = spec["name"]
        value = record.get(name)
        if isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        elif isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, int) and not isinstance(value, bool) and _is_timestamp(spec["type"]):
            value = _iso(value)
        out[name] = value
    return out


def _is_timestamp(avro_type: Any) -> bool:
    if isinstance(avro_type, list):
        return any(_is_timestamp(t) for t in avro_type)
    return isinstance(avro_type, dict) and avro_type.get("logicalType") == "timestamp-millis"
