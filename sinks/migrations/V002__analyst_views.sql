-- Views over the landing tables that every analyst query should start from.

-- Each alert change once: a detector that crashed and replayed may have written the same
-- (alert_id, sequence) twice on Kafka, always with the same content.
CREATE VIEW IF NOT EXISTS ${db}.alert_changes ${on_cluster} AS
SELECT alert_id, child_id, rule, change, status, severity, deadline, fired_at, reason,
       start_event_id, basis, sequence, synthetic
FROM ${db}.alerts
ORDER BY alert_id, sequence
LIMIT 1 BY alert_id, sequence;

-- Each alert's latest state, with when it opened and when it stopped being open.
CREATE VIEW IF NOT EXISTS ${db}.alerts_latest ${on_cluster} AS
SELECT alert_id, a_child_id AS child_id, a_rule AS rule, a_status AS status,
       a_severity AS severity, a_last_change AS last_change, a_sequence AS sequence,
       a_first_deadline AS first_deadline, a_opened_at AS opened_at,
       if(a_status = 'OPEN', NULL, a_last_fired_at) AS closed_at,
       a_basis AS basis, a_synthetic AS synthetic
FROM
(
    SELECT alert_id,
           any(child_id)                      AS a_child_id,
           any(rule)                          AS a_rule,
           argMax(status, sequence)           AS a_status,
           argMax(severity, sequence)         AS a_severity,
           argMax(change, sequence)           AS a_last_change,
           max(sequence)                      AS a_sequence,
           min(deadline)                      AS a_first_deadline,
           minIf(fired_at, change = 'OPENED') AS a_opened_at,
           argMax(fired_at, sequence)         AS a_last_fired_at,
           any(basis)                         AS a_basis,
           any(synthetic)                     AS a_synthetic
    FROM ${db}.alerts
    GROUP BY alert_id
);

-- One row per child: the latest snapshot the detector published.
CREATE VIEW IF NOT EXISTS ${db}.child_state_current ${on_cluster} AS
SELECT * EXCEPT (kafka_partition, kafka_offset, landed_at)
FROM ${db}.child_state FINAL;

-- Each lifecycle event once: a producer retry or a feed may deliver the same event_id twice.
CREATE VIEW IF NOT EXISTS ${db}.events_distinct ${on_cluster} AS
SELECT * EXCEPT (kafka_partition, kafka_offset, landed_at)
FROM ${db}.events
ORDER BY child_id, occurred_at, event_id
LIMIT 1 BY event_id;
