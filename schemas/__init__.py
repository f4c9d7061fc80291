"""The event contract: Avro schemas under `avro/` and the one place that maps records.

- `catalog`: loads every schema version shipped under `avro/` and gives each its stable id.
- `contract`: checks a raw event (JSON Lines, CSV or SDK call) against the contract and turns
  it into an Avro-ready record.
- `wire`: the Confluent framing (magic byte 0, 4-byte big-endian schema id).
- `registry`: where schema ids come from: embedded (this folder) or a Confluent-compatible
  registry over HTTP; the subject-name strategy.
- `serde`: encode and decode framed records.
- `compat`: the BACKWARD compatibility check every new schema version must pass.
"""
