"""The detection policy: which follow-up each lifecycle event calls for, by when, how bad.

A policy is a TOML file (the shipped one is ``streams/policies/default.toml``; its header
documents the format). `policy_parser.load_policy` parses it strictly: every event
type and field is checked against the event contract (`schemas.catalog`), every value
against the field's type and enum, every duration, severity and recipient; unknown keys,
duplicate names and escalations that do not raise the severity are refused. A
`PolicyError` names the file, the rule and the key. This module holds the parsed,
immutable form; nothing here knows about engines or state.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ucwatch.core.errors import UcwatchError

SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
RECIPIENTS = ("HHS", "ICE")
CONTACT_STATUSES = ("UNREACHABLE", "WHEREABOUTS_UNKNOWN")
ANY_EVENT = "*"
OPERATORS = ("eq", "ne", "in", "not_in", "present")
FORMAT_VERSION = 1


class PolicyError(UcwatchError):
    """A policy file that cannot be used; `origin`, `rule` and `key` say where."""

    def __init__(self, message: str, *, origin: str, rule: str | None = None,
                 key: str | None = None) -> None:
        where = origin + (f": rule {rule}" if rule else "") + (f": {key}" if key else "")
        super().__init__(f"{where}: {message}")
        self.origin = origin
        self.rule = rule
        self.key = key


# -- the parsed form ------------------------------------------------------------------------

@dataclass(frozen=True)
class Condition:
    field: str
    op: str          # one of OPERATORS
    value: Any       # a tuple for in / not_in, a bool for present

    def describe(self) -> str:
        if self.op == "present":
            return f"{self.field} {'present' if self.value else 'absent'}"
        value = (" or ".join(_text(v) for v in self.value) if self.op in ("in", "not_in")
                 else _text(self.value))
        return f"{self.field} {'not ' if self.op in ('ne', 'not_in') else ''}{value}"


@dataclass(frozen=True)
class Matcher:
    """Events of `event_types` (None: any type) meeting every `where` condition and, when
    `any_of` is given, every condition of at least one of its groups. `same` (met_by only):
    the event's field must equal the same field of the start event."""

    event_types: tuple[str, ...] | None
    where: tuple[Condition, ...] = ()
    any_of: tuple[tuple[Condition, ...], ...] = ()
    same: str | None = None

    def describe(self) -> str:
        text = " or ".join(self.event_types) if self.event_types else "any event"
        conditions = [c.describe() for c in self.where]
        if self.any_of:
            conditions.append(" or ".join(" and ".join(c.describe() for c in group)
                                          for group in self.any_of))
        if self.same:
            conditions.append(f"the same {self.same}")
        return text + (" with " + " and ".join(conditions) if conditions else "")


@dataclass(frozen=True)
class Start:
    matcher: Matcher
    key: str | None = None
    """Starts with the same value of this field are one expectation: a repeat reschedules it."""
    count: int = 1
    """The expectation starts at the count-th matching event since the last `reset_by` one."""
    reset_by: tuple[Matcher, ...] = ()


@dataclass(frozen=True)
class Escalation:
    after_ms: int        # from the same instant the deadline runs from
    severity: str


@dataclass(frozen=True)
class Rule:
    name: str
    severity: str
    basis: str
    reason: str
    start: Start
    met_by: tuple[Matcher, ...]
    deadline_ms: int
    deadline_from: str | None = None
    """A timestamp field of the start event the deadline runs from; None: its occurred_at."""
    met_any_time: bool = False
    """Also met by a matching event that occurred before the start (default: only after it)."""
    escalations: tuple[Escalation, ...] = ()
    cancelled_by: tuple[Matcher, ...] = ()
    notify: tuple[str, ...] = ()
    notify_kind: str = ""
    contact_status: str | None = None

    @property
    def immediate(self) -> bool:
        return self.deadline_ms == 0 and self.deadline_from is None


@dataclass(frozen=True)
class EventNotice:
    """A notification sent the moment a matching event is processed."""

    kind: str
    on: Matcher
    recipients: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class SourceFeed:
    """A source's watermark settings (`[[feeds.source]]`)."""

    name: str
    estimate: bool = False
    """Estimate the watermark from the feed's observed lateness when the source never declares one."""
    percentile: float = 99.0
    window: int = 500
    """How many of the source's most recent events (per partition) the lateness is taken over."""
    min_samples: int = 20
    """Fewer samples than this: the ceiling is the lateness bound."""
    ceiling_ms: int = 14 * 86_400_000
    """The estimated lateness bound never exceeds this, so an alert waits at most this long."""
    stall_after_ms: int | None = None
    """FEED_STALLED when the feed shows no progress for this long while the clock goes on."""
    emits: tuple[str, ...] = ()
    """Event types this source also emits, beyond the vocabulary's (watermarks.EMITTERS)."""
    grace_ms: int = 0
    """Bounded out-of-orderness beyond the source's watermark (declared or estimated): the
    watermark in force is this much earlier, for the records the source itself enters late.
    0 (the default): the watermark as declared or estimated."""


@dataclass(frozen=True)
class Outage:
    """A known outage of a source (`[[feeds.outage]]`): expectations awaiting it with a
    deadline in [start_ms, end_ms) are held until end_ms, then evaluated."""

    source: str
    start_ms: int
    end_ms: int
    reason: str


@dataclass(frozen=True)
class Feeds:
    """The policy's `[feeds]` section: which sources have watermarks and how they are watched.
    Empty (the default): no source is estimated, and a source is awaited only once it declares."""

    sources: tuple[SourceFeed, ...] = ()
    outages: tuple[Outage, ...] = ()
    awaits: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(rule, sources) stated in the policy (a rule's `awaits`), instead of derived from met_by."""

    def source(self, name: str) -> SourceFeed | None:
        return next((s for s in self.sources if s.name == name), None)


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...]
    notices: tuple[EventNotice, ...] = ()
    closed_by: tuple[Matcher, ...] = ()
    reopened_by: tuple[Matcher, ...] = ()
    contact: tuple[Matcher, ...] = ()
    """What counts as contact with the child (the set named ``contact``), for the snapshot."""
    feeds: Feeds = dataclasses.field(default=Feeds(), compare=False)
    """Watermark settings; not in the fingerprint, since they change no event's mask."""
    origin: str = dataclasses.field(default="<policy>", compare=False)

    def rule(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)

    @property
    def fingerprint(self) -> str:
        """Changes whenever the meaning of the policy changes (not its comments or origin)."""
        return _fingerprint(self)


@lru_cache(maxsize=16)
def _fingerprint(policy: Policy) -> str:
    body = {f.name: getattr(policy, f.name) for f in dataclasses.fields(policy) if f.compare}
    text = json.dumps(body, default=dataclasses.asdict, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
