"""`ucwatch sql "QUERY" [--format text|csv|json]`: an analyst's read-only query, audit-logged.
(The command line's ``text`` is this module's ``table`` format.)

It goes:

- to an embedded store held by a sink: through the sink's query service (its socket beside
  the store), which writes the audit entry itself, naming the user the kernel says sent
  the query, before running it; if that cannot be done it is not run;
- to an embedded store nobody holds: directly on the store; this process writes the audit
  entry first (its own user as actor), and does not run the query if it cannot;
- to a ClickHouse server (``http(s)://`` DSN): directly, on the analyst connection
  (``clickhouse.analyst_dsn``, else the DSN with ``readonly=1`` and the limits), audited
  first by this process in the same way.

Either way the query goes through `analysts.guard.execute`: ClickHouse's parse tree
checked against the analysts' allow-list, and the limits no query can lift.

Exit codes: 0 the output is printed; 1 ClickHouse (or ucwatch's guard) refused the query,
its message on stderr; 3 ClickHouse, the query service (busy, or its audit not written) or
Kafka (for the audit) is unavailable.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
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
    """Writes the audit entry of a query this process runs itself; raises when it cannot."""

    def __call__(self, settings: Settings, entry: dict[str, Any]) -> None: ...


def kafka_entry(settings: Settings, entry: dict[str, Any]) -> None:
    """The audit trail on Kafka: waits for the broker (KafkaUnavailable), then writes the entry."""
    from ucwatch.core.audit import write_entry
    from ucwatch.core.kafka_admin import wait_for_kafka
    wait_for_kafka(settings)
    write_entry(settings, entry)


def kafka_audit(settings: Settings, action: str, child_id: str | None, **details: Any) -> None:
    """`record_access` once the broker answers (`ucwatch report` audits with it)."""
    from ucwatch.core.audit import record_access
    from ucwatch.core.kafka_admin import wait_for_kafka
    wait_for_kafka(settings)
    record_access(settings, action, child_id, **details)


class _NotAudited(Exception):
    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def run_sql(settings: Settings, query: str, fmt: str = "table", *, audit: AuditWriter | None = None,
            out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Audits, runs and prints one analyst query; returns the exit code (0, 1, 2 or 3).

    `audit` writes the entry when this process runs the query itself (default: Kafka);
    a query service audits the queries it serves.
    """
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    if fmt not in FORMATS:
        print(f"ucwatch: error: unknown format {fmt!r}; one of {', '.join(FORMATS)}", file=err)
        return USAGE
    writer = kafka_entry if audit is None else audit

    def audited() -> None:
        from ucwatch.analysts.peer import own_entry
        try:
            writer(settings, own_entry(query, fmt))
        except (KafkaUnavailable, DeliveryError, KafkaException) as exc:
            raise _NotAudited(exc) from None

    try:
        result = query_output(settings, query, fmt, before_direct=audited)
    except _NotAudited as exc:
        from ucwatch.core.kafka_admin import kafka_reason
        print(f"ucwatch: error: the query was not run, since it could not be audit-logged: "
              f"{kafka_reason(exc.cause)}", file=err)
        return UNAVAILABLE
    except (ClickHouseUnavailable, StoreInUse) as exc:
        print(f"ucwatch: error: {exc}", file=err)
        return UNAVAILABLE
    except ClickHouseError as exc:
        print(f"ucwatch: error: {exc}", file=err)
        return REFUSED
    _write(out, result)
    return OK


def query_output(settings: Settings, query: str, fmt: str, *,
                 before_direct: Callable[[], None] | None = None) -> bytes:
    """ClickHouse's output for `query`, from the query service or a direct analyst connection.

    The service audits what it serves; `before_direct` runs before a query this process
    runs itself (`run_sql` audits there).
    """
    dsn = settings.clickhouse_dsn
    if is_embedded(dsn):
        endpoint = read_endpoint(settings)
        if endpoint is not None:
            try:
                return ask(endpoint, query, fmt)
            except ServiceUnreachable as exc:  # a stale socket: the query was not sent
                log.debug("%s; opening the store directly", exc)
        path = Path(store_path(dsn))
        if not path.is_dir():  # opening it would create an empty store
            raise ClickHouseUnavailable(f"there is no embedded ClickHouse store at {path}; "
                                        "`ucwatch migrate` or `ucwatch sink` creates it")
    client = connect(settings, "analyst")
    try:
        inspector = connect(settings, "analyst", limited=False)
        try:
            if before_direct is not None:
                before_direct()
            return execute(client, query, fmt, inspector=inspector)
        finally:
            inspector.close()
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
