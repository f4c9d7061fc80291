"""Parsing and validating a policy (see policy.py for the format and the parsed form).

Strict in the manner of ucwatch's settings: every table's keys are checked against the
keys it may have, every name against the event contract, every value against its type;
the first problem found is raised as a PolicyError naming the rule and the dotted key.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from ucwatch.schemas.catalog import Catalog, default_catalog
from ucwatch.streams.durations import parse_duration
from ucwatch.streams.policy import (
    ANY_EVENT,
    CONTACT_STATUSES,
    FORMAT_VERSION,
    OPERATORS,
    RECIPIENTS,
    SEVERITIES,
    SEVERITY_RANK,
    Condition,
    Escalation,
    EventNotice,
    Feeds,
    Matcher,
    Outage,
    Policy,
    PolicyError,
    Rule,
    SourceFeed,
    Start,
)

_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def parse_policy(data: Mapping[str, Any], origin: str, catalog: Catalog) -> Policy:
    return _Parser(origin, catalog).policy(data)


@dataclass(frozen=True)
class _FieldType:
    kind: str                      # string, boolean, int, long, timestamp, enum, other
    nullable: bool
    symbols: tuple[str, ...] = ()


_TOP_KEYS = {"version", "case", "sets", "notify", "rule", "feeds"}
_RULE_KEYS = {"name", "severity", "basis", "reason", "start", "met_by", "met_any_time", "deadline",
              "escalate", "cancelled_by", "notify", "notify_kind", "contact_status", "awaits"}
_SOURCE_KEYS = {"name", "estimate", "stall_after", "emits", "grace"}
_ESTIMATE_KEYS = {"percentile", "window", "min_samples", "ceiling"}
_MATCHER_KEYS = {"event_type", "where", "any_of", "same", "set"}
_START_KEYS = {"event_type", "where", "any_of", "key", "count", "reset_by"}


class _Parser:
    def __init__(self, origin: str, catalog: Catalog) -> None:
        self.origin = origin
        self.rule: str | None = None
        self.types = {name: self._field_types(catalog.latest(name).fields) for name in catalog.names()}
        self.sets: dict[str, tuple[Matcher, ...]] = {}
        agency = self.types.get("ChildEncountered", {}).get("source")
        self.sources: set[str] = set(agency.symbols) if agency is not None else set()
        self.awaits: list[tuple[str, tuple[str, ...]]] = []

    def fail(self, key: str | None, message: str) -> PolicyError:
        return PolicyError(message, origin=self.origin, rule=self.rule, key=key)

    # the whole file

    def policy(self, data: Mapping[str, Any]) -> Policy:
        self.keys(data, _TOP_KEYS, None, required={"version", "rule"})
        if data["version"] != FORMAT_VERSION:
            raise self.fail("version", f"unsupported policy format version {data['version']!r} "
                                       f"(this ucwatch reads version {FORMAT_VERSION})")
        sets = self.table(data.get("sets", {}), "sets")
        for name, items in sets.items():
            self.sets[name] = self.matchers(items, f"sets.{name}", allow_sets=False)
        case = self.table(data.get("case", {}), "case")
        self.keys(case, {"closed_by", "reopened_by"}, "case")
        closed_by = self.matchers(case.get("closed_by", [{"event_type": "CaseClosed"}]), "case.closed_by")
        reopened_by = self.matchers(case.get("reopened_by", [{"event_type": "ChildEncountered"}]),
                                    "case.reopened_by")
        feeds = self.feeds(self.table(data.get("feeds", {}), "feeds"))
        notices = tuple(self.notice(item, f"notify[{i}]")
                        for i, item in enumerate(self.array(data.get("notify", []), "notify")))
        self.unique([n.kind for n in notices], "notify", "kind")
        rules_data = self.array(data["rule"], "rule")
        if not rules_data:
            raise self.fail("rule", "a policy needs at least one rule")
        rules = []
        seen: set[str] = set()
        for i, item in enumerate(rules_data):
            rule = self.rule_(self.table(item, f"rule[{i}]"), i, closed_by)
            if rule.name in seen:
                raise self.fail("name", f"duplicate rule name {rule.name!r}")
            seen.add(rule.name)
            rules.append(rule)
        self.rule = None
        self.unique([r.notify_kind for r in rules if r.notify], "rule", "notify_kind")
        feeds = dataclasses.replace(feeds, awaits=tuple(self.awaits))
        return Policy(tuple(rules), notices, closed_by, reopened_by, self.sets.get("contact", ()),
                      feeds=feeds, origin=self.origin)

    # the feeds section: source watermarks and outages

    def feeds(self, item: Mapping[str, Any]) -> Feeds:
        self.keys(item, {"source", "outage"}, "feeds")
        sources = []
        for i, raw in enumerate(self.array(item.get("source", []), "feeds.source")):
            sources.append(self.source_feed(self.table(raw, f"feeds.source[{i}]"), f"feeds.source[{i}]"))
        self.unique([s.name for s in sources], "feeds.source", "name")
        self.sources.update(s.name for s in sources)
        outages = tuple(self.outage(self.table(raw, f"feeds.outage[{i}]"), f"feeds.outage[{i}]")
                        for i, raw in enumerate(self.array(item.get("outage", []), "feeds.outage")))
        return Feeds(tuple(sources), outages)

    def source_feed(self, item: Mapping[str, Any], where: str) -> SourceFeed:
        self.keys(item, _SOURCE_KEYS, where, required={"name"})
        name = self.name(item["name"], f"{where}.name")
        stall = item.get("stall_after")
        stall_ms = self.duration(stall, f"{where}.stall_after") if stall is not None else None
        if stall_ms == 0:
            raise self.fail(f"{where}.stall_after", "must be longer than 0")
        emits = tuple(self.event_types(item["emits"], f"{where}.emits") or ()) if "emits" in item else ()
        grace_ms = self.duration(item["grace"], f"{where}.grace") if "grace" in item else 0
        feed = SourceFeed(name, stall_after_ms=stall_ms, emits=emits, grace_ms=grace_ms)
        if "estimate" not in item:
            return feed
        estimate = self.table(item["estimate"], f"{where}.estimate")
        self.keys(estimate, _ESTIMATE_KEYS, f"{where}.estimate")
        percentile = estimate.get("percentile", feed.percentile)
        if isinstance(percentile, bool) or not isinstance(percentile, (int, float)) or not 0 < percentile <= 100:
            raise self.fail(f"{where}.estimate.percentile", f"must be a number in (0, 100], not {percentile!r}")
        counts = {}
        for key in ("window", "min_samples"):
            value = estimate.get(key, getattr(feed, key))
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise self.fail(f"{where}.estimate.{key}", f"must be a whole number >= 1, not {value!r}")
            counts[key] = value
        if counts["min_samples"] > counts["window"]:
            raise self.fail(f"{where}.estimate.min_samples", "cannot exceed the window")
        ceiling = (self.duration(estimate["ceiling"], f"{where}.estimate.ceiling")
                   if "ceiling" in estimate else feed.ceiling_ms)
        return dataclasses.replace(feed, estimate=True, percentile=float(percentile), ceiling_ms=ceiling,
                                   window=counts["window"], min_samples=counts["min_samples"])

    def outage(self, item: Mapping[str, Any], where: str) -> Outage:
        self.keys(item, {"source", "from", "until", "reason"}, where, required={"source", "from", "until"})
        source = self.source_name(item["source"], f"{where}.source")
        start, end = self.instant(item["from"], f"{where}.from"), self.instant(item["until"], f"{where}.until")
        if end <= start:
            raise self.fail(f"{where}.until", "must be later than from")
        reason = self.string(item.get("reason", f"known outage of {source}"), f"{where}.reason")
        return Outage(source, start, end, reason)

    def source_name(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or value not in self.sources:
            raise self.fail(where, f"unknown source {value!r}; known: {', '.join(sorted(self.sources))} "
                                   "(or add it under [[feeds.source]])")
        return value

    def instant(self, value: Any, where: str) -> int:
        """Epoch ms of a TOML date-time or an ISO-8601 string (UTC when no offset is given)."""
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                raise self.fail(where, f"{value!r} is not an ISO-8601 date-time") from None
        if isinstance(value, date) and not isinstance(value, datetime):
            value = datetime(value.year, value.month, value.day)
        if not isinstance(value, datetime):
            raise self.fail(where, "must be a date-time, e.g. 2023-01-01T00:00:00Z")
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp() * 1000)

    def notice(self, item: Any, where: str) -> EventNotice:
        item = self.table(item, where)
        self.keys(item, {"kind", "on", "recipients", "reason"}, where, required={"kind", "on", "recipients"})
        kind = self.name(item["kind"], f"{where}.kind")
        on = self.matcher(item["on"], f"{where}.on")
        recipients = self.recipients(item["recipients"], f"{where}.recipients")
        reason = self.string(item.get("reason", on.describe()), f"{where}.reason")
        return EventNotice(kind, on, recipients, reason)

    def rule_(self, item: Mapping[str, Any], index: int, closed_by: tuple[Matcher, ...]) -> Rule:
        self.rule = None
        name = item.get("name")
        self.rule = f"#{index + 1}" if not isinstance(name, str) else name
        self.keys(item, _RULE_KEYS, None, required={"name", "severity", "basis", "start", "met_by", "deadline"})
        name = self.name(name, "name")
        severity = self.severity(item["severity"], "severity")
        basis = self.string(item["basis"], "basis")
        start = self.start(item["start"])
        met_by = self.matchers(item["met_by"], "met_by", start=start)
        if not met_by:
            raise self.fail("met_by", "needs at least one matcher")
        deadline_ms, deadline_from = self.deadline(item["deadline"], start)
        escalations = self.escalations(item.get("escalate", []), severity, deadline_ms)
        cancelled_by = (self.matchers(item["cancelled_by"], "cancelled_by")
                        if "cancelled_by" in item else closed_by)
        notify = self.recipients(item.get("notify", []), "notify", allow_empty=True)
        notify_kind = self.name(item.get("notify_kind", name), "notify_kind")
        contact_status = item.get("contact_status")
        if contact_status is not None and contact_status not in CONTACT_STATUSES:
            raise self.fail("contact_status", f"unknown contact status {contact_status!r}; "
                                              f"expected one of {', '.join(CONTACT_STATUSES)}")
        if "awaits" in item:
            awaited = self.array(item["awaits"], "awaits")
            self.awaits.append((name, tuple(self.source_name(s, "awaits") for s in awaited)))
        met_any_time = item.get("met_any_time", False)
        if not isinstance(met_any_time, bool):
            raise self.fail("met_any_time", "must be true or false")
        if "reason" in item:
            reason = self.string(item["reason"], "reason")
        else:
            text = item["deadline"] if isinstance(item["deadline"], str) else item["deadline"]["after"]
            reason = self.default_reason(start, met_by, text, deadline_from)
        return Rule(name, severity, basis, reason, start, met_by, deadline_ms, deadline_from,
                    met_any_time, escalations, cancelled_by, notify, notify_kind, contact_status)

    @staticmethod
    def default_reason(start: Start, met_by: tuple[Matcher, ...], deadline: str,
                       deadline_from: str | None) -> str:
        awaited = " or ".join(m.describe() for m in met_by)
        began = start.matcher.describe()
        if start.count > 1:
            began = f"{start.count} x {began} in a row"
        if deadline_from:
            began = f"{deadline_from} of {began}"
        if parse_duration(deadline) == 0 and deadline_from is None:
            return f"{began}; awaiting {awaited}"
        return f"no {awaited} within {deadline} of {began}"

    # parts of a rule

    def start(self, value: Any) -> Start:
        item = self.table(value, "start")
        self.keys(item, _START_KEYS, "start", required={"event_type"})
        matcher = self.matcher({k: v for k, v in item.items() if k in ("event_type", "where", "any_of")},
                               "start")
        key = item.get("key")
        if key is not None:
            self.field_of(matcher, key, "start.key")
        count = item.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise self.fail("start.count", f"must be a whole number of events >= 1, not {count!r}")
        reset_by = self.matchers(item.get("reset_by", []), "start.reset_by")
        if reset_by and count == 1:
            raise self.fail("start.reset_by", "only makes sense with count > 1")
        if key is not None and count > 1:
            raise self.fail("start.key", "cannot be combined with count")
        return Start(matcher, key, count, reset_by)

    def deadline(self, value: Any, start: Start) -> tuple[int, str | None]:
        if isinstance(value, str):
            return self.duration(value, "deadline"), None
        item = self.table(value, "deadline")
        self.keys(item, {"after", "from"}, "deadline", required={"after"})
        after = self.duration(item["after"], "deadline.after")
        origin = item.get("from")
        if origin is None or origin == "occurred_at":
            return after, None
        field = self.field_of(start.matcher, origin, "deadline.from")
        if field.kind != "timestamp":
            raise self.fail("deadline.from", f"{origin!r} is not a timestamp field of "
                                             f"{' / '.join(start.matcher.event_types or ())}")
        return after, origin

    def escalations(self, value: Any, severity: str, deadline_ms: int) -> tuple[Escalation, ...]:
        out = []
        previous_after, previous_severity = deadline_ms, severity
        for i, raw in enumerate(self.array(value, "escalate")):
            where = f"escalate[{i}]"
            item = self.table(raw, where)
            self.keys(item, {"after", "severity"}, where, required={"after", "severity"})
            after = self.duration(item["after"], f"{where}.after")
            level = self.severity(item["severity"], f"{where}.severity")
            if SEVERITY_RANK[level] <= SEVERITY_RANK[previous_severity]:
                raise self.fail(f"{where}.severity", f"escalation to {level} is not higher than {previous_severity}")
            if after <= previous_after:
                raise self.fail(f"{where}.after", f"{item['after']} is not later than the deadline or "
                                                  "the previous escalation")
            out.append(Escalation(after, level))
            previous_after, previous_severity = after, level
        return tuple(out)

    # matchers

    def matchers(self, value: Any, where: str, *, allow_sets: bool = True,
                 start: Start | None = None) -> tuple[Matcher, ...]:
        out: list[Matcher] = []
        for i, item in enumerate(self.array(value, where)):
            item_where = f"{where}[{i}]"
            if isinstance(item, Mapping) and "set" in item:
                if not allow_sets:
                    raise self.fail(f"{item_where}.set", "a set cannot be used here")
                self.keys(item, {"set"}, item_where)
                name = item["set"]
                if not isinstance(name, str) or name not in self.sets:
                    raise self.fail(f"{item_where}.set", f"unknown set {name!r}; defined: "
                                                         f"{', '.join(sorted(self.sets)) or 'none'}")
                out.extend(self.sets[name])
            else:
                out.append(self.matcher(item, item_where, start=start))
        return tuple(out)

    def matcher(self, value: Any, where: str, *, start: Start | None = None) -> Matcher:
        item = self.table(value, where)
        self.keys(item, _MATCHER_KEYS - {"set"}, where, required={"event_type"})
        types = self.event_types(item["event_type"], f"{where}.event_type")
        conditions = self.conditions(item.get("where", {}), types, f"{where}.where")
        groups = tuple(self.conditions(group, types, f"{where}.any_of[{i}]")
                       for i, group in enumerate(self.array(item.get("any_of", []), f"{where}.any_of")))
        if any(not group for group in groups):
            raise self.fail(f"{where}.any_of", "an empty group would match everything")
        same = item.get("same")
        matcher = Matcher(types, conditions, groups, None)
        if same is not None:
            if start is None:
                raise self.fail(f"{where}.same", "only allowed in met_by")
            self.field_of(matcher, same, f"{where}.same")
            self.field_of(start.matcher, same, f"{where}.same")
            matcher = Matcher(types, conditions, groups, same)
        return matcher

    def event_types(self, value: Any, where: str) -> tuple[str, ...] | None:
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise self.fail(where, "must be an event type name or a list of them")
        if names == [ANY_EVENT]:
            return None
        for name in names:
            if name not in self.types:
                raise self.fail(where, f"unknown event type {name!r}")
        if len(set(names)) != len(names):
            raise self.fail(where, "lists an event type twice")
        return tuple(names)

    def conditions(self, value: Any, types: tuple[str, ...] | None, where: str) -> tuple[Condition, ...]:
        table = self.table(value, where)
        out = []
        for field_name, spec in table.items():
            key = f"{where}.{field_name}"
            ftype = self.field_of(Matcher(types), field_name, key)
            ops = spec if isinstance(spec, Mapping) else {"eq": spec}
            if not ops:
                raise self.fail(key, f"no operator; expected one of {', '.join(OPERATORS)}")
            for op, operand in ops.items():
                if op not in OPERATORS:
                    raise self.fail(f"{key}.{op}", f"unknown operator {op!r}; expected one of "
                                                   f"{', '.join(OPERATORS)}")
                if op == "present":
                    if not isinstance(operand, bool):
                        raise self.fail(f"{key}.{op}", "must be true or false")
                    out.append(Condition(field_name, op, operand))
                elif op in ("in", "not_in"):
                    if not isinstance(operand, list) or not operand:
                        raise self.fail(f"{key}.{op}", "must be a non-empty list of values")
                    for v in operand:
                        self.value(ftype, v, f"{key}.{op}")
                    out.append(Condition(field_name, op, tuple(operand)))
                else:
                    self.value(ftype, operand, f"{key}.{op}" if isinstance(spec, Mapping) else key)
                    out.append(Condition(field_name, op, operand))
        return tuple(out)

    def value(self, ftype: _FieldType, value: Any, where: str) -> None:
        ok = {"string": lambda v: isinstance(v, str),
              "enum": lambda v: isinstance(v, str) and v in ftype.symbols,
              "boolean": lambda v: isinstance(v, bool),
              "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "long": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "timestamp": lambda v: isinstance(v, int) and not isinstance(v, bool)}.get(ftype.kind)
        if ok is None:
            raise self.fail(where, "conditions on this field are not supported")
        if not ok(value):
            expected = ("one of " + ", ".join(ftype.symbols)) if ftype.kind == "enum" else f"a {ftype.kind}"
            raise self.fail(where, f"{value!r} is not {expected}")

    def field_of(self, matcher: Matcher, name: Any, where: str) -> _FieldType:
        if not isinstance(name, str):
            raise self.fail(where, "must be a field name")
        types = matcher.event_types or tuple(self.types)
        found = None
        for event_type in types:
            ftype = self.types[event_type].get(name)
            if ftype is None:
                raise self.fail(where, f"unknown field {name!r} of {event_type}")
            found = found or ftype
        assert found is not None
        return found

    # scalars

    def name(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not _NAME.match(value):
            raise self.fail(where, f"{value!r} is not an UPPER_SNAKE_CASE name")
        return value

    def severity(self, value: Any, where: str) -> str:
        if value not in SEVERITIES:
            raise self.fail(where, f"unknown severity {value!r}; expected one of {', '.join(SEVERITIES)}")
        return str(value)

    def recipients(self, value: Any, where: str, allow_empty: bool = False) -> tuple[str, ...]:
        items = self.array(value, where)
        if not items and not allow_empty:
            raise self.fail(where, "needs at least one recipient")
        for item in items:
            if item not in RECIPIENTS:
                raise self.fail(where, f"unknown recipient {item!r}; expected one of {', '.join(RECIPIENTS)}")
        if len(set(items)) != len(items):
            raise self.fail(where, "lists a recipient twice")
        return tuple(items)

    def duration(self, value: Any, where: str) -> int:
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise self.fail(where, str(exc)) from None

    def string(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, "must be a non-empty string")
        return value

    def table(self, value: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, f"must be a table, not {type(value).__name__}")
        return value

    def array(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, f"must be an array, not {type(value).__name__}")
        return value

    def keys(self, item: Mapping[str, Any], allowed: set[str], where: str | None,
             required: set[str] | frozenset[str] = frozenset()) -> None:
        prefix = f"{where}." if where else ""
        unknown = sorted(set(item) - allowed)
        if unknown:
            raise self.fail(prefix + unknown[0], f"unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")
        missing = sorted(required - set(item))
        if missing:
            raise self.fail(prefix + missing[0], "missing")

    def unique(self, names: list[str], where: str, what: str) -> None:
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise self.fail(f"{where}.{what}", f"duplicate {what} {name!r}")
            seen.add(name)

    # the contract

    @staticmethod
    def _field_types(fields: list[dict[str, Any]]) -> dict[str, _FieldType]:
        named: dict[str, _FieldType] = {}

        def resolve(avro: Any, nullable: bool = False) -> _FieldType:  # noqa: PLR0911  a return per Avro form
            if isinstance(avro, list):
                branches = [b for b in avro if b != "null"]
                if len(branches) != 1:
                    return _FieldType("other", True)
                return resolve(branches[0], nullable=len(branches) != len(avro))
            if isinstance(avro, str):
                if avro in named:
                    return dataclasses.replace(named[avro], nullable=nullable)
                return _FieldType(avro if avro in ("string", "boolean", "int", "long") else "other", nullable)
            if avro.get("logicalType") == "timestamp-millis":
                return _FieldType("timestamp", nullable)
            if avro.get("type") == "enum":
                ftype = _FieldType("enum", nullable, tuple(avro["symbols"]))
                named[avro["name"]] = ftype
                if avro.get("namespace"):
                    named[f"{avro['namespace']}.{avro['name']}"] = ftype
                return ftype
            return resolve(avro.get("type"), nullable)

        return {f["name"]: resolve(f["type"]) for f in fields}


DEFAULT_POLICY = Path(__file__).with_name("policies") / "default.toml"


def load_policy(path: str | Path) -> Policy:
    """Reads and validates a policy file; a `PolicyError` names the rule and key at fault."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read the policy file ({exc.strerror})", origin=str(path)) from exc
    return policy_from_toml(text, origin=str(path))


def policy_from_toml(text: str, *, origin: str = "<policy>", catalog: Catalog | None = None) -> Policy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"not valid TOML: {exc}", origin=origin) from exc
    return policy_from_dict(data, origin=origin, catalog=catalog)


def policy_from_dict(data: Mapping[str, Any], *, origin: str = "<policy>",
                     catalog: Catalog | None = None) -> Policy:
    return parse_policy(data, origin, catalog or default_catalog())


def default_policy() -> Policy:
    """The shipped policy, ``streams/policies/default.toml`` (package data)."""
    return _default_policy()


@lru_cache(maxsize=1)
def _default_policy() -> Policy:
    return load_policy(DEFAULT_POLICY)
