"""Landing: lifecycle events, alerts, notifications and child state into ClickHouse through
clickhouse-connect (embedded chDB by default, a server by DSN).

- `run`: `ucwatch sink` (wait for Kafka and ClickHouse, migrate, land);
- `sink`: the consumer loop and its commit order; `partition`, `batch`, `replay`: batching
  and the replay decision after a restart; `rounds`, `writer`, `ledger`: writing;
  `deadletters`, `commits`: settling with Kafka; `retrying`, `conditions`: outages;
  `compaction`: merging the report's aggregate; `clients`: the Kafka clients;
- `clickhouse`, `errors`, `migrate`, `rows`: connections, errors, schema, row layout.
"""
