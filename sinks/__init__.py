"""The ClickHouse sink: lifecycle events, alerts, notifications and child state into
ClickHouse through clickhouse-connect (embedded chDB by default, a server by DSN).

Not written yet: it is the subject of the "Land" issue. Nothing imports this package.
"""
