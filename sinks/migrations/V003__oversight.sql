-- Oversight figures as of a date: parameterized views over the landing tables.
--
--   SELECT * FROM ucwatch.oversight_by_fy(as_of = '2023-10-01 00:00:00');
--   SELECT * FROM ucwatch.child_facts(as_of = '2023-10-01 00:00:00') WHERE fy = 2021;
--   SELECT * FROM ucwatch.alerts_by_rule(as_of = '2023-10-01 00:00:00');
--
-- "As of" a date means known by then: only events recorded before as_of count, so a
-- figure for a past date does not change when late records arrive afterwards. Each event
-- counts once (a feed may deliver an event_id twice). A child belongs to the fiscal year
-- (October to September) of its first ChildEncountered; a child whose encounter is not on
-- record is not counted. The definitions are those of producers/simulate/truth.py, read
-- over the events in occurred_at order (ties by event_id hash); tests/unit/test_report.py
-- checks the figures against the simulator's delivered truth:
-- - durations run from the first encounter (referral, transfer) and from the latest
--   release before the event (discharge notice, the 30-day call window of day 0 to 37);
-- - 30-day call due: the latest release is more than 37 days before as_of; reached: a call
--   by day 37 reached the child or sponsor; unreachable: calls by day 37, none reached;
--   not attempted: no call by day 37;
-- - contact: a call that reached the child or sponsor, a reached post-release contact, or
--   LocationVerified; lost contact: three calls without contact (NO_ANSWER, WRONG_NUMBER,
--   REFUSED) with no contact between them; whereabouts unknown: the last FailureToAppear
--   was followed by no contact;
-- - NTA not served: released, and no NtaServed on record.

-- Each child's events recorded before as_of, folded into one row (GROUP BY child_id, no
-- join): the first encounter's demographics, first and last times, and the events as an
-- array `keys` of UInt128, each packing an event's occurred_at in ms (bits 72 and up), an
-- xxh3 hash of its event_id (bits 8-71) and a code (low byte: kind * 16 + flags, below).
-- A duplicate record of an event is kept here (child_facts drops it), which makes the fold
-- insensitive to duplicates: V004 keeps the same fold of every event, stored.
CREATE VIEW IF NOT EXISTS ${db}.event_histories ${on_cluster} AS
SELECT
    child_id,
    minIf(occurred_at, event_kind = 1) AS encountered_at,
    argMinIf((age_years, birth_date, coalesce(sex, 'UNKNOWN'), coalesce(country_of_birth, 'UNKNOWN')),
             occurred_at, event_kind = 1) AS first_encounter,
    minIfOrNull(occurred_at, event_kind = 3) AS transferred_at,
    minIfOrNull(occurred_at, event_kind = 4) AS released_at,
    maxIfOrNull(occurred_at, event_kind = 4) AS last_released_at,
    groupArray(event_key) AS keys,
    groupArrayIf((id_hash, if(coalesce(state, '') = '', 'BLANK', toString(state))), event_kind = 4)
        AS release_labels
FROM
(
    SELECT
        child_id, occurred_at, age_years, birth_date, sex, country_of_birth, state,
        -- the same per-event expressions as the materialized view of V004
        transform(event_type,
            ['ChildEncountered', 'HhsReferralNotified', 'CustodyTransferred',
             'ReleasedToSponsor', 'DischargeNotificationSent', 'UnauthorizedDeparture',
             'WellbeingCallAttempted', 'PostReleaseContact', 'LocationVerified',
             'NtaServed', 'FailureToAppear', 'InAbsentiaOrder', 'CaseClosed'],
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13], 0) AS event_kind,
        xxh3(event_id) AS id_hash,
        bitShiftLeft(toUInt128(toUnixTimestamp64Milli(occurred_at)), 72)
        + bitShiftLeft(toUInt128(id_hash), 8)
        + 16 * event_kind
        -- the call outcomes and the case outcomes share the column `outcome`
        + transform(outcome,
              ['REACHED_CHILD', 'REACHED_SPONSOR_ONLY', 'NO_ANSWER', 'WRONG_NUMBER',
               'REFUSED', 'REMOVAL_ORDER', 'VOLUNTARY_DEPARTURE', 'RELIEF_GRANTED',
               'TERMINATED', 'DISMISSED', 'ADMIN_CLOSED', 'AGED_OUT', 'REMOVED', 'OTHER'],
              [1, 1, 2, 2, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9], 0)
        + (event_kind = 4 AND coalesce(address_quality, '') != 'VALID')
        + 4 * (coalesce(lives_with_sponsor = false, false) OR coalesce(safety_concern, false))
        + coalesce(reached, false) AS event_key
    FROM ${db}.events
    WHERE recorded_at < {as_of:DateTime64(3, 'UTC')}
      AND event_type IN ('ChildEncountered', 'HhsReferralNotified', 'CustodyTransferred',
                         'ReleasedToSponsor', 'DischargeNotificationSent',
                         'UnauthorizedDeparture', 'WellbeingCallAttempted',
                         'PostReleaseContact', 'LocationVerified', 'NtaServed',
                         'FailureToAppear', 'InAbsentiaOrder', 'CaseClosed')
)
GROUP BY child_id
HAVING countIf(event_kind = 1) > 0;

-- The histories child_facts reads: here those of event_histories; V004 replaces this view
-- with one that reads the stored fold when it holds every event and as_of is after them.
CREATE VIEW IF NOT EXISTS ${db}.child_histories ${on_cluster} AS
SELECT child_id, encountered_at, tupleElement(first_encounter, 1) AS first_age,
       tupleElement(first_encounter, 2) AS first_birth_date, tupleElement(first_encounter, 3) AS sex,
       tupleElement(first_encounter, 4) AS country_of_birth,
       transferred_at, released_at, last_released_at, keys, release_labels
FROM ${db}.event_histories(as_of = {as_of:DateTime64(3, 'UTC')});

-- One row per child on record by as_of, from child_histories (one row per child, its events
-- as an array of UInt128 keys, each packing an event's occurred_at in ms (bits 72 and up),
-- an xxh3 hash of its event_id (bits 8-71) and a code (low byte)): sorted, the keys put the events in occurred_at order (ties by event_id hash); keeping
-- the first key of each event_id hash drops the duplicates; every figure is then read off
-- the arrays. The code is kind * 16 + flags. Kinds: 1 encounter, 2 HHS referral,
-- 3 custody transfer, 4 release, 5 discharge notice, 6 unauthorized departure,
-- 7 well-being call, 8 post-release contact, 9 location verified, 10 NTA served,
-- 11 failure to appear, 12 in absentia order, 13 case closed. Flags: release 1 = bad
-- address; call 1 = reached, 2 = no contact, 4 = not with sponsor or a safety concern;
-- post-release contact 1 = reached; case closed: the outcome (1-9 in the order of the
-- list below, 0 unknown). Columns nobody selects (demographics, first and last times,
-- release states) are not computed.
CREATE VIEW IF NOT EXISTS ${db}.child_facts ${on_cluster} AS
SELECT child_id, fy, encountered_at, age_years, age_bracket, sex, country_of_birth,
       transferred_at, released_at, last_released_at,
       referrals_late, transfers, transfers_over_72h, dhs_custody_ms,
       releases, bad_release_addresses, release_states,
       discharge_notices_late, discharge_notice_missing, unauthorized_departures,
       wellbeing_due, wellbeing_reached, wellbeing_unreachable, wellbeing_not_attempted,
       lost_contact, not_with_sponsor, nta_served, nta_not_served,
       ftas, had_fta, whereabouts_unknown, in_absentia_orders, case_outcomes
FROM
(
    -- the figures; the arrays they share come from the levels below
    SELECT
        *,
        toUInt16(toYear(encountered_at) + (toMonth(encountered_at) >= 10)) AS fy,
        if(first_age IS NULL,
           if(first_birth_date IS NULL, NULL,
              toUInt8(age('year', first_birth_date, toDate(encountered_at)))),
           first_age) AS age_years,
        multiIf(age_years IS NULL, 'UNKNOWN', age_years <= 5, '0-5', age_years <= 12, '6-12',
                age_years <= 14, '13-14', age_years <= 16, '15-16', '17') AS age_bracket,
        -- times from the (first) encounter
        toUInt32(arrayCount((x, k) -> k = 2 AND x - enc_ms > 172800000, t, kind)) AS referrals_late,
        toUInt32(countEqual(kind, 3)) AS transfers,
        toUInt32(arrayCount((x, k) -> k = 3 AND x - enc_ms > 259200000, t, kind)) AS transfers_over_72h,
        arraySum((x, k) -> if(k = 3, x - enc_ms, 0), t, kind) AS dhs_custody_ms,
        toUInt32(countEqual(kind, 4)) AS releases,
        toUInt32(countEqual(code, 65)) AS bad_release_addresses,
        arrayMap(l -> l.2, arrayFilter((l, n) -> n = 1, release_labels,
                                       arrayEnumerateUniq(arrayMap(l -> l.1, release_labels)))) AS release_states,
        -- times from the latest release before the event
        toUInt32(arrayCount((x, k, r) -> k = 5 AND r != 0 AND x - r > 86400000, t, kind, release_ms))
            AS discharge_notices_late,
        releases > 0 AND NOT has(kind, 5) AS discharge_notice_missing,
        toUInt32(countEqual(kind, 6)) AS unauthorized_departures,
        arrayMax(release_ms) AS last_release_ms,
        last_release_ms != 0
            AND last_release_ms + 3196800000 < toUnixTimestamp64Milli({as_of:DateTime64(3, 'UTC')})
            AS wellbeing_due,
        arrayExists((x, k, r) -> k = 7 AND r != 0 AND x <= r + 3196800000, t, kind, release_ms)
            AS called_by_37,
        arrayExists((x, c, r) -> bitAnd(c, 241) = 113 AND r != 0 AND x <= r + 3196800000, t, code, release_ms)
            AS reached_by_37,
        wellbeing_due AND reached_by_37 AS wellbeing_reached,
        wellbeing_due AND NOT reached_by_37 AND called_by_37 AS wellbeing_unreachable,
        wellbeing_due AND NOT called_by_37 AS wellbeing_not_attempted,
        -- three calls without contact and no contact between them: number the stretches
        -- between contacts, and look for a stretch holding three such calls
        arrayExists(n -> n >= 3, arrayEnumerateUniq(arrayFilter(
            (stretch, k) -> k = 1, arrayCumSum(arrayMap(k -> toUInt32(k = 2), contact_kind)), contact_kind)))
            AS lost_contact,
        arrayExists(c -> bitAnd(c, 244) = 116, code) AS not_with_sponsor,
        has(kind, 10) AS nta_served,
        releases > 0 AND NOT nta_served AS nta_not_served,
        toUInt32(countEqual(kind, 11)) AS ftas,
        ftas > 0 AS had_fta,
        arrayLastIndex(k -> k = 11, kind) > arrayLastIndex(k -> k = 2, contact_kind) AS whereabouts_unknown,
        toUInt32(countEqual(kind, 12)) AS in_absentia_orders,
        arrayMap(c -> transform(bitAnd(c, 15), [1, 2, 3, 4, 5, 6, 7, 8, 9],
                                ['REMOVAL_ORDER', 'VOLUNTARY_DEPARTURE', 'RELIEF_GRANTED', 'TERMINATED',
                                 'DISMISSED', 'ADMIN_CLOSED', 'AGED_OUT', 'REMOVED', 'OTHER'], 'UNKNOWN'),
                 arrayFilter(c -> c >= 208, code)) AS case_outcomes
    FROM
    (
        SELECT
            *,
            -- the latest release at or before each event (0: none yet)
            arrayFill(r -> r != 0, arrayMap((x, k) -> if(k = 4, x, 0), t, kind)) AS release_ms,
            -- 1: a call without contact; 2: a contact (a call that reached the child or the
            -- sponsor, a reached post-release contact, LocationVerified); 0: neither
            arrayMap(c -> if(bitAnd(c, 242) = 114, 1,
                             if(bitAnd(c, 241) = 113 OR c = 129 OR bitShiftRight(c, 4) = 9, 2, 0)), code)
                AS contact_kind
        FROM
        (
            SELECT
                *,
                arrayMap(k -> toInt64(bitShiftRight(k, 72)), ev) AS t,
                arrayMap(k -> toUInt8(k), ev) AS code,
                arrayMap(k -> toUInt8(bitShiftRight(toUInt8(k), 4)), ev) AS kind
            FROM
            (
                SELECT
                    *,
                    toUnixTimestamp64Milli(encountered_at) AS enc_ms,
                    arraySort(keys) AS sorted_keys,
                    arrayFilter((k, n) -> n = 1, sorted_keys,
                                arrayEnumerateUniq(arrayMap(k -> toUInt64(bitShiftRight(k, 8)), sorted_keys))) AS ev
                FROM ${db}.child_histories(as_of = {as_of:DateTime64(3, 'UTC')})
            )
        )
    )
);

-- The figures by fiscal year of encounter, named as in producers/simulate/truth.py
-- (CohortTruth); shares as fractions, 0 where the denominator is 0.
CREATE VIEW IF NOT EXISTS ${db}.oversight_by_fy ${on_cluster} AS
SELECT
    fy, encounters, referrals_late,
    n_transfers AS transfers, n_over_72h AS transfers_over_72h, n_custody_ms AS dhs_custody_ms,
    n_releases AS releases, n_bad AS bad_release_addresses,
    discharge_notices_late, discharge_notices_missing, unauthorized_departures,
    n_due AS wellbeing_due, wellbeing_reached, n_unreachable AS wellbeing_unreachable,
    wellbeing_not_attempted, lost_contact, not_with_sponsor,
    n_served AS nta_served, n_not_served AS nta_not_served,
    ftas, n_with_fta AS children_with_fta, whereabouts_unknown, in_absentia_orders, case_outcomes,
    if(n_transfers = 0, 0, n_over_72h / n_transfers) AS share_over_72h,
    if(n_transfers = 0, 0, n_custody_ms / 3600000 / n_transfers) AS mean_dhs_custody_hours,
    if(n_releases = 0, 0, n_bad / n_releases) AS bad_address_share,
    if(n_due = 0, 0, n_unreachable / n_due) AS unreachable_share,
    if(n_releases = 0, 0, n_not_served / n_releases) AS nta_not_served_share,
    if(n_served = 0, 0, n_with_fta / n_served) AS fta_share_of_served
FROM
(
    SELECT
        fy,
        count() AS encounters,
        sum(referrals_late) AS referrals_late,
        sum(transfers) AS n_transfers,
        sum(transfers_over_72h) AS n_over_72h,
        sum(dhs_custody_ms) AS n_custody_ms,
        sum(releases) AS n_releases,
        sum(bad_release_addresses) AS n_bad,
        sum(discharge_notices_late) AS discharge_notices_late,
        countIf(discharge_notice_missing) AS discharge_notices_missing,
        sum(unauthorized_departures) AS unauthorized_departures,
        countIf(wellbeing_due) AS n_due,
        countIf(wellbeing_reached) AS wellbeing_reached,
        countIf(wellbeing_unreachable) AS n_unreachable,
        countIf(wellbeing_not_attempted) AS wellbeing_not_attempted,
        countIf(lost_contact) AS lost_contact,
        countIf(not_with_sponsor) AS not_with_sponsor,
        countIf(nta_served) AS n_served,
        countIf(nta_not_served) AS n_not_served,
        sum(ftas) AS ftas,
        countIf(had_fta) AS n_with_fta,
        countIf(whereabouts_unknown) AS whereabouts_unknown,
        sum(in_absentia_orders) AS in_absentia_orders,
        CAST(sumMap(case_outcomes, arrayMap(o -> toUInt64(1), case_outcomes)), 'Map(String, UInt64)')
            AS case_outcomes
    FROM ${db}.child_facts(as_of = {as_of:DateTime64(3, 'UTC')})
    GROUP BY fy
)
ORDER BY fy;

-- Alerts by rule as of a date, from the changes fired before it: how many were opened,
-- and in which status they stood at that date (the latest change by sequence). Hours to
-- close run from the first opening to the change that closed the alert, over the alerts
-- RESOLVED or CANCELLED by then (RETRACTED ones were false alarms, not closures),
-- interpolated between the closest ranks.
CREATE VIEW IF NOT EXISTS ${db}.alerts_by_rule ${on_cluster} AS
SELECT
    rule,
    count() AS opened,
    countIf(status = 'OPEN') AS open,
    countIf(status = 'RESOLVED') AS resolved,
    countIf(status = 'RETRACTED') AS retracted,
    countIf(status = 'CANCELLED') AS cancelled,
    countIf(status IN ('RESOLVED', 'CANCELLED')) AS closed,
    if(closed = 0, NULL, quantileExactInclusiveIf(0.5)(hours_to_close, status IN ('RESOLVED', 'CANCELLED')))
        AS median_hours_to_close,
    if(closed = 0, NULL, quantileExactInclusiveIf(0.9)(hours_to_close, status IN ('RESOLVED', 'CANCELLED')))
        AS p90_hours_to_close
FROM
(
    SELECT
        alert_id,
        any(rule) AS rule,
        argMax(status, sequence) AS status,
        minIf(fired_at, change = 'OPENED') AS opened_at,
        countIf(change = 'OPENED') AS openings,
        (toUnixTimestamp64Milli(argMax(fired_at, sequence)) - toUnixTimestamp64Milli(opened_at)) / 3600000
            AS hours_to_close
    FROM ${db}.alerts
    WHERE fired_at < {as_of:DateTime64(3, 'UTC')}
    GROUP BY alert_id
    HAVING openings > 0
)
GROUP BY rule
ORDER BY rule;
