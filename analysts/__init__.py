"""Analysts' access to the landed history: read-only SQL, the query service, the report.

- `sql`: `ucwatch sql`, audit-logged, read-only, limited, through the query service when
  the sink holds the embedded store.
- `query_service`: the Unix-socket service of the process holding the embedded store, in
  one import: `guard` (every analyst query goes through it) and `allowlist` (what it
  allows), `endpoint` (the socket), `peer` (who is asking, for the audit), `query_server`
  and `query_client`.
- `report`: the oversight figures by fiscal year (`ucwatch report`).
"""
