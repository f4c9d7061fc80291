"""The application layer: what people run. It may import every component; nothing imports it.

- `cli`: the `ucwatch` command line.
- `demo`: the end-to-end demo on the embedded defaults.
- `watch`, `child_view`: operators' terminal views of topics and of one child.
- `kafka_local`: the bridge to the local Kafka script shipped in `deploy-local/`.
"""
