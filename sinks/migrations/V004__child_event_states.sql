-- The fold of V003's event_histories, kept up to date as events land, so that the report
-- as of now reads one stored row per child instead of every event.
--
-- child_event_states holds, per child, the fold of all its events (whatever recorded_at):
-- an insert into events also inserts the fold of its block here, and merges (FINAL when
-- read) combine the folds of one child. The fold is insensitive to duplicates (minima,
-- maxima, arrays that child_facts deduplicates by event_id hash), so an event folded twice
-- (a redelivered record, a retried block, a backfill that overlaps an insert) changes no
-- figure. Only `rows` counts: the rows of events folded, so that the stored fold is used
-- only while it holds as many rows as events does (it holds every event: none was lost to a
-- failed insert of the view, or landed before the view existed).
--
-- Created with the fold of the events already landed (rows landing between this statement
-- and the next one are missed: `rows` then differs from the count of events, and the report
-- reads the events until the fold is rebuilt).
CREATE TABLE IF NOT EXISTS ${db}.child_event_states ${on_cluster}
(
    child_id         String,
    rows             SimpleAggregateFunction(sum, UInt64),
    last_recorded_at SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    encountered_at   SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    first_encounter  AggregateFunction(argMinIf,
                         Tuple(Nullable(UInt8), Nullable(Date32), String, String), DateTime64(3, 'UTC'), UInt8),
    transferred_at   SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    released_at      SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    last_released_at SimpleAggregateFunction(max, Nullable(DateTime64(3, 'UTC'))),
    keys             SimpleAggregateFunction(groupArrayArray, Array(UInt128)),
    release_labels   SimpleAggregateFunction(groupArrayArray, Array(Tuple(UInt64, String)))
)
ENGINE = ${replicated}AggregatingMergeTree
ORDER BY child_id
SETTINGS ${dedup_setting} = ${dedup_window}
AS
SELECT
    child_id,
    count() AS rows,
    max(recorded_at) AS last_recorded_at,
    minIfOrNull(occurred_at, event_kind = 1) AS encountered_at,
    argMinIfState((age_years, birth_date, coalesce(sex, 'UNKNOWN'), coalesce(country_of_birth, 'UNKNOWN')),
                  occurred_at, toUInt8(event_kind = 1)) AS first_encounter,
    minIfOrNull(occurred_at, event_kind = 3) AS transferred_at,
    minIfOrNull(occurred_at, event_kind = 4) AS released_at,
    maxIfOrNull(occurred_at, event_kind = 4) AS last_released_at,
    groupArrayIf(event_key, event_kind != 0) AS keys,
    groupArrayIf((id_hash, if(coalesce(state, '') = '', 'BLANK', toString(state))), event_kind = 4)
        AS release_labels
FROM
(
    SELECT
        child_id, occurred_at, recorded_at, age_years, birth_date, sex, country_of_birth, state,
        -- the same per-event expressions as V003's event_histories
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
        + transform(outcome,
              ['REACHED_CHILD', 'REACHED_SPONSOR_ONLY', 'NO_ANSWER', 'WRONG_NUMBER',
               'REFUSED', 'REMOVAL_ORDER', 'VOLUNTARY_DEPARTURE', 'RELIEF_GRANTED',
               'TERMINATED', 'DISMISSED', 'ADMIN_CLOSED', 'AGED_OUT', 'REMOVED', 'OTHER'],
              [1, 1, 2, 2, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9], 0)
        + (event_kind = 4 AND coalesce(address_quality, '') != 'VALID')
        + 4 * (coalesce(lives_with_sponsor = false, false) OR coalesce(safety_concern, false))
        + coalesce(reached, false) AS event_key
    FROM ${db}.events
)
GROUP BY child_id;

-- Folds each block inserted into events. Its query repeats the backfill's above: a
-- materialized view sees only the blocks inserted into its own FROM table, so it cannot
-- read through a shared view. A retried block (same insert_deduplication_token) that events
-- drops would still be folded again by default, the fold unchanged but for `rows`; the sink
-- inserts with deduplicate_blocks_in_dependent_materialized_views = 1, so it is not.
CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.child_event_states_mv ${on_cluster}
TO ${db}.child_event_states
AS
SELECT
    child_id,
    count() AS rows,
    max(recorded_at) AS last_recorded_at,
    minIfOrNull(occurred_at, event_kind = 1) AS encountered_at,
    argMinIfState((age_years, birth_date, coalesce(sex, 'UNKNOWN'), coalesce(country_of_birth, 'UNKNOWN')),
                  occurred_at, toUInt8(event_kind = 1)) AS first_encounter,
    minIfOrNull(occurred_at, event_kind = 3) AS transferred_at,
    minIfOrNull(occurred_at, event_kind = 4) AS released_at,
    maxIfOrNull(occurred_at, event_kind = 4) AS last_released_at,
    groupArrayIf(event_key, event_kind != 0) AS keys,
    groupArrayIf((id_hash, if(coalesce(state, '') = '', 'BLANK', toString(state))), event_kind = 4)
        AS release_labels
FROM
(
    SELECT
        child_id, occurred_at, recorded_at, age_years, birth_date, sex, country_of_birth, state,
        -- the same per-event expressions as V003's event_histories
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
        + transform(outcome,
              ['REACHED_CHILD', 'REACHED_SPONSOR_ONLY', 'NO_ANSWER', 'WRONG_NUMBER',
               'REFUSED', 'REMOVAL_ORDER', 'VOLUNTARY_DEPARTURE', 'RELIEF_GRANTED',
               'TERMINATED', 'DISMISSED', 'ADMIN_CLOSED', 'AGED_OUT', 'REMOVED', 'OTHER'],
              [1, 1, 2, 2, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9], 0)
        + (event_kind = 4 AND coalesce(address_quality, '') != 'VALID')
        + 4 * (coalesce(lives_with_sponsor = false, false) OR coalesce(safety_concern, false))
        + coalesce(reached, false) AS event_key
    FROM ${db}.events
)
GROUP BY child_id;

-- The histories as of a date: the stored fold when it holds every event of events (as many
-- rows) and as_of is after the latest recorded_at (the report as of now), else V003's
-- event_histories (a past date, or a fold that misses rows). Both give the same figures;
-- tests/unit/test_report.py checks it. Each branch reads nothing when its condition is
-- false (the conditions are constants once the scalar subqueries have run).
CREATE OR REPLACE VIEW ${db}.child_histories ${on_cluster} AS
SELECT child_id, encountered_at, tupleElement(first_encounter, 1) AS first_age,
       tupleElement(first_encounter, 2) AS first_birth_date, tupleElement(first_encounter, 3) AS sex,
       tupleElement(first_encounter, 4) AS country_of_birth,
       transferred_at, released_at, last_released_at, keys, release_labels
FROM ${db}.event_histories(as_of = {as_of:DateTime64(3, 'UTC')})
WHERE NOT (SELECT max(last_recorded_at) < {as_of:DateTime64(3, 'UTC')}
              AND sum(rows) = (SELECT count() FROM ${db}.events)
       FROM ${db}.child_event_states)
UNION ALL
SELECT child_id, assumeNotNull(encountered_at) AS encountered_at, tupleElement(first_encounter, 1) AS first_age,
       tupleElement(first_encounter, 2) AS first_birth_date, tupleElement(first_encounter, 3) AS sex,
       tupleElement(first_encounter, 4) AS country_of_birth, transferred_at, released_at, last_released_at,
       keys, release_labels
FROM
(
    SELECT child_id, encountered_at, finalizeAggregation(first_encounter) AS first_encounter,
           transferred_at, released_at, last_released_at, keys, release_labels
    FROM ${db}.child_event_states FINAL
    WHERE encountered_at IS NOT NULL
)
WHERE (SELECT max(last_recorded_at) < {as_of:DateTime64(3, 'UTC')}
              AND sum(rows) = (SELECT count() FROM ${db}.events)
       FROM ${db}.child_event_states);
