"""A policy turned into bit masks, so that an event is matched once, when it arrives.

Every distinct matcher of the policy gets one bit. `CompiledPolicy.read(event, type)`
returns the mask of the matchers the event satisfies, stored with the event in the
child's history so that the derivation (derive.py) only tests bits afterwards, and the
kept fields: the part of the event the rules and the snapshot can still need (the fields
named by a condition, a key, a `same` or a deadline, plus the snapshot's court fields;
everything else is dropped to keep the per-child state small). Reading is done by one
function per event type, generated from the policy.

The bit numbering depends on the policy alone, so a history is only valid for the policy
whose fingerprint it carries: the engine re-matches a stored history, from the fields
kept, when the policy changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ucwatch.schemas.catalog import default_catalog
from ucwatch.streams.policy import SEVERITY_RANK, Condition, Matcher, Policy, Rule
from ucwatch.streams.watermarks import awaited_sources

SNAPSHOT_FIELDS = ("hearing_id", "hearing_at", "next_hearing_at")
"""Kept whatever the policy says: the snapshot's court status and next hearing use them."""
SNAPSHOT_FIELDS_OF = {"ReleasedToSponsor": ("state",)}
"""Kept for one event type only: the snapshot's release_state (the US state of release)."""


@dataclass(frozen=True, eq=False)
class CompiledRule:
    """One rule with its matchers as bits; compared and hashed by identity."""

    index: int
    rule: Rule
    name: str
    start_bits: int
    met_bits: int                           # every met_by matcher
    met_any_bits: int                       # met_by matchers without `same`
    met_same: tuple[tuple[int, str], ...]   # (bits, field) of met_by matchers with `same`
    cancel_bits: int
    reset_bits: int
    scan_bits: int                          # every bit the derivation of this rule looks at
    key: str | None
    count: int
    after_ms: int
    deadline_from: str | None
    escalations: tuple[tuple[int, str], ...]
    severity: str
    severity_rank: int
    sources: tuple[str, ...] = ()
    """The sources whose watermarks the rule's alerts wait for (watermarks.awaited_sources)."""


class CompiledPolicy:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.fingerprint = policy.fingerprint
        self._bits: dict[Matcher, int] = {}
        self._matchers: list[Matcher] = []
        self.close_bits = self._all(policy.closed_by)
        self.reopen_bits = self._all(policy.reopened_by)
        self.case_bits = self.close_bits | self.reopen_bits
        self.contact_bits = self._all(policy.contact)
        self.notices = tuple((self._bit(n.on), n) for n in policy.notices)
        self.notice_bits = 0
        for bits, _ in self.notices:
            self.notice_bits |= bits
        self.rules = tuple(self._rule(i, rule) for i, rule in enumerate(policy.rules))
        self.by_name = {r.name: r for r in self.rules}
        self._selections: dict[tuple[int, bool], tuple[tuple[CompiledRule, ...], frozenset[CompiledRule]]] = {}
        self._per_type()

    # matching

    def read(self, event: Mapping[str, Any], event_type: str) -> tuple[int, dict[str, Any] | None]:
        """(mask, kept fields) of `event`: the bits of every matcher it satisfies, and the
        part of it the rules and the snapshot can still need (None if nothing)."""
        return self._readers.get(event_type, self._read_other)(event)

    def mask(self, event: Mapping[str, Any], event_type: str) -> int:
        return self.read(event, event_type)[0]

    def kept_fields(self, event: Mapping[str, Any], event_type: str) -> dict[str, Any] | None:
        return self.read(event, event_type)[1]

    def timestamp_fields(self, event_type: str) -> tuple[str, ...]:
        return self._timestamps.get(event_type, ())

    def hits(self, mask: int, reopens: bool = True) -> tuple[tuple[CompiledRule, ...], frozenset[CompiledRule]]:
        """The rules an event with `mask` concerns (it is one of the events the rule's pass
        looks at), and among them those it may start, reset or reopen. For the others it
        can only meet or cancel instances, which matters only to a rule with something
        pending or emitted: an instance met or cancelled in time stays so (derive.py).
        `reopens` False: the event reopens nothing (no case was closed before it)."""
        selection = self._selections.get((mask, reopens))
        if selection is None:
            case_bits = self.case_bits if reopens else self.close_bits
            reopen_bits = self.reopen_bits if reopens else 0
            hits = tuple(r for r in self.rules if mask & (r.scan_bits | case_bits))
            starts = frozenset(r for r in hits if mask & (r.start_bits | r.reset_bits | reopen_bits))
            selection = self._selections[(mask, reopens)] = (hits, starts)
        return selection

    # building

    def _bit(self, matcher: Matcher) -> int:
        plain = Matcher(matcher.event_types, matcher.where, matcher.any_of)
        bit = self._bits.get(plain)
        if bit is None:
            bit = self._bits[plain] = 1 << len(self._matchers)
            self._matchers.append(plain)
        return bit

    def _all(self, matchers: tuple[Matcher, ...]) -> int:
        bits = 0
        for matcher in matchers:
            bits |= self._bit(matcher)
        return bits

    def _rule(self, index: int, rule: Rule) -> CompiledRule:
        start_bits = self._bit(rule.start.matcher)
        met_any = 0
        same: dict[str, int] = {}
        for matcher in rule.met_by:
            if matcher.same:
                same[matcher.same] = same.get(matcher.same, 0) | self._bit(matcher)
            else:
                met_any |= self._bit(matcher)
        met_same = tuple((bits, name) for name, bits in same.items())
        met_bits = met_any
        for bits, _ in met_same:
            met_bits |= bits
        cancel_bits = self._all(rule.cancelled_by)
        reset_bits = self._all(rule.start.reset_by)
        return CompiledRule(
            index=index, rule=rule, name=rule.name, start_bits=start_bits, met_bits=met_bits,
            met_any_bits=met_any, met_same=met_same, cancel_bits=cancel_bits,
            reset_bits=reset_bits, scan_bits=start_bits | met_bits | cancel_bits | reset_bits,
            key=rule.start.key, count=rule.start.count, after_ms=rule.deadline_ms,
            deadline_from=rule.deadline_from,
            escalations=tuple((e.after_ms, e.severity) for e in rule.escalations),
            severity=rule.severity, severity_rank=SEVERITY_RANK[rule.severity],
            sources=awaited_sources(rule, self.policy.feeds))

    def _per_type(self) -> None:
        """One reader function per event type, generated from the matchers that concern it
        (like collections.namedtuple does): reading an event is then a few dict lookups and
        comparisons, with no loop over matchers or call per condition."""
        catalog = default_catalog()
        types = catalog.names()
        schema_fields = {t: {f["name"]: f for f in catalog.latest(t).fields} for t in types}
        matchers: dict[str, list[tuple[Matcher, int]]] = {t: [] for t in types}
        other: list[tuple[Matcher, int]] = []        # any type: also types newer than the catalog
        kept: dict[str, set[str]] = {t: {f for f in SNAPSHOT_FIELDS if f in schema_fields[t]}
                                     | set(SNAPSHOT_FIELDS_OF.get(t, ())) for t in types}
        for matcher, bit in self._bits.items():
            for t in matcher.event_types or types:
                matchers[t].append((matcher, bit))
                kept[t].update(_condition_fields(matcher))
            if matcher.event_types is None:
                other.append((matcher, bit))
        for rule in self.policy.rules:
            for t in rule.start.matcher.event_types or types:
                kept[t].update(name for name in (rule.start.key, rule.deadline_from) if name)
                kept[t].update(m.same for m in rule.met_by if m.same)
            for m in rule.met_by:
                if m.same:
                    for t in m.event_types or types:
                        kept[t].add(m.same)
        self._readers = {t: _reader(matchers[t], sorted(kept[t])) for t in types}
        other_kept = set(SNAPSHOT_FIELDS)
        for matcher, _ in other:
            other_kept.update(_condition_fields(matcher))
        self._read_other = _reader(other, sorted(other_kept))
        self._timestamps = {
            t: tuple(name for name in sorted(kept[t]) if _is_timestamp(schema_fields[t].get(name)))
            for t in types}


def _is_timestamp(field: Mapping[str, Any] | None) -> bool:
    if field is None:
        return False
    avro = field["type"]
    branches = avro if isinstance(avro, list) else [avro]
    return any(isinstance(b, dict) and b.get("logicalType") == "timestamp-millis" for b in branches)


def _condition_fields(matcher: Matcher) -> set[str]:
    names = {c.field for c in matcher.where}
    for group in matcher.any_of:
        names.update(c.field for c in group)
    return names


def _reader(matchers: list[tuple[Matcher, int]], kept: list[str]) -> Callable[[Mapping[str, Any]], tuple[int, Any]]:
    """``def read(e): ... return mask, kept`` for one event type, as Python source, compiled.

    Values are passed in the namespace (k0, k1, ...), never written into the source."""
    names: dict[str, str] = {}
    constants: dict[str, Any] = {}
    lines: list[str] = []

    def var(field: str) -> str:
        if field not in names:
            names[field] = f"v{len(names)}"
            lines.append(f"    {names[field]} = get({field!r})")
        return names[field]

    def constant(value: Any) -> str:
        name = f"k{len(constants)}"
        constants[name] = frozenset(value) if isinstance(value, tuple) else value
        return name

    def condition(c: Condition) -> str:
        v = var(c.field)
        if c.op == "present":
            return f"{v} is not None" if c.value else f"{v} is None"
        op = {"eq": "==", "ne": "!=", "in": "in", "not_in": "not in"}[c.op]
        return f"{v} {op} {constant(c.value)}"

    const = 0
    tests: list[str] = []
    for matcher, bit in matchers:
        parts = [condition(c) for c in matcher.where]
        if matcher.any_of:
            parts.append("(" + " or ".join("(" + " and ".join(condition(c) for c in group) + ")"
                                           for group in matcher.any_of) + ")")
        if parts:
            tests.append(f"    if {' and '.join(parts)}:\n        m |= {bit}")
        else:
            const |= bit
    body = ["def read(e):", "    get = e.get", *lines, f"    m = {const}", *tests, "    kept = None"]
    for field in kept:
        v = names.get(field)
        if v is None:
            body.append(f"    x = get({field!r})")
            v = "x"
        body.append(f"    if {v} is not None:\n        if kept is None:\n            kept = {{}}\n"
                    f"        kept[{field!r}] = {v}")
    body.append("    return m, kept")
    source = "\n".join(body)
    namespace: dict[str, Any] = dict(constants)
    exec(compile(source, "<ucwatch policy reader>", "exec"), namespace)
    read: Callable[[Mapping[str, Any]], tuple[int, Any]] = namespace["read"]
    return read
