-- Views that count what repeats by design once.
--
-- The sink lands each Kafka record exactly once, but some records repeat on Kafka itself,
-- because the stages before it deliver at least once: a producer or a feed may send an
-- event twice (events_distinct, V002, keeps each event_id once); a detector restarted
-- after a kill may publish an alert change again (alert_changes, V002, keeps each
-- (alert_id, sequence) once; alerts_latest and alerts_by_rule aggregate by alert_id and
-- are not affected); a notifier killed after sending a notification and before
-- committing sends it again with the same notification_id (notifications_distinct,
-- below). The child-state topic repeats by design too (a snapshot per change):
-- child_state_current (V002) keeps each child's latest once.

-- Each notification once, whatever number of times it was delivered.
CREATE VIEW IF NOT EXISTS ${db}.notifications_distinct ${on_cluster} AS
SELECT * EXCEPT (kafka_partition, kafka_offset, landed_at)
FROM ${db}.notifications
ORDER BY child_id, occurred_at, notification_id
LIMIT 1 BY notification_id;

-- The notifications ucwatch sent before as_of, each once, by recipient and kind (the
-- report's section on them).
CREATE VIEW IF NOT EXISTS ${db}.notifications_by_kind ${on_cluster} AS
SELECT recipient, kind, count() AS notifications, uniqExact(child_id) AS children
FROM ${db}.notifications_distinct
WHERE occurred_at < {as_of:DateTime64(3, 'UTC')}
GROUP BY recipient, kind
ORDER BY recipient, kind;
