-- Roles and users for a ClickHouse server or cluster (run once as an administrator, e.g.
-- clickhouse-client --multiquery < users.sql, after replacing the passwords).
-- The embedded default (chDB) has no users: there, read-only is the analyst connection's
-- readonly=1 setting, which sinks/clickhouse.py always sets.

-- Analysts' limits: a query stops after 60 s, 4 GiB of memory, 2 billion rows read or a
-- million rows returned, and one analyst runs at most 4 queries at once. readonly = 1 forbids
-- changing any setting, so no client can lift them; CONST says so again for each limit.
-- deploy/k8s/base/clickhouse/clickhouse.yaml repeats these values (tests/unit/test_deploy.py
-- compares them).
CREATE SETTINGS PROFILE IF NOT EXISTS ucwatch_analyst_profile ON CLUSTER '{cluster}'
    SETTINGS readonly = 1 CONST, max_execution_time = 60 CONST, max_memory_usage = 4294967296 CONST,
             max_rows_to_read = 2000000000 CONST, max_result_rows = 1000000 CONST,
             max_concurrent_queries_for_user = 4 CONST;

-- Analysts read the landed history and the views; nothing else, never a write.
CREATE ROLE IF NOT EXISTS ucwatch_analyst ON CLUSTER '{cluster}';
GRANT ON CLUSTER '{cluster}' SELECT ON ucwatch.* TO ucwatch_analyst;
REVOKE ON CLUSTER '{cluster}' SELECT ON ucwatch.sink_ledger FROM ucwatch_analyst;

-- The sink creates and fills the tables.
CREATE ROLE IF NOT EXISTS ucwatch_writer ON CLUSTER '{cluster}';
-- CREATE OR REPLACE VIEW (V004) needs DROP VIEW; the sink merges the report's aggregate with
-- OPTIMIZE; migrations run ON CLUSTER, which needs the CLUSTER privilege.
GRANT ON CLUSTER '{cluster}' CREATE DATABASE, CREATE TABLE, CREATE VIEW, DROP VIEW, SELECT, INSERT, OPTIMIZE
    ON ucwatch.* TO ucwatch_writer;
GRANT ON CLUSTER '{cluster}' CLUSTER ON *.* TO ucwatch_writer;

CREATE USER IF NOT EXISTS ucwatch_sink ON CLUSTER '{cluster}'
    IDENTIFIED WITH sha256_password BY 'change-me' DEFAULT ROLE ucwatch_writer;
CREATE USER IF NOT EXISTS analyst_jdoe ON CLUSTER '{cluster}'
    IDENTIFIED WITH sha256_password BY 'change-me'
    SETTINGS PROFILE 'ucwatch_analyst_profile' DEFAULT ROLE ucwatch_analyst;
