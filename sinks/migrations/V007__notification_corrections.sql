-- Correction notices (issue 14): NotificationSent v2 adds corrects_notification_id, the
-- notification_id of the notice a CORRECTION withdraws (null for every other notice and
-- for v1 records). The sink lands it in its own column.
--
-- notifications_distinct (V005) is `SELECT * EXCEPT (...)`, but ClickHouse expands the
-- star when a view is created and keeps that column list, so the view is created again
-- to expose the new column. OR REPLACE keeps this statement idempotent, like the
-- column's IF NOT EXISTS. notifications_by_kind names its columns and reads the view,
-- so it needs nothing.

ALTER TABLE ${db}.notifications ${on_cluster}
    ADD COLUMN IF NOT EXISTS corrects_notification_id Nullable(String) AFTER reason;

CREATE OR REPLACE VIEW ${db}.notifications_distinct ${on_cluster} AS
SELECT * EXCEPT (kafka_partition, kafka_offset, landed_at)
FROM ${db}.notifications
ORDER BY child_id, occurred_at, notification_id
LIMIT 1 BY notification_id;
