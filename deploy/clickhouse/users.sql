-- Roles and users for a ClickHouse server or cluster (run once as an administrator, e.g.
-- clickhouse-client --multiquery < users.sql, after replacing the passwords).
-- The embedded default (chDB) has no users: there, read-only is the analyst connection's
-- readonly=1 setting, which sinks/clickhouse.py always sets.

CREATE SETTINGS PROFILE IF NOT EXISTS ucwatch_analyst_profile ON CLUSTER '{cluster}'
    SETTINGS readonly = 1 CONST, max_execution_time = 60, max_result_rows = 1000000;

-- Analysts read the landed history and the views; nothing else, never a write.
CREATE ROLE IF NOT EXISTS ucwatch_analyst ON CLUSTER '{cluster}';
GRANT ON CLUSTER '{cluster}' SELECT ON ucwatch.* TO ucwatch_analyst;
REVOKE ON CLUSTER '{cluster}' SELECT ON ucwatch.sink_ledger FROM ucwatch_analyst;

-- The sink creates and fills the tables.
CREATE ROLE IF NOT EXISTS ucwatch_writer ON CLUSTER '{cluster}';
GRANT ON CLUSTER '{cluster}' CREATE DATABASE, CREATE TABLE, CREATE VIEW, SELECT, INSERT ON ucwatch.* TO ucwatch_writer;

CREATE USER IF NOT EXISTS ucwatch_sink ON CLUSTER '{cluster}'
    IDENTIFIED WITH sha256_password BY 'change-me' DEFAULT ROLE ucwatch_writer;
CREATE USER IF NOT EXISTS analyst_jdoe ON CLUSTER '{cluster}'
    IDENTIFIED WITH sha256_password BY 'change-me'
    SETTINGS PROFILE 'ucwatch_analyst_profile' DEFAULT ROLE ucwatch_analyst;
