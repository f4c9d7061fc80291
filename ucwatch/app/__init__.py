"""The application layer: what people run. It may import every component; nothing imports it.

- `cli`: the `ucwatch` command line; `parser` what can be typed (help texts, value checks);
  `failures` how a failed command ends (message, exit code, the log of a bug).
- `demo`: the end-to-end demo on the embedded defaults.
- `supervisor`: the processes of `ucwatch run`, restarted when they die.
- `watch`, `child_view`: operators' terminal views of topics and of one child.
- `kafka_local`: the bridge to the local Kafka script shipped in `deploy-local/`.
"""
