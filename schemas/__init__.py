"""The event contract: Avro schemas under `avro/` and the one place that maps records.

- `catalog`: loads every schema version shipped under `avro/` and gives each its stable id.
- `contract`: checks a raw event (JSON Lines, CSV or SDK call) against the contract and turns
  it into an Avro-ready record.
- `wire`: the Confluent framing (magic byte 0, 4-byte big-endian schema id).
- `registry`: where schema ids come from: embedded (this folder) or a Confluent-compatible
  registry through confluent-kafka's SchemaRegistryClient; the subject-name strategy.
- `registry_server`: the embedded registry served over the Confluent REST API (read-only).
- `serde`: encode and decode framed records.
- `fastpath`: generated Avro encoders for the flat records (fastavro's bytes, about 2x faster).
- `compat`: the BACKWARD compatibility check every new schema version must pass (Avro's own
  checker after fastavro's parse; needs the `avro` package of the test extra).
"""
