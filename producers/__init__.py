"""What upstream systems use to publish lifecycle events.

- `sdk`: validate, serialize and produce events keyed by child_id (`EventProducer`).
- `lines`: an export file split into physical lines, as bytes, in bounded memory.
- `files`: each line decoded and parsed by itself (JSON Lines, CSV), or its read error.
- `importer`: `ucwatch produce FILE...`: publish or dead-letter every line, checkpointed.
- `acks`: each record's delivery report mapped back to its line, for the journal.
- `journal`: which lines of a file Kafka already acknowledged, so a retry repeats none.
- `run`: the command: check the files, reach Kafka, import with progress.
Dead letters are built by `ucwatch.core.deadletter`; the simulator is `ucwatch.simulate`.
"""
