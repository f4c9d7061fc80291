-- What people did to alerts in the operations console (topic ucwatch.actions, record
-- gov.ucwatch.actions.AlertAction): one row per Kafka record, like the other landing
-- tables. `at` is wall-clock time (people act in wall time); `alert_sequence` is the
-- alert change the person saw. `note` is operators' own text (at most 500 characters).
-- A console retry can repeat an action with the same action_id: read `actions_distinct`.

CREATE TABLE IF NOT EXISTS ${db}.actions ${on_cluster}
(
    action_id       String,
    action          LowCardinality(String),
    alert_id        String,
    alert_sequence  UInt32,
    child_id        String,
    actor           LowCardinality(String),
    role            LowCardinality(String),
    at              DateTime64(3, 'UTC'),
    assignee        LowCardinality(Nullable(String)),
    note            Nullable(String),
    snoozed_until   Nullable(DateTime64(3, 'UTC')),
    outcome         LowCardinality(Nullable(String)),
    close_reason    LowCardinality(Nullable(String)),
    synthetic       Bool,
    kafka_partition UInt16,
    kafka_offset    UInt64,
    landed_at       DateTime('UTC') DEFAULT now()
)
ENGINE = ${replicated}MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (child_id, at, action_id)
SETTINGS ${dedup_setting} = ${dedup_window};

CREATE VIEW IF NOT EXISTS ${db}.actions_distinct ${on_cluster} AS
SELECT * EXCEPT (kafka_partition, kafka_offset, landed_at)
FROM ${db}.actions
ORDER BY child_id, at, action_id
LIMIT 1 BY action_id;
