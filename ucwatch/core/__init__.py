"""The foundation every component stands on; it imports nothing else of ucwatch.

- `errors`: the exception tree, one root (`UcwatchError`); `exit_codes`: every exit status.
- `settings`: one settings object from defaults, a TOML file and the environment.
- `pseudonym`: keyed-HMAC tokens instead of A-numbers and names.
- `kafka_admin`: client configuration, waiting for the broker, creating topics.
- `topic_reader`: reading a topic from the beginning to its end.
- `progress`: how far a consumer group has committed (lag); `group_lag`: the same per
  partition, as a Prometheus gauge.
- `health`: /metrics, /healthz and /readyz of a long-running process (prometheus-client).
- `deadletter`: the dead-letter record and its writer, for every component.
- `audit`: who read or did what, written to the audit topic.
- `retry`: the one back-off loop; `progress_bar`: progress of a long command, on stderr.
- `native`: which of detection's hot modules run compiled (mypyc) or from source, and
  the guard that keeps a stale build from running; `native_build` compiles them.
"""
