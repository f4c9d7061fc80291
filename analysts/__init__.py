"""Analysts' access to the landed history: read-only SQL, the query service, the report.

- `sql`: `ucwatch sql`, audit-logged, read-only, through the query service when the sink
  holds the embedded store.
- `query_service`: the loopback service of the process holding the embedded store, in
  one import: `guard` (every analyst query goes through it), `endpoint` (the file that
  announces a service), `query_server` and `query_client`.
- `report`: the oversight figures by fiscal year (`ucwatch report`).
"""
