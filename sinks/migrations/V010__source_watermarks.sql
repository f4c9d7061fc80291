-- Source watermarks and feed health (issue 11): a source's declaration "delivered every
-- event that occurred up to complete_up_to" (gov.ucwatch.control.SourceWatermark, written
-- to every partition of the lifecycle topic by EventProducer.declare_watermark or
-- `ucwatch produce --complete-up-to`), landed by the sink from the lifecycle topic's
-- batches like the events beside it: one row per Kafka record, deduplicated by the batch's
-- token, checked by (kafka_partition, kafka_offset) on replay.

CREATE TABLE IF NOT EXISTS ${db}.source_watermarks ${on_cluster}
(
    source          LowCardinality(String),
    complete_up_to  DateTime64(3, 'UTC'),
    declared_at     DateTime64(3, 'UTC'),
    partition       UInt16,
    issued_by       LowCardinality(String),
    kafka_partition UInt16,
    kafka_offset    UInt64,
    landed_at       DateTime('UTC') DEFAULT now()
)
ENGINE = ${replicated}MergeTree
ORDER BY (source, kafka_partition, kafka_offset)
SETTINGS ${dedup_setting} = ${dedup_window};

-- Each source's declared watermark over the whole topic, as the detector takes it
-- (streams/watermarks.py): on a partition the furthest declared (a watermark never goes
-- back), over the topic the lowest of the partitions' (complete everywhere up to there).
-- `partitions`: how many partitions hold a declaration of the source (the SDK writes one
-- to each; fewer means the lowest is only over those).
CREATE VIEW IF NOT EXISTS ${db}.source_watermark_current ${on_cluster} AS
SELECT source, min(partition_mark) AS watermark, max(partition_declared_at) AS declared_at,
       count() AS partitions
FROM
(
    SELECT source, kafka_partition, max(complete_up_to) AS partition_mark,
           max(declared_at) AS partition_declared_at
    FROM ${db}.source_watermarks
    GROUP BY source, kafka_partition
)
GROUP BY source;

-- Feed health per source: what `ucwatch feeds` shows, over the landed history.
-- The clock is event time as the detector keeps it: the latest recorded_at of any event
-- or declared_at of any declaration. From the events of the source (events.source):
-- the latest occurred_at and recorded_at, when the sink last landed one (wall clock), the
-- events recorded in the 28 days up to the clock (each event_id once) and per day over
-- those days (or since its first event, if that is later; NULL before a day has passed),
-- and their lateness (recorded_at - occurred_at) in hours, median and 90th percentile
-- (exact; NULL without such events). From its declarations: the watermark, when it was
-- declared, and its lag behind the clock in hours (NULL: never declared; the detector
-- then takes it as complete, or estimates it if the policy says so). A source that only
-- declared, or only sent events, has one row too.
CREATE VIEW IF NOT EXISTS ${db}.feed_health ${on_cluster} AS
WITH
    (SELECT greatest((SELECT max(recorded_at) FROM ${db}.events),
                     (SELECT max(declared_at) FROM ${db}.source_watermarks))) AS clock
SELECT
    source,
    f.last_occurred_at AS last_occurred_at,
    f.last_recorded_at AS last_recorded_at,
    f.last_landed_at AS last_landed_at,
    f.events_28d AS events_28d,
    if(f.window_days > 1, round(f.events_28d / f.window_days, 2), NULL) AS events_per_day,
    f.lateness_p50_hours AS lateness_p50_hours,
    f.lateness_p90_hours AS lateness_p90_hours,
    w.watermark AS watermark,
    w.declared_at AS watermark_declared_at,
    w.partitions AS watermark_partitions,
    if(w.watermark IS NULL, NULL, round(dateDiff('millisecond', w.watermark, clock) / 3600000, 2)) AS lag_hours,
    clock
FROM
(
    SELECT
        source,
        toNullable(max(occurred_at)) AS last_occurred_at,
        toNullable(max(recorded_at)) AS last_recorded_at,
        toNullable(max(landed_at)) AS last_landed_at,
        uniqExactIf(event_id, recent) AS events_28d,
        least(28, dateDiff('millisecond', min(recorded_at), clock) / 86400000) AS window_days,
        if(countIf(recent) = 0, NULL, round(quantileExactIf(0.5)(lateness_ms, recent) / 3600000, 2))
            AS lateness_p50_hours,
        if(countIf(recent) = 0, NULL, round(quantileExactIf(0.9)(lateness_ms, recent) / 3600000, 2))
            AS lateness_p90_hours
    FROM
    (
        SELECT source, event_id, occurred_at, recorded_at, landed_at,
               recorded_at > clock - INTERVAL 28 DAY AS recent,
               dateDiff('millisecond', occurred_at, recorded_at) AS lateness_ms
        FROM ${db}.events
    )
    GROUP BY source
) AS f
FULL OUTER JOIN
(
    SELECT source, toNullable(watermark) AS watermark, toNullable(declared_at) AS declared_at,
           toNullable(partitions) AS partitions
    FROM ${db}.source_watermark_current
) AS w USING (source)
ORDER BY source;
