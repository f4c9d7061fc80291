"""What upstream systems use to publish lifecycle events.

- `sdk`: validate, serialize and produce events keyed by child_id (`EventProducer`).
- `deadletter`: where rejected input goes, with the reason.
- `files` and `importer`: `ucwatch produce FILE...` for agencies that export files.
- `simulate`: a seeded generator of synthetic histories calibrated to the domain figures.
"""
