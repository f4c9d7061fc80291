-- The US state of a child's last release to a sponsor (issue 10): ChildStateSnapshot v2
-- adds release_state, ReleasedToSponsor.state as the detector last saw it (null before a
-- release, and for v1 snapshots). The console's queue filters by it; analysts can too.
--
-- child_state_current (V002) is `SELECT * EXCEPT (...)`, expanded when the view was
-- created, so it is created again to expose the new column (as V007 does for
-- notifications_distinct).

ALTER TABLE ${db}.child_state ${on_cluster}
    ADD COLUMN IF NOT EXISTS release_state LowCardinality(Nullable(String)) AFTER court_status;

CREATE OR REPLACE VIEW ${db}.child_state_current ${on_cluster} AS
SELECT * EXCEPT (kafka_partition, kafka_offset, landed_at)
FROM ${db}.child_state FINAL;
