"""`ucwatch sql "QUERY" [--format text|csv|json]`: an analyst's read-only query, audit-logged.
(The command line's ``text`` is this module's ``table`` format.)

The query is written to the audit topic first; if that cannot be done it is not run.
Then it goes:

- to a ClickHouse server (``http(s)://`` DSN): directly, on the analyst connection
  (``clickhouse.analyst_dsn``, else the DSN with ``readonly=1``);
- to an embedded store: through the query service of the process holding the store (the
  sink) when its endpoint file names a live process, else directly on the store, which
  fails with `StoreInUse` when another process holds it.

Either way ClickHouse enforces read-only mode, and `analysts.guard.execute` refuses
what that mode lets through (several statements, SYSTEM, KILL, INTO OUTFILE).

Exit codes: 0 the output is printed; 1 ClickHouse (or ucwatch's read-only guard) refused
the query, its message on stderr; 3 ClickHouse or Kafka (for the audit) is unavailable.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, Protocol, TextIO

from confluent_kafka import KafkaException

from ucwatch.analysts.endpoint import read_endpoint
from ucwatch.analysts.guard import FORMATS, execute
from ucwatch.analysts.query_client import ServiceUnreachable, ask
from ucwatch.core.errors import DeliveryError, KafkaUnavailable
from ucwatch.core.settings import Settings
from ucwatch.sinks.clickhouse import connect, is_embedded, store_path
from ucwatch.sinks.errors import ClickHouseError, ClickHouseUnavailable, StoreInUse

log = logging.getLogger("ucwatch.sql")

OK, REFUSED, USAGE, UNAVAILABLE = 0, 1, 2, 3


class AuditWriter(Protocol):
    """`ucwatch.audit.record_access`'s signature; raises when the entry cannot be written."""

    def __call__(self, settings: Settings, action: str, child_id: str | None, **details: Any) -> None: ...


def kafka_audit(settings: Settings, action: str, child_id: str | None, **details: Any) -> None:
    """The audit trail on Kafka: waits for the broker (KafkaUnavailable), then writes the entry."""
    from ucwatch.core.audit import record_access
    from ucwatch.core.kafka_admin import wait_for_kafka
    wait_for_kafka(settings)
    record_access(settings, action, child_id, **details)


def run_sql(settings: Settings, query: str, fmt: str = "table", *, audit: AuditWriter | None = None,
            out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Audits, runs and prints one analyst query; returns the exit code (0, 1 or 3)."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    if fmt not in FORMATS:
        print(f"ucwatch: error: unknown format {fmt!r}; one of {', '.join(FORMATS)}", file=err)
        return USAGE
    try:
        (kafka_audit if audit is None else audit)(settings, "sql", None, query=query)
    except (KafkaUnavailable, DeliveryError, KafkaException) as exc:
        from ucwatch.core.kafka_admin import kafka_reason
        print(f"ucwatch: error: the query was not run, since it could not be audit-logged: {kafka_reason(exc)}",
              file=err)
        return UNAVAILABLE
    try:
        result = query_output(settings, query, fmt)
    except (ClickHouseUnavailable, StoreInUse) as exc:
        print(f"ucwatch: error: {exc}", file=err)
        return UNAVAILABLE
    except ClickHouseError as exc:
        print(f"ucwatch: error: {exc}", file=err)
        return REFUSED
    _write(out, result)
    return OK


def query_output(settings: Settings, query: str, fmt: str) -> bytes:
    """ClickHouse's output for `query`, from the query service or a direct analyst connection.

    Does not audit: `run_sql` does, before calling this.
    """
    dsn = settings.clickhouse_dsn
    if is_embedded(dsn):
        endpoint = read_endpoint(settings)
        if endpoint is not None:
            try:
                return ask(endpoint, query, fmt)
            except ServiceUnreachable as exc:  # a stale endpoint: the query was not sent
                log.debug("%s; opening the store directly", exc)
        path = Path(store_path(dsn))
        if not path.is_dir():  # opening it would create an empty store
            raise ClickHouseUnavailable(f"there is no embedded ClickHouse store at {path}; "
                                        "`ucwatch migrate` or `ucwatch sink` creates it")
    client = connect(settings, "analyst")
    try:
        return execute(client, query, fmt)
    finally:
        client.close()


def _write(out: TextIO, data: bytes) -> None:
    buffer = getattr(out, "buffer", None)
    if buffer is not None:
        out.flush()
        buffer.write(data)
        buffer.flush()
    else:
        out.write(data.decode("utf-8", "replace"))
        out.flush()
