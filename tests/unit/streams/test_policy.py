"""The policy file: the shipped default, and refusal of every kind of mistake, by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from ucwatch.core.errors import UcwatchError
from ucwatch.streams.durations import format_duration, parse_duration
from ucwatch.streams.policy import PolicyError
from ucwatch.streams.policy_parser import DEFAULT_POLICY, default_policy, load_policy, policy_from_toml

DOMAIN_RULES = {  # domain.md, "Expected follow-ups": name -> (severity, deadline, escalations)
    "HHS_REFERRAL_OVERDUE": ("MEDIUM", "48h", ()),
    "TRANSFER_OVERDUE": ("HIGH", "72h", ()),
    "DEPARTURE_UNRESOLVED": ("CRITICAL", "24h", ()),
    "DISCHARGE_NOTICE_OVERDUE": ("MEDIUM", "24h", ()),
    "BAD_RELEASE_ADDRESS": ("HIGH", "7d", ()),
    "WELLBEING_CALL_OVERDUE": ("MEDIUM", "37d", ()),
    "LOST_CONTACT": ("HIGH", "immediate", ()),
    "NOT_WITH_SPONSOR": ("CRITICAL", "immediate", ()),
    "NTA_NOT_SERVED": ("MEDIUM", "90d", (("180d", "HIGH"),)),
    "NTA_NOT_FILED": ("MEDIUM", "30d", ()),
    "HEARING_NOT_SCHEDULED": ("LOW", "30d", ()),
    "HEARING_OUTCOME_MISSING": ("MEDIUM", "2d", ()),
    "WHEREABOUTS_UNKNOWN": ("CRITICAL", "14d", ()),
    "STALE_CASE": ("LOW", "180d", (("365d", "MEDIUM"),)),
}

MINIMAL = """
version = 1
[[rule]]
name = "R"
severity = "LOW"
basis = "b"
start = { event_type = "ChildEncountered" }
met_by = [{ event_type = "HhsReferralNotified" }]
deadline = "48h"
"""


def test_the_default_policy_is_the_table_of_domain_md() -> None:
    policy = default_policy()
    assert [r.name for r in policy.rules] == list(DOMAIN_RULES)
    for rule in policy.rules:
        severity, deadline, escalations = DOMAIN_RULES[rule.name]
        assert rule.severity == severity
        assert rule.deadline_ms == parse_duration(deadline)
        assert tuple((e.after_ms, e.severity) for e in rule.escalations) == tuple(
            (parse_duration(after), level) for after, level in escalations)
        assert rule.basis and rule.reason
    assert policy.rule("HEARING_OUTCOME_MISSING").deadline_from == "hearing_at"
    assert policy.rule("HEARING_OUTCOME_MISSING").start.key == "hearing_id"
    assert policy.rule("LOST_CONTACT").start.count == 3
    assert {n.kind: n.recipients for n in policy.notices} == {
        "FAILURE_TO_APPEAR": ("HHS",), "UNAUTHORIZED_DEPARTURE": ("ICE",)}
    assert {r.name: r.notify for r in policy.rules if r.notify} == {
        "NOT_WITH_SPONSOR": ("HHS", "ICE"), "WHEREABOUTS_UNKNOWN": ("HHS", "ICE")}
    assert [m.event_types for m in policy.closed_by] == [("CaseClosed",)]
    assert default_policy() is default_policy()
    assert load_policy(DEFAULT_POLICY) == policy
    assert policy.rule("HHS_REFERRAL_OVERDUE").reason == "no HhsReferralNotified within 48h of ChildEncountered"


def test_fingerprint_follows_meaning_not_comments() -> None:
    text = DEFAULT_POLICY.read_text()
    assert policy_from_toml("# a comment\n" + text).fingerprint == default_policy().fingerprint
    assert policy_from_toml(text.replace('deadline = "48h"', 'deadline = "49h"')).fingerprint != (
        default_policy().fingerprint)


def test_durations() -> None:
    assert parse_duration("48h") == 48 * 3_600_000
    assert parse_duration("1d12h") == 36 * 3_600_000
    assert parse_duration("immediate") == 0
    assert format_duration(parse_duration("1d12h30m")) == "1d12h30m"
    for bad in ("48", "h", "-1d", "1.5d", "2 days", "", "1y"):
        with pytest.raises(ValueError):
            parse_duration(bad)


BAD_POLICIES = [
    # (what to change in MINIMAL, message fragment, rule, key)
    (('event_type = "ChildEncountered"', 'event_type = "ChildEncounter"'),
     "unknown event type 'ChildEncounter'", "R", "start.event_type"),
    (('start = { event_type = "ChildEncountered" }',
      'start = { event_type = "ChildEncountered", where = { colour = "RED" } }'),
     "unknown field 'colour' of ChildEncountered", "R", "start.where.colour"),
    (('deadline = "48h"', 'deadline = "48 hours"'), "bad duration '48 hours'", "R", "deadline"),
    (('deadline = "48h"', 'deadline = { after = "2d", from = "agency" }'),
     "'agency' is not a timestamp field", "R", "deadline.from"),
    (('severity = "LOW"', 'severity = "SEVERE"'), "unknown severity 'SEVERE'", "R", "severity"),
    (('deadline = "48h"', 'deadline = "48h"\nescalate = [{ after = "72h", severity = "LOW" }]'),
     "escalation to LOW is not higher than LOW", "R", "escalate[0].severity"),
    (('deadline = "48h"', 'deadline = "48h"\nescalate = [{ after = "24h", severity = "HIGH" }]'),
     "not later than the deadline", "R", "escalate[0].after"),
    (('basis = "b"', 'basis = "b"\ncolour = "red"'), "unknown key 'colour'", "R", "colour"),
    (('met_by = [{ event_type = "HhsReferralNotified" }]',
      'met_by = [{ event_type = "HhsReferralNotified", when = "soon" }]'),
     "unknown key 'when'", "R", "met_by[0].when"),
    (('start = { event_type = "ChildEncountered" }',
      'start = { event_type = "ChildEncountered", where = { sex = "BOY" } }'),
     "'BOY' is not one of MALE, FEMALE, OTHER, UNKNOWN", "R", "start.where.sex"),
    (('start = { event_type = "ChildEncountered" }',
      'start = { event_type = "ChildEncountered", where = { age_years = "16" } }'),
     "'16' is not a int", "R", "start.where.age_years"),
    (('start = { event_type = "ChildEncountered" }',
      'start = { event_type = "ChildEncountered", where = { sex = { like = "M" } } }'),
     "unknown operator 'like'", "R", "start.where.sex.like"),
    (('met_by = [{ event_type = "HhsReferralNotified" }]', 'met_by = [{ set = "contact" }]'),
     "unknown set 'contact'", "R", "met_by[0].set"),
    (('met_by = [{ event_type = "HhsReferralNotified" }]',
      'met_by = [{ event_type = "HhsReferralNotified", same = "hearing_id" }]'),
     "unknown field 'hearing_id' of HhsReferralNotified", "R", "met_by[0].same"),
    (('met_by = [{ event_type = "HhsReferralNotified" }]', 'met_by = []'), "needs at least one", "R", "met_by"),
    (('basis = "b"', 'basis = "b"\nnotify = ["FBI"]'), "unknown recipient 'FBI'", "R", "notify"),
    (('basis = "b"', 'basis = "b"\ncontact_status = "LOST"'), "unknown contact status 'LOST'", "R",
     "contact_status"),
    (('name = "R"', 'name = "lower"'), "not an UPPER_SNAKE_CASE name", "lower", "name"),
    (('deadline = "48h"\n', ''), "missing", "R", "deadline"),
    (('version = 1', 'version = 2'), "unsupported policy format version 2", None, "version"),
    (('version = 1', 'version = 1\nrules = []'), "unknown key 'rules'", None, "rules"),
    (('start = { event_type = "ChildEncountered" }',
      'start = { event_type = "ChildEncountered", count = 0 }'), "count", "R", "start.count"),
    (('start = { event_type = "ChildEncountered" }',
      'start = { event_type = "ChildEncountered", reset_by = [{ event_type = "CaseClosed" }] }'),
     "only makes sense with count", "R", "start.reset_by"),
    (('start = { event_type = "ChildEncountered" }', 'start = { event_type = "*", where = { state = "TX" } }'),
     "unknown field 'state' of CaseClosed", "R", "start.where.state"),
]


@pytest.mark.parametrize("change, message, rule, key", BAD_POLICIES,
                         ids=[f"{i}-{b[1][:30]}" for i, b in enumerate(BAD_POLICIES)])
def test_invalid_policies_are_refused_naming_the_rule_and_key(change: tuple[str, str], message: str,
                                                               rule: str | None, key: str) -> None:
    old, new = change
    assert old in MINIMAL
    with pytest.raises(PolicyError) as caught:
        policy_from_toml(MINIMAL.replace(old, new), origin="bad.toml")
    error = caught.value
    assert isinstance(error, UcwatchError)
    assert message in str(error)
    assert (error.origin, error.rule, error.key) == ("bad.toml", rule, key)
    assert str(error).startswith("bad.toml: " + (f"rule {rule}: " if rule else "") + key)


def test_duplicate_rule_names_and_notification_kinds_are_refused() -> None:
    with pytest.raises(PolicyError, match="duplicate rule name 'R'") as caught:
        policy_from_toml(MINIMAL + MINIMAL.replace("version = 1", ""))
    assert caught.value.rule == "R"
    notices = ('\n[[notify]]\nkind = "K"\non = { event_type = "FailureToAppear" }\nrecipients = ["HHS"]\n') * 2
    with pytest.raises(PolicyError, match="duplicate kind 'K'"):
        policy_from_toml(MINIMAL.replace("version = 1", "version = 1" + notices.replace("[[rule]]", "")))


def test_unreadable_and_malformed_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read the policy file"):
        load_policy(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("version = 1\n[[rule]\n")
    with pytest.raises(PolicyError, match="not valid TOML") as caught:
        load_policy(broken)
    assert caught.value.origin == str(broken)


def test_a_policy_is_immutable() -> None:
    policy = default_policy()
    with pytest.raises(AttributeError):
        policy.rules = ()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        policy.rules[0].severity = "LOW"  # type: ignore[misc]
    assert isinstance(policy.rules, tuple)
