-- Landing tables: one row per Kafka record, with the record's partition and offset so that
-- what is in ClickHouse can be checked row for row against the topic.
-- Deduplication of retried inserts (insert_deduplication_token) needs a deduplication
-- window on MergeTree tables; ${dedup_window} blocks is far more than one sink can leave
-- unconfirmed at a crash (one batch per partition).

CREATE TABLE IF NOT EXISTS ${db}.events ${on_cluster}
(
    event_id           String,
    event_type         LowCardinality(String),
    child_id           String,
    occurred_at        DateTime64(3, 'UTC'),
    recorded_at        DateTime64(3, 'UTC'),
    source             LowCardinality(String),
    synthetic          Bool,
    -- per-type fields (NULL where the event type has no such field)
    agency             LowCardinality(Nullable(String)),
    state              LowCardinality(Nullable(String)),
    birth_date         Nullable(Date32),
    age_years          Nullable(UInt8),
    sex                LowCardinality(Nullable(String)),
    country_of_birth   LowCardinality(Nullable(String)),
    referring_agency   LowCardinality(Nullable(String)),
    facility_id        Nullable(String),
    placement_type     LowCardinality(Nullable(String)),
    from_agency        LowCardinality(Nullable(String)),
    sponsor_id         Nullable(String),
    sponsor_category   Nullable(UInt8),
    county             LowCardinality(Nullable(String)),
    zip                LowCardinality(Nullable(String)),
    address_quality    LowCardinality(Nullable(String)),
    recipient          LowCardinality(Nullable(String)),
    attempt            Nullable(UInt16),
    outcome            LowCardinality(Nullable(String)),
    lives_with_sponsor Nullable(Bool),
    address_confirmed  Nullable(Bool),
    safety_concern     Nullable(Bool),
    contact_type       LowCardinality(Nullable(String)),
    reached            Nullable(Bool),
    concern_type       LowCardinality(Nullable(String)),
    severity           LowCardinality(Nullable(String)),
    nta_id             Nullable(String),
    method             LowCardinality(Nullable(String)),
    court_code         LowCardinality(Nullable(String)),
    hearing_id         Nullable(String),
    hearing_at         Nullable(DateTime64(3, 'UTC')),
    hearing_type       LowCardinality(Nullable(String)),
    next_hearing_at    Nullable(DateTime64(3, 'UTC')),
    channel            LowCardinality(Nullable(String)),
    verifying_agency   LowCardinality(Nullable(String)),
    kafka_partition    UInt16,
    kafka_offset       UInt64,
    landed_at          DateTime('UTC') DEFAULT now()
)
ENGINE = ${replicated}MergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (child_id, occurred_at, event_id)
SETTINGS ${dedup_setting} = ${dedup_window};

CREATE TABLE IF NOT EXISTS ${db}.alerts ${on_cluster}
(
    alert_id        String,
    child_id        String,
    rule            LowCardinality(String),
    change          LowCardinality(String),
    status          LowCardinality(String),
    severity        LowCardinality(String),
    deadline        DateTime64(3, 'UTC'),
    fired_at        DateTime64(3, 'UTC'),
    reason          String,
    start_event_id  String,
    basis           LowCardinality(String),
    sequence        UInt32,
    synthetic       Bool,
    kafka_partition UInt16,
    kafka_offset    UInt64,
    landed_at       DateTime('UTC') DEFAULT now()
)
ENGINE = ${replicated}MergeTree
PARTITION BY toYYYYMM(fired_at)
ORDER BY (alert_id, sequence)
SETTINGS ${dedup_setting} = ${dedup_window};

CREATE TABLE IF NOT EXISTS ${db}.notifications ${on_cluster}
(
    notification_id String,
    child_id        String,
    recipient       LowCardinality(String),
    kind            LowCardinality(String),
    fact_id         String,
    occurred_at     DateTime64(3, 'UTC'),
    reason          String,
    synthetic       Bool,
    kafka_partition UInt16,
    kafka_offset    UInt64,
    landed_at       DateTime('UTC') DEFAULT now()
)
ENGINE = ${replicated}MergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (child_id, occurred_at, notification_id)
SETTINGS ${dedup_setting} = ${dedup_window};

-- The child-state topic is compacted: only the latest snapshot per child matters. The
-- Kafka offset orders a child's snapshots (a child's records share one partition).
-- Read it with FINAL (or the child_state_current view) for exactly one row per child.
CREATE TABLE IF NOT EXISTS ${db}.child_state ${on_cluster}
(
    child_id        String,
    custody_status  LowCardinality(String),
    contact_status  LowCardinality(String),
    court_status    LowCardinality(String),
    next_hearing_at Nullable(DateTime64(3, 'UTC')),
    last_contact_at Nullable(DateTime64(3, 'UTC')),
    last_event_at   Nullable(DateTime64(3, 'UTC')),
    events_seen     UInt32,
    open_alerts     Array(Tuple(alert_id String, rule LowCardinality(String), severity LowCardinality(String))),
    as_of           DateTime64(3, 'UTC'),
    synthetic       Bool,
    kafka_partition UInt16,
    kafka_offset    UInt64,
    landed_at       DateTime('UTC') DEFAULT now()
)
ENGINE = ${replicated}ReplacingMergeTree(kafka_offset)
ORDER BY child_id
SETTINGS ${dedup_setting} = ${dedup_window};

-- The sink's ledger: each batch is recorded here before it is written, so that after a
-- crash the same batch (same offsets, same deduplication token) is written again.
CREATE TABLE IF NOT EXISTS ${db}.sink_ledger ${on_cluster}
(
    topic        LowCardinality(String),
    partition    UInt16,
    first_offset UInt64,
    last_offset  UInt64,
    records      UInt32,
    target       LowCardinality(String),
    token        String,
    written_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ${replicated}MergeTree
ORDER BY (topic, partition, first_offset)
SETTINGS ${dedup_setting} = ${dedup_window};
