"""The agency responsible for each rule: every rule of the default policy is mapped."""

from __future__ import annotations

import tomllib
from pathlib import Path

from ucwatch.console.responsibility import AGENCIES, AGENCY_NAMES, RESPONSIBLE, UNKNOWN, agencies_for, responsible

POLICY = Path(__file__).resolve().parents[3] / "streams" / "policies" / "default.toml"


def test_every_rule_of_the_default_policy_has_an_agency() -> None:
    rules = {rule["name"] for rule in tomllib.loads(POLICY.read_text())["rule"]}
    assert rules, "the default policy has no rules?"
    assert sorted(rules - set(RESPONSIBLE)) == []
    for rule in RESPONSIBLE:
        assert agencies_for(rule) and set(agencies_for(rule)) <= set(AGENCIES)
    assert set(AGENCY_NAMES) == {*AGENCIES, UNKNOWN}


def test_the_mapping_follows_who_emits_the_event_that_would_meet_the_rule() -> None:
    assert agencies_for("NTA_NOT_SERVED") == ("ICE",)
    assert agencies_for("HEARING_OUTCOME_MISSING") == ("EOIR",)
    assert agencies_for("WELLBEING_CALL_OVERDUE") == ("HHS",)
    assert responsible("WHEREABOUTS_UNKNOWN", "HHS") and responsible("WHEREABOUTS_UNKNOWN", "ICE")
    assert not responsible("LOST_CONTACT", "ICE")


def test_a_rule_outside_the_table_is_unknown_not_lost() -> None:
    assert agencies_for("SOME_NEW_RULE") == (UNKNOWN,)
    assert responsible("SOME_NEW_RULE", UNKNOWN)
