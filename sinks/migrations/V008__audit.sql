-- The audit trail (topic ucwatch.audit, JSON entries made by ucwatch.core.audit): who read
-- a child's records or acted on an alert, and when (wall clock). One row per Kafka record
-- (sinks/audit_rows.py). Who: `actor` is a staff account (console) or an operating-system
-- user; `os_user` and `host` say where the process ran. About whom: pseudonymous ids only
-- (child token, alert and action ids). Whatever else an entry carries (a query's text, the
-- queue's filters, a lock-out flag) is in `details`, a JSON object.
--
-- Entries have no id of their own: the sink's deduplication tokens make each Kafka record
-- one row, and (kafka_partition, kafka_offset) names it. Read newest first by `at`; the
-- console's admin page filters by actor, child_id and action.

CREATE TABLE IF NOT EXISTS ${db}.audit ${on_cluster}
(
    at              DateTime64(3, 'UTC'),
    action          LowCardinality(String),
    actor           LowCardinality(String),
    role            LowCardinality(String),
    via             LowCardinality(String),
    os_user         LowCardinality(String),
    host            LowCardinality(String),
    child_id        Nullable(String),
    alert_id        Nullable(String),
    action_id       Nullable(String),
    details         String,
    kafka_partition UInt16,
    kafka_offset    UInt64,
    landed_at       DateTime('UTC') DEFAULT now()
)
ENGINE = ${replicated}MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (at, kafka_partition, kafka_offset)
SETTINGS ${dedup_setting} = ${dedup_window};
