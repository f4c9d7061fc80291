"""Detection: the rules engine that raises alerts when an expected follow-up does not come.

The core is pure and knows nothing of Kafka or faust:

    policy = default_policy()                      # policy_parser: streams/policies/default.toml
    engine = Engine(policy)
    step = engine.on_event(state, event, now_ms)   # -> Step(state, alerts, notifications, changed)
    step = engine.on_time(state, now_ms)           # the clock advanced

Modules: `policy` (the policy, immutable) and `policy_parser` (reading and validating the
file), `durations` (``"48h"``), `compiled` (matchers turned into bit masks), `state` (what
is kept per child, the snapshot), `derive` (each expectation's instances from a child's
history), `lifecycle` (the alert state machine), `ids` (deterministic ids), `engine` (the
two entry points); `bench/engine_bench.py` measures it. Design: docs/detect.md. The faust
glue only calls `Engine`.

On Kafka: `records` (the output records), `processor` (one partition: clock, timers,
engine; no faust), `app` (the faust glue), `durable` (a batch written whole or not at
all), `readiness` (the topics a worker needs before it starts), `membership` (its place in
the consumer group), `log_limits` (one log line per condition), `worker` (the process:
start, run, stop), `ticks` (clock ticks).
"""
